"""``semcom fl run CONFIG.toml``: federated training over the node model, with Flower."""

from __future__ import annotations

import argparse
import json
import sys

from semcom.options import Integer


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    fl = subparsers.add_parser("fl", help="federated training over the network (Flower)")
    commands = fl.add_subparsers(dest="fl_command", metavar="COMMAND", required=True)
    run = commands.add_parser("run", help="run a federated training config: per-round rows and a summary",
                              description="Run the federated training service on a TOML config "
                                          "(see semcom.federated.config).")
    run.add_argument("config", help="federated training TOML")
    run.add_argument("--json", action="store_true", help="print one JSON object with keys 'rounds' and 'summary'")
    run.add_argument("--backend", choices=("ray", "local"), help="override the config's backend")
    run.add_argument("--rounds", type=Integer(1, 100_000).arg(), help="override the config's rounds")
    run.add_argument("--out", help="folder for result.json (and the published model with --kb)")
    run.add_argument("--kb", help="prompt_lm task: knowledge base (SQLite) to publish the adapted codec in, "
                                  "as a new version (created with the base codec first if new)")
    run.add_argument("--key-file", help="with --kb: the publisher's signing key (semcom kb keygen); the "
                                        "signed update goes to OUT/update.bin (and, for a new store, the "
                                        "base version's to OUT/base.bin)")
    run.set_defaults(run=run_fl)


def run_fl(args: argparse.Namespace) -> int:
    from semcom.errors import ConfigError
    from semcom.federated.config import load_config
    from semcom.federated.service import FederatedTrainingService
    from semcom.files import atomic_path, input_file, jsonable, output_folder, write_text
    from semcom.network.clock import SimClock
    from semcom.provenance import provenance

    cfg = load_config(input_file(args.config, "config"))
    if args.kb is not None and (args.key_file is None or args.out is None):
        raise ConfigError("--kb needs --key-file (to sign the update) and --out (where update.bin goes)")
    if args.kb is not None and cfg.task_table["name"] != "prompt_lm":
        raise ConfigError("--kb publishes a prompt codec: only the prompt_lm task has one")
    out = output_folder(args.out, "--out") if args.out else None
    signer = None
    if args.kb is not None:
        from knowledge_base.keys import read_key_file, signer_from_bytes

        signer = signer_from_bytes(read_key_file(args.key_file), args.key_file)
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    task = cfg.task(log=log)
    from semcom.federated.apps import ClientSpec

    spec = ClientSpec(task, cfg.train, lora=cfg.lora, frozen=cfg.frozen, codec=cfg.codec,
                      error_feedback=cfg.error_feedback, seed=cfg.seed)
    clock = SimClock()
    service = FederatedTrainingService(args.backend or cfg.backend, cfg.workers)
    report = service.run(cfg.network, clock, client=spec, plan=cfg.plan, strategy=cfg.strategy,
                         strategy_options=cfg.strategy_options, rounds=args.rounds or cfg.rounds,
                         evaluate_every=cfg.evaluate_every)
    summary = report.summary()
    rounds = [{k: v for k, v in row.items() if k != "outcomes"} | {"outcomes": row["outcomes"]} for row in report.details]
    result = {"rounds": rounds, "summary": summary, "task": task.describe(), "config": cfg.describe(),
              **provenance(cfg.seed)}
    if args.kb is not None:
        from knowledge_base import KnowledgeBase
        from semcom.federated.model import merge_adapters

        with KnowledgeBase(args.kb) as kb:
            published = task_publish(kb, task, merge_adapters(report.model), out, signer, summary)
        files = {"update.bin": published.update, "base.bin": published.base_update}
        for name, data in files.items():
            if data is not None:
                with atomic_path(out / name) as tmp:
                    tmp.write_bytes(data)
        result["published"] = {"kb": args.kb, "from_version": published.previous, "version": published.version,
                               "update": str(out / "update.bin"), "update_bytes": len(published.update),
                               "base_update": None if published.base_update is None else str(out / "base.bin")}
    if out is not None:
        write_text(out / "result.json", json.dumps(jsonable(result), indent=1) + "\n")
    if args.json:
        json.dump(jsonable(result), sys.stdout, indent=1)
        print()
        return 0
    metric = summary["metric_name"]
    print(f"{'round':>5} {'part':>4} {'drop':>4} {'lost':>4} {'rej':>4} {'late':>4} {'uplink bits':>12} "
          f"{'downlink bits':>13} {'ch. uses':>10} {'round s':>9} {metric:>16}")
    for r in rounds:
        value = "-" if r["metric"] is None else f"{r['metric']:.3f}"
        print(f"{r['round']:>5} {r['participants']:>4} {r['dropped']:>4} {r['lost']:>4} {r['rejected']:>4} {r['late']:>4} "
              f"{r['uplink_bits']:>12,} {r['downlink_bits']:>13,} {r['channel_uses']:>10,} {r['round_time_s']:>9.3f} {value:>16}")
    before = summary["initial_metric"]
    print(f"\n{metric}: {'-' if before is None else f'{before:.3f}'} before, {summary['final_metric']:.3f} after; "
          f"total uplink {summary['total_uplink_bits']:,} bits, downlink {summary['total_downlink_bits']:,} bits; "
          f"simulated time {summary['simulated_time_s']:.3f} s; trainable parameters {summary['trainable_parameters']:,}")
    if "published" in result:
        p = result["published"]
        print(f"published KB version {p['version'][:8]} (from {p['from_version'][:8]}) in {p['kb']}; "
              f"signed update {p['update']} ({p['update_bytes']:,} bytes)"
              + ("" if p["base_update"] is None else f"; the base version's update, for new receivers: {p['base_update']}"))
    return 0


def task_publish(kb, task, model, out, signer, summary: dict):
    """Publish a prompt_lm task's adapted model in ``kb``; sequence = one more than the store's last export."""
    from semcom.federated.prompt_lm import publish_codec

    previous = kb._state("export_sequence")
    sequence = int(previous or 0) + 1
    published = publish_codec(kb, task.base, model, out / "model", signer, sequence=sequence,
                              details={"federated": {k: summary[k] for k in ("final_metric", "initial_metric",
                                                                             "total_uplink_bits", "rounds")}})
    with kb._transaction():
        kb._set_state("export_sequence", str(sequence + (published.base_update is not None)))
    return published
