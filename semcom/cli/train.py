"""``semcom train WHAT``: the group each trainer (:mod:`semcom.cli.jscc`, :mod:`semcom.cli.prompt_lm`) adds to."""

from __future__ import annotations

import argparse


def train_commands(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The sub-parsers of ``train`` under ``subparsers``, made by the first trainer that asks."""
    if "train" not in subparsers.choices:
        train = subparsers.add_parser("train", help="train a learned model", description="Train a learned model.")
        train.set_defaults(run=lambda args: (train.print_help(), 0)[1])
        train.add_subparsers(dest="train_what", metavar="WHAT")
    train = subparsers.choices["train"]
    return next(action for action in train._actions if isinstance(action, argparse._SubParsersAction))
