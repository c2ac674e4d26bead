"""Typed errors with messages a user can act on."""


class SemcomError(Exception):
    """Base class of every error semcom raises on purpose."""


class ConfigError(SemcomError, ValueError):
    """An invalid setting: unknown name, out-of-range parameter, malformed config."""


class InputError(SemcomError, ValueError):
    """Invalid data handed to a stage: wrong dtype or shape, empty or oversized payload, bad image."""


class WeightsNotFoundError(SemcomError, FileNotFoundError):
    """Model weights that are needed are not available locally."""


class CodecError(SemcomError, ValueError):
    """A codec bitstream that cannot be decoded: corrupted, truncated, or not of the expected shape."""


class UnsafeFileError(InputError):
    """A file that could only be loaded by running code it contains (a pickle of arbitrary objects)."""


class MissingDependencyError(SemcomError, ImportError):
    """An optional package that a feature needs is not installed (the message names the extra to install)."""
