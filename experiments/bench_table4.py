"""Wall time of ``semcom table4`` on Kodak (24 images), per scheme.

    OMP_WAIT_POLICY=PASSIVE nice .venv/bin/python experiments/bench_table4.py [--out DIR] [extra table4 options]

Runs the command in a fresh output folder (so nothing is resumed) and prints the Markdown table, the
total wall time and the wall time of each scheme (model loading + items), from table.json.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from semcom.cli.main import main
from semcom.semantic import default_data_dir


def bench(extra: list[str]) -> int:
    kodak = default_data_dir() / "kodak"
    out = None
    if "--out" in extra:
        out = Path(extra[extra.index("--out") + 1])
        shutil.rmtree(out, ignore_errors=True)
    else:
        out = Path(tempfile.mkdtemp(prefix="bench_table4_"))
        extra = [*extra, "--out", str(out)]
    argv = ["table4", "--images", str(kodak), "--captions", str(kodak / "captions.json"), *extra]
    print("semcom " + " ".join(argv), flush=True)
    start = time.perf_counter()
    code = main(argv)
    total = time.perf_counter() - start
    if code:
        return code
    report = json.loads((out / "table.json").read_text())
    print(f"total wall time: {total:.1f} s (24 Kodak images)")
    for row in report["rows"]:
        if row["item_seconds"] is None:
            continue
        n = row["images"]
        print(f"  {row['scheme']:12s} {row['build_seconds'] or 0:7.1f} s loading + {row['item_seconds']:8.1f} s items "
              f"({row['item_seconds'] / n:.2f} s per image)")
    return 0


if __name__ == "__main__":
    sys.exit(bench(sys.argv[1:]))
