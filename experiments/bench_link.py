"""Information throughput of the digital link per MCS, against a plain Sionna chain, in one run.

For every MCS the operating point is its link-adaptation threshold on AWGN (the lowest SNR of the
stored BLER table with BLER <= 10%): the SNR at which link adaptation starts using it.

* semcom link: ``DigitalLink.transmit_bits`` end to end (CRC24A, 5G LDPC encoder with bit
  interleaving, QAM mapper, AWGN, APP demapper, layered early-stopping BP decoder, CRC check).
* plain Sionna: LDPC5GEncoder -> Mapper -> AWGN -> Demapper -> LDPC5GDecoder, default settings
  (flooding boxplus-phi, 20 iterations), same code block size and codeword length.

Then the coded BLER curves of both decoders are compared on a few MCS (SNR gap at BLER 10%).

    python experiments/bench_link.py [--blocks 256] [--threads 2] [--mcs 0,3,6,9,12,15]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sionna.phy.channel import AWGN
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.mapping import Demapper, Mapper

from semcom.link.digital import CRC_BITS, LDPC_MAX_BLOCK_BITS, DigitalLink
from semcom.link.mcs import MCS_TABLE, load_bler_table


def plain_chain(k: int, n: int, bps: int):
    enc = LDPC5GEncoder(k, n, num_bits_per_symbol=bps)
    dec = LDPC5GDecoder(enc)
    mapper, demapper, awgn = Mapper("qam", bps), Demapper("app", "qam", bps), AWGN()

    def run(bits: torch.Tensor, snr_db: float) -> torch.Tensor:
        no = 10 ** (-snr_db / 10)
        return dec(demapper(awgn(mapper(enc(bits)), no), no))

    return run


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def snr_at_bler(snrs, blers, target=0.1) -> float:
    """Linear interpolation in log-BLER of the SNR where the curve crosses ``target``."""
    logs = np.log10(np.clip(blers, 1e-4, 1))
    for i in range(len(snrs) - 1):
        if logs[i] >= np.log10(target) >= logs[i + 1]:
            frac = (logs[i] - np.log10(target)) / max(logs[i] - logs[i + 1], 1e-9)
            return snrs[i] + frac * (snrs[i + 1] - snrs[i])
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=256, help="code blocks per measurement (batch)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--mcs", default="all", help="comma-separated MCS indices, or 'all'")
    parser.add_argument("--curve-mcs", default="0,6,12", help="MCS whose BLER curves are compared")
    parser.add_argument("--curve-blocks", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    table = load_bler_table("awgn")
    chosen = MCS_TABLE if args.mcs == "all" else [MCS_TABLE[int(i)] for i in args.mcs.split(",")]
    payload_bits = LDPC_MAX_BLOCK_BITS - CRC_BITS
    k = LDPC_MAX_BLOCK_BITS

    print(f"threads={args.threads} blocks={args.blocks} block: {payload_bits} payload + {CRC_BITS} CRC bits")
    print(f"{'MCS':28} {'SNR dB':>6} {'semcom Mbit/s':>13} {'BLER':>6} {'iters':>5} "
          f"{'sionna Mbit/s':>13} {'BLER':>6} {'ratio':>6}")
    total_ours = total_plain = time_ours = time_plain = 0.0
    for mcs in chosen:
        snr = table.threshold_db(mcs)
        link = DigitalLink("awgn", mcs=mcs, code="ldpc", seed=args.seed)
        n = link.codeword_length(k, mcs, "ldpc")
        bits = rng.integers(0, 2, args.blocks * payload_bits, dtype=np.uint8)
        link.transmit_bits(bits[: 4 * payload_bits], snr)  # warm-up (builds coders)
        out, t_ours = timed(link.transmit_bits, bits, snr)
        plain = plain_chain(k, n, mcs.bits_per_symbol)
        info = torch.from_numpy(rng.integers(0, 2, (args.blocks, k)).astype(np.float32))
        plain(info[:4], snr)
        decoded, t_plain = timed(plain, info, snr)
        ours_rate = out.payload_bits / t_ours / 1e6
        plain_rate = info.numel() / t_plain / 1e6
        plain_bler = float((decoded != info).any(-1).float().mean())
        total_ours += out.payload_bits
        total_plain += info.numel()
        time_ours += t_ours
        time_plain += t_plain
        print(f"{str(mcs):28} {snr:6.1f} {ours_rate:13.3f} {1 - out.block_ok.mean():6.3f} "
              f"{max(out.decoder_iterations):5d} {plain_rate:13.3f} {plain_bler:6.3f} {ours_rate / plain_rate:6.2f}x")
    overall = (total_ours / time_ours) / (total_plain / time_plain)
    print(f"overall: semcom {total_ours / time_ours / 1e6:.3f} Mbit/s, sionna {total_plain / time_plain / 1e6:.3f} "
          f"Mbit/s, ratio {overall:.2f}x")

    print("\nBLER curves (AWGN), SNR at BLER 10% by interpolation:")
    for index in [int(i) for i in args.curve_mcs.split(",") if i]:
        mcs = MCS_TABLE[index]
        link = DigitalLink("awgn", mcs=mcs, code="ldpc", seed=args.seed)
        n = link.codeword_length(k, mcs, "ldpc")
        plain = plain_chain(k, n, mcs.bits_per_symbol)
        centre = table.threshold_db(mcs)
        snrs = np.arange(centre - 1.5, centre + 0.51, 0.25)
        ours, theirs = [], []
        for snr in snrs:
            bits = rng.integers(0, 2, args.curve_blocks * payload_bits, dtype=np.uint8)
            ours.append(1 - link.transmit_bits(bits, float(snr)).block_ok.mean())
            info = torch.from_numpy(rng.integers(0, 2, (args.curve_blocks, k)).astype(np.float32))
            theirs.append(float((plain(info, float(snr)) != info).any(-1).float().mean()))
        gap = snr_at_bler(snrs, np.array(theirs)) - snr_at_bler(snrs, np.array(ours))
        print(f"{str(mcs):28} SNR {', '.join(f'{s:.2f}' for s in snrs)}")
        print(f"{'':28} semcom BLER {', '.join(f'{b:.3f}' for b in ours)}")
        print(f"{'':28} sionna BLER {', '.join(f'{b:.3f}' for b in theirs)}")
        print(f"{'':28} semcom needs {gap:+.2f} dB less SNR than plain Sionna at BLER 10%")


if __name__ == "__main__":
    main()
