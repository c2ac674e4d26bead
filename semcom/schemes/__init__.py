"""End-to-end schemes, found by name: ``separation``, ``bound``, ``jscc``, ``gai``."""

from semcom.schemes.base import SCHEMES, Scheme, SchemeResult
from semcom.schemes import jscc, separation  # noqa: E402,F401  (register the schemes)
from semcom.generative import scheme as _generative  # noqa: E402,F401  (registers "gai")


def make_scheme(name: str, **options) -> Scheme:
    """Build a registered scheme by name with its options."""
    return SCHEMES.create(name, **options)


__all__ = ["SCHEMES", "Scheme", "SchemeResult", "make_scheme"]
