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


def run_resumable(opts, train, state_file: str) -> int:
    """Check a trainer's folders (``opts.data``, ``opts.val``, ``opts.out``), hold its state folder's lock,
    refuse to overwrite an earlier run's state without ``--resume``, and train; a stop signal ends it as
    an interrupt (the state is saved, ``--resume`` goes on)."""
    from semcom.errors import ConfigError
    from semcom.files import exclusive, input_folder, output_folder

    input_folder(opts.data, "--data")
    if opts.val:
        input_folder(opts.val, "--val")
    output_folder(opts.out, "--out")
    state_dir = output_folder(opts.resolved_state_dir(), "--state-dir")
    with exclusive(state_dir, "--state-dir"):
        if not opts.resume and (state_dir / state_file).exists():
            raise ConfigError(f"--state-dir {state_dir} holds the state of an earlier run ({state_file}); continue "
                              f"it with --resume, or pass another --state-dir (or remove that one) to start over")
        summary = train(opts)
    if summary["signal"] is not None:
        raise KeyboardInterrupt
    return 0
