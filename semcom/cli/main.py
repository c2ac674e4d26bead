"""Entry point of the ``semcom`` command: sub-commands register themselves here.

Each command module (``semcom.cli.<module>``) adds its parsers in ``add_commands(subparsers)`` and imports
what its commands need inside the functions that run them, so that ``semcom --help`` and argument errors
come back without loading torch or Sionna (tests/semcom/cli/test_help.py holds every command to it).
"""

from __future__ import annotations

import argparse
import sys

from semcom.cli import (demo, evaluate, fl, infer, jscc, kb, link, models, network, optimisation, prompt_lm, refiner,
                        run, table4)
from semcom.cli.parser import SemcomParser, VersionAction
from semcom.errors import SemcomError


def build_parser() -> argparse.ArgumentParser:
    parser = SemcomParser(
        prog="semcom", description="Generative semantic communication over simulated wireless links."
    )
    parser.add_argument("--version", action=VersionAction)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (demo, link, evaluate, network, jscc, prompt_lm, refiner, table4, run, kb, infer, fl, optimisation,
                   models):
        module.add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    return dispatch(build_parser(), argv)


#: exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


def dispatch(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command.

    A semcom error becomes one line ``semcom: error: ...`` and exit code 2, as does a ``sys.exit``
    from a plugin or stage inside the command; Ctrl-C becomes ``semcom: interrupted; ...`` and 130.
    """
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except SemcomError as err:
        print(f"semcom: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = getattr(args, "resume_hint", "resume with the same command")
        print(f"semcom: interrupted; {hint}", file=sys.stderr)
        return INTERRUPTED
    except SystemExit as stop:
        print(f"semcom: error: a plugin or stage ended the command with sys.exit({stop.code!r})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
