"""``semcom fl run`` configs (TOML): the network, the scenario, the task, the strategy and the levers.

Keys (see ``experiments/fl_*.toml``; every key is checked, an unknown one is refused)::

    rounds = 5                       # federated rounds
    evaluate_every = 1               # central evaluation of the task's metric every N rounds (0: only at the end)
    backend = "ray"                  # Flower's simulation engine (Ray), or "local" (in-process grid)
    workers = 2                      # Ray CPUs
    seed = 0

    [server]    name = "edge", kind = "edge", flops = 1e13, memory = 2**36
    [devices]   count = 4, kind = "device", flops = 1e10, memory = 2**32,
                snr_db = 15.0 (or [low, high]: drawn per device, seeded), bandwidth_hz = 1e7,
                latency_s = 0.005, channel = "awgn",
                stragglers = 0, straggler_slowdown = 10.0   # the last N devices compute N x slower
    [scenario]  dropout = 0.0, deadline_s = 0 (none), arq_rounds = 3, corruption = 0.0
    [strategy]  name = "fedavg", plus the Flower strategy's options (fraction_train, min_train_nodes,
                min_available_nodes, proximal_mu, eta, ...)
    [train]     local_steps = 10, batch = 16, lr = 1e-3, accumulation = 1, clip = 1.0
    [levers]    quantise = "float32" | "float16" | "int8", topk = 0.0 (off) or a fraction,
                error_feedback = true, frozen = ["layer", ...],
                lora = { rank = 4, alpha = 8.0, targets = ["input_proj", "query"], dropout = 0.0 }
    [task]      name = "prompt_lm" | "jscc" and the task's keys:
      prompt_lm: base = "results/fl/prompt-lm-base" (built there on first use), held_out_topics = [...],
                 partition = "topic" | "dirichlet" | "iid", alpha = 0.5, test_captions = 200,
                 negatives = 2000, data = shared data folder,
                 [task.base_training] hidden = 128, epochs = 1.0 (used when the base is built)
      jscc:      checkpoint = "jscc-awgn-cbr1-16", channel = "rayleigh", channel_options = {...}, crop = 64,
                 train_images = 40 (of BSDS500 train), val_images = 16 (of BSDS500 val), val_crop = 128,
                 snr_range_db = [0, 20], eval_snr_db = [1, 10, 19], data = shared data folder

Relative paths are taken from the current directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from semcom.errors import ConfigError
from semcom.federated.grid import LinkPlan
from semcom.federated.model import LoraSettings
from semcom.federated.payload import UpdateCodec
from semcom.federated.task import FederatedTask, TrainSettings
from semcom.files import read_toml
from semcom.network.nodes import Network, Node

_NUM = (int, float)
_TOP = {"rounds", "evaluate_every", "backend", "workers", "seed", "server", "devices", "scenario", "strategy", "train",
        "levers", "task"}


def _get(table: dict, key: str, types, default: Any = ..., where: str = "") -> Any:
    if key not in table:
        if default is ...:
            raise ConfigError(f"missing key {where}{key!r} in the federated config")
        return default
    value = table[key]
    allowed = types if isinstance(types, tuple) else (types,)
    if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
        raise ConfigError(f"key {where}{key!r} has the wrong type: {type(value).__name__}")
    return value


def _table(cfg: dict, name: str, known: set[str] | None) -> dict:
    table = _get(cfg, name, dict, {})
    if known is not None:
        unknown = set(table) - known
        if unknown:
            raise ConfigError(f"unknown key(s) in [{name}]: {', '.join(sorted(unknown))}")
    return table


@dataclass
class FLConfig:
    """A parsed config: everything ``semcom fl run`` needs but the task's data (built by :meth:`task`)."""

    network: Network
    plan: LinkPlan
    rounds: int
    evaluate_every: int
    backend: str
    workers: int
    seed: int
    strategy: str
    strategy_options: dict
    train: TrainSettings
    codec: UpdateCodec
    error_feedback: bool
    frozen: tuple[str, ...]
    lora: LoraSettings | None
    task_table: dict = field(default_factory=dict)

    def task(self, log: Callable[[str], None] = print) -> FederatedTask:
        """Build the task named in ``[task]`` with one client per device."""
        return build_task(self.task_table, len(self.plan.clients), self.seed, log)

    def describe(self) -> dict:
        return {"rounds": self.rounds, "backend": self.backend, "strategy": self.strategy,
                "strategy_options": self.strategy_options, "train": vars(self.train), "codec": self.codec.describe(),
                "error_feedback": self.error_feedback, "frozen": list(self.frozen),
                "lora": None if self.lora is None else vars(self.lora) | {"targets": list(self.lora.targets)},
                "server": self.plan.server, "clients": list(self.plan.clients), "dropout": self.plan.dropout,
                "deadline_s": self.plan.deadline_s, "arq_rounds": self.plan.arq_rounds, "task": self.task_table}


def _network(cfg: dict, seed: int) -> tuple[Network, str, list[str]]:
    server = _table(cfg, "server", {"name", "kind", "flops", "memory"})
    devices = _table(cfg, "devices", {"count", "kind", "flops", "memory", "snr_db", "bandwidth_hz", "latency_s",
                                      "channel", "stragglers", "straggler_slowdown", "prefix"})
    net = Network()
    name = _get(server, "name", str, "edge", "server.")
    net.add_node(Node(name, _get(server, "kind", str, "edge", "server."), _get(server, "flops", _NUM, 1e13, "server."),
                      _get(server, "memory", int, 2**36, "server.")))
    count = _get(devices, "count", int, 4, "devices.")
    if count < 1:
        raise ConfigError("devices.count must be >= 1")
    stragglers = _get(devices, "stragglers", int, 0, "devices.")
    slowdown = _get(devices, "straggler_slowdown", _NUM, 10.0, "devices.")
    if not 0 <= stragglers <= count or not slowdown >= 1:
        raise ConfigError(f"devices.stragglers must be in 0..{count} and straggler_slowdown >= 1")
    snr = _get(devices, "snr_db", (int, float, list), 15.0, "devices.")
    rng = np.random.default_rng([seed, 11])
    if isinstance(snr, list):
        if len(snr) != 2 or not all(isinstance(v, _NUM) and not isinstance(v, bool) for v in snr) or snr[0] > snr[1]:
            raise ConfigError("devices.snr_db must be a number or [low, high]")
        snrs = rng.uniform(snr[0], snr[1], count).round(2).tolist()
    else:
        snrs = [float(snr)] * count
    flops = _get(devices, "flops", _NUM, 1e10, "devices.")
    prefix = _get(devices, "prefix", str, "ue", "devices.")
    clients = []
    for i in range(count):
        node = f"{prefix}{i}"
        slow = slowdown if i >= count - stragglers else 1.0
        net.add_node(Node(node, _get(devices, "kind", str, "device", "devices."), flops / slow,
                          _get(devices, "memory", int, 2**32, "devices.")))
        for src, dst in ((name, node), (node, name)):
            net.add_link(src, dst, snr_db=snrs[i], bandwidth_hz=_get(devices, "bandwidth_hz", _NUM, 1e7, "devices."),
                         latency_s=_get(devices, "latency_s", _NUM, 0.005, "devices."),
                         channel=_get(devices, "channel", str, "awgn", "devices."))
        clients.append(node)
    return net, name, clients


def parse_config(cfg: dict) -> FLConfig:
    unknown = set(cfg) - _TOP
    if unknown:
        raise ConfigError(f"unknown key(s) in the federated config: {', '.join(sorted(unknown))}")
    seed = _get(cfg, "seed", int, 0)
    network, server, clients = _network(cfg, seed)
    scenario = _table(cfg, "scenario", {"dropout", "deadline_s", "arq_rounds", "corruption"})
    deadline = float(_get(scenario, "deadline_s", _NUM, 0, "scenario."))
    plan = LinkPlan(server, tuple(clients), dropout=float(_get(scenario, "dropout", _NUM, 0.0, "scenario.")),
                    deadline_s=deadline or None, arq_rounds=_get(scenario, "arq_rounds", int, 3, "scenario."),
                    corruption=float(_get(scenario, "corruption", _NUM, 0.0, "scenario.")), seed=seed)
    strategy = dict(_table(cfg, "strategy", None))
    name = strategy.pop("name", "fedavg")
    if not isinstance(name, str):
        raise ConfigError("strategy.name must be a string")
    strategy.setdefault("min_available_nodes", len(clients))
    strategy.setdefault("min_train_nodes", 1)
    train = _table(cfg, "train", {"local_steps", "batch", "lr", "accumulation", "clip"})
    settings = TrainSettings(steps=_get(train, "local_steps", int, 10, "train."), batch=_get(train, "batch", int, 16, "train."),
                             lr=float(_get(train, "lr", _NUM, 1e-3, "train.")),
                             accumulation=_get(train, "accumulation", int, 1, "train."),
                             clip=float(_get(train, "clip", _NUM, 1.0, "train.")))
    levers = _table(cfg, "levers", {"quantise", "topk", "error_feedback", "frozen", "lora"})
    topk = float(_get(levers, "topk", _NUM, 0.0, "levers."))
    codec = UpdateCodec(_get(levers, "quantise", str, "float32", "levers."), topk or None)
    lora = None
    if "lora" in levers:
        table = _get(levers, "lora", dict, where="levers.")
        unknown = set(table) - {"rank", "alpha", "targets", "dropout"}
        if unknown:
            raise ConfigError(f"unknown key(s) in levers.lora: {', '.join(sorted(unknown))}")
        lora = LoraSettings(_get(table, "rank", int, 4, "levers.lora."), float(_get(table, "alpha", _NUM, 8.0, "levers.lora.")),
                            tuple(_get(table, "targets", list, where="levers.lora.")),
                            float(_get(table, "dropout", _NUM, 0.0, "levers.lora.")))
    backend = _get(cfg, "backend", str, "ray")
    if backend not in ("ray", "local"):
        raise ConfigError(f"backend must be 'ray' or 'local', got {backend!r}")
    task = _get(cfg, "task", dict)
    if _get(task, "name", str, where="task.") not in ("prompt_lm", "jscc"):
        raise ConfigError(f"task.name must be 'prompt_lm' or 'jscc', got {task['name']!r}")
    return FLConfig(network, plan, _get(cfg, "rounds", int, 5), _get(cfg, "evaluate_every", int, 1), backend,
                    _get(cfg, "workers", int, 2), seed, name, strategy, settings, codec,
                    _get(levers, "error_feedback", bool, True, "levers."),
                    tuple(_get(levers, "frozen", list, [], "levers.")), lora, dict(task))


def load_config(path: str | Path) -> FLConfig:
    return parse_config(read_toml(path, "federated config"))


_PROMPT_KEYS = {"name", "base", "held_out_topics", "partition", "alpha", "test_captions", "negatives", "data",
                "base_training", "test_share"}
_JSCC_KEYS = {"name", "checkpoint", "channel", "channel_options", "crop", "train_images", "val_images", "val_crop",
              "snr_range_db", "eval_snr_db", "data"}


def build_task(table: dict, clients: int, seed: int, log: Callable[[str], None] = print) -> FederatedTask:
    """The task of a ``[task]`` table, spread over ``clients`` clients."""
    from semcom.semantic.corpus import default_data_dir

    name = table["name"]
    data = Path(_get(table, "data", str, str(default_data_dir()), "task."))
    known = _PROMPT_KEYS if name == "prompt_lm" else _JSCC_KEYS
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [task] of {name}: {', '.join(sorted(unknown))}")
    if name == "prompt_lm":
        from semcom.federated.prompt_lm import ensure_base, make_prompt_lm_task, split_captions
        from semcom.semantic.corpus import load_flickr8k_pairs

        try:
            pairs = load_flickr8k_pairs(data)
        except FileNotFoundError as err:
            raise ConfigError(f"task.data: {err}") from None
        split = split_captions(pairs, tuple(_get(table, "held_out_topics", list, ["snow", "mountains", "ball_sports"], "task.")),
                               float(_get(table, "test_share", _NUM, 0.2, "task.")))
        training = _get(table, "base_training", dict, {}, "task.")
        unknown = set(training) - {"hidden", "epochs", "batch", "negatives", "lr", "general_words"}
        if unknown:
            raise ConfigError(f"unknown key(s) in task.base_training: {', '.join(sorted(unknown))}")
        base = ensure_base(_get(table, "base", str, "results/fl/prompt-lm-base", "task."), split, log=log,
                           seed=seed, **training)
        return make_prompt_lm_task(split, base, clients, partition_name=_get(table, "partition", str, "topic", "task."),
                                   alpha=float(_get(table, "alpha", _NUM, 0.5, "task.")), seed=seed,
                                   test_captions=_get(table, "test_captions", int, 200, "task."),
                                   negatives=_get(table, "negatives", int, 2000, "task."))
    from semcom.federated.jscc import JSCCSettings, make_jscc_task
    from semcom.jscc.data import load_images

    settings = JSCCSettings(
        checkpoint=_get(table, "checkpoint", str, "jscc-awgn-cbr1-16", "task."),
        channel=_get(table, "channel", str, "rayleigh", "task."),
        channel_options=dict(_get(table, "channel_options", dict, {"equalizer": "mmse"}, "task.")),
        crop=_get(table, "crop", int, 64, "task."), val_crop=_get(table, "val_crop", int, 128, "task."),
        snr_range_db=tuple(float(v) for v in _get(table, "snr_range_db", list, [0.0, 20.0], "task.")),
        eval_snr_db=tuple(float(v) for v in _get(table, "eval_snr_db", list, [1.0, 10.0, 19.0], "task.")))
    train = load_images(data / "bsds500" / "train", _get(table, "train_images", int, 40, "task."))
    val = load_images(data / "bsds500" / "val", _get(table, "val_images", int, 16, "task."))
    return make_jscc_task(settings, train, val, clients, seed=seed)
