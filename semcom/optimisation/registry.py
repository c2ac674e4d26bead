"""The model registry: every deployed model is an entry of a signed knowledge-base version.

A model is the entry ``model/<name>`` of a :class:`~knowledge_base.KnowledgeBase`: its bytes (a
safetensors file) and metadata::

    {"family": "jscc" | "caption-lm",      # how to build the module (see FAMILIES)
     "format": "safetensors",               # float16 / float32 tensors, or "int8-weights" (see artefacts)
     "config": {...},                       # the family's architecture config
     "parameters": 3236239,
     "metrics": {"psnr_db": 25.1, ...},     # measured when it was published
     "details": {...}}                      # where it came from (base model, steps, data, site)

The publisher (:class:`ModelRegistry`, on the edge or cloud) commits a version per publication;
deployment to a node is a signed KB update (:mod:`knowledge_base.update`) carried over the
network's links by the control plane (:class:`~semcom.network.control.ControlPlane`), so its bits
and channel uses are those of the digital link and its time is charged to the clock. The node
(:class:`ServingNode`) applies the update only if length, CRC, signature, replay counter, base and
content hash all check out, and only then builds the new module from its own store; a refused
update leaves it serving the model it had.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

import numpy as np

from knowledge_base import ApplyResult, Delivery, KnowledgeBase, KnowledgeBaseError, SyncEvent, SyncManager, SyncReceiver
from semcom.errors import ConfigError
from semcom.link.arq import LinkCost, send
from semcom.link.digital import bytes_to_bits
from semcom.network.clock import SimClock
from semcom.network.nodes import Network
from semcom.optimisation.artefacts import FAMILIES, module_from_bytes

TRANSFER_MODES = ("simulate", "plan")

MODEL = "model"
"""Kind of the model entries in a knowledge base."""


@dataclass(frozen=True)
class ModelCard:
    """What a KB version says about one model (read without building it)."""

    name: str
    version: str
    family: str
    format: str
    sha256: str
    size: int
    parameters: int
    config: dict
    metrics: dict
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "family": self.family, "format": self.format,
                "sha256": self.sha256, "size": self.size, "parameters": self.parameters, "config": self.config,
                "metrics": self.metrics, "details": self.details}


def model_card(kb: KnowledgeBase, name: str, version: str | None = None) -> ModelCard:
    """The card of ``model/name`` in ``version`` (default: the head)."""
    entry = kb.get(MODEL, name, version)
    meta = entry.meta
    if meta.get("family") not in FAMILIES:
        raise KnowledgeBaseError(f"entry {MODEL}/{name} of version {entry.version[:8]} names no model family "
                                 f"of {', '.join(FAMILIES)}")
    return ModelCard(name, entry.version, meta["family"], str(meta.get("format", "")), entry.sha256, entry.size,
                     int(meta.get("parameters", 0)), dict(meta.get("config", {})), dict(meta.get("metrics", {})),
                     dict(meta.get("details", {})))


def put_model(kb: KnowledgeBase, name: str, data: bytes, *, family: str, format: str, config: Mapping[str, Any],
              parameters: int, metrics: Mapping[str, float] | None = None,
              details: Mapping[str, Any] | None = None) -> None:
    """Stage ``model/name`` (commit it with ``kb.commit``)."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    kb.put(MODEL, name, data, {"family": family, "format": format, "config": dict(config),
                               "parameters": int(parameters), "metrics": dict(metrics or {}),
                               "details": dict(details or {})})


def load_model(kb: KnowledgeBase, name: str, version: str | None = None) -> torch.nn.Module:
    """Build the module that ``model/name`` of ``version`` holds (eval mode, float32 compute)."""
    entry = kb.get(MODEL, name, version)
    return module_from_bytes(entry.data, entry.meta)


class NetworkTransport:
    """Carries an update from ``src`` to ``dst`` over the network, hop by hop (fewest hops), charging ``clock``.

    ``simulate``: each hop sends the bytes over its digital link for real (LDPC, QAM, the channel at the
    hop's SNR) with the one ARQ loop resending lost code blocks (``selective``, up to ``rounds`` rounds);
    an update with a block still lost after them is reported lost (the node keeps its version; the
    registry's sync manager retries it on its next tick or publication).
    ``plan``: each hop's cost is the digital link's plan at its SNR (link adaptation, code blocks, pilots)
    and the bytes arrive as sent; for large models whose bit-level simulation would take minutes.
    ``clock`` may be swapped between transfers (e.g. to a fork for work that runs in parallel).
    """

    def __init__(self, network: Network, src: str, dst: str, clock: SimClock, *, mode: str = "simulate",
                 rounds: int = 4, seed: int = 0):
        from semcom.optimisation.placement import route

        if mode not in TRANSFER_MODES:
            raise ConfigError(f"transfer mode must be one of {', '.join(TRANSFER_MODES)}, got {mode!r}")
        path = route(network, src, dst)
        if path is None:
            raise ConfigError(f"no route from {src} to {dst} to deploy models over")
        self.network, self.path, self.clock, self.mode, self.rounds = network, path, clock, mode, rounds
        self.generator = torch.Generator().manual_seed(int(seed))
        self.cost = LinkCost()

    def __call__(self, payload: bytes) -> Delivery:
        data: bytes | None = bytes(payload)
        bits = channel_uses = 0
        for a, b in zip(self.path, self.path[1:]):
            link = self.network.link(a, b)
            if self.mode == "plan":
                plan = link.digital_link(code="ldpc").plan(8 * len(data), link.snr_db)
                cost = LinkCost(8 * len(data), plan.coded_bits, plan.channel_uses, 1)
            else:
                sent = send(link.digital_link(code="ldpc"), bytes_to_bits(data), link.snr_db, rounds=self.rounds,
                            generator=self.generator, selective=True)
                cost = sent.cost
                data = None if sent.bits is None else np.packbits(sent.bits).tobytes()
            self.clock.charge_link(link, cost)
            self.cost += cost
            bits, channel_uses = bits + cost.bits, channel_uses + cost.channel_uses
            if data is None:
                break
        return Delivery(data, bits, channel_uses, data is not None)


class ModelRegistry:
    """The publisher's side: models as signed KB versions, pushed to the nodes that serve them.

    kb:     the publisher's store (its head is what nodes should serve).
    signer: the publisher's key (:class:`~knowledge_base.Ed25519Signer`, or an HMAC key for closed set-ups).
    Each attached node gets every new version as a signed update through its transport
    (:class:`NetworkTransport`); :attr:`manager` (a :class:`~knowledge_base.SyncManager`) keeps what each
    node acknowledged and the sequence numbers, and counts the bits.
    """

    def __init__(self, kb: KnowledgeBase, signer, policy: str = "push"):
        self.kb = kb
        self.manager = SyncManager(kb, signer, policy)

    def attach(self, node: str, endpoint: "ServingNode", transport, *, acked_version: str | None = None) -> None:
        """Deliver updates to ``endpoint`` (the node's :class:`ServingNode`) through ``transport``."""
        self.manager.add_receiver(node, transport, endpoint, acked_version=acked_version)

    def publish(self, name: str, data: bytes, *, family: str, format: str, config: Mapping[str, Any],
                parameters: int, metrics: Mapping[str, float] | None = None,
                details: Mapping[str, Any] | None = None, message: str | None = None) -> str:
        """Commit a version whose ``model/name`` is ``data`` and push it to the attached nodes; returns its id."""
        put_model(self.kb, name, data, family=family, format=format, config=config, parameters=parameters,
                  metrics=metrics, details=details)
        return self.manager.commit(message or f"publish {name}")

    def publish_prompt_codec(self, codec, *, metrics: Mapping[str, float] | None = None,
                             details: Mapping[str, Any] | None = None, message: str | None = None) -> str:
        """Commit a version whose prompt codec (``language_model/prompt-codec``, the entry both ends decode
        prompts with, :func:`semcom.semantic.knowledge.put_codec`) is ``codec``, its metrics kept in the entry's
        details, and push it to the attached nodes; returns the version id."""
        from semcom.semantic.knowledge import put_codec

        put_codec(self.kb, codec, details={**dict(details or {}), "metrics": dict(metrics or {})})
        return self.manager.commit(message or "publish prompt codec")

    def catalogue(self, version: str | None = None) -> list[dict]:
        """Every model a version holds, with its metrics: the ``model/*`` entries and the prompt codec."""
        from knowledge_base import LANGUAGE_MODEL

        out = [model_card(self.kb, e.name, version).as_dict() for e in self.kb.entries(version, MODEL)]
        for e in self.kb.entries(version, LANGUAGE_MODEL):
            details = dict(e.meta.get("details", {}))
            out.append({"name": e.name, "version": e.version, "family": "prompt-codec", "format": e.meta.get("format"),
                        "sha256": e.sha256, "size": e.size, "codec": e.meta.get("codec"),
                        "metrics": details.pop("metrics", {}), "details": details})
        return out

    def events(self, since: int = 0) -> list[SyncEvent]:
        """Deliveries made so far (from index ``since``)."""
        return self.manager.history[since:]

    def card(self, name: str, version: str | None = None) -> ModelCard:
        return model_card(self.kb, name, version)

    def history(self, name: str) -> list[ModelCard]:
        """Cards of every version that holds ``model/name``, oldest first (one per distinct blob)."""
        out, seen = [], set()
        for info in self.kb.versions():
            try:
                card = model_card(self.kb, name, info.id)
            except KnowledgeBaseError:
                continue
            if card.sha256 not in seen:
                seen.add(card.sha256)
                out.append(card)
        return out


class ServingNode:
    """A node's own copy of the registry and the model it serves.

    kb:       the node's store (updates are applied to it).
    verifier: the publisher's public key (or HMAC key) that every update must be signed with.
    name:     the model entry this node serves.
    on_load:  called with each newly built module (e.g. to move it to a device or compress it).

    :meth:`receive` is the endpoint the control plane delivers updates to; the module is rebuilt only
    when an accepted update changed the model's blob.
    """

    def __init__(self, kb: KnowledgeBase, verifier, name: str,
                 on_load: Callable[[torch.nn.Module], torch.nn.Module] | None = None):
        self.receiver = SyncReceiver(kb, verifier)
        self.kb, self.name, self.on_load = kb, name, on_load
        self.module: torch.nn.Module | None = None
        self.serving_sha: str | None = None
        self.refused: list[ApplyResult] = []
        self._load_head()

    def _load_head(self) -> None:
        if self.kb.head is None:
            return
        try:
            entry = self.kb.get(MODEL, self.name)
        except KnowledgeBaseError:
            return
        if entry.sha256 != self.serving_sha:
            module = module_from_bytes(entry.data, entry.meta)
            self.module = self.on_load(module) if self.on_load else module
            self.serving_sha = entry.sha256

    @property
    def version(self) -> str | None:
        return self.kb.head

    def card(self) -> ModelCard:
        return model_card(self.kb, self.name)

    def receive(self, data: bytes | None) -> ApplyResult:
        """Apply an update (never raises on a bad one); reload the model when the update changed it."""
        result = self.receiver.receive(data)
        if result.accepted:
            self._load_head()
        else:
            self.refused.append(result)
        return result

    # the SyncManager's endpoint protocol
    @property
    def head(self) -> str | None:
        return self.kb.head
