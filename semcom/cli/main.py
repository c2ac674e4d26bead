"""Entry point of the ``semcom`` command: sub-commands register themselves here."""

from __future__ import annotations

import argparse
import sys

import semcom
from knowledge_base.cli import add_kb_commands
from semcom.cli import demo, evaluate, link, network, run, table4
from semcom.errors import SemcomError
from semcom.jscc import cli as jscc_cli
from semcom.semantic import cli as semantic_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="semcom", description="Generative semantic communication over simulated wireless links."
    )
    parser.add_argument("--version", action="version", version=f"semcom {semcom.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (demo, link, evaluate, network, jscc_cli, semantic_cli, table4, run):
        module.add_commands(subparsers)
    add_kb_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    return dispatch(build_parser(), argv)


def dispatch(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; semcom errors become a message and exit code 2."""
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except SemcomError as err:
        print(f"semcom: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
