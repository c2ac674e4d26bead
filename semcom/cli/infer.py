"""``semcom infer plan|run CONFIG.toml``: collaborative inference; ``semcom train caption-lm``: its models."""

from __future__ import annotations

import argparse

from semcom.cli.train import train_commands
from semcom.options import DATA_HELP, SEED, Integer, Real


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    infer = subparsers.add_parser("infer", help="collaborative inference over device, edge and cloud")
    commands = infer.add_subparsers(dest="infer_command", metavar="COMMAND", required=True)
    plan = commands.add_parser("plan", help="latency of device/edge/cloud/adaptive splits against the first hop's SNR")
    plan.add_argument("config", help="inference TOML (see semcom.inference.config)")
    plan.add_argument("--json", action="store_true", help="print one JSON object")
    plan.set_defaults(run=run_plan)
    run = commands.add_parser("run", help="run the collaborative-inference service in each mode of the config")
    run.add_argument("config", help="inference TOML (see semcom.inference.config)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("--seed", type=SEED.arg(), default=0, help="seed of the link noise, 0 to 2**32-1")
    run.set_defaults(run=run_run)

    parser = train_commands(subparsers).add_parser(
        "caption-lm", help="train a GPT-2-architecture caption LM (small or large) on Flickr8k captions",
        description="Train a word-level GPT-2-architecture caption LM on the Flickr8k training captions "
                    "(5% of images held out by hash) for --steps steps and/or about --minutes of training "
                    "(default 2 minutes), and write model.safetensors + card.json. The resume state goes to "
                    "--state-dir; --resume continues an interrupted run with its own schedule.")
    parser.add_argument("--size", choices=("small", "large"), default=None, help="model size: small or large (required unless --resume; default: none)")
    parser.add_argument("--out", required=True, help="checkpoint folder to write")
    parser.add_argument("--minutes", type=Real(0.0, 10_000.0, low_open=True).arg(), default=None,
                        help="training time budget (default 2 when --steps is not given either)")
    parser.add_argument("--steps", type=Integer(1, 10**9).arg(), default=None, help="training steps (schedule length)")
    parser.add_argument("--data", default=None, help=f"shared data folder, holds flickr8k-captions/ (default: {DATA_HELP})")
    parser.add_argument("--batch", type=Integer(1, 65536).arg(), default=None, help="captions per step (default 64)")
    parser.add_argument("--lr", type=Real(0.0, 10.0, low_open=True).arg(), default=None, help="peak learning rate (default 3e-3)")
    parser.add_argument("--seed", type=SEED.arg(), default=None, help="seed of the weights and the batch order (default 0)")
    parser.add_argument("--state-dir", default=None, help="resume state (default results/caption-lm/<out name>)")
    parser.add_argument("--resume", action="store_true", help="continue the run whose state is in --state-dir")
    parser.add_argument("--save-every", type=Integer(0, 10**9).arg(), default=200, help="steps between saved states (0: at the end)")
    parser.add_argument("--stop-at-step", type=Integer(1, 10**9).arg(), default=None, help="pause (state saved) at this step")
    parser.add_argument("--threads", type=Integer(1, 1024).arg(), default=1, help="torch CPU threads")
    parser.set_defaults(run=run_train, resume_hint="resume with the same command and --resume")


def run_train(args: argparse.Namespace) -> int:
    import torch

    from semcom.files import default_data_dir, exclusive, input_folder, output_folder
    from semcom.inference.lm import default_state_dir, train_caption_lm

    torch.set_num_threads(args.threads)
    data = input_folder(default_data_dir(args.data), "--data")
    out = output_folder(args.out, "--out")
    state_dir = output_folder(args.state_dir or default_state_dir(out), "--state-dir")
    with exclusive(state_dir, "--state-dir"):
        summary = train_caption_lm(args.size, out=out, minutes=args.minutes, steps=args.steps, data_dir=data,
                                   seed=args.seed, batch=args.batch, lr=args.lr, resume=args.resume,
                                   state_dir=state_dir, save_every=args.save_every, stop_at_step=args.stop_at_step,
                                   log=lambda line: print(line, flush=True))
    if summary["signal"] is not None:
        raise KeyboardInterrupt
    return 0


def _config(path: str):
    from semcom.files import input_file
    from semcom.inference.config import load_config

    return load_config(input_file(path, "config"))


def run_plan(args: argparse.Namespace) -> int:
    import json
    import sys

    from semcom.inference.config import plan_sweep

    report = plan_sweep(_config(args.config))
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        print()
        return 0
    kinds = [k for k in ("device", "edge", "cloud") if k in report["rows"][0]]
    tokens = f", {report['seq_len']} tokens" if report["seq_len"] else ""
    print(f"{report['model']['name']}: {report['layers']} layers{tokens}, route {' -> '.join(report['route'])}, "
          f"{report['features']} features")
    print(f"{'SNR dB':>7} " + " ".join(f"{k + ' ms':>11}" for k in kinds) + f" {'adaptive ms':>11} {'plan us':>8}  plan")
    for r in report["rows"]:
        cells = " ".join(f"{1e3 * r[k]:11.3f}" for k in kinds)
        print(f"{r['snr_db']:7.1f} {cells} {1e3 * r['adaptive']:11.3f} {1e6 * r['planning_s']:8.0f}  {r['plan']}")
    return 0


def run_run(args: argparse.Namespace) -> int:
    import json
    import sys

    from semcom.inference.service import CollaborativeInferenceService
    from semcom.network.clock import SimClock

    cfg = _config(args.config)
    service = CollaborativeInferenceService(cfg.model, cfg.small)
    out = {"route": cfg.route, "features": cfg.features, "modes": {}}
    for mode in cfg.modes:
        report = service.run(cfg.network, SimClock(), route=cfg.route, requests=cfg.requests, mode=mode,
                             max_new_tokens=cfg.max_new_tokens, threshold=cfg.threshold, draft_tokens=cfg.draft_tokens,
                             rounds=cfg.rounds, fallback=cfg.fallback, seed=args.seed,
                             speculative_target=cfg.speculative_target, features=cfg.features,
                             analog_min_snr_db=cfg.analog_min_snr_db, memory_bandwidth=cfg.memory_bandwidth)
        out["modes"][mode] = report.as_dict()
    if args.json:
        json.dump(out, sys.stdout, indent=1)
        print()
        return 0
    for mode, rep in out["modes"].items():
        print(f"\nmode {mode}")
        print(f"{'prompt':>24} {'ok':>3} {'latency ms':>10} {'uses':>7} {'agree':>5}  where -> output")
        for d in rep["details"]:
            print(f"{d['prompt'][:24]:>24} {'y' if d['ok'] else 'n':>3} {1e3 * d['latency_s']:10.2f} {d['channel_uses']:7d}"
                  f" {d['agreement']:5.2f}  {d['where']} -> {d['output'] or d['reason']}")
    print(f"\n{'mode':>12} {'ok':>5} {'mean ms':>9} {'max ms':>9} {'uses':>8} {'agree':>6} {'F1':>6} {'escal':>6} {'accept':>6}")
    for mode, rep in out["modes"].items():
        m = rep["metrics"]
        print(f"{mode:>12} {m['ok_rate']:5.2f} {1e3 * m['mean_latency_s']:9.2f} {1e3 * m['max_latency_s']:9.2f}"
              f" {rep['channel_uses']:8d} {m['agreement']:6.2f} {m.get('token_f1', float('nan')):6.3f}"
              f" {m['escalation_rate']:6.2f} {m.get('acceptance_rate', float('nan')):6.2f}")
    return 0
