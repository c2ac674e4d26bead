"""Typed errors with messages a user can act on (defined in :mod:`semcore.errors`)."""

from semcore.errors import (  # noqa: F401
    CodecError,
    ConfigError,
    InputError,
    MissingDependencyError,
    SemcomError,
    UnsafeFileError,
    WeightsNotFoundError,
)
