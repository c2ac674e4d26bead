"""Configs (TOML) and runs of ``semcom lifecycle run`` and ``semcom instruct run``.

Lifecycle keys (see ``experiments/lifecycle_awgn_to_rayleigh.toml``)::

    model = "jscc-awgn-cbr1-16"     # the JSCC checkpoint deployed first (name or folder)
    snr_db = 5.0, interval_s = 1.0   # traffic: one image every interval_s simulated seconds
    images = "../shared/data/kodak", traffic_images = 24, crop = 64     # random crops of these images
    validation = "../shared/data/bsds500/val", validation_images = 8    # what a new model must beat the old on
    publisher = "edge", device = "ue", data_at = "cloud"
    transfer = "plan" | "simulate"   # model updates over the links: planned or simulated bit by bit
    format = "safetensors" | "int8-weights" | [both]   # formats a retrained model may be deployed in
    device_model_bytes = 4000000     # the device's memory for the model (formats that do not fit are skipped)
    [[phases]]   channel, items, channel_options = {}, snr_db (default: the run's)
    [detector]   name = "cusum" | "page_hinkley", window, and the detector's options
    [retrain]    data, steps, batch, crop, lr, warmup, max_images, threads
    [queues]     node = seconds of work already queued there
    candidates = ["ue", "edge", "cloud"]  # where retraining may run (default: every node)
    [[nodes]], [[links]] as in the inference configs

Instruct keys (see ``experiments/instruct_dpo.toml``)::

    policy = "small"                  # caption LM the prompt model starts from
    codec = "ngram"                   # prompt codec (semcom.semantic.TEXT_CODECS) whose bits count
    similarity = "minilm" | "lexical"
    sft_captions = 2000, sft_steps = 400, sft_batch = 32, train_captions = 60, eval_captions = 40, max_words = 14
    samples = 4, temperature = 1.0, price_per_bit = 0.004, margin = 0.05, pair_agreement = 0.7,
    min_similarity = 0.6, noise = 0.05, rounds = 4, edge = "edge", include_templates = true,
    extractive = true                 # the prompt model writes only the caption's words, in order
    [raters]  device = "honest" | "noisy" | "inverted" | "constant" | "random" | "duplicating"
    [filters] min_items, min_spread, min_correlation, max_spread, min_raters
    [dpo]     beta, lr, epochs, batch, lora_rank
    [[nodes]], [[links]]

Relative paths are read from the folder the command runs in (the repository root for the shipped configs).
"""

from __future__ import annotations

from pathlib import Path

import torch

from semcom.errors import ConfigError, InputError
from semcom.files import jsonable, read_toml
from semcom.inference.config import config_value, parse_network

_NUM = (int, float)


def _known(cfg: dict, keys: set[str], what: str) -> None:
    unknown = set(cfg) - keys
    if unknown:
        raise ConfigError(f"unknown key(s) in the {what}: {', '.join(sorted(unknown))}")


def _positive_int(cfg: dict, key: str, default: int, what: str, where: str = "") -> int:
    value = config_value(cfg, key, int, default, where, what)
    if value < 1:
        raise ConfigError(f"key {where}{key!r} of the {what} must be >= 1, got {value}")
    return value


def load(path: str | Path, what: str) -> dict:
    return read_toml(path, what)


# ------------------------------------------------------------------------------------------ lifecycle

LIFECYCLE_KEYS = {"model", "snr_db", "interval_s", "images", "traffic_images", "crop", "validation",
                  "validation_images", "publisher", "device", "data_at", "transfer", "format", "device_model_bytes",
                  "phases", "detector",
                  "retrain", "queues", "candidates", "nodes", "links", "seed"}
RETRAIN_KEYS = {"data", "steps", "batch", "crop", "lr", "warmup", "max_images", "threads"}


def _crops(folder: str, count: int, crop: int, seed: int) -> list[torch.Tensor]:
    """``count`` random ``crop`` x ``crop`` crops (float [3, crop, crop] in [0, 1]) of the images in ``folder``."""
    from semcom.files import input_folder
    from semcom.jscc.data import CropSampler, load_images

    images = load_images(input_folder(folder, "images"))
    if not images:
        raise InputError(f"no images in {folder}")
    return list(CropSampler(images, torch.Generator().manual_seed(seed)).batch(count, crop))


def run_lifecycle(cfg: dict, seed: int | None = None) -> dict:
    """Deploy the model, then run the model-optimisation service over the traffic phases; a JSON-ready dict."""
    from knowledge_base import Ed25519Signer, KnowledgeBase
    from semcom.jscc import load_checkpoint
    from semcom.network.clock import SimClock
    from semcom.optimisation.artefacts import FORMATS, artefact
    from semcom.optimisation.drift import make_detector
    from semcom.optimisation.lifecycle import JSCCRetrainer, ModelOptimisationService, TrafficPhase, validation_psnr
    from semcom.optimisation.registry import TRANSFER_MODES, ModelRegistry, NetworkTransport, ServingNode
    from semcom.provenance import provenance

    what = "lifecycle config"
    _known(cfg, LIFECYCLE_KEYS, what)
    seed = int(config_value(cfg, "seed", int, 0, what=what) if seed is None else seed)
    network = parse_network(config_value(cfg, "nodes", list, what=what), config_value(cfg, "links", list, what=what), what)
    publisher, device = config_value(cfg, "publisher", str, "edge", what=what), config_value(cfg, "device", str, "ue", what=what)
    data_at = config_value(cfg, "data_at", str, publisher, what=what)
    for name in (publisher, device, data_at):
        network.node(name)
    transfer = config_value(cfg, "transfer", str, "plan", what=what)
    formats = config_value(cfg, "format", (str, list), "safetensors", what=what)
    formats = [formats] if isinstance(formats, str) else list(formats)
    if transfer not in TRANSFER_MODES:
        raise ConfigError(f"transfer must be one of {', '.join(TRANSFER_MODES)}, got {transfer!r}")
    if not formats or any(f not in FORMATS for f in formats):
        raise ConfigError(f"format must be one or a list of {', '.join(FORMATS)}, got {formats!r}")
    budget = config_value(cfg, "device_model_bytes", int, None, what=what)
    phases = []
    for i, p in enumerate(config_value(cfg, "phases", list, what=what)):
        w = f"phases[{i}]."
        if not isinstance(p, dict):
            raise ConfigError(f"phases[{i}] must be a table")
        _known(p, {"channel", "items", "channel_options", "snr_db"}, f"{what} ({w[:-1]})")
        snr = config_value(p, "snr_db", _NUM, None, where=w, what=what)
        phases.append(TrafficPhase(config_value(p, "channel", str, where=w, what=what), _positive_int(p, "items", 1, what, w),
                                   dict(config_value(p, "channel_options", dict, {}, where=w, what=what)),
                                   None if snr is None else float(snr)))
    if not phases:
        raise ConfigError("the lifecycle config needs at least one [[phases]] table")
    detector = dict(config_value(cfg, "detector", dict, {"name": "cusum", "window": 4}, what=what))
    make_detector(**detector)
    retrain = dict(config_value(cfg, "retrain", dict, what=what))
    _known(retrain, RETRAIN_KEYS, f"{what} ([retrain])")
    if "data" not in retrain:
        raise ConfigError("[retrain] needs data = the folder of training images")
    queues = {str(k): float(v) for k, v in config_value(cfg, "queues", dict, {}, what=what).items()}
    candidates = config_value(cfg, "candidates", list, None, what=what)
    snr_db = float(config_value(cfg, "snr_db", _NUM, 5.0, what=what))
    interval = float(config_value(cfg, "interval_s", _NUM, 1.0, what=what))
    crop = _positive_int(cfg, "crop", 64, what)
    images = _crops(config_value(cfg, "images", str, what=what), _positive_int(cfg, "traffic_images", 24, what), crop, seed)
    validation = _crops(config_value(cfg, "validation", str, what=what), _positive_int(cfg, "validation_images", 8, what),
                        crop, seed + 1)
    retrainer = JSCCRetrainer(retrain["data"], seed=seed, **{k: v for k, v in retrain.items() if k != "data"})

    clock = SimClock()
    signer = Ed25519Signer.generate()
    registry = ModelRegistry(KnowledgeBase(":memory:"), signer)
    serving = ServingNode(KnowledgeBase(":memory:"), signer.verifier(), "jscc")
    transport = NetworkTransport(network, publisher, device, clock, mode=transfer, seed=seed)
    registry.attach(device, serving, transport)
    base = load_checkpoint(config_value(cfg, "model", str, what=what))
    first = phases[0]
    for fmt in formats:  # the first format that fits the device
        data, meta = artefact("jscc", base, fmt)
        if budget is None or len(data) <= budget:
            break
    else:
        raise ConfigError(f"the model fits the device's {budget} bytes in none of the formats {formats}")
    registry.publish("jscc", data, family="jscc", format=fmt, config=meta["config"], parameters=meta["parameters"],
                     metrics={"validation_psnr_db": validation_psnr(base, validation, first.channel,
                                                                    first.channel_options, snr_db)},
                     details={"source": config_value(cfg, "model", str, what=what)}, message="first deployment")
    first_event = registry.events()[-1]
    if not first_event.accepted:
        raise ConfigError(f"the first deployment to {device} failed ({first_event.reason}); raise the link's SNR "
                          "or use transfer = \"plan\"")
    initial = {"version": registry.kb.head[:8], "format": fmt, "update_bytes": first_event.update_bytes, "bits": first_event.bits,
               "channel_uses": first_event.channel_uses, "seconds": float(clock.now)}
    service = ModelOptimisationService(retrainer, detector, formats=formats, device_model_bytes=budget)
    report = service.run(network, clock, registry=registry, serving=serving, publisher=publisher, device=device,
                         images=images, phases=phases, snr_db=snr_db, validation=validation, interval_s=interval,
                         data_at=data_at, queues=queues, candidates=candidates, seed=seed)
    return jsonable({"config": cfg, "provenance": provenance(seed), "initial_deployment": initial,
                     "registry": [c.as_dict() for c in registry.history("jscc")], "report": report.as_dict()})


# ------------------------------------------------------------------------------------------ instruct

INSTRUCT_KEYS = {"policy", "codec", "similarity", "sft_captions", "sft_steps", "sft_batch", "sft_lr", "train_captions",
                 "eval_captions", "max_words", "samples", "temperature", "price_per_bit", "margin", "pair_agreement",
                 "min_similarity", "noise", "rounds", "edge", "raters", "filters", "dpo", "nodes", "links", "seed",
                 "include_templates", "extractive"}
FILTER_KEYS = {"min_items", "min_spread", "min_correlation", "max_spread", "min_raters"}
DPO_KEYS = {"beta", "lr", "epochs", "batch", "lora_rank"}


def run_instruct(cfg: dict, seed: int | None = None, data_dir: str | None = None) -> dict:
    """Build the prompt model (caption LM + supervised prompt forms), then run the instruction-optimisation service."""
    import random

    from semcom.network.clock import SimClock
    from semcom.network.fidelity import SIMILARITIES
    from semcom.optimisation.feedback import RATER_KINDS
    from semcom.optimisation.instruct import InstructionOptimisationService
    from semcom.optimisation.policy import PromptPolicy, supervised_fine_tune, usable_captions
    from semcom.optimisation.prompts import templates
    from semcom.provenance import provenance
    from semcom.semantic import TEXT_CODECS, flickr8k_split

    what = "instruct config"
    _known(cfg, INSTRUCT_KEYS, what)
    seed = int(config_value(cfg, "seed", int, 0, what=what) if seed is None else seed)
    network = parse_network(config_value(cfg, "nodes", list, what=what), config_value(cfg, "links", list, what=what), what)
    edge = config_value(cfg, "edge", str, "edge", what=what)
    network.node(edge)
    raters = {str(k): v for k, v in config_value(cfg, "raters", dict, what=what).items()}
    for name, kind in raters.items():
        if kind not in RATER_KINDS:
            raise ConfigError(f"rater {name!r}: unknown kind {kind!r}; known: {', '.join(RATER_KINDS)}")
        network.node(name)
    filters = dict(config_value(cfg, "filters", dict, {}, what=what))
    _known(filters, FILTER_KEYS, f"{what} ([filters])")
    dpo = dict(config_value(cfg, "dpo", dict, {}, what=what))
    _known(dpo, DPO_KEYS, f"{what} ([dpo])")
    similarity = SIMILARITIES.get(config_value(cfg, "similarity", str, "minilm", what=what))
    codec = TEXT_CODECS.create(config_value(cfg, "codec", str, "ngram", what=what))
    max_words = _positive_int(cfg, "max_words", 14, what)

    torch.manual_seed(seed)
    policy = PromptPolicy.from_caption_lm(config_value(cfg, "policy", str, "small", what=what))
    policy.extractive = config_value(cfg, "extractive", bool, True, what=what)
    train, held = flickr8k_split(data_dir)
    pool = usable_captions(policy, train, max_words)
    rng = random.Random(seed)
    rng.shuffle(pool)
    n_sft, n_train = _positive_int(cfg, "sft_captions", 2000, what), _positive_int(cfg, "train_captions", 60, what)
    if len(pool) < n_sft + n_train:
        raise ConfigError(f"only {len(pool)} usable training captions for {n_sft} + {n_train}")
    sft_pool, feedback_pool = pool[:n_sft], pool[n_sft:n_sft + n_train]
    evaluation = usable_captions(policy, held, max_words)
    n_eval = _positive_int(cfg, "eval_captions", 40, what)
    evaluation = evaluation[:: max(1, len(evaluation) // n_eval)][:n_eval]
    def forms(caption: str) -> list[str]:  # an extractive policy learns the forms made of the caption's words
        return [t for name, t in templates(caption).items() if not (policy.extractive and name == "structured")]

    examples = [(c, rng.choice(forms(c))) for c in sft_pool]
    sft = supervised_fine_tune(policy, examples, steps=_positive_int(cfg, "sft_steps", 400, what),
                               batch=_positive_int(cfg, "sft_batch", 32, what),
                               lr=float(config_value(cfg, "sft_lr", _NUM, 2e-3, what=what)), seed=seed)
    service = InstructionOptimisationService()
    report = service.run(
        network, SimClock(), edge=edge, raters=raters, policy=policy, codec=codec, similarity=similarity,
        train_captions=feedback_pool, eval_captions=evaluation, samples=_positive_int(cfg, "samples", 4, what),
        temperature=float(config_value(cfg, "temperature", _NUM, 1.0, what=what)),
        price_per_bit=float(config_value(cfg, "price_per_bit", _NUM, 0.004, what=what)),
        margin=float(config_value(cfg, "margin", _NUM, 0.05, what=what)),
        pair_agreement=float(config_value(cfg, "pair_agreement", _NUM, 0.7, what=what)),
        min_similarity=float(config_value(cfg, "min_similarity", _NUM, 0.6, what=what)),
        noise=float(config_value(cfg, "noise", _NUM, 0.05, what=what)), filters=filters, dpo=dpo,
        include_templates=config_value(cfg, "include_templates", bool, True, what=what),
        rounds=config_value(cfg, "rounds", int, 4, what=what), seed=seed)
    return jsonable({"config": cfg, "provenance": provenance(seed), "policy": policy.source,
                     "parameters": policy.num_parameters(), "sft": sft, "report": report.as_dict()})
