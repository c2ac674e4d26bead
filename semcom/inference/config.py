"""Collaborative-inference configs (TOML) for ``semcom infer plan|run``: nodes, links, route, requests.

Keys (see ``experiments/infer_3tier.toml``)::

    route = ["ue", "edge", "cloud"]        # device first
    modes = ["device", "edge", "cloud", "adaptive", "cascade", "speculative"]
    requests = 6                           # held-out Flickr8k captions (or: prompts = ["a dog", ...])
    prefix_words = 3
    max_new_tokens = 8, threshold = 0.5, draft_tokens = 4, rounds = 3, fallback = "device"
    model = "large", small = "small"       # shipped checkpoint names or folders
    speculative_target = "top"             # or "device": the big model on the device, the draft up the route
    features = "digital"                   # or "analog": how split features cross (analog_min_snr_db = ...)
    [[nodes]]  name, kind, flops, memory, memory_bandwidth (bytes/s; optional: decoding passes there are
               at least as long as reading the model's weights once)
    [[links]]  src, dst, snr_db, bandwidth_hz, latency_s = 0, channel = "awgn", both = true
    [plan]     seq_len = 12, snr_db = [-5, 0, 5, ...] (swept on the route's first hop, both ways),
               chain = "lm" (default) | "vit-gpt2" | "jscc": the model to plan --
                 "lm": n_embd / n_layer / n_head / vocab_size (an architecture; default: the big model's);
                 "vit-gpt2": captioner_model (a folder or cached hub id; default: the published
                    ViT-GPT2 shapes), caption_tokens = 8;
                 "jscc": jscc (a checkpoint name or folder; default: the default JSCC config),
                    image = [width, height] (default [768, 512]); the reconstruction is wanted on the top node
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from semcom.errors import ConfigError
from semcom.files import read_toml
from semcom.network.nodes import Network, Node

_NUM = (int, float)
CHAINS = ("lm", "vit-gpt2", "jscc")


def config_value(cfg: dict, key: str, types, default=..., where: str = "", what: str = "inference config"):
    """``cfg[key]`` checked against ``types``; ``default`` when missing (no default: ConfigError naming ``where``)."""
    if key not in cfg:
        if default is ...:
            raise ConfigError(f"missing key {where}{key!r} in the {what}")
        return default
    value = cfg[key]
    allowed = types if isinstance(types, tuple) else (types,)
    if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
        raise ConfigError(f"key {where}{key!r} of the {what} has the wrong type: {type(value).__name__}")
    return value


@dataclass
class InferenceConfig:
    network: Network
    route: list[str]
    modes: list[str]
    requests: list
    max_new_tokens: int = 8
    threshold: float = 0.5
    draft_tokens: int = 4
    rounds: int = 3
    fallback: str = "device"
    model: str = "large"
    small: str = "small"
    plan: dict = field(default_factory=dict)
    speculative_target: str = "top"
    features: str = "digital"
    analog_min_snr_db: float | None = None
    memory_bandwidth: dict = field(default_factory=dict)


def parse_network(nodes: list, links: list, what: str = "inference config") -> Network:
    """A network from ``[[nodes]]`` (name, kind, flops, memory) and ``[[links]]`` (src, dst, snr_db,
    bandwidth_hz, latency_s = 0, channel = "awgn", both = true: the reverse link too) tables of a ``what``."""
    net = Network()
    for i, n in enumerate(nodes):
        w = f"nodes[{i}]."
        if not isinstance(n, dict):
            raise ConfigError(f"{w[:-1]} must be a table")
        net.add_node(Node(config_value(n, "name", str, where=w, what=what), config_value(n, "kind", str, where=w, what=what), config_value(n, "flops", _NUM, where=w, what=what),
                          config_value(n, "memory", int, where=w, what=what)))
    for i, l in enumerate(links):
        w = f"links[{i}]."
        if not isinstance(l, dict):
            raise ConfigError(f"{w[:-1]} must be a table")
        kw = dict(snr_db=config_value(l, "snr_db", _NUM, where=w, what=what), bandwidth_hz=config_value(l, "bandwidth_hz", _NUM, where=w, what=what),
                  latency_s=config_value(l, "latency_s", _NUM, 0.0, where=w, what=what), channel=config_value(l, "channel", str, "awgn", where=w, what=what))
        src, dst = config_value(l, "src", str, where=w, what=what), config_value(l, "dst", str, where=w, what=what)
        net.add_link(src, dst, **kw)
        if config_value(l, "both", bool, True, where=w, what=what):
            net.add_link(dst, src, **kw)
    return net


def parse_config(cfg: dict) -> InferenceConfig:
    from semcom.inference.service import MODES, held_out_requests
    from semcom.inference.split import FEATURE_TRANSPORTS

    known = {"route", "modes", "requests", "prompts", "prefix_words", "max_new_tokens", "threshold", "draft_tokens",
             "rounds", "fallback", "model", "small", "nodes", "links", "plan", "speculative_target", "features",
             "analog_min_snr_db"}
    unknown = set(cfg) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in the inference config: {', '.join(sorted(unknown))}")
    nodes = config_value(cfg, "nodes", list)
    net = parse_network(nodes, config_value(cfg, "links", list))
    bandwidth = {}
    for i, n in enumerate(nodes):
        w = f"nodes[{i}]."
        if "memory_bandwidth" in n:
            value = float(config_value(n, "memory_bandwidth", _NUM, where=w))
            if not value > 0 or value == float("inf"):
                raise ConfigError(f"key {w}memory_bandwidth must be a positive number of bytes/s, got {value}")
            bandwidth[n["name"]] = value
    route = config_value(cfg, "route", list)
    modes = config_value(cfg, "modes", list, list(MODES))
    for m in modes:
        if m not in MODES:
            raise ConfigError(f"unknown mode {m!r}; known: {', '.join(MODES)}")
    if "prompts" in cfg:
        requests = [str(p) for p in config_value(cfg, "prompts", list)]
    else:
        requests = held_out_requests(config_value(cfg, "requests", int, 6), config_value(cfg, "prefix_words", int, 3))
    features = config_value(cfg, "features", str, "digital")
    if features not in FEATURE_TRANSPORTS:
        raise ConfigError(f"features must be one of {', '.join(FEATURE_TRANSPORTS)}, got {features!r}")
    plan = dict(config_value(cfg, "plan", dict, {}))
    chain = plan.get("chain", "lm")
    if chain not in CHAINS:
        raise ConfigError(f"unknown [plan] chain {chain!r}; known: {', '.join(CHAINS)}")
    floor = config_value(cfg, "analog_min_snr_db", _NUM, None)
    return InferenceConfig(
        net, [str(r) for r in route], list(modes), requests,
        config_value(cfg, "max_new_tokens", int, 8), float(config_value(cfg, "threshold", _NUM, 0.5)), config_value(cfg, "draft_tokens", int, 4),
        config_value(cfg, "rounds", int, 3), config_value(cfg, "fallback", str, "device"), config_value(cfg, "model", str, "large"),
        config_value(cfg, "small", str, "small"), plan, config_value(cfg, "speculative_target", str, "top"), features,
        None if floor is None else float(floor), bandwidth)


def load_config(path: str | Path) -> InferenceConfig:
    cfg = read_toml(path, "inference config")
    return parse_config(cfg)


def set_first_hop_snr(cfg: InferenceConfig, snr_db: float) -> None:
    """Set the SNR of the route's first hop, both directions."""
    a, b = cfg.route[0], cfg.route[1]
    cfg.network.link(a, b).snr_db = float(snr_db)
    cfg.network.link(b, a).snr_db = float(snr_db)


def plan_profile(cfg: InferenceConfig):
    """The chain profile ``[plan]`` asks for (see the module docstring) and a description of the model."""
    p = cfg.plan
    chain = p.get("chain", "lm")
    if chain == "vit-gpt2":
        from semcom.inference.profiles import captioner_architecture, vit_gpt2_profile

        config, source = captioner_architecture(p.get("captioner_model"))
        tokens = p.get("caption_tokens", 8)
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            raise ConfigError(f"[plan] caption_tokens must be a positive integer, got {tokens!r}")
        profile = vit_gpt2_profile(config=config, caption_tokens=tokens, name=source)
        return profile, {"name": f"ViT-GPT2 captioner {source}", "chain": chain}
    if chain == "jscc":
        from semcom.inference.profiles import jscc_profile

        model = None
        if "jscc" in p:
            from semcom.jscc.checkpoint import load_checkpoint

            model = load_checkpoint(str(p["jscc"]))
        image = p.get("image", [768, 512])
        if not (isinstance(image, list) and len(image) == 2 and all(isinstance(v, int) and v > 0 for v in image)):
            raise ConfigError(f"[plan] image must be [width, height] in pixels, got {image!r}")
        width, height = image
        profile = jscc_profile(model, height=height, width=width)
        return profile, {"name": profile.name, "chain": chain}
    from semcom.inference.lm import load_caption_lm
    from semcom.inference.split import gpt2_profile

    if {"n_embd", "n_layer"} <= set(p):
        arch = {"n_embd": int(p["n_embd"]), "n_layer": int(p["n_layer"]), "n_head": int(p.get("n_head", 1)),
                "vocab_size": int(p.get("vocab_size", 50257)), "name": f"GPT-2 shape d={p['n_embd']} L={p['n_layer']}"}
    else:
        c = load_caption_lm(cfg.model).model.config
        arch = {"n_embd": c.n_embd, "n_layer": c.n_layer, "n_head": c.n_head, "vocab_size": c.vocab_size,
                "name": f"caption LM {cfg.model}"}
    seq_len = int(p.get("seq_len", 12))
    profile = gpt2_profile(arch["n_embd"], arch["n_layer"], arch["vocab_size"], seq_len, n_head=arch["n_head"])
    return profile, {**arch, "chain": chain, "seq_len": seq_len}


def plan_sweep(cfg: InferenceConfig) -> dict:
    """Latency of device-only, edge-only, cloud-only and the adaptive split for every SNR of ``[plan].snr_db``
    (the planner re-run at each SNR; its wall time in ``planning_s``)."""
    import time

    from semcom.inference.split import Route, fixed_plan, plan_split

    profile, model = plan_profile(cfg)
    first = cfg.network.link(cfg.route[0], cfg.route[1]).snr_db
    rows = []
    try:
        for snr in cfg.plan.get("snr_db", [first]):
            set_first_hop_snr(cfg, snr)
            route = Route.through(cfg.network, cfg.route, features=cfg.features, analog_min_snr_db=cfg.analog_min_snr_db,
                                  memory_bandwidth=cfg.memory_bandwidth)
            row = {"snr_db": float(snr)}
            for t, name in enumerate(cfg.route):
                row[cfg.network.node(name).kind] = fixed_plan(profile, route, t).latency_s
            start = time.perf_counter()
            best = plan_split(profile, route)
            row["planning_s"] = time.perf_counter() - start
            row["adaptive"] = best.latency_s
            row["plan"] = best.describe()
            row["cuts"] = list(best.cuts)
            rows.append(row)
    finally:
        set_first_hop_snr(cfg, first)
    return {"model": model, "layers": len(profile), "seq_len": model.get("seq_len"), "route": cfg.route,
            "features": cfg.features, "rows": rows}
