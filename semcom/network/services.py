"""Services that run on a :class:`~semcom.network.nodes.Network` and report what they cost.

The contract (:class:`Service`)
    A service has a ``name`` and ``run(network, clock, **kw) -> ServiceReport``. ``run`` moves
    real payloads over the network's links (the digital link: channel coding, QAM, channel
    noise) and charges every transfer and every computation to ``clock``
    (:meth:`~semcom.network.clock.SimClock.charge_transmission`,
    :meth:`~semcom.network.clock.SimClock.charge_compute`; parallel work on forks joined back).
    The report's ``bits`` and ``channel_uses`` are the sums over the transfers it made, and its
    ``latency_s`` is exactly the time the clock advanced during ``run``. Service-specific
    figures go in ``metrics`` (a flat dict of numbers) and ``details`` (one dict per user or
    device). Services are found by name in :data:`SERVICES`. The semantic-communication and
    data-sensing services are implemented here; federated training, collaborative inference,
    model optimisation and instruction optimisation follow the same contract.

FLOP estimates (order of magnitude, stated so that latencies can be reproduced; override them
with :class:`FlopModel`)
    captioning:  ViT-B/16 encoder at 224x224, ~17.6 GMAC = 3.5e10 FLOP, plus a GPT-2 small
                 decoder, 2 x 124e6 FLOP per token for ~20 tokens = 5e9 FLOP: 4.0e10 FLOP/image.
    text codec:  arithmetic coding with an n-gram model, ~1e5 FLOP per token (table look-ups).
    generation:  Stable Diffusion 2.1 base at 512x512: ~0.4 TFLOP per UNet evaluation, 25
                 steps x 2 (classifier-free guidance) = 2.0e13 FLOP, plus ~1.2e12 FLOP of VAE
                 decoding: 2.1e13 FLOP/image.
    sensing:     an estimator update of ``estimator_flops_per_reading`` (1e3) FLOP per reading.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import torch

from semcom.errors import ConfigError, InputError
from semcom.network.clock import SimClock
from semcom.network.control import Action
from semcom.network.fidelity import token_f1
from semcom.network.nodes import Network
from semcom.registry import Registry
from semcom.link.arq import LinkCost
from semcom.schemes.gai import GenerativeReceiver, GenerativeTransmitter, ReceivedMessage, send_message
from semcom.semantic import DecodedPrompt, tokenize

SERVICES: Registry = Registry("service")


@dataclass(frozen=True)
class FlopModel:
    """FLOP estimates of the stages (see the module docstring for where they come from)."""

    caption: float = 4.0e10
    codec_per_token: float = 1.0e5
    generation: float = 2.1e13
    estimator_per_reading: float = 1.0e3


@dataclass
class ServiceReport:
    """What one run of a service cost and achieved.

    bits:           payload bits handed to links (every attempt counted).
    channel_uses:   complex channel uses spent on links.
    latency_s:      simulated seconds the clock advanced during the run (exact).
    compute_s / transmission_s: ledger sums of the run's compute and transmission charges
                    (parallel work counted once per branch, so they can exceed the latency).
    metrics:        service-specific numbers; ``details``: one dict per user or device.
    """

    service: str
    bits: int
    channel_uses: int
    latency_s: Fraction
    compute_s: Fraction = Fraction(0)
    transmission_s: Fraction = Fraction(0)
    metrics: dict[str, float] = field(default_factory=dict)
    details: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "service": self.service,
            "bits": self.bits,
            "channel_uses": self.channel_uses,
            "latency_s": float(self.latency_s),
            "compute_s": float(self.compute_s),
            "transmission_s": float(self.transmission_s),
            "metrics": dict(self.metrics),
            "details": [dict(d) for d in self.details],
        }


class Service(ABC):
    """A network service; see the module docstring for the contract."""

    name: ClassVar[str]

    @abstractmethod
    def run(self, network: Network, clock: SimClock, **kwargs: Any) -> ServiceReport: ...


def _generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator:
    if generator is not None:
        return generator
    return torch.Generator().manual_seed(0 if seed is None else int(seed))


@dataclass
class Delivered:
    """One user's image in one run of the semantic-communication service."""

    user: str
    sent: str
    received: str
    delivered: bool
    exact: bool
    fidelity: float
    prompt_bits: int
    cost: LinkCost
    latency_s: Fraction
    reconstruction: np.ndarray
    confidence: float | None
    reason: str = ""


@SERVICES.register("semantic_communication")
class SemanticCommunicationService(Service):
    """A cloud or edge node sends images to several users as prompts, through the ``gai`` scheme's halves.

    Per run: the sender runs each user's transmitter half (:class:`~semcom.schemes.gai.GenerativeTransmitter`:
    caption, prompt, text codec; compute charged on the sender, in sequence); then every downlink carries its
    packets in parallel with the action the control plane gave it (MCS and up to ``attempts`` copies, the
    one ARQ loop stopping at the first copy the receiver's codec accepts; no action: link adaptation, one
    copy), and each device runs its receiver half (:class:`~semcom.schemes.gai.GenerativeReceiver`: decode
    with the KB version the header names, generate; compute charged on the device). A device without a
    prompt generates from its receiver's fallback prompt. Fidelity is ``similarity`` (token F1 by default)
    between the prompt sent and the one generated from.

    run(network, clock, *, sender, images={user: [H, W, 3] uint8}, transmitters={user: transmitter half},
        receivers={user: receiver half}, actions={user: Action} | None, seed=0 | generator) -> ServiceReport
    """

    name = "semantic_communication"

    def __init__(self, flops: FlopModel | None = None, similarity=token_f1, generate: bool = True):
        self.flops = flops or FlopModel()
        self.similarity = similarity
        self.generate = generate

    def run(
        self,
        network: Network,
        clock: SimClock,
        *,
        sender: str,
        images: Mapping[str, np.ndarray],
        transmitters: Mapping[str, GenerativeTransmitter],
        receivers: Mapping[str, GenerativeReceiver],
        actions: Mapping[str, Action] | None = None,
        seed: int | None = 0,
        generator: torch.Generator | None = None,
    ) -> ServiceReport:
        if not images:
            raise InputError("no images to send")
        for user in images:
            if user not in transmitters or user not in receivers:
                raise ConfigError(f"user {user!r} needs a transmitter and a receiver half")
        gen = _generator(seed, generator)
        start, start_entries = clock.now, len(clock.ledger)
        src = network.node(sender)
        messages = {}
        for user, image in images.items():
            message = transmitters[user].encode(image)
            messages[user] = message
            clock.charge_compute(src, self.flops.caption + self.flops.codec_per_token * (message.prompt.encoded.num_tokens + 1))
        forks, outcomes = [], []
        for user, message in messages.items():
            link, node, receiver = network.link(sender, user), network.node(user), receivers[user]
            fork = clock.fork()
            action = (actions or {}).get(user)
            attempts = 1 if action is None else action.attempts
            if attempts > 0:
                received = send_message(message, link.digital_link(mcs=None if action is None else action.mcs),
                                        link.snr_db, receiver, rounds=attempts - 1, generator=gen)
                fork.charge_link(link, received.cost)
            else:
                received = ReceivedMessage(DecodedPrompt("", False, "not-sent", message.prompt.num_bits))
            delivered = received.prompt.ok
            decode_tokens = len(tokenize(received.prompt.text)) + 1 if delivered else 0
            fork.charge_compute(node, self.flops.codec_per_token * decode_tokens)
            reconstruction, made = receiver.reconstruct(received, message.shape, generator=gen)
            if self.generate:
                fork.charge_compute(node, self.flops.generation)
            final = made["received_prompt"] or ""
            forks.append(fork)
            outcomes.append(Delivered(
                user, message.prompt.text, final, delivered, delivered and final == message.prompt.text,
                self.similarity(message.prompt.text, final), message.prompt.num_bits, received.cost,
                fork.now - start, reconstruction, message.confidence, received.prompt.reason or ""))
        clock.join(*forks)
        charges = clock.ledger[start_entries:]
        fids = [o.fidelity for o in outcomes]
        return ServiceReport(
            self.name,
            sum(o.cost.bits for o in outcomes),
            sum(o.cost.channel_uses for o in outcomes),
            clock.now - start,
            sum((c.seconds for c in charges if c.kind == "compute"), Fraction(0)),
            sum((c.seconds for c in charges if c.kind == "transmission"), Fraction(0)),
            {
                "mean_fidelity": float(np.mean(fids)),
                "worst_fidelity": float(np.min(fids)),
                "exact_rate": float(np.mean([o.exact for o in outcomes])),
                "delivered_rate": float(np.mean([o.delivered for o in outcomes])),
            },
            [
                {"user": o.user, "prompt": o.sent, "received": o.received, "delivered": o.delivered, "exact": o.exact,
                 "fidelity": o.fidelity, "prompt_bits": o.prompt_bits, "attempts": o.cost.transmissions,
                 "channel_uses": o.cost.channel_uses, "latency_s": float(o.latency_s), "reason": o.reason,
                 "caption_confidence": o.confidence, "reconstruction_shape": list(o.reconstruction.shape)}
                for o in outcomes
            ],
        )


# --------------------------------------------------------------------------------- data sensing


@dataclass(frozen=True)
class TemperatureSensor:
    """Synthetic temperature readings: ``mean + amplitude * sin(2 pi t / period + phase) + noise``
    in degrees C, one reading every ``interval_s``; quantised to ``bits`` bits over
    [``low``, ``high``]."""

    mean: float = 20.0
    amplitude: float = 5.0
    period_s: float = 86_400.0
    phase: float = 0.0
    noise_std: float = 0.5
    interval_s: float = 600.0
    bits: int = 10
    low: float = -20.0
    high: float = 60.0

    def truth(self, t: np.ndarray) -> np.ndarray:
        return self.mean + self.amplitude * np.sin(2 * np.pi * t / self.period_s + self.phase)

    def read(self, n: int, rng: np.random.Generator, start_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        t = start_s + self.interval_s * np.arange(n)
        return t, self.truth(t) + self.noise_std * rng.standard_normal(n)

    def quantise(self, values: np.ndarray) -> np.ndarray:
        levels = (1 << self.bits) - 1
        q = np.round((np.clip(values, self.low, self.high) - self.low) / (self.high - self.low) * levels)
        return q.astype(np.int64)

    def dequantise(self, q: np.ndarray) -> np.ndarray:
        return self.low + q.astype(float) / ((1 << self.bits) - 1) * (self.high - self.low)

    def pack(self, q: np.ndarray) -> np.ndarray:
        """[n] integer levels -> [n * bits] uint8 bits, most significant first."""
        shifts = np.arange(self.bits - 1, -1, -1)
        return ((q[:, None] >> shifts) & 1).astype(np.uint8).reshape(-1)

    def unpack(self, bits: np.ndarray) -> np.ndarray:
        b = np.asarray(bits, dtype=np.int64).reshape(-1, self.bits)
        return b @ (1 << np.arange(self.bits - 1, -1, -1))


class SinusoidEstimator:
    """The edge model's auxiliary-input estimator: least-squares fit of
    ``a + b sin(wt) + c cos(wt)`` (w known) to every reading received so far; predicts the
    temperature at any time. Its error falls as readings arrive (about ``noise / sqrt(n)``)."""

    def __init__(self, period_s: float, prior: float = 20.0):
        self.w = 2 * np.pi / period_s
        self.prior = prior
        self.t: list[float] = []
        self.y: list[float] = []

    def update(self, t: np.ndarray, y: np.ndarray) -> None:
        self.t.extend(np.asarray(t, float).tolist())
        self.y.extend(np.asarray(y, float).tolist())

    def predict(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, float)
        n = len(self.t)
        if n == 0:
            return np.full(t.shape, self.prior)
        tt = np.asarray(self.t)
        if n < 3:
            return np.full(t.shape, float(np.mean(self.y)))
        A = np.stack([np.ones(n), np.sin(self.w * tt), np.cos(self.w * tt)], axis=1)
        coef, *_ = np.linalg.lstsq(A, np.asarray(self.y), rcond=None)
        return coef[0] + coef[1] * np.sin(self.w * t) + coef[2] * np.cos(self.w * t)


@SERVICES.register("data_sensing")
class DataSensingService(Service):
    """Devices send sensor readings over their uplinks to an edge model as auxiliary input.

    Per round, every device (in parallel) reads ``readings_per_round`` temperatures, quantises
    them to the sensor's bits, packs them and sends them over its uplink (link adaptation, one
    copy; a copy whose CRC fails is lost). The edge node updates its estimator with what arrived
    (compute charged), then predicts the true temperature over the next day; the metric is the
    RMSE of that prediction (averaged over devices) after each round.

    run(network, clock, *, edge, devices=None (all with an uplink to edge), rounds=4,
        readings_per_round=8, sensor=TemperatureSensor(), seed=0) -> ServiceReport
    """

    name = "data_sensing"

    def __init__(self, flops: FlopModel | None = None):
        self.flops = flops or FlopModel()

    def run(
        self,
        network: Network,
        clock: SimClock,
        *,
        edge: str,
        devices: Sequence[str] | None = None,
        rounds: int = 4,
        readings_per_round: int = 8,
        sensor: TemperatureSensor | None = None,
        seed: int | None = 0,
        generator: torch.Generator | None = None,
    ) -> ServiceReport:
        if rounds < 1 or readings_per_round < 1:
            raise ConfigError("rounds and readings_per_round must be >= 1")
        sensor = sensor or TemperatureSensor()
        gen = _generator(seed, generator)
        rng = np.random.default_rng(0 if seed is None else seed)
        edge_node = network.node(edge)
        if devices is None:
            devices = [l.src for l in network.uplinks(edge) if network.node(l.src).kind == "device"]
        if not devices:
            raise ConfigError(f"no devices send to {edge!r}")
        start, start_entries = clock.now, len(clock.ledger)
        phases = {d: float(rng.uniform(0, 2 * np.pi)) for d in devices}
        sensors = {d: TemperatureSensor(**{**sensor.__dict__, "phase": phases[d]}) for d in devices}
        models = {d: SinusoidEstimator(sensor.period_s, prior=sensor.mean) for d in devices}
        horizon = np.linspace(0, sensor.period_s, 97)
        total_bits = total_uses = 0
        rmse_per_round, details = [], {d: {"device": d, "sent": 0, "received": 0, "bits": 0, "channel_uses": 0} for d in devices}
        for r in range(rounds):
            t0 = r * readings_per_round * sensor.interval_s
            forks, arrived = [], []
            for d in devices:
                link = network.link(d, edge)
                t, y = sensors[d].read(readings_per_round, rng, t0)
                bits = sensors[d].pack(sensors[d].quantise(y))
                fork = clock.fork()
                tx = link.digital_link().transmit_bits(bits, link.snr_db, gen)
                fork.charge_transmission(link, int(tx.channel_uses))
                total_bits += int(tx.payload_bits)
                total_uses += int(tx.channel_uses)
                info = details[d]
                info["sent"] += readings_per_round
                info["bits"] += int(tx.payload_bits)
                info["channel_uses"] += int(tx.channel_uses)
                ok_readings = np.zeros(readings_per_round, dtype=bool)
                for (s, e), ok in zip(tx.block_ranges, tx.block_ok):  # a reading survives if its block did
                    if ok:
                        first, last = math.ceil(s / sensor.bits), e // sensor.bits
                        ok_readings[first:last] = True
                values = sensors[d].dequantise(sensors[d].unpack(tx.bits))
                arrived.append((d, t[ok_readings], values[ok_readings]))
                info["received"] += int(ok_readings.sum())
                forks.append(fork)
            clock.join(*forks)
            errs = []
            for d, t, v in arrived:
                models[d].update(t, v)
                clock.charge_compute(edge_node, self.flops.estimator_per_reading * max(1, len(models[d].t)))
                truth = sensors[d].truth(horizon + (r + 1) * readings_per_round * sensor.interval_s)
                pred = models[d].predict(horizon + (r + 1) * readings_per_round * sensor.interval_s)
                errs.append(float(np.sqrt(np.mean((pred - truth) ** 2))))
            rmse_per_round.append(float(np.mean(errs)))
        charges = clock.ledger[start_entries:]
        metrics = {f"rmse_round_{i + 1}": v for i, v in enumerate(rmse_per_round)}
        metrics["final_rmse"] = rmse_per_round[-1]
        metrics["readings_received"] = float(sum(d["received"] for d in details.values()))
        return ServiceReport(
            self.name, total_bits, total_uses, clock.now - start,
            sum((c.seconds for c in charges if c.kind == "compute"), Fraction(0)),
            sum((c.seconds for c in charges if c.kind == "transmission"), Fraction(0)),
            metrics, list(details.values()),
        )
