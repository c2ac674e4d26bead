"""``semcom link ber`` and ``semcom link bler-table``."""

from __future__ import annotations

import argparse
import json
import sys

from semcom.options import (
    BLER_BLOCKS,
    BLER_STEP_DB,
    CHANNEL_NAMES,
    MODULATION_NAMES,
    SEED,
    SNR_LIST,
    Integer,
    Ratio,
    Real,
)

#: Code rates the 5G codes of the link take: LDPC from the lowest MCS rate (205/1024) up to 0.95;
#: polar down to 0.025 (shorter blocks leave fewer than 12 information bits beside the CRC).
CODE_RATES = {"ldpc": Real(205 / 1024, 0.95), "polar": Real(0.025, 1.0)}
BER_BITS = Integer(1, 100_000_000)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    link = subparsers.add_parser("link", help="digital link simulations")
    commands = link.add_subparsers(dest="link_command", metavar="COMMAND", required=True)

    ber = commands.add_parser(
        "ber", help="bit and block error rate versus SNR",
        description="Sends random payloads over the link at each SNR until --bits payload bits are counted "
                    "(going on, up to 10x, while fewer than 100 code blocks failed) and prints the measured bit "
                    "and block error rates with their error counts, next to the closed form where one exists. "
                    "A rate with no error is shown as '< 1/N' (N bits or blocks counted).")
    ber.add_argument("--channel", default="awgn", choices=CHANNEL_NAMES, metavar="NAME",
                     help="channel model: %(choices)s")
    ber.add_argument("--modulation", default="qpsk", choices=MODULATION_NAMES, metavar="NAME",
                     help="modulation: %(choices)s")
    ber.add_argument("--code", default="ldpc", choices=["none", "ldpc", "polar"], help="channel code: %(choices)s")
    ber.add_argument("--rate", type=Ratio().arg(), default="1/2",
                     help="code rate: ldpc 0.2002-0.95, polar 0.025-1 (ignored for --code none)")
    ber.add_argument("--snr-db", type=SNR_LIST.arg(), default=[0.0, 2.0, 4.0], help="Es/N0 list in dB, e.g. 0,2,4")
    ber.add_argument("--bits", type=BER_BITS.arg(), default=200_000, help="payload bits counted per SNR")
    ber.add_argument("--seed", type=SEED.arg(), default=0, help="seed of the payloads and the noise, 0 to 2**32-1")
    ber.add_argument("--json", action="store_true", help="print one JSON object")
    ber.add_argument("--plot", default=None, metavar="FILE.png",
                     help="also draw the BER curve (and the closed form) into FILE.png")
    ber.add_argument("--no-progress", action="store_true", help="no progress bar")
    ber.set_defaults(run=run_ber)

    table = commands.add_parser(
        "bler-table", help="simulate the BLER table of a channel (link adaptation reads it)",
        description="Simulates the BLER of every MCS over an SNR grid and writes it as JSON to --out "
                    "(default ./bler_<channel>.json; the tables shipped in semcom/data are not touched). "
                    "Link adaptation reads a table from the folder named by $SEMCOM_BLER_TABLES first, "
                    "then from semcom/data.")
    table.add_argument("--channel", default="awgn", choices=CHANNEL_NAMES, metavar="NAME",
                       help="channel model: %(choices)s")
    table.add_argument("--blocks", type=BLER_BLOCKS.arg(), default=200, help="code blocks per SNR point (at least 10)")
    table.add_argument("--step-db", type=BLER_STEP_DB.arg(), default=0.5, help="SNR grid step in dB (0.1 to 6)")
    table.add_argument("--seed", type=SEED.arg(), default=0, help="seed of the payloads and the noise, 0 to 2**32-1")
    table.add_argument("--out", default=None, help="output JSON (default ./bler_<channel>.json)")
    table.set_defaults(run=run_bler_table)


def run_ber(args: argparse.Namespace) -> int:
    from semcom.files import output_file
    from semcom.link.ber import format_rate, simulate_ber
    from semcom.link.digital import DigitalLink
    from semcom.link.mcs import MCS

    if args.code != "none":
        CODE_RATES[args.code].check(args.rate, f"--rate with --code {args.code}")
    rate = 1.0 if args.code == "none" else args.rate
    plot = output_file(args.plot, "--plot", (".png",)) if args.plot else None
    link = DigitalLink(args.channel, mcs=MCS(-1, args.modulation, rate), code=args.code, seed=args.seed)
    points = simulate_ber(link, args.snr_db, num_bits=args.bits, max_bits=max(args.bits, 10 * args.bits),
                          seed=args.seed, progress=not (args.json or args.no_progress))
    setting = {"channel": args.channel, "modulation": args.modulation, "code": args.code, "rate": rate,
               "seed": args.seed, "snr_convention": "Es/N0 per complex symbol, dB"}
    if plot is not None:
        from semcom.plots import plot_ber

        label = f"{args.channel} {args.modulation}" + ("" if args.code == "none" else f" {args.code} R={rate:.3g}")
        plot_ber({label: points}, plot)
    if args.json:
        json.dump({"results": [p.as_dict() for p in points], "setting": setting}, sys.stdout, indent=1)
        print()
        return 0
    print(f"{args.channel} {args.modulation} code={args.code} R={rate:.3f}")
    print(f"{'SNR dB':>7} {'BER':>11} {'bit errors':>21} {'BLER':>11} {'block errors':>15} {'BER theory':>11}")
    for p in points:
        theory = "-" if p.ber_theory is None else f"{p.ber_theory:.3e}"
        print(f"{p.snr_db:7.2f} {format_rate(p.bit_errors, p.bits):>11} {f'{p.bit_errors}/{p.bits}':>21} "
              f"{format_rate(p.block_errors, p.blocks, '.4f'):>11} {f'{p.block_errors}/{p.blocks}':>15} {theory:>11}")
    if any(p.bit_errors == 0 or p.block_errors == 0 for p in points):
        print("'< 1/N': no error among the N bits (or blocks) counted.")
    if plot is not None:
        print(f"wrote {plot}")
    return 0


def run_bler_table(args: argparse.Namespace) -> int:
    from semcom.files import output_file
    from semcom.link.bler_table import generate_bler_table, write_bler_table

    out = output_file(args.out or f"bler_{args.channel}.json", "--out", (".json",))
    table = generate_bler_table(args.channel, blocks=args.blocks, step_db=args.step_db, seed=args.seed, progress=True)
    path = write_bler_table(table, out)
    print(f"wrote {path}")
    return 0
