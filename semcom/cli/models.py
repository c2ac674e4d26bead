"""``semcom models``: the models that ship with semcom and those found on this machine."""

from __future__ import annotations

import argparse
import json
import sys


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser(
        "models", help="list the shipped models and those found on this machine",
        description="Lists the JSCC checkpoints (by channel and CBR: --model NAME, or picked by --channel and "
                    "--cbr), the prompt codec, the caption LMs, the MiniLM sentence model and the Hugging Face "
                    "cache's models, with where each is and, for a missing one, how to get it.")
    models.add_argument("--json", action="store_true", help="print one JSON object")
    models.set_defaults(run=run_models)


def run_models(args: argparse.Namespace) -> int:
    from semcom.models import list_models

    entries = list_models()
    if args.json:
        json.dump({"models": [e.as_dict() for e in entries]}, sys.stdout, indent=1)
        print()
        return 0
    width = max(len(e.name) for e in entries)
    kind_width = max(len(e.kind) for e in entries)
    for e in entries:
        print(f"{e.kind:{kind_width}}  {e.name:{width}}  {e.status:10}  {e.about}")
        print(f"{'':{kind_width}}  {'':{width}}  {'':10}  {e.where}")
    return 0
