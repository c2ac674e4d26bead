"""Speed of the digital link per MCS against a plain Sionna chain, with semcom.benchmark.

For every MCS the operating point is its link-adaptation threshold on AWGN (the lowest SNR of the
stored BLER table with BLER <= 10%): the SNR at which link adaptation starts using it. Both sides
code ``--blocks`` code blocks of k = 2048 information bits into the same n coded bits per call:

* semcom link: ``DigitalLink.transmit_bits`` end to end (2024 payload bits + CRC24A per block,
  5G LDPC encoder with bit interleaving, QAM mapper, AWGN, exact APP demapper, layered
  early-stopping BP decoder with at most 20 iterations, CRC check, payload reassembly).
* plain Sionna: LDPC5GEncoder -> Mapper -> AWGN -> Demapper("app") -> LDPC5GDecoder with its
  defaults (flooding boxplus-phi, 20 iterations), k = 2048, same n.

Each row gives the median time per call of both (warm-up calls first, then interleaved repeats),
the speed-up (ratio of medians, with the interquartile range of the per-pair ratios), both block
error rates over every call made, and the decoder iterations. Then: early stopping above the
threshold (our link alone: iterations and time at threshold + ``--above`` dB), one Kodak image
through the separation scheme at 10 dB AWGN, and coded BLER curves of both chains.

    python experiments/bench_link.py [--blocks 64] [--mcs all] [--repeats 5] [--warmup 1]
                                     [--threads N] [--above 1,3] [--curve-mcs 0,6,12]
                                     [--curve-blocks 300] [--e2e-image kodim23.png] [--json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sionna.phy.channel import AWGN
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.mapping import Demapper, Mapper

from semcom.benchmark import (
    Report,
    add_timing_arguments,
    compare,
    format_speedup,
    format_stats,
    measure,
    non_negative_int,
    positive_int,
    set_threads,
)
from semcom.errors import ConfigError
from semcom.link.digital import CRC_BITS, LDPC_MAX_BLOCK_BITS, DigitalLink, Transmission
from semcom.link.mcs import MCS, MCS_TABLE, get_mcs, load_bler_table

PAYLOAD_BITS = LDPC_MAX_BLOCK_BITS - CRC_BITS  # per code block, CRC24A on top
K = LDPC_MAX_BLOCK_BITS


def mcs_list(text: str) -> list[MCS]:
    """argparse type: 'all', '' (none) or comma-separated MCS indices."""
    if text.strip() == "all":
        return list(MCS_TABLE)
    try:
        return [get_mcs(int(i)) for i in text.split(",") if i.strip()]
    except (ValueError, ConfigError) as err:
        raise argparse.ArgumentTypeError(f"MCS list must be 'all' or indices in 0..{len(MCS_TABLE) - 1}, "
                                         f"got {text!r} ({err})") from None


def db_offsets(text: str) -> list[float]:
    """argparse type: comma-separated non-negative SNR offsets in dB ('' for none)."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"offsets must be comma-separated numbers of dB, got {text!r}") from None
    if any(not np.isfinite(v) or v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"offsets above the threshold must be positive dB, got {text!r}")
    return values


class PlainChain:
    """Sionna with its defaults: [blocks, k] bits -> encoder -> QAM -> AWGN -> APP demapper -> decoder."""

    def __init__(self, k: int, n: int, bits_per_symbol: int):
        self.encoder = LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol)
        self.decoder = LDPC5GDecoder(self.encoder)
        self.mapper = Mapper("qam", bits_per_symbol)
        self.demapper = Demapper("app", "qam", bits_per_symbol)
        self.awgn = AWGN()

    def __call__(self, bits: torch.Tensor, snr_db: float) -> torch.Tensor:
        no = 10 ** (-snr_db / 10)
        return self.decoder(self.demapper(self.awgn(self.mapper(self.encoder(bits)), no), no))


class ErrorCount:
    """Block errors over every call of one side of a row."""

    def __init__(self):
        self.errors = self.blocks = 0
        self.iterations: list[np.ndarray] = []

    def add_link(self, out: Transmission) -> None:
        self.errors += int((~out.block_ok).sum())
        self.blocks += out.num_blocks
        self.iterations.append(out.decoder_iterations)

    def add_plain(self, decoded: torch.Tensor, sent: torch.Tensor) -> None:
        self.errors += int((decoded != sent).any(-1).sum())
        self.blocks += sent.shape[0]

    @property
    def bler(self) -> float:
        return self.errors / self.blocks

    def iteration_stats(self) -> tuple[float, int]:
        every = np.concatenate(self.iterations)
        return float(every.mean()), int(every.max())


def mcs_row(mcs: MCS, args, rng: np.random.Generator, report: Report) -> float:
    """Time our link and the plain chain at the threshold of ``mcs``; returns the speed-up."""
    snr = load_bler_table("awgn").threshold_db(mcs)
    link = DigitalLink("awgn", mcs=mcs, code="ldpc", seed=args.seed)
    n = link.codeword_length(K, mcs, "ldpc")
    plain = PlainChain(K, n, mcs.bits_per_symbol)
    bits = rng.integers(0, 2, args.blocks * PAYLOAD_BITS, dtype=np.uint8)
    info = torch.from_numpy(rng.integers(0, 2, (args.blocks, K)).astype(np.float32))
    ours, theirs = ErrorCount(), ErrorCount()
    c = compare(lambda: ours.add_link(link.transmit_bits(bits, snr)),
                lambda: theirs.add_plain(plain(info, snr), info),
                repeats=args.repeats, warmup=args.warmup)
    mean_it, max_it = ours.iteration_stats()
    rates = (bits.size / c.ours.median / 1e6, info.numel() / c.reference.median / 1e6)
    report.add(
        {"kind": "mcs", "mcs": mcs.index, "name": str(mcs), "snr_db": snr, "k": K, "n": n, "blocks": args.blocks,
         **c.to_dict(), "mbit_per_s": {"ours": rates[0], "reference": rates[1]},
         "bler": {"ours": ours.bler, "reference": theirs.bler}, "blocks_counted": ours.blocks,
         "iterations": {"mean": mean_it, "max": max_it}},
        f"{str(mcs):26} {snr:6.1f} {n:5d} {format_stats(c.ours):>30} {format_stats(c.reference):>32} "
        f"{format_speedup(c):>22} {rates[0]:7.2f} {rates[1]:6.2f} {ours.bler:6.3f} {theirs.bler:6.3f} "
        f"{mean_it:5.1f}/{max_it:<2d}",
    )
    return c.speedup


def early_stopping_rows(mcs: MCS, args, rng: np.random.Generator, report: Report) -> None:
    """Our link alone at threshold + each offset: iterations spent and time per call."""
    threshold = load_bler_table("awgn").threshold_db(mcs)
    link = DigitalLink("awgn", mcs=mcs, code="ldpc", seed=args.seed)
    bits = rng.integers(0, 2, args.blocks * PAYLOAD_BITS, dtype=np.uint8)
    for offset in args.above:
        count = ErrorCount()
        stats = measure(lambda: count.add_link(link.transmit_bits(bits, threshold + offset)),
                        repeats=args.repeats, warmup=args.warmup)
        mean_it, max_it = count.iteration_stats()
        report.add(
            {"kind": "early_stopping", "mcs": mcs.index, "snr_db": threshold + offset, "offset_db": offset,
             "ours": stats.to_dict(), "bler": count.bler, "iterations": {"mean": mean_it, "max": max_it}},
            f"{str(mcs):26} {threshold + offset:6.1f} (+{offset:g} dB) {format_stats(stats):>30} "
            f"BLER {count.bler:.3f}  iterations {mean_it:5.1f} mean, {max_it} max",
        )


def end_to_end_row(args, report: Report) -> None:
    """One Kodak image through the separation scheme (HEIF, CBR 1/16) at 10 dB AWGN."""
    from semcom.images import load_image
    from semcom.files import default_data_dir
    from semcom.schemes import make_scheme

    path = Path(args.e2e_image)
    if not path.is_absolute() and not path.exists():
        path = default_data_dir() / "kodak" / path
    image = load_image(path)
    scheme = make_scheme("separation", codec="heif", cbr=1 / 16, channel="awgn", seed=args.seed)
    link_seconds: list[float] = []  # per image sent: time spent in the link (ARQ rounds included)
    transmit_bits = scheme.link.transmit_bits

    def timed_transmit_bits(*a, **kw):
        start = time.perf_counter()
        out = transmit_bits(*a, **kw)
        link_seconds[-1] += time.perf_counter() - start
        return out

    def send():
        link_seconds.append(0.0)
        results.append(scheme.transmit(image, 10.0))

    scheme.link.transmit_bits = timed_transmit_bits
    results = []
    stats = measure(send, repeats=args.repeats, warmup=args.warmup)
    timed = results[args.warmup:]
    link_share = sum(link_seconds[args.warmup:]) / sum(stats.samples)
    last = timed[-1]
    failures = sum(r.failed for r in timed)
    report.add(
        {"kind": "end_to_end", "image": str(path), "snr_db": 10.0, "scheme": "separation", "codec": "heif",
         "cbr": 1 / 16, "ours": stats.to_dict(), "link_share": link_share, "mcs": last.details.get("mcs"),
         "blocks": last.details.get("blocks"), "failures": failures, "images": len(timed)},
        f"{path.name} separation (HEIF, CBR 1/16) at 10 dB AWGN, {last.details.get('mcs')}, "
        f"{last.details.get('blocks')} code blocks: {format_stats(stats)} per image, link {link_share:.0%} of it, "
        f"{failures}/{len(timed)} failed",
    )


def snr_at_bler(snrs: np.ndarray, blers: np.ndarray, target: float = 0.1) -> float:
    """Linear interpolation in log-BLER of the SNR where the curve crosses ``target``."""
    logs = np.log10(np.clip(blers, 1e-4, 1))
    for i in range(len(snrs) - 1):
        if logs[i] >= np.log10(target) >= logs[i + 1]:
            frac = (logs[i] - np.log10(target)) / max(logs[i] - logs[i + 1], 1e-9)
            return float(snrs[i] + frac * (snrs[i + 1] - snrs[i]))
    return float("nan")


def bler_curve_rows(mcs: MCS, args, rng: np.random.Generator, report: Report) -> None:
    """Coded BLER of both chains around the threshold of ``mcs`` (SNR gap at BLER 10%)."""
    link = DigitalLink("awgn", mcs=mcs, code="ldpc", seed=args.seed)
    plain = PlainChain(K, link.codeword_length(K, mcs, "ldpc"), mcs.bits_per_symbol)
    centre = load_bler_table("awgn").threshold_db(mcs)
    snrs = np.arange(centre - 1.5, centre + 0.51, 0.25)
    ours, theirs = [], []
    for snr in snrs:
        bits = rng.integers(0, 2, args.curve_blocks * PAYLOAD_BITS, dtype=np.uint8)
        ours.append(float(1 - link.transmit_bits(bits, float(snr)).block_ok.mean()))
        info = torch.from_numpy(rng.integers(0, 2, (args.curve_blocks, K)).astype(np.float32))
        theirs.append(float((plain(info, float(snr)) != info).any(-1).float().mean()))
    gap = snr_at_bler(snrs, np.array(theirs)) - snr_at_bler(snrs, np.array(ours))
    report.add({"kind": "bler_curve", "mcs": mcs.index, "snr_db": snrs.tolist(), "bler_ours": ours,
                "bler_reference": theirs, "gain_db_at_bler_0.1": gap})
    report.line(f"{str(mcs):26} SNR    {', '.join(f'{s:.2f}' for s in snrs)}")
    report.line(f"{'':26} semcom {', '.join(f'{b:.3f}' for b in ours)}")
    report.line(f"{'':26} sionna {', '.join(f'{b:.3f}' for b in theirs)}")
    report.line(f"{'':26} semcom needs {gap:+.2f} dB less SNR than plain Sionna at BLER 10%")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=positive_int, default=64, help="code blocks per call (default 64)")
    parser.add_argument("--mcs", type=mcs_list, default="all", help="comma-separated MCS indices, or 'all'")
    parser.add_argument("--above", type=db_offsets, default="1,3",
                        help="SNR offsets (dB) above each threshold for the early-stopping rows ('' for none)")
    parser.add_argument("--curve-mcs", type=mcs_list, default="0,6,12",
                        help="MCS whose BLER curves are compared ('' for none)")
    parser.add_argument("--curve-blocks", type=positive_int, default=300, help="code blocks per BLER curve point")
    parser.add_argument("--e2e-image", default="kodim23.png",
                        help="Kodak image (name under the shared data folder, or a path) for the end-to-end row; "
                             "'' to skip")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    add_timing_arguments(parser)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    report = Report("semcom link vs plain Sionna (AWGN, at each MCS's link-adaptation threshold)",
                    {"blocks": args.blocks, "k": K, "payload_bits": PAYLOAD_BITS, "repeats": args.repeats,
                     "warmup": args.warmup, "seed": args.seed, "max_iterations": 20}, as_json=args.json)
    report.start()
    report.line(f"{'MCS':26} {'SNR dB':>6} {'n':>5} {'semcom per call':>30} {'sionna per call':>32} "
                f"{'speed-up [pair IQR]':>22} {'Mbit/s':>7} {'sionna':>6} {'BLER':>6} {'sionna':>6} iters")
    speedups = [mcs_row(mcs, args, rng, report) for mcs in args.mcs]
    if speedups:
        report.line(f"speed-up over {len(speedups)} MCS: min {min(speedups):.2f}x, "
                    f"geometric mean {float(np.exp(np.mean(np.log(speedups)))):.2f}x")
    if args.above and args.mcs:
        report.line("\nearly stopping above the threshold (semcom link alone):")
        for mcs in args.mcs:
            early_stopping_rows(mcs, args, rng, report)
    if args.e2e_image:
        report.line("\nend to end:")
        end_to_end_row(args, report)
    if args.curve_mcs:
        report.line("\nBLER curves (AWGN), SNR at BLER 10% by interpolation:")
        for mcs in args.curve_mcs:
            bler_curve_rows(mcs, args, rng, report)
    report.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
