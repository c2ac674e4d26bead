"""``semcom run CONFIG``: run (or resume) an experiment described by a TOML config."""

from __future__ import annotations

import argparse

from semcom.options import WORKERS


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run", help="run or resume an experiment config (experiments/*.toml)",
        description="Runs every scheme x image x SNR of CONFIG; results are appended to OUT/results.jsonl as "
                    "they finish, so running the same command again resumes an interrupted sweep. The config "
                    "is checked and every scheme built before anything is written; a second run into the same "
                    "OUT while one is going is refused at once.")
    p.add_argument("config", help="TOML experiment config")
    p.add_argument("--out", default=None, help="results folder (default ./results/<config name>)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE (or a .py file) that registers its own stages; repeatable")
    p.add_argument("--save-images", action="store_true",
                   help="keep each reconstruction as OUT/images/<scheme>/<snr>dB/<image>.png")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_executor_options(p)
    p.set_defaults(run=run_config_command)


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    """--executor, --workers, --address: where the items of a run go (semcom.executors)."""
    group = parser.add_argument_group("where items run")
    group.add_argument("--executor", choices=("local", "process", "ray"), default="local",
                       help="local: one after another here (default); process: worker processes of this machine; "
                            "ray: Ray actors (a local Ray instance, or the cluster at --address)")
    group.add_argument("--workers", type=WORKERS.arg(), default=None,
                       help="workers of the process or ray executor (default: the cores of this machine)")
    group.add_argument("--address", default=None,
                       help="Ray cluster to join: ray://HOST:10001 or auto (default: a local Ray instance for the run)")


def executor_options(args: argparse.Namespace) -> dict:
    return {"executor": args.executor, "workers": args.workers, "address": args.address}


def run_config_command(args: argparse.Namespace) -> int:
    from semcom.runner import default_out, load_config, run_experiment
    from semcom.table4 import markdown, table_rows

    config = load_config(args.config, plugins=args.plugin)
    result = run_experiment(config, args.out or default_out(config), progress=not args.no_progress, option="--out",
                            save_images=args.save_images, **executor_options(args))
    rows = table_rows(result.summary)[: len(result.summary)]  # measured rows only (no published figures)
    print(markdown(rows, config, title=f"Experiment {config['name']!r}"))
    print(f"{result.computed} items computed, {result.skipped} already done; results in {result.out}")
    return 0
