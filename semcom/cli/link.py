"""``semcom link ber`` and ``semcom link bler-table``."""

from __future__ import annotations

import argparse
import json
import sys

from channels import CHANNELS
from semcom.cli.common import fraction, snr_list
from semcom.link.ber import simulate_ber
from semcom.link.bler_table import generate_bler_table, write_bler_table
from semcom.link.digital import DigitalLink
from semcom.link.mcs import MCS, MODULATIONS


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    link = subparsers.add_parser("link", help="digital link simulations")
    commands = link.add_subparsers(dest="link_command", metavar="COMMAND", required=True)

    ber = commands.add_parser("ber", help="bit and block error rate versus SNR")
    ber.add_argument("--channel", default="awgn", choices=CHANNELS.names())
    ber.add_argument("--modulation", default="qpsk", choices=list(MODULATIONS))
    ber.add_argument("--code", default="ldpc", choices=["none", "ldpc", "polar"])
    ber.add_argument("--rate", type=fraction, default=0.5, help="code rate (ignored for --code none)")
    ber.add_argument("--snr-db", type=snr_list, default=[0.0, 2.0, 4.0], help="Es/N0 list in dB, e.g. 0,2,4")
    ber.add_argument("--bits", type=int, default=200_000, help="payload bits counted per SNR")
    ber.add_argument("--seed", type=int, default=0)
    ber.add_argument("--json", action="store_true", help="print one JSON object")
    ber.set_defaults(run=run_ber)

    table = commands.add_parser("bler-table", help="regenerate the stored BLER table of a channel")
    table.add_argument("--channel", default="awgn", choices=CHANNELS.names())
    table.add_argument("--blocks", type=int, default=200, help="code blocks per SNR point")
    table.add_argument("--step-db", type=float, default=0.5)
    table.add_argument("--seed", type=int, default=0)
    table.add_argument("--out", default=None, help="output JSON (default: the package's table)")
    table.set_defaults(run=run_bler_table)


def run_ber(args: argparse.Namespace) -> int:
    rate = 1.0 if args.code == "none" else args.rate
    link = DigitalLink(args.channel, mcs=MCS(-1, args.modulation, rate), code=args.code, seed=args.seed)
    points = simulate_ber(link, args.snr_db, num_bits=args.bits, max_bits=max(args.bits, 10 * args.bits), seed=args.seed)
    setting = {"channel": args.channel, "modulation": args.modulation, "code": args.code, "rate": rate,
               "seed": args.seed, "snr_convention": "Es/N0 per complex symbol, dB"}
    if args.json:
        json.dump({"results": [p.as_dict() for p in points], "setting": setting}, sys.stdout, indent=1)
        print()
        return 0
    print(f"{args.channel} {args.modulation} code={args.code} R={rate:.3f}")
    print(f"{'SNR dB':>7} {'BER':>10} {'BLER':>8} {'BER theory':>11}")
    for p in points:
        theory = "-" if p.ber_theory is None else f"{p.ber_theory:.3e}"
        print(f"{p.snr_db:7.2f} {p.ber:10.3e} {p.bler:8.4f} {theory:>11}")
    return 0


def run_bler_table(args: argparse.Namespace) -> int:
    table = generate_bler_table(args.channel, blocks=args.blocks, step_db=args.step_db, seed=args.seed, progress=True)
    path = write_bler_table(table, args.out)
    print(f"wrote {path}")
    return 0
