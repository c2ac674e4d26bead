"""Typed errors with messages a user can act on (defined in :mod:`semcore.errors`)."""

from semcore.errors import CodecError, ConfigError, InputError, SemcomError, UnsafeFileError, WeightsNotFoundError  # noqa: F401
