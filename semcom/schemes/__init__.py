"""End-to-end schemes, found by name: ``separation``, ``bound``, ``jscc``, ``gai``."""

from semcom.schemes.base import SCHEMES, BuildContext, Scheme, SchemeCard, SchemeResult, make_scheme
from semcom.schemes import gai, jscc, separation  # noqa: E402,F401  (register the schemes)

__all__ = ["SCHEMES", "BuildContext", "Scheme", "SchemeCard", "SchemeResult", "make_scheme"]
