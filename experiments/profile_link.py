"""Where the digital link spends its time: cProfile of ``DigitalLink.transmit_bits``.

Each MCS runs at its AWGN link-adaptation threshold: ``--warmup`` untimed calls (coder
construction, kernel compilation), then ``--repeats`` profiled calls of ``--blocks`` code blocks.
Prints the share of each stage of the link (cumulative time of its call) and the functions with
the most time of their own.

    python experiments/profile_link.py [--mcs 0,3,6,9,12,15] [--blocks 64] [--threads N] [--top 15] [--json]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
from collections.abc import Callable

import numpy as np

from bench_link import PAYLOAD_BITS, mcs_list  # experiments/ is on the path of a script run from it
from semcom.benchmark import Report, add_timing_arguments, positive_int, set_threads
from semcom.link.digital import DigitalLink
from semcom.link.mcs import load_bler_table


def _method(obj) -> Callable:
    """The function that does an object's work: a Sionna block's ``call``, else ``__call__``."""
    return getattr(type(obj), "call", None) or type(obj).__call__


def stage_functions(link: DigitalLink) -> dict[str, list[Callable]]:
    """The functions of each stage among the coders ``link`` has built (after a call)."""
    stages: dict[str, list[Callable]] = {"CRC": [], "LDPC encoder": [], "QAM mapper": [],
                                         "channel": [type(link.channel).forward], "demapper": [],
                                         "LDPC decoder": []}
    for crc, encoder, decoder, mapper, demapper in link._blocks.values():
        stages["CRC"].extend(_method(c) for c in crc or ())
        for name, obj in (("LDPC encoder", encoder), ("LDPC decoder", decoder), ("QAM mapper", mapper),
                          ("demapper", demapper)):
            if obj is not None and _method(obj) not in stages[name]:
                stages[name].append(_method(obj))
    return stages


def _key(fn: Callable) -> tuple[str, int, str]:
    code = fn.__code__
    return code.co_filename, code.co_firstlineno, code.co_name


def _label(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    parts = filename.split("/")
    short = "/".join(parts[parts.index("site-packages") + 1:] if "site-packages" in parts else parts[-3:])
    return f"{short}:{line}({name})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mcs", type=mcs_list, default="0,3,6,9,12,15", help="comma-separated MCS indices, or 'all'")
    parser.add_argument("--blocks", type=positive_int, default=64, help="code blocks per call (default 64)")
    parser.add_argument("--top", type=positive_int, default=15, help="functions listed (default 15)")
    add_timing_arguments(parser, repeats=1, warmup=1)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    report = Report("cProfile of DigitalLink.transmit_bits (AWGN, each MCS at its threshold)",
                    {"mcs": ",".join(str(m.index) for m in args.mcs), "blocks": args.blocks,
                     "repeats": args.repeats, "warmup": args.warmup}, as_json=args.json)
    report.start()
    rng = np.random.default_rng(0)
    profile = cProfile.Profile()
    stages: dict[str, set] = {}
    for mcs in args.mcs:
        snr = load_bler_table("awgn").threshold_db(mcs)
        link = DigitalLink("awgn", mcs=mcs, code="ldpc", seed=0)
        bits = rng.integers(0, 2, args.blocks * PAYLOAD_BITS, dtype=np.uint8)
        for _ in range(args.warmup):
            link.transmit_bits(bits, snr)
        for _ in range(args.repeats):
            profile.runcall(link.transmit_bits, bits, snr)
        for name, fns in stage_functions(link).items():
            stages.setdefault(name, set()).update(_key(fn) for fn in fns)
    stats = pstats.Stats(profile).stats  # key -> (primitive calls, calls, own time, cumulative time, callers)
    total = stats[_key(DigitalLink.transmit_bits)][3]
    seconds_of = {name: sum(stats[key][3] for key in keys if key in stats) for name, keys in stages.items()}
    seconds_of["rest (Python, reassembly, checks)"] = total - sum(seconds_of.values())
    report.line(f"total {total:.3f} s in transmit_bits\nstage shares:")
    for name, seconds in seconds_of.items():
        report.add({"kind": "stage", "stage": name, "seconds": seconds, "share": seconds / total},
                   f"  {name:34} {seconds:8.3f} s {seconds / total:6.1%}")
    report.line(f"top {args.top} functions by own time:")
    top = sorted(stats.items(), key=lambda item: -item[1][2])[: args.top]
    for key, (_, calls, own, cumulative, _) in top:
        report.add({"kind": "function", "function": _label(key), "calls": calls, "own_seconds": own,
                    "share": own / total, "cumulative_seconds": cumulative},
                   f"  {own:8.3f} s {own / total:6.1%} own, {cumulative:8.3f} s cum., {calls:6d} calls  {_label(key)}")
    report.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
