"""The ``semcom`` command line."""

from semcom.cli.main import main

__all__ = ["main"]
