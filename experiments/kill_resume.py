"""A sweep killed midway and resumed under each executor (local, process, ray): no item duplicated, none
missing, every record equal to an uninterrupted run's.

For each executor, ``semcom run CONFIG --out DIR --executor E --workers W`` runs as a child process and is
SIGKILLed (no clean-up of any kind) once ``results.jsonl`` holds a seeded random number of new records,
``--kills`` times; the same command then runs to the end. The sweep: ``--limit`` embedded photographs
cropped to 64 x 64 x SNR 0 and 10 dB x the schemes separation (JPEG), jscc and bound. Checks, per executor:
every line of results.jsonl is whole JSON, no item key appears twice, the keys are exactly the sweep's
items, and each record's measured figures (PSNR, SSIM, MS-SSIM, bits, coded bits, channel uses, failure)
equal those of an uninterrupted local run to the last digit. Prints one row per executor.

Run: python experiments/kill_resume.py [--limit 4] [--kills 2] [--workers 2] [--executors local,process,ray]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MEASURED = ("psnr", "ssim", "ms_ssim", "bits", "coded_bits", "channel_uses", "failed")
CONFIG = """
    name = "kill-resume"
    seed = 7
    snr_db = [0.0, 10.0]
    [images]
    folder = "embedded"
    limit = {limit}
    crop = 64
    [[schemes]]
    name = "separation"
    label = "traditional"
    codec = "jpeg"
    cbr = "1/4"
    [[schemes]]
    name = "jscc"
    label = "semantic"
    [[schemes]]
    name = "bound"
    """


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _command(config: Path, out: Path, executor: str, workers: int) -> list[str]:
    command = [sys.executable, "-m", "semcom.cli", "run", str(config), "--out", str(out), "--no-progress",
               "--executor", executor]
    return command + (["--workers", str(workers)] if executor != "local" else [])


def kill_and_resume(config: Path, out: Path, executor: str, workers: int, kills: int, total: int,
                    rng: random.Random) -> dict:
    """Run the sweep, SIGKILLing it ``kills`` times at random points, then to the end; what happened."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    results, log = out / "results.jsonl", out.parent / f"{executor}.log"
    landed, attempts, killed_at = 0, 0, []
    while True:
        attempts += 1
        with open(log, "ab") as sink:
            child = subprocess.Popen(_command(config, out, executor, workers), stdout=sink, stderr=sink, env=env,
                                     cwd=REPO)
        if landed < kills:
            start = _lines(results)
            target = min(total - 1, start + rng.randint(1, max(1, (total - start) // 2)))
            while child.poll() is None and _lines(results) < target:
                time.sleep(0.01)
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                killed_at.append(_lines(results))
        code = child.wait()
        if code == -signal.SIGKILL:
            landed += 1
            continue
        if code != 0:
            raise SystemExit(f"{executor}: attempt {attempts} ended with {code}; see {log}")
        return {"kills": landed, "attempts": attempts, "killed_at_records": killed_at}


def check(results: Path, reference: dict[str, tuple]) -> dict:
    """Whole lines, duplicates, missing and unexpected keys, and records equal to the reference."""
    raw = results.read_bytes()
    records = [json.loads(line) for line in raw.decode().splitlines()]
    keys = [r["key"] for r in records]
    measured = {r["key"]: tuple(r[k] for k in MEASURED) for r in records}
    return {"lines": len(records), "whole_lines": raw.endswith(b"\n"), "duplicates": len(keys) - len(set(keys)),
            "missing": len(set(reference) - set(keys)), "unexpected": len(set(keys) - set(reference)),
            "identical": all(measured.get(k) == v for k, v in reference.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=4, help="embedded photographs (1-4, default 4)")
    parser.add_argument("--kills", type=int, default=2, help="kills per executor (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="workers of process and ray (default 2)")
    parser.add_argument("--executors", default="local,process,ray", help="comma-separated (default: all three)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill points (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    import torch

    from semcom.runner import load_config, run_experiment

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="semcom-kill-resume-") as tmp:
        config = Path(tmp) / "kill-resume.toml"
        config.write_text(textwrap.dedent(CONFIG).format(limit=args.limit))
        reference = {r["key"]: tuple(r[k] for k in MEASURED)
                     for r in run_experiment(load_config(config), None, progress=False).records}
        rng = random.Random(args.seed)
        for executor in args.executors.split(","):
            out = Path(tmp) / executor
            start = time.perf_counter()
            outcome = kill_and_resume(config, out, executor, args.workers, args.kills, len(reference), rng)
            row = {"executor": executor, "items": len(reference), **outcome,
                   **check(out / "results.jsonl", reference), "seconds": round(time.perf_counter() - start, 1)}
            rows.append(row)
            if not args.json:
                print(f"{executor:8s} {row['kills']} kills (at {row['killed_at_records']} records), "
                      f"{row['attempts']} attempts, {row['seconds']} s: {row['lines']} lines for {row['items']} "
                      f"items, duplicates {row['duplicates']}, missing {row['missing']}, unexpected "
                      f"{row['unexpected']}, records identical to an uninterrupted run: {row['identical']}",
                      flush=True)
    if args.json:
        print(json.dumps({"rows": rows}, indent=1))
    failed = [r["executor"] for r in rows if r["duplicates"] or r["missing"] or r["unexpected"] or not r["identical"]
              or not r["whole_lines"]]
    if failed:
        raise SystemExit(f"resume broke under: {', '.join(failed)}")


if __name__ == "__main__":
    main()
