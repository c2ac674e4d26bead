"""The command line's help: fast (nothing heavy imported), every option explained with its default."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from semcom.cli.main import build_parser
from semcom.cli.parser import DefaultsFormatter, format_default

REPO = Path(__file__).resolve().parents[3]
HEAVY = ("torch", "sionna", "numba", "scipy", "skimage", "transformers", "diffusers", "matplotlib", "PIL")


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) of the command and every sub-command under it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_help_and_argument_errors_import_nothing_heavy():
    """`semcom --help`, every sub-command's parser and an argument error leave torch, Sionna & co. unloaded."""
    probe = (
        "import contextlib, io, json, sys\n"
        "from semcom.cli.main import build_parser\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        build_parser().parse_args(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "with contextlib.redirect_stderr(io.StringIO()):\n"
        "    try:\n"
        "        build_parser().parse_args(['eval', '--limit', '0'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def test_every_option_has_help_and_shows_its_default():
    missing, no_default = [], []
    for path, parser in _parsers(build_parser()):
        formatter = DefaultsFormatter(prog="semcom")
        for action in parser._actions:
            if not action.option_strings or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            flag = f"semcom {' '.join(path)} {action.option_strings[-1]}"
            if not action.help:
                missing.append(flag)
                continue
            shown = formatter._get_help_string(action)
            if action.default not in (None, False, [], argparse.SUPPRESS) and "default" not in shown.lower():
                no_default.append(flag)
    assert not missing, f"options without help: {missing}"
    assert not no_default, f"options whose help does not show the default: {no_default}"


def test_defaults_are_shown_as_typed():
    assert format_default([0.0, 2.5]) == "0,2.5"
    assert format_default("1/16") == "1/16"
    text = " ".join(build_parser()._subparsers._group_actions[0].choices["eval"].format_help().split())
    assert "(default: 1,4,7,10,13)" in text and "(default: 1/16)" in text and "awgn, rayleigh, tdl" in text


def test_help_names_every_registered_channel_and_scheme():
    from channels import CHANNELS
    from semcom.cli.evaluate import SCHEME_HELP
    from semcom.schemes import SCHEMES

    demo = build_parser()._subparsers._group_actions[0].choices["demo"]
    channels_help = next(a.help for a in demo._actions if "--channels" in a.option_strings)
    for name in CHANNELS.names():
        assert name in channels_help
    for name in SCHEMES.names():
        assert name in SCHEME_HELP


def test_snr_db_takes_a_list_in_every_command():
    """One meaning everywhere: --snr-db is a comma-separated list of Es/N0 values in dB."""
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if "--snr-db" in action.option_strings:
                assert action.type("0,5") == [0.0, 5.0], path
