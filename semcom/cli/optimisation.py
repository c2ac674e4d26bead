"""``semcom lifecycle run CONFIG.toml`` and ``semcom instruct run CONFIG.toml``: the model-optimisation and
instruction-optimisation services."""

from __future__ import annotations

import argparse
import json
import sys

from semcom.options import SEED, Integer


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    lifecycle = subparsers.add_parser("lifecycle", help="model lifecycle: drift detection, retraining, redeployment")
    commands = lifecycle.add_subparsers(dest="lifecycle_command", metavar="COMMAND", required=True)
    run = commands.add_parser("run", help="serve traffic through channel phases; detect drift, retrain, redeploy")
    run.add_argument("config", help="lifecycle TOML (see semcom.optimisation.config)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("--seed", type=SEED.arg(), default=None, help="overrides the config's seed")
    run.add_argument("--threads", type=Integer(1, 1024).arg(), default=1, help="torch CPU threads")
    run.set_defaults(run=run_lifecycle)

    instruct = subparsers.add_parser("instruct", help="instruction optimisation: edge feedback, filters, DPO")
    commands = instruct.add_subparsers(dest="instruct_command", metavar="COMMAND", required=True)
    run = commands.add_parser("run", help="collect and filter receivers' feedback, then DPO of the prompt model")
    run.add_argument("config", help="instruct TOML (see semcom.optimisation.config)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("--seed", type=SEED.arg(), default=None, help="overrides the config's seed")
    run.add_argument("--threads", type=Integer(1, 1024).arg(), default=1, help="torch CPU threads")
    run.set_defaults(run=run_instruct)


def _config(path: str, what: str) -> dict:
    from semcom.files import input_file
    from semcom.optimisation.config import load

    return load(input_file(path, "config"), what)


def run_lifecycle(args: argparse.Namespace) -> int:
    import torch

    from semcom.optimisation.config import run_lifecycle as run

    torch.set_num_threads(args.threads)
    out = run(_config(args.config, "lifecycle config"), args.seed)
    if args.json:
        json.dump(out, sys.stdout, indent=1)
        print()
        return 0
    rep, first = out["report"], out["initial_deployment"]
    m = rep["metrics"]
    print(f"first deployment: version {first['version']}, {first['update_bytes']} bytes, "
          f"{first['channel_uses']} channel uses, {first['seconds']:.3f} s")
    print(f"traffic: {int(m['items'])} items, change at item {int(m['change_item'])}; "
          f"false alarms on the stationary stretch: {int(m['false_alarms'])} in {int(m['stationary_items'])} items")
    for d in rep["details"]:
        if d["kind"] != "retrain":
            continue
        print(f"alarm at item {d['alarm_item']} ({d['alarm_time_s']:.1f} s, channel {d['channel']}): retrained on "
              f"{d['site']} ({d['site_kind']}); {d['why']}")
        print(f"  fine-tune: {d['fine_tune']['steps']} steps in {d['fine_tune']['wall_s']:.1f} s wall; validation "
              f"{d['validation_old_db']:.2f} -> {d['validation_new_db']:.2f} dB; "
              + (f"deployed as {d['version']} ({d['update_bytes']} bytes, {d['update_channel_uses']} channel uses), "
                 f"in service at {d['in_service_s']:.1f} s" if d["deployed"] else d.get("reason", "")))
    print(f"PSNR before {m['psnr_before_db']:.2f} dB, during drift {m['psnr_during_db']:.2f} dB, "
          f"after redeployment {m['psnr_after_db']:.2f} dB")
    print(f"detection delay {m['detection_delay_items']:.0f} items ({m['detection_delay_s']:.1f} s); "
          f"time to recover {m.get('time_to_recover_s', float('nan')):.1f} s (simulated)")
    return 0


def run_instruct(args: argparse.Namespace) -> int:
    import torch

    from semcom.optimisation.config import run_instruct as run

    torch.set_num_threads(args.threads)
    out = run(_config(args.config, "instruct config"), args.seed)
    if args.json:
        json.dump(out, sys.stdout, indent=1)
        print()
        return 0
    m = out["report"]["metrics"]
    filt = next(d for d in out["report"]["details"] if d["kind"] == "filter")
    dpo = next(d for d in out["report"]["details"] if d["kind"] == "dpo")
    print(f"prompt model: {out['policy']} ({out['parameters']} parameters), supervised loss {out['sft']['final_loss']:.3f}")
    print(f"feedback: {int(m['judgements'])} judgements on {int(m['candidates'])} candidates, "
          f"{100 * m['filtered_share']:.1f} % filtered: " + ", ".join(f"{k} {v}" for k, v in filt["dropped"].items())
          + (f"; raters dropped: {filt['raters_dropped']}" if filt["raters_dropped"] else ""))
    print(f"preference pairs: {int(m['pairs'])} (left out: small gap {int(m['pairs_left_out_small_gap'])}, "
          f"raters disagree {int(m['pairs_left_out_pair_disagreement'])}); DPO {dpo.get('steps', 0)} steps")
    print(f"{'held-out prompts':>24} {'bits':>7} {'similarity':>10} {'words':>6}")
    print(f"{'whole caption':>24} {m['caption_bits']:7.1f} {1.0:10.3f}")
    print(f"{'edge templates':>24} {m['templates_bits']:7.1f} {m['templates_similarity']:10.3f}")
    print(f"{'prompt model before DPO':>24} {m['prompt_bits_before']:7.1f} {m['similarity_before']:10.3f} {m['words_before']:6.1f}")
    print(f"{'prompt model after DPO':>24} {m['prompt_bits_after']:7.1f} {m['similarity_after']:10.3f} {m['words_after']:6.1f}")
    return 0
