"""The argument parser of every ``semcom`` command: help that shows each option's default.

Sub-commands made with ``add_subparsers().add_parser(...)`` are :class:`SemcomParser` too (argparse makes
sub-parsers of the parser's own class), so every command's ``--help`` shows its defaults the same way.
"""

from __future__ import annotations

import argparse
from fractions import Fraction


def key_value(text: str) -> tuple[str, object]:
    """argparse type of a ``KEY=VALUE`` option; VALUE is read as JSON when it parses (``4``, ``true``), else text."""
    import json

    if "=" not in text:
        raise argparse.ArgumentTypeError(f"options are KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def format_default(value) -> str:
    """A default as it is typed on the command line: lists comma-separated, numbers short."""
    if isinstance(value, (list, tuple)):
        return ",".join(format_default(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Fraction):
        return str(value)
    return str(value)


class DefaultsFormatter(argparse.HelpFormatter):
    """Appends ``(default: ...)`` to an option's help, unless the help already says it or there is nothing
    to show (no default, a flag, a list left empty)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or default in (None, False, argparse.SUPPRESS) or default == []
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction, VersionAction))
                or "default" in text.lower()):
            return text
        shown = format_default(default).replace("%", "%%")
        return f"{text} (default: {shown})" if text else f"(default: {shown})"


class RawDescriptionDefaultsFormatter(argparse.RawDescriptionHelpFormatter, DefaultsFormatter):
    """:class:`DefaultsFormatter` that keeps the description's own line breaks."""


class VersionAction(argparse.Action):
    """``--version``: prints ``semcom VERSION`` (read from the installed package only when asked) and exits."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show the version and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        import semcom

        print(f"semcom {semcom.__version__}")
        parser.exit()


class SemcomParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose help shows defaults (:class:`DefaultsFormatter` unless another
    formatter is given)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)
