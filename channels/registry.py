"""Registry of channel models, by name."""

from semcom.registry import Registry

CHANNELS: Registry = Registry("channel")
