"""End-to-end schemes, found by name: ``separation``, ``bound``, ``jscc``, ``gai``."""

from semcom.schemes.base import SCHEMES, BuildContext, Scheme, SchemeCard, SchemeResult
from semcom.schemes import gai, jscc, separation  # noqa: E402,F401  (register the schemes)


def make_scheme(name: str, **options) -> Scheme:
    """Build a registered scheme by name from config options (as :meth:`Scheme.from_config` takes them)."""
    factory = SCHEMES.get(name)
    build = getattr(factory, "from_config", factory)
    try:
        return build(**options)
    except TypeError as err:
        from semcom.errors import ConfigError

        raise ConfigError(f"bad options for scheme {name!r}: {err}") from err


__all__ = ["SCHEMES", "BuildContext", "Scheme", "SchemeCard", "SchemeResult", "make_scheme"]
