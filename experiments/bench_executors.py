"""Wall time of one sweep under each executor (local, process, ray), and whether their results are identical.

The sweep: ``--limit`` Kodak images x ``--snr-db`` x the schemes separation (HEIF), jscc and bound, at CBR 1/16
(default 8 x 2 x 3 = 48 items). Each repeat runs every executor once, in an order that rotates from repeat
to repeat, each time from scratch (no resume), building its schemes again: the wall time is what a user
waits for. Prints median, minimum and interquartile range per executor, the speed-up of each over
``local``, and whether every record's measured figures (PSNR, SSIM, MS-SSIM, bits, coded bits, channel
uses, failure) equal the local ones to the last digit.

Run: python experiments/bench_executors.py [--limit 8] [--workers 2] [--repeats 3] [--warmup 0] [--json]
"""

from __future__ import annotations

import argparse
import time

from semcom.benchmark import Report, Stats, add_timing_arguments, format_stats, positive_int
from semcom.options import SNR_LIST
from semcom.runner import run_experiment, validate_config
from semcom.semantic import default_data_dir

EXECUTORS = ("local", "process", "ray")
MEASURED = ("psnr", "ssim", "ms_ssim", "bits", "coded_bits", "channel_uses", "failed")


def sweep(limit: int, snrs: list[float]) -> dict:
    return validate_config({
        "name": "bench-executors", "seed": 0, "snr_db": snrs,
        "images": {"folder": str(default_data_dir() / "kodak"), "limit": limit},
        "schemes": [{"name": "separation", "label": "traditional", "codec": "heif", "cbr": 1 / 16},
                    {"name": "jscc", "label": "semantic"}, {"name": "bound", "cbr": 1 / 16}],
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=positive_int, default=8, help="Kodak images (default 8)")
    parser.add_argument("--snr-db", type=SNR_LIST.arg(), default=[0.0, 10.0])
    parser.add_argument("--workers", type=positive_int, default=2, help="workers of process and ray (default 2)")
    add_timing_arguments(parser, repeats=3, warmup=0)
    args = parser.parse_args()
    config = sweep(args.limit, args.snr_db)
    items = args.limit * len(args.snr_db) * len(config["schemes"])
    report = Report("Executors: one sweep, wall time and identical results",
                    {"items": items, "workers": args.workers, "repeats": args.repeats, "warmup": args.warmup},
                    args.json)
    report.start()

    def run(name: str):
        options = {} if name == "local" else {"executor": name, "workers": args.workers}
        start = time.perf_counter()
        result = run_experiment(config, None, progress=False, **options)
        return time.perf_counter() - start, {r["key"]: tuple(r[k] for k in MEASURED) for r in result.records}

    for _ in range(args.warmup):
        for name in EXECUTORS:
            run(name)
    times: dict[str, list[float]] = {name: [] for name in EXECUTORS}
    figures: dict[str, dict] = {}
    for repeat in range(args.repeats):
        order = EXECUTORS[repeat % 3:] + EXECUTORS[: repeat % 3]
        for name in order:
            seconds, measured = run(name)
            times[name].append(seconds)
            if figures.setdefault(name, measured) != measured:
                raise SystemExit(f"{name}: records differ between repeats")
    local = Stats.of(times["local"])
    for name in EXECUTORS:
        stats = Stats.of(times[name])
        identical = figures[name] == figures["local"]
        report.add({"executor": name, "median_s": stats.median, "min_s": stats.minimum, "iqr_s": stats.iqr,
                    "samples_s": list(stats.samples), "speedup_vs_local": local.median / stats.median,
                    "identical_to_local": identical},
                   f"{name:8s} {format_stats(stats, 1.0, 's')}  {local.median / stats.median:.2f}x local  "
                   f"records identical to local: {identical}")
    report.finish()


if __name__ == "__main__":
    main()
