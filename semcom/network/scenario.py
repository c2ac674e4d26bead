"""Multi-user downlink scenarios from TOML, run for real (``semcom network simulate``).

Config keys (types checked; a bad one raises ConfigError naming it)::

    budget = 6000            # channel uses shared by all users (int > 0)
    policies = ["equal", "confidence", "knowledge"]
    trials = 4               # random trials per user and policy (int >= 1)
    max_attempts = 3         # ARQ copies the allocator may give one user
    bandwidth_hz = 1e6       # downlink bandwidth (channel uses per second)
    latency_s = 0.001
    fallback = "a photo"     # what a receiver generates from when no prompt arrives
    similarity = "lexical"   # or "minilm"
    captioner = "reference"  # any registered captioner (e.g. tiny-vit-gpt2 with plugins = ["semcom.testing"])
    captions = "data:kodak/captions.json"  # the reference captioner's captions (default: the images' folder's)
    [kb]
    corpus = ["...", ...]    # KB captions; or source = "flickr8k" (the shared Flickr8k captions)
    previous_lines = 300     # the previous KB version is built from the first N lines
    current_lines = 2000     # the current one from the first M > N lines
    [[users]]
    name = "u1"; snr_db = 4.0; image = "data:kodak/kodim01.png"   # or a path (relative: from the TOML's folder)
    channel = "awgn"         # optional
    confidences = [0.9, ...] # the caption's confidence where the captioner gives none (the reference
                             # captioner): stated token confidences in [0, 1], or confidence = 0.8
    importance = 1.0         # optional
    kb = "current"           # or "previous": the KB version the user's receiver holds

Each user's image goes through the ``gai`` scheme's halves (:mod:`semcom.schemes.gai`): the edge node
captions it and codes the whole caption with the KB version the policy picks, the user's device decodes
with the versions it holds. The caption's confidence comes from the captioner (mean token probability
of ViT-GPT2), or, for the reference captioner, from the user's stated values. Every policy allocates the
same budget on the same scenario; then each user's image is sent ``trials`` times with its allocated MCS
and copies over the digital link (seeded: trial ``t`` of user ``i`` uses the same noise seed under every
policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from knowledge_base import KnowledgeBase
from semcom.errors import ConfigError
from semcom.files import read_toml
from semcom.generative.captioner import CAPTIONERS
from semcom.generative.generator import FallbackGenerator
from semcom.generative.keywords import KEYWORD_EXTRACTORS
from semcom.images import load_image
from semcom.network.clock import SimClock
from semcom.network.control import ALLOCATION_POLICIES, UserProfile, allocate
from semcom.network.fidelity import similarity as get_similarity
from semcom.network.nodes import Network, Node
from semcom.network.services import FlopModel, SemanticCommunicationService
from semcom.options import SNR_DB
from semcom.runner import load_plugins
from semcom.schemes.gai import GenerativeReceiver, GenerativeTransmitter, PromptBuilder
from semcom.semantic.knowledge import codec_from_kb, put_codec
from semcom.semantic import TextCodec, default_data_dir, load_flickr8k_captions, normalize_prompt


def _get(cfg: dict, key: str, types, default=..., where: str = ""):
    name = f"{where}{key}"
    if key not in cfg:
        if default is ...:
            raise ConfigError(f"missing key {name!r} in the scenario config")
        return default
    value = cfg[key]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ConfigError(f"key {name!r} has the wrong type: {type(value).__name__}")
    if not isinstance(value, types):
        raise ConfigError(f"key {name!r} has the wrong type: {type(value).__name__}")
    return value


@dataclass
class UserConfig:
    name: str
    snr_db: float
    image: str
    channel: str
    importance: float
    confidence: float
    kb: str


@dataclass
class Scenario:
    budget: int
    policies: list[str]
    trials: int
    max_attempts: int
    bandwidth_hz: float
    latency_s: float
    fallback: str
    similarity: str
    kb_lines: list[str]
    previous_lines: int
    current_lines: int
    users: list[UserConfig]
    captioner: str = "reference"
    captions: str | None = None


def _path(value: str, base: Path | None) -> str:
    if value.startswith("data:"):
        return str(default_data_dir() / value[5:])
    path = Path(value).expanduser()
    return str(base / path if base is not None and not path.is_absolute() else path)


def parse_scenario(cfg: dict, base: Path | None = None) -> Scenario:
    """Check a scenario config (a dict from TOML; relative paths from ``base``); ConfigError names the offending key."""
    if not isinstance(cfg, dict):
        raise ConfigError("the scenario config must be a table")
    budget = _get(cfg, "budget", int)
    if budget <= 0:
        raise ConfigError(f"key 'budget' must be positive, got {budget}")
    policies = _get(cfg, "policies", list, ["equal", "confidence", "knowledge"])
    for p in policies:
        if not isinstance(p, str) or p not in ALLOCATION_POLICIES:
            raise ConfigError(f"key 'policies': unknown policy {p!r}; known: {', '.join(ALLOCATION_POLICIES.names())}")
    trials = _get(cfg, "trials", int, 4)
    max_attempts = _get(cfg, "max_attempts", int, 3)
    if trials < 1 or max_attempts < 1:
        raise ConfigError("keys 'trials' and 'max_attempts' must be >= 1")
    bandwidth = float(_get(cfg, "bandwidth_hz", (int, float), 1e6))
    latency = float(_get(cfg, "latency_s", (int, float), 0.001))
    fallback = _get(cfg, "fallback", str, "")
    sim = _get(cfg, "similarity", str, "lexical")
    get_similarity(sim)
    load_plugins(_get(cfg, "plugins", list, []), base)
    captioner = _get(cfg, "captioner", str, "reference")
    CAPTIONERS.get(captioner)  # ConfigError listing the known ones
    captions = _get(cfg, "captions", str, None)
    captions = _path(captions, base) if captions is not None else None
    kb = _get(cfg, "kb", dict, {})
    source = _get(kb, "source", str, "inline", "kb.")
    if source == "flickr8k":
        lines = load_flickr8k_captions(default_data_dir() / "flickr8k-captions" / "Flickr8k.token.txt")
    elif source == "inline":
        lines = _get(kb, "corpus", list, where="kb.")
        if not lines or not all(isinstance(x, str) for x in lines):
            raise ConfigError("key 'kb.corpus' must be a non-empty list of strings")
    else:
        raise ConfigError(f"key 'kb.source' must be 'inline' or 'flickr8k', got {source!r}")
    current = _get(kb, "current_lines", int, len(lines), "kb.")
    previous = _get(kb, "previous_lines", int, max(1, current // 2), "kb.")
    if not 1 <= previous < current <= len(lines):
        raise ConfigError(f"keys 'kb.previous_lines' and 'kb.current_lines' need 1 <= previous < current <= {len(lines)}")
    raw_users = _get(cfg, "users", list)
    if not raw_users:
        raise ConfigError("key 'users' must list at least one user")
    users = []
    for i, u in enumerate(raw_users):
        where = f"users[{i}]."
        if not isinstance(u, dict):
            raise ConfigError(f"key 'users[{i}]' must be a table")
        name = _get(u, "name", str, f"user{i + 1}", where)
        snr = SNR_DB.check(_get(u, "snr_db", (int, float), where=where), f"key '{where}snr_db'")
        if "prompt" in u:
            raise ConfigError(f"key '{where}prompt': a user's prompt is the caption of its image; give "
                              f"image = PATH (and the captioner's captions) instead")
        image = _path(_get(u, "image", str, where=where), base)
        channel = _get(u, "channel", str, "awgn", where)
        importance = float(_get(u, "importance", (int, float), 1.0, where))
        if "confidences" in u:
            confs = _get(u, "confidences", list, where=where)
            if not confs or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and 0 <= c <= 1 for c in confs):
                raise ConfigError(f"key '{where}confidences' must be a non-empty list of numbers in [0, 1]")
            confidence = float(np.mean(confs))
        else:
            confidence = float(_get(u, "confidence", (int, float), 1.0, where))
        if not 0 <= confidence <= 1 or importance < 0:
            raise ConfigError(f"key '{where}confidence' must lie in [0, 1] and importance be >= 0")
        kb_match = _get(u, "kb", str, "current", where)
        if kb_match not in ("current", "previous"):
            raise ConfigError(f"key '{where}kb' must be 'current' or 'previous', got {kb_match!r}")
        users.append(UserConfig(name, snr, image, channel, importance, confidence, kb_match))
    if len({u.name for u in users}) != len(users):
        raise ConfigError("key 'users': user names must be unique")
    if captioner == "reference" and captions is None:
        folders = {str(Path(u.image).parent) for u in users}
        if len(folders) != 1:
            raise ConfigError("key 'captions': the reference captioner needs a captions file when the users' "
                              "images are in several folders")
        captions = str(Path(folders.pop()) / "captions.json")
    return Scenario(budget, list(policies), trials, max_attempts, bandwidth, latency, fallback, sim,
                    list(lines), previous, current, users, captioner, captions)


def load_scenario(path: str | Path) -> Scenario:
    cfg = read_toml(path, "scenario")
    return parse_scenario(cfg, Path(path).resolve().parent)


def build_network(scn: Scenario) -> Network:
    """An edge node with a downlink to each user (a device)."""
    net = Network()
    net.add_node(Node("edge", "edge", 1.0e14, 64 * 2**30, ("captioner", "text-codec")))
    for u in scn.users:
        net.add_node(Node(u.name, "device", 2.0e13, 8 * 2**30, ("text-codec", "generator")))
        net.add_link("edge", u.name, snr_db=u.snr_db, bandwidth_hz=scn.bandwidth_hz, latency_s=scn.latency_s,
                     channel=u.channel)
    return net


def knowledge_stores(scn: Scenario) -> tuple[dict[str, KnowledgeBase], dict[str, str]]:
    """Each node's own knowledge base (in memory), and the ids of the versions ``previous`` and ``current``
    (prompt codecs of the first ``previous_lines`` and ``current_lines`` KB captions): the edge holds both, a
    user the versions up to the one it holds. Versions are content-addressed: the same codec is the same
    version id in every store."""
    codecs = {"previous": TextCodec.from_corpus(scn.kb_lines[: scn.previous_lines]),
              "current": TextCodec.from_corpus(scn.kb_lines[: scn.current_lines])}
    stores, versions = {}, {}
    for node, upto in [("edge", "current")] + [(u.name, u.kb) for u in scn.users]:
        kb = KnowledgeBase()
        for name in ("previous", "current"):
            put_codec(kb, codecs[name])
            versions[name] = kb.commit(f"prompt codec of the {name} KB captions")
            if name == upto:
                break
        stores[node] = kb
    return stores, versions


def held_codecs(kb: KnowledgeBase) -> list[TextCodec]:
    """The prompt codecs of every version a store holds, newest first (a receiver decodes with the one a
    prompt's header names)."""
    return [codec_from_kb(kb, info.id) for info in reversed(kb.versions())]


def simulate(scn: Scenario, seed: int = 0) -> dict:
    """Allocate under every policy and send every user's image for real; returns the report dict."""
    sim = get_similarity(scn.similarity)
    stores, versions = knowledge_stores(scn)
    previous, current = (codec_from_kb(stores["edge"], versions[name]) for name in ("previous", "current"))
    net = build_network(scn)
    common = previous if any(u.kb == "previous" for u in scn.users) else current
    fallback = normalize_prompt(scn.fallback)
    options = {"captions": scn.captions} if scn.captioner == "reference" else {}
    captioner = CAPTIONERS.create(scn.captioner, **options)
    whole_caption = PromptBuilder("caption", None)
    keywords = KEYWORD_EXTRACTORS.create("none")
    transmitters = {"previous": GenerativeTransmitter(captioner, keywords, whole_caption, previous),
                    "current": GenerativeTransmitter(captioner, keywords, whole_caption, current)}
    generator = FallbackGenerator("network scenario: generation charged to the device's clock, not drawn")
    receivers = {u.name: GenerativeReceiver(held_codecs(stores[u.name]), generator,
                                            fallback_prompt=fallback) for u in scn.users}
    images = {u.name: load_image(u.image) for u in scn.users}
    profiles, sent = [], {}
    for u in scn.users:
        matched = current if u.kb == "current" else previous
        message = transmitters[u.kb].encode(images[u.name])
        text = sent[u.name] = message.prompt.text
        confidence = message.confidence if message.confidence is not None else u.confidence
        profiles.append(UserProfile(u.name, u.snr_db, common.bits_for(text), matched.bits_for(text), u.importance,
                                    confidence, sim(text, fallback), u.channel))

    def plan(user: UserProfile, bits: int, mcs: int) -> tuple[int, int]:
        p = net.link("edge", user.name).digital_link(mcs=mcs).plan(bits, user.snr_db)
        return p.channel_uses, p.num_blocks

    service = SemanticCommunicationService(FlopModel(), similarity=sim)
    users_out = {u.name: {"user": u.name, "snr_db": u.snr_db, "channel": u.channel, "kb": u.kb,
                          "importance": u.importance, "confidence": p.confidence, "image": u.image,
                          "prompt": sent[u.name], "bits_common": p.bits_common,
                          "bits_matched": p.bits_matched, "policies": {}} for u, p in zip(scn.users, profiles)}
    summary = {}
    for policy in scn.policies:
        alloc, demands = allocate(policy, profiles, scn.budget, plan, max_attempts=scn.max_attempts)
        matched = ALLOCATION_POLICIES.get(policy).matched_bits
        versions = {u.name: u.kb if matched else ("previous" if common is previous else "current") for u in scn.users}
        per_user = {u.name: [] for u in scn.users}
        for t in range(scn.trials):
            for i, u in enumerate(scn.users):
                gen = torch.Generator().manual_seed(seed * 1_000_003 + t * 1009 + i)
                clock = SimClock()
                rep = service.run(net, clock, sender="edge", images={u.name: images[u.name]},
                                  transmitters={u.name: transmitters[versions[u.name]]},
                                  receivers={u.name: receivers[u.name]}, actions={u.name: alloc.actions[u.name]},
                                  generator=gen)
                per_user[u.name].append((rep, rep.details[0]))
        fids = []
        for u in scn.users:
            runs = per_user[u.name]
            a = alloc.actions[u.name]
            fid = float(np.mean([d["fidelity"] for _, d in runs]))
            fids.append(fid)
            users_out[u.name]["policies"][policy] = {
                "mcs": a.mcs, "attempts": a.attempts, "channel_uses_allocated": a.channel_uses,
                "expected_fidelity": alloc.expected_fidelity[u.name],
                "bits": float(np.mean([r.bits for r, _ in runs])),
                "channel_uses_spent": float(np.mean([r.channel_uses for r, _ in runs])),
                "latency_s": float(np.mean([float(r.latency_s) for r, _ in runs])),
                "exact_rate": float(np.mean([d["exact"] for _, d in runs])),
                "fidelity": fid,
            }
        summary[policy] = {
            "mean_fidelity": float(np.mean(fids)),
            "worst_fidelity": float(np.min(fids)),
            "channel_uses": alloc.channel_uses,
            "budget": scn.budget,
            "objective": alloc.objective,
            "exact_rate": float(np.mean([users_out[u.name]["policies"][policy]["exact_rate"] for u in scn.users])),
        }
    return {
        "users": list(users_out.values()),
        "summary": {"allocations": summary},
        "setting": {"budget": scn.budget, "trials": scn.trials, "seed": seed, "similarity": scn.similarity,
                    "captioner": f"{captioner.model} ({captioner.kind})",
                    "fallback": fallback, "kb_current": current.kb_version, "kb_previous": previous.kb_version,
                    "common_codec": "previous" if common is previous else "current",
                    "snr_convention": "Es/N0 per complex symbol, dB",
                    "objective": "sum_u w_u * (P(delivered) * 1 + P(fail) * fidelity(fallback)), sum channel uses <= budget"},
    }
