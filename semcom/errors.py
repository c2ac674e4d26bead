"""Typed errors with messages a user can act on (defined in :mod:`semcore.errors`)."""

from semcore.errors import (
    CodecError,
    ConfigError,
    InputError,
    MissingDependencyError,
    SemcomError,
    UnsafeFileError,
    WeightsNotFoundError,
)

__all__ = ["CodecError", "ConfigError", "InputError", "MissingDependencyError", "SemcomError", "UnsafeFileError",
           "WeightsNotFoundError"]
