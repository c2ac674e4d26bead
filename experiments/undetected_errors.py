"""Undetected block errors of the digital link: failed blocks that pass the CRC with wrong bits.

    .venv/bin/python experiments/undetected_errors.py [--failed 100000] [--payload-bits 100]
                                                      [--mcs 3] [--snr-db -5] [--codes ldpc,polar,none]

Each code sends batches of random ``--payload-bits`` blocks over AWGN at a low SNR, where almost
every block fails, until ``--failed`` blocks came out wrong. A failed block is *undetected* when
its CRC verdict says good. Expected rates: 2**-24 for LDPC and uncoded blocks with CRC24A;
L * 2**-27 = 2**-24 for the polar code (SCL list L = 8, CRC11 for list selection + outer CRC16).
For the polar code the run also counts the failed blocks that passed the list decoder's CRC11 alone
(bound L * 2**-11), the rate at which a CRC11-only polar link would pass wrong blocks on.
With no event in F failed blocks, the 95 % upper confidence limit of the rate is about 3 / F.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from semcom.link.digital import (
    CRC_BITS,
    POLAR_INNER_CRC_BITS,
    POLAR_LIST_SIZE,
    POLAR_OUTER_CRC_BITS,
    DigitalLink,
)


@dataclass
class Count:
    """Failed and undetected blocks of one code."""

    code: str
    crc: str
    bound: float
    sent: int = 0
    failed: int = 0
    undetected: int = 0
    list_crc_passed: int = 0  # polar only: failed blocks the CRC11 alone would have passed
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.undetected / max(self.failed, 1)

    @property
    def upper95(self) -> float:
        """95 % upper confidence limit of the rate (exact for 0 events: -ln(0.05) / failed)."""
        if self.undetected == 0:
            return -np.log(0.05) / max(self.failed, 1)
        return float("nan")


def crc_and_bound(code: str) -> tuple[str, float]:
    """The CRC description and the expected undetected rate per failed block of ``code``."""
    if code == "polar":
        bits = POLAR_INNER_CRC_BITS + POLAR_OUTER_CRC_BITS
        return f"CRC{POLAR_INNER_CRC_BITS} (list) + CRC{POLAR_OUTER_CRC_BITS}", POLAR_LIST_SIZE * 2.0**-bits
    return f"CRC{CRC_BITS}A", 2.0**-CRC_BITS


def measure(code: str, args: argparse.Namespace) -> Count:
    """Send batches of ``code`` blocks until ``args.failed`` of them failed."""
    crc, bound = crc_and_bound(code)
    count = Count(code, crc, bound)
    link = DigitalLink("awgn", mcs=args.mcs, code=code, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    start = time.time()
    while count.failed < args.failed:
        blocks = rng.integers(0, 2, (args.batch, args.payload_bits), dtype=np.uint8)
        out = link.send_blocks(blocks, args.snr_db, gen)
        wrong = (out.decoded != blocks).any(axis=1)
        count.sent += len(blocks)
        count.failed += int(wrong.sum())
        count.undetected += int((wrong & out.ok).sum())
        if out.list_crc_ok is not None:
            count.list_crc_passed += int((wrong & out.list_crc_ok).sum())
        if args.progress:
            print(f"  {code}: {count.failed} failed, {count.undetected} undetected", file=sys.stderr, end="\r")
    count.seconds = time.time() - start
    return count


def main(argv: list[str] | None = None) -> list[Count]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--failed", type=int, default=100_000, help="failed blocks to collect per code")
    parser.add_argument("--payload-bits", type=int, default=100, help="payload bits per block (default 100)")
    parser.add_argument("--mcs", type=int, default=3, help="MCS index (default 3: QPSK, R = 0.59)")
    parser.add_argument("--snr-db", type=float, default=-5.0, help="Es/N0 in dB (default -5)")
    parser.add_argument("--codes", default="ldpc,polar,none", help="comma-separated codes")
    parser.add_argument("--batch", type=int, default=2000, help="blocks per batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--progress", action="store_true", help="print running counts")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    counts = []
    for code in args.codes.split(","):
        counts.append(measure(code, args))
        if args.progress:
            print(file=sys.stderr)
    link = DigitalLink("awgn", mcs=args.mcs)
    mcs = link.mcs
    print(f"undetected block errors, AWGN at {args.snr_db:g} dB, {mcs}, {args.payload_bits}-bit payload per block")
    header = (f"{'code':6s} {'CRC':20s} {'coded bits':>10s} {'sent':>8s} {'failed':>8s} {'undetected':>10s} "
              f"{'rate':>9s} {'95% upper':>9s} {'bound':>9s}")
    print(header)
    for c in counts:
        coded = link.codeword_length(link.block_info_bits(args.payload_bits, c.code), mcs, c.code)
        print(f"{c.code:6s} {c.crc:20s} {coded:10d} {c.sent:8d} {c.failed:8d} {c.undetected:10d} "
              f"{c.rate:9.2e} {c.upper95:9.2e} {c.bound:9.2e}")
        if c.code == "polar":
            inner = POLAR_LIST_SIZE * 2.0**-POLAR_INNER_CRC_BITS
            print(f"{'':6s} the list decoder's CRC{POLAR_INNER_CRC_BITS} alone passed {c.list_crc_passed} failed blocks "
                  f"({c.list_crc_passed / max(c.failed, 1):.2e}, bound {inner:.2e}); "
                  f"the outer CRC{POLAR_OUTER_CRC_BITS} let {c.undetected} of them through")
    print("time: " + ", ".join(f"{c.code} {c.seconds:.0f} s" for c in counts))
    given = sys.argv[1:] if argv is None else argv
    print("command: " + shlex.join(["python", "experiments/undetected_errors.py", *given]))
    return counts


if __name__ == "__main__":
    main()
