"""``semcom network simulate``: multi-user downlink scenarios with resource-allocation policies."""

from __future__ import annotations

import argparse
import json
import sys

from semcom.errors import ConfigError
from semcom.options import SEED


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    network = subparsers.add_parser("network", help="multi-user network simulations")
    commands = network.add_subparsers(dest="network_command", metavar="COMMAND", required=True)
    sim = commands.add_parser("simulate", help="compare allocation policies on a TOML scenario")
    sim.add_argument("config", help="scenario TOML file (see semcom.network.scenario)")
    sim.add_argument("--json", action="store_true", help="print one JSON object")
    sim.add_argument("--seed", type=SEED.arg(), default=0, help="random seed of the trials, 0 to 2**32-1")
    sim.set_defaults(run=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    from semcom.files import input_file
    from semcom.network.scenario import load_scenario, simulate

    path = input_file(args.config, "config")
    try:
        path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config {path} is not a text (TOML) file") from None
    report = simulate(load_scenario(path), seed=args.seed)
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        print()
        return 0
    s = report["setting"]
    print(f"budget {s['budget']} channel uses, {s['trials']} trials per user, similarity {s['similarity']}, seed {s['seed']}")
    policies = list(report["summary"]["allocations"])
    for policy in policies:
        print(f"\npolicy {policy}")
        print(f"{'user':>8} {'SNR':>6} {'kb':>8} {'MCS':>4} {'x':>2} {'uses':>6} {'bits':>6} {'latency ms':>10} {'exact':>6} {'fidelity':>8}")
        for u in report["users"]:
            p = u["policies"][policy]
            mcs = "-" if p["mcs"] is None else str(p["mcs"])
            print(f"{u['user']:>8} {u['snr_db']:6.1f} {u['kb']:>8} {mcs:>4} {p['attempts']:>2} {p['channel_uses_allocated']:>6}"
                  f" {p['bits']:6.0f} {1e3 * p['latency_s']:10.2f} {p['exact_rate']:6.2f} {p['fidelity']:8.3f}")
    print(f"\n{'policy':>10} {'mean fid':>9} {'worst fid':>9} {'uses':>7} {'objective':>9}")
    for policy, v in report["summary"]["allocations"].items():
        print(f"{policy:>10} {v['mean_fidelity']:9.3f} {v['worst_fidelity']:9.3f} {v['channel_uses']:>7} {v['objective']:9.3f}")
    return 0
