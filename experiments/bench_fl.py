"""Federated training over the node model: the figures of the federated training service.

Parts (``--parts``, default all; each prints its table and writes ``results/fl/bench_<part>.json``):

* ``task_a``: the prompt codec's LSTM adapted to captions of held-out topics (snow, mountains, ball
  sports) that 4 edge silos hold (one topic each, topic partition; cross-silo: all participate,
  reliable links). Prompt bits per held-out caption -- ideal code length of the codec's mixture
  and the real codec's bits, header included -- before, after local-only training, after FedAvg
  and after centralised training on the pooled data, at equal local compute (each client, and
  the local-only models, take rounds x local steps steps; the pooled model takes the federation's
  total, clients x rounds x local steps).
* ``levers``: the same federation with full-model FedAvg (float32 updates), LoRA adapters (rank 4 on
  the input projection and the query), LoRA + int8 and LoRA + top-k (10 %, int8 values, error
  feedback), and LoRA + int8 with all the local steps in one round (DiLoCo-style: fewer, longer rounds at
  equal local compute): metric vs total uplink bits.
* ``cross_device``: 20 devices (Dirichlet alpha 0.5 over the topics), half sampled per round, 20 %
  dropouts, the last 2 devices computing 10x slower, LoRA + int8; without and with a round deadline:
  every round accounted (each sampled client under one outcome, the strategy handed exactly the
  aggregated updates), and the deadline's effect on round time.
* ``jscc``: the shipped AWGN JSCC checkpoint fine-tuned to Rayleigh fading (MMSE) by 4 clients
  holding BSDS500 training photographs, LoRA on its channel-facing convolutions and SNR-attention
  layers; PSNR on BSDS500 validation crops before and after, next to the shipped Rayleigh model.
* ``memory``: training memory of the prompt LSTM per lever (full, frozen LSTM, LoRA, gradient accumulation).

Run from the repository root: ``nice python experiments/bench_fl.py [--parts task_a,levers] [--backend ray]``.
The base prompt codec (built from the other topics' captions) is cached in ``results/fl/prompt-lm-base``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from semcom.federated.apps import ClientSpec  # noqa: E402
from semcom.federated.grid import LinkPlan  # noqa: E402
from semcom.federated.model import LoraSettings, parameter_count, prepare_model, training_memory  # noqa: E402
from semcom.federated.payload import UpdateCodec  # noqa: E402
from semcom.federated.service import FederatedTrainingService  # noqa: E402
from semcom.federated.task import POOLED, TrainSettings, local_train  # noqa: E402
from semcom.files import jsonable, write_text  # noqa: E402
from semcom.network.clock import SimClock  # noqa: E402
from semcom.network.nodes import Network, Node  # noqa: E402
from semcom.provenance import provenance  # noqa: E402

OUT = ROOT / "results" / "fl"
HELD_OUT = ("snow", "mountains", "ball_sports")
LORA = LoraSettings(rank=4, alpha=8.0, targets=("input_proj", "query"))


def star(clients: int, *, kind: str, flops: float, snr_db, bandwidth_hz: float, latency_s: float,
         slow: int = 0, slowdown: float = 10.0, channel: str = "awgn", seed: int = 0) -> Network:
    """A server ``edge`` and ``clients`` nodes ``c0..``; the last ``slow`` compute ``slowdown`` x slower."""
    net = Network()
    net.add_node(Node("edge", "edge", 1e13, 2**36))
    snrs = np.random.default_rng(seed).uniform(*snr_db, clients) if isinstance(snr_db, tuple) else [snr_db] * clients
    for i in range(clients):
        name = f"c{i}"
        net.add_node(Node(name, kind, flops / (slowdown if i >= clients - slow else 1.0), 2**33))
        for a, b in (("edge", name), (name, "edge")):
            net.add_link(a, b, snr_db=float(snrs[i]), bandwidth_hz=bandwidth_hz, latency_s=latency_s, channel=channel)
    return net


def plan(clients: int, **kw) -> LinkPlan:
    return LinkPlan("edge", tuple(f"c{i}" for i in range(clients)), **kw)


def save(part: str, result: dict, seed: int) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write_text(OUT / f"bench_{part}.json", json.dumps(jsonable({**result, **provenance(seed)}), indent=1) + "\n")


def prompt_split():
    from semcom.federated.prompt_lm import ensure_base, split_captions
    from semcom.semantic.corpus import default_data_dir, load_flickr8k_pairs

    split = split_captions(load_flickr8k_pairs(default_data_dir()), HELD_OUT)
    return split, ensure_base(OUT / "prompt-lm-base", split, hidden=128, epochs=1.0)


def silo_run(task, args, *, lora=None, codec=UpdateCodec(), label="", rounds=None, local_steps=None):
    clients = task.num_clients
    rounds, local_steps = rounds or args.rounds, local_steps or args.local_steps
    net = star(clients, kind="edge", flops=1e12, snr_db=20.0, bandwidth_hz=2e7, latency_s=0.002)
    lr = args.lora_lr if lora is not None else args.lr
    spec = ClientSpec(task, TrainSettings(steps=local_steps, batch=16, lr=lr), lora=lora, codec=codec,
                      error_feedback=True, seed=args.seed)
    start = time.perf_counter()
    report = FederatedTrainingService(args.backend, args.workers).run(
        net, SimClock(), client=spec, plan=plan(clients, seed=args.seed), rounds=rounds,
        strategy_options={"min_available_nodes": clients}, evaluate_every=min(args.evaluate_every, rounds))
    print(f"  {label}: {report.metrics['final_metric']:.2f} bits/caption, uplink {report.metrics['uplink_bits']:,} bits, "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    return report


def part_task_a(args, cache: dict) -> dict:
    from semcom.federated.prompt_lm import make_prompt_lm_task, prompt_bits

    split, base = prompt_split()
    task = make_prompt_lm_task(split, base, 4, partition_name="topic", seed=args.seed, test_captions=args.test_captions,
                               negatives=1000)
    print(f"task (a): {split.summary()}; clients {task.describe()['examples']} captions", flush=True)
    steps = args.rounds * args.local_steps
    train = TrainSettings(steps=steps, batch=16, lr=args.lr)
    rows, folder = {}, OUT / "task_a_models"
    before = task.build_model()
    rows["before (base codec)"] = [before]
    fed = silo_run(task, args, label="FedAvg full model")
    cache["full"] = fed
    rows["FedAvg (4 silos)"] = [fed.model]
    local = []
    for k in range(task.num_clients):
        model = task.build_model()
        local_train(task, model, k, train, torch.Generator().manual_seed(args.seed + k))
        local.append(model)
    rows["local-only (each silo alone)"] = local
    pooled = task.build_model()
    local_train(task, pooled, POOLED, replace(train, steps=steps * task.num_clients), torch.Generator().manual_seed(args.seed))
    rows["centralised (pooled data)"] = [pooled]
    captions = task.test_captions[: args.real_captions]
    table = []
    for name, models in rows.items():
        ideal = [float(task.caption_bits(m).mean()) for m in models]
        real = [float(prompt_bits(base, m.eval(), captions, folder / f"m{i}").mean()) for i, m in enumerate(models)]
        table.append({"model": name, "ideal_bits": float(np.mean(ideal)), "codec_bits": float(np.mean(real)),
                      "per_model_codec_bits": real})
        print(f"  {name:32s} ideal {np.mean(ideal):7.2f}   codec {np.mean(real):7.2f} bits/caption", flush=True)
    result = {"split": split.summary(), "task": task.describe(), "rounds": args.rounds, "local_steps": args.local_steps,
              "test_captions_ideal": len(task.test_captions), "test_captions_codec": len(captions), "table": table,
              "fedavg_rounds": fed.details, "fedavg_summary": fed.summary()}
    print("\nTask (a): prompt bits per held-out caption (topics " + ", ".join(HELD_OUT) + ")")
    print("| model | ideal bits (payload) | codec bits (header incl.) |\n| --- | --- | --- |")
    for row in table:
        print(f"| {row['model']} | {row['ideal_bits']:.2f} | {row['codec_bits']:.2f} |")
    cache["task"] = task
    return result


def part_levers(args, cache: dict) -> dict:
    from semcom.federated.prompt_lm import make_prompt_lm_task

    if "task" in cache:
        task = cache["task"]
    else:
        split, base = prompt_split()
        task = make_prompt_lm_task(split, base, 4, partition_name="topic", seed=args.seed,
                                   test_captions=args.test_captions, negatives=1000)
    runs = {"full model, float32": cache.get("full") or silo_run(task, args, label="full model")}
    runs["LoRA r=4, float32"] = silo_run(task, args, lora=LORA, label="LoRA")
    runs["LoRA r=4, int8"] = silo_run(task, args, lora=LORA, codec=UpdateCodec("int8"), label="LoRA + int8")
    runs["LoRA r=4, top-10% int8 + error feedback"] = silo_run(task, args, lora=LORA, codec=UpdateCodec("int8", 0.1),
                                                             label="LoRA + top-k")
    runs[f"LoRA r=4, int8, {args.rounds * args.local_steps} local steps x 1 round"] = silo_run(
        task, args, lora=LORA, codec=UpdateCodec("int8"), rounds=1, local_steps=args.rounds * args.local_steps,
        label="LoRA + int8, one long round (DiLoCo-style)")
    full = runs["full model, float32"]
    table = []
    for name, rep in runs.items():
        table.append({"lever": name, "trainable_parameters": rep.metrics["trainable_parameters"],
                      "uplink_bits": rep.metrics["uplink_bits"], "downlink_bits": rep.metrics["downlink_bits"],
                      "metric": rep.metrics["final_metric"], "initial": rep.metrics["initial_metric"],
                      "uplink_reduction": full.metrics["uplink_bits"] / rep.metrics["uplink_bits"],
                      "metric_loss": rep.metrics["final_metric"] - full.metrics["final_metric"],
                      "per_round": [(r["round"], r["uplink_bits"], r["metric"]) for r in rep.details]})
    print(f"\nLevers: bits per held-out caption (ideal) vs total uplink bits, {args.rounds} rounds x 4 silos")
    print("| lever | trainable params | total uplink bits | x fewer than full | bits/caption | loss vs full |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in table:
        print(f"| {row['lever']} | {row['trainable_parameters']:,} | {row['uplink_bits']:,} | "
              f"{row['uplink_reduction']:.1f} | {row['metric']:.2f} | {row['metric_loss']:+.2f} |")
    print(f"(before training: {full.metrics['initial_metric']:.2f} bits/caption)")
    return {"table": table}


def part_cross_device(args, cache: dict) -> dict:
    from semcom.federated.prompt_lm import make_prompt_lm_task

    split, base = prompt_split()
    devices = 20
    task = make_prompt_lm_task(split, base, devices, partition_name="dirichlet", alpha=0.5, seed=args.seed,
                               test_captions=args.test_captions, negatives=1000)
    out = {}
    for label, deadline in (("no deadline", None), ("deadline", args.deadline)):
        net = star(devices, kind="device", flops=2e9, snr_db=(5.0, 20.0), bandwidth_hz=1e6, latency_s=0.01, slow=2,
                   seed=args.seed)
        spec = ClientSpec(task, TrainSettings(steps=args.local_steps, batch=16, lr=args.lora_lr), lora=LORA,
                          codec=UpdateCodec("int8"), seed=args.seed)
        start = time.perf_counter()
        report = FederatedTrainingService(args.backend, args.workers).run(
            net, SimClock(), client=spec, plan=plan(devices, dropout=0.2, deadline_s=deadline, seed=args.seed),
            rounds=args.device_rounds, evaluate_every=args.device_rounds,
            strategy_options={"fraction_train": 0.5, "min_train_nodes": 2, "min_available_nodes": devices})
        out[label] = report
        print(f"\nCross-device, {label}{'' if deadline is None else f' {deadline} s'} ({time.perf_counter() - start:.0f} s)")
        print("| round | sampled | aggregated | dropped | lost | rejected | late | uplink bits | round time s | accounted |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in report.details:
            print(f"| {r['round']} | {r['selected']} | {r['participants']} | {r['dropped']} | {r['lost']} | {r['rejected']} | "
                  f"{r['late']} | {r['uplink_bits']:,} | {r['round_time_s']:.3f} | {r['accounted']} |")
        m = report.metrics
        print(f"metric {m['initial_metric']:.2f} -> {m['final_metric']:.2f} bits/caption; mean round "
              f"{m['mean_round_time_s']:.3f} s, max {m['max_round_time_s']:.3f} s, simulated total {float(report.latency_s):.3f} s")
    return {label: {"rounds": rep.details, "summary": rep.summary(),
                    "stragglers": ["c18", "c19"], "client_time_s": [r.client_time_s for r in rep.recorder.rounds]}
            for label, rep in out.items()}


def part_jscc(args, cache: dict) -> dict:
    from semcom.federated.jscc import JSCCSettings, make_jscc_task
    from semcom.jscc.checkpoint import load_checkpoint
    from semcom.jscc.data import load_images
    from semcom.semantic.corpus import default_data_dir

    data = default_data_dir()
    settings = JSCCSettings(crop=64, val_crop=128)
    task = make_jscc_task(settings, load_images(data / "bsds500" / "train", args.jscc_train),
                          load_images(data / "bsds500" / "val", args.jscc_val), 4, seed=args.seed)
    lora = LoraSettings(rank=8, alpha=16.0, targets=("to_channel", "from_channel", "fc1", "fc2"))
    net = star(4, kind="device", flops=5e10, snr_db=15.0, bandwidth_hz=1e7, latency_s=0.005)
    spec = ClientSpec(task, TrainSettings(steps=args.jscc_steps, batch=4, lr=args.jscc_lr), lora=lora,
                      codec=UpdateCodec("int8"), seed=args.seed)
    start = time.perf_counter()
    report = FederatedTrainingService(args.backend, args.workers).run(
        net, SimClock(), client=spec, plan=plan(4, seed=args.seed), rounds=args.jscc_rounds,
        strategy_options={"min_available_nodes": 4}, evaluate_every=args.jscc_rounds)
    from semcom.link.analog import AnalogLink

    shipped = load_checkpoint("jscc-rayleigh-cbr1-16", link=AnalogLink("rayleigh", equalizer="mmse"))
    reference = task.evaluate(shipped)
    m = report.metrics
    print(f"\nTask (b): JSCC AWGN -> Rayleigh (MMSE), 4 clients x {len(task.clients[0])} BSDS500 train photos, "
          f"{args.jscc_rounds} rounds x {args.jscc_steps} steps of 4 crops 64x64 (Adam {args.jscc_lr:g}), LoRA r=8 + int8 "
          f"({m['trainable_parameters']:,} trainable parameters), {time.perf_counter() - start:.0f} s")
    print(f"PSNR on {len(task.val)} BSDS500 val crops 128x128, mean over {list(settings.eval_snr_db)} dB: "
          f"before {m['initial_metric']:.2f} dB, after {m['final_metric']:.2f} dB; shipped Rayleigh model "
          f"(15 min central training) {reference:.2f} dB; uplink {m['uplink_bits']:,} bits")
    return {"rounds": report.details, "summary": report.summary(), "shipped_rayleigh_psnr_db": reference,
            "task": task.describe()}


def part_memory(args, cache: dict) -> dict:
    from semcom.federated.prompt_lm import make_prompt_lm_task

    split, base = prompt_split()
    task = make_prompt_lm_task(split, base, 4, seed=args.seed, test_captions=10, negatives=1000)
    rows = []
    for name, lora, frozen, micro in (("full model, batch 16", None, (), 16), ("frozen LSTM", None, ("rnn",), 16),
                                      ("LoRA r=4", LORA, (), 16), ("full model, 4 x 4 accumulation", None, (), 4)):
        model = prepare_model(task.build_model(), lora=lora, frozen=frozen)
        batch = task.sample_batch(0, micro, torch.Generator().manual_seed(0))
        mem = training_memory(model, lambda: task.loss(model, batch, torch.Generator().manual_seed(0)))
        rows.append({"lever": name, "trainable": parameter_count(model, True), **mem})
    print("\nTraining memory of the prompt LSTM (bytes): weights + Adam state + saved activations")
    print("| lever | trainable params | weights | optimizer | activations | total |\n| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['lever']} | {r['trainable']:,} | {r['weights']:,} | {r['optimizer']:,} | {r['activations']:,} | {r['total']:,} |")
    return {"table": rows}


PARTS = {"task_a": part_task_a, "levers": part_levers, "cross_device": part_cross_device, "jscc": part_jscc,
         "memory": part_memory}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--backend", choices=("local", "ray"), default="local")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--local-steps", type=int, default=10)
    parser.add_argument("--evaluate-every", type=int, default=2)
    parser.add_argument("--test-captions", type=int, default=100)
    parser.add_argument("--real-captions", type=int, default=60)
    parser.add_argument("--device-rounds", type=int, default=4)
    parser.add_argument("--deadline", type=float, default=5.0)
    parser.add_argument("--jscc-train", type=int, default=40)
    parser.add_argument("--jscc-val", type=int, default=12)
    parser.add_argument("--jscc-rounds", type=int, default=8)
    parser.add_argument("--jscc-steps", type=int, default=15)
    parser.add_argument("--jscc-lr", type=float, default=5e-3)
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate of full-model training")
    parser.add_argument("--lora-lr", type=float, default=1e-2, help="Adam learning rate of LoRA adapters")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cache: dict = {}
    for part in args.parts.split(","):
        if part not in PARTS:
            parser.error(f"unknown part {part!r}; known: {', '.join(PARTS)}")
        start = time.perf_counter()
        result = PARTS[part](args, cache)
        save(part, {"part": part, "args": vars(args), "seconds": time.perf_counter() - start, **result}, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
