"""Wall time of ``semcom table4`` on Kodak (24 images), per scheme, with semcom.benchmark.

Each run is a fresh Python process writing to a fresh output folder: nothing is resumed and no
model or cache is left in memory by an earlier run, so a run costs what a user's run costs. The
``--warmup`` runs (untimed) fill the disk caches a first run ever fills (the MiniLM word vectors
under ~/.cache/semcom, compiled link kernels). For the whole run (process wall time) and for each
scheme (model loading + items, from the run's table.json) it prints median, minimum and IQR.
Options it does not know go to ``semcom table4``.

    OMP_WAIT_POLICY=PASSIVE nice python experiments/bench_table4.py [--repeats 3] [--warmup 1]
                                      [--threads N] [--images DIR] [--json] [table4 options, e.g. --limit 4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from semcom.benchmark import Report, Stats, add_timing_arguments, format_stats, measure, set_threads
from semcom.files import default_data_dir

_RUN = ("import sys, torch; torch.set_num_threads(int(sys.argv[1])); from semcom.cli import main; "
        "sys.exit(main(sys.argv[2:]))")


def run_table4(argv: list[str], threads: int, out: Path) -> dict:
    """One ``semcom table4`` run in a fresh process writing to ``out``: its table.json, with table.md."""
    done = subprocess.run([sys.executable, "-c", _RUN, str(threads), "table4", *argv, "--out", str(out),
                           "--no-progress"], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"semcom table4 failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return {**json.loads((out / "table.json").read_text()), "markdown": (out / "table.md").read_text()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default=str(default_data_dir() / "kodak"), help="image folder (default Kodak)")
    add_timing_arguments(parser, repeats=3, warmup=1)
    args, table4_args = parser.parse_known_args(argv)
    if "--out" in table4_args:
        parser.error("--out is chosen per run by the benchmark")
    set_threads(args.threads)
    images = Path(args.images)
    table4_argv = ["--images", str(images), *table4_args]
    if (images / "captions.json").exists() and "--captions" not in table4_args:
        table4_argv += ["--captions", str(images / "captions.json")]
    report = Report("semcom table4 wall time (fresh process per run)",
                    {"command": "semcom table4 " + " ".join(table4_argv), "repeats": args.repeats,
                     "warmup": args.warmup}, as_json=args.json)
    report.start()
    tables: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_table4_") as tmp:
        def run() -> None:
            tables.append(run_table4(table4_argv, args.threads, Path(tmp) / f"run{len(tables)}"))

        total = measure(run, repeats=args.repeats, warmup=args.warmup)
    timed = tables[args.warmup:]
    report.add({"kind": "total", "seconds": total.to_dict()}, f"whole run: {format_stats(total, 1.0, 's')}")
    for scheme in timed[-1]["wall_seconds"]:
        stats = Stats.of([t["wall_seconds"][scheme] for t in timed])
        report.add({"kind": "scheme", "scheme": scheme, "seconds": stats.to_dict()},
                   f"  {scheme:14s} {format_stats(stats, 1.0, 's')} (model loading + items)")
    report.line("\nlast run:\n" + timed[-1]["markdown"])
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
