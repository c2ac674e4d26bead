"""Registry of channel models, by name."""

from semcore.registry import Registry

CHANNELS: Registry = Registry("channel")
