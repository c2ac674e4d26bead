"""Name -> class registries, so that experiments pick stages by name (defined in :mod:`semcore.registry`)."""

from semcore.registry import Registry  # noqa: F401
