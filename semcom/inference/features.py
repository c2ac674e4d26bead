"""Intermediate features and tokens crossing a link for real, and a GPT-2 forward pass split over a route.

A feature (a ``[T, d]`` activation) is quantised to 8 bits per value with one affine range per tensor,
packed as ``T (16 bits) | low, high (2 x float32) | values | CRC-32`` and sent with the one ARQ loop
(:func:`semcom.link.arq.send`): a one-block packet is resent while its code block's CRC fails or the
packet's own CRC-32 does not match, a longer one has its failed code blocks resent (selective ARQ), up
to ``rounds`` rounds. When the rounds run out the transfer raises :class:`LinkFailedError` -- a feature
is never decoded from a packet that did not pass both checks.
Token ids travel the same way (``count | ids | CRC-32``).

Sent analog (``Route.features="analog"``), a feature's values go as complex symbols over the link's
channel through :class:`~semcom.link.analog.AnalogLink` (power-normalised, equalised): the mean is
removed, value pairs become symbols (``ceil(T d / 2)`` of them), and only a header -- element count,
mean and the power-normalisation scale as float32, CRC-32 -- travels as a digital packet with ARQ, so
the receiver can undo the normalisation. No check can catch noise on analog values: the task metric
degrades gracefully with the SNR instead of the packet failing (:mod:`semcom.inference.quality`
measures how much).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np
import torch

from semcom.errors import InputError, SemcomError
from semcom.link.analog import AnalogLink, complex_to_real, real_to_complex
from semcom.link.arq import LinkCost, send
from semcom.network.clock import SimClock
from semcom.network.nodes import Link
from semcom.inference.split import ChainProfile, Plan, Route, gpt2_profile, range_flops


class LinkFailedError(SemcomError):
    """A packet did not arrive intact within its ARQ rounds."""


def quantise(x: torch.Tensor, bits: int = 8) -> tuple[np.ndarray, float, float]:
    """Per-tensor affine quantisation: (uint levels, low, high)."""
    x = x.detach().to(torch.float32)
    low, high = float(x.min()), float(x.max())
    low, high = struct.unpack("<2f", struct.pack("<2f", low, high))  # the float32 values that travel
    span = high - low if high > low else 1.0
    levels = (1 << bits) - 1
    q = torch.round((x - low) / span * levels).clamp(0, levels).to(torch.uint8 if bits <= 8 else torch.int32)
    return q.numpy(), low, high


def dequantise(q: np.ndarray, low: float, high: float, bits: int = 8) -> torch.Tensor:
    span = high - low if high > low else 1.0
    return torch.from_numpy(q.astype(np.float32)) / ((1 << bits) - 1) * span + low


def _with_crc(body: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(body + struct.pack("<I", zlib.crc32(body)), dtype=np.uint8))


def _check_crc(bits: np.ndarray) -> bytes | None:
    data = np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()
    body, crc = data[:-4], data[-4:]
    return body if struct.unpack("<I", crc)[0] == zlib.crc32(body) else None


def pack_feature(x: torch.Tensor) -> np.ndarray:
    """[T, d] float tensor -> bits (``FEATURE_HEADER_BITS + 8 T d``)."""
    if x.dim() != 2 or x.shape[0] >= 1 << 16:
        raise InputError(f"a feature is a [T, d] tensor with T < 65536, got {tuple(x.shape)}")
    q, low, high = quantise(x)
    return _with_crc(struct.pack("<H2f", x.shape[0], low, high) + q.tobytes())


def unpack_feature(bits: np.ndarray, d: int) -> torch.Tensor | None:
    body = _check_crc(bits)
    if body is None:
        return None
    T, low, high = struct.unpack("<H2f", body[:10])
    q = np.frombuffer(body[10:], dtype=np.uint8)
    if q.size != T * d:
        return None
    return dequantise(q.reshape(T, d), low, high)


def pack_tokens(ids: list[int], id_bits: int) -> np.ndarray:
    """Token ids, ``id_bits`` each, with a count and a CRC-32 (byte-padded)."""
    shifts = np.arange(id_bits - 1, -1, -1)
    payload = ((np.asarray(ids, dtype=np.int64)[:, None] >> shifts) & 1).astype(np.uint8).reshape(-1)
    payload = np.concatenate([payload, np.zeros((-payload.size) % 8, dtype=np.uint8)])
    return _with_crc(struct.pack("<H", len(ids)) + np.packbits(payload).tobytes())


def unpack_tokens(bits: np.ndarray, id_bits: int) -> list[int] | None:
    body = _check_crc(bits)
    if body is None:
        return None
    (count,) = struct.unpack("<H", body[:2])
    payload = np.unpackbits(np.frombuffer(body[2:], dtype=np.uint8))[: count * id_bits]
    if payload.size != count * id_bits:
        return None
    return (payload.reshape(count, id_bits).astype(np.int64) @ (1 << np.arange(id_bits - 1, -1, -1))).tolist()


@dataclass
class Hop:
    """One packet over one link: its cost and retransmissions (``values``: real values sent analog, 0 for a
    digital packet of ``bits``)."""

    link: str
    bits: int
    cost: LinkCost
    retransmissions: int
    ok: bool
    values: int = 0


def transfer(link: Link, bits: np.ndarray, decode, clock: SimClock, *, rounds: int, generator: torch.Generator,
             hops: list[Hop], mcs: int | None = None):
    """Send ``bits`` over ``link`` and return ``decode(received)``; charge the link's cost to ``clock``.

    A packet of one code block is resent whole while its CRC fails or ``decode`` refuses it (returns None),
    up to ``rounds`` times. A longer packet resends only its code blocks whose CRC failed, for up to
    ``rounds`` rounds (selective ARQ, as 5G HARQ does); the reassembled packet must then pass ``decode``
    (its CRC-32). Raises :class:`LinkFailedError` when no copy is accepted."""
    digital = link.digital_link(mcs)
    if digital.plan(int(bits.size), link.snr_db).num_blocks > 1:
        delivery = send(digital, bits, link.snr_db, rounds=rounds, generator=generator, selective=True)
        value = decode(delivery.bits) if delivery.ok else None
        why = ("its code blocks failed their CRC" if not delivery.ok else "it failed its CRC-32")
    else:
        def accept(received):
            got = decode(received)
            return got is not None, got

        delivery = send(digital, bits, link.snr_db, rounds=rounds, generator=generator, accept=accept)
        value = delivery.value if delivery.ok else None
        why = "it failed its CRC"
    ok = value is not None
    clock.charge_link(link, delivery.cost)
    hops.append(Hop(link.name, int(bits.size), delivery.cost, delivery.retransmissions, ok))
    if not ok:
        error = LinkFailedError(f"{link.name}: a {bits.size}-bit packet did not arrive after "
                                f"{delivery.retransmissions} retransmission rounds at {link.snr_db:g} dB: {why}")
        error.hops = hops  # what the request had sent, the failed packet included
        raise error
    return value


def pack_analog_header(count: int, mean: float, scale: float) -> np.ndarray:
    """The digital header of an analog feature: element count, mean, scale, CRC-32 (``ANALOG_HEADER_BITS``)."""
    return _with_crc(struct.pack("<I2f", count, mean, scale))


def unpack_analog_header(bits: np.ndarray) -> tuple[int, float, float] | None:
    body = _check_crc(bits)
    return None if body is None or len(body) != 12 else struct.unpack("<I2f", body)


def _analog_link(link: Link) -> AnalogLink:
    """An analog link over ``link``'s channel (the channel instance of its digital link, so options match)."""
    return AnalogLink(link.digital_link().channel)


@torch.no_grad()
def send_feature_analog(link: Link, x: torch.Tensor, clock: SimClock, *, rounds: int, generator: torch.Generator,
                        hops: list[Hop], mcs: int | None = None) -> torch.Tensor:
    """Send a feature tensor (any shape) over ``link`` analog: its header digitally (ARQ, CRC-32; raises
    :class:`LinkFailedError` when it cannot get through), its values as ``ceil(numel / 2)`` complex symbols.
    Returns the received tensor (same shape), noisy as the channel made it. Both sends are charged to ``clock``."""
    flat = x.detach().to(torch.float32).reshape(-1)
    count = flat.numel()
    if count == 0 or count >= 1 << 32:
        raise InputError(f"an analog feature needs 1 to 2**32 - 1 values, got {count}")
    mean = struct.unpack("<f", struct.pack("<f", float(flat.mean())))[0]
    centred = flat - mean
    if count % 2:
        centred = torch.cat([centred, centred.new_zeros(1)])
    z = real_to_complex(centred[None])
    scale = struct.unpack("<f", struct.pack("<f", float(z.abs().square().mean().sqrt())))[0]
    got = transfer(link, pack_analog_header(count, mean, scale), unpack_analog_header, clock, rounds=rounds,
                   generator=generator, hops=hops, mcs=mcs)
    _, mean_rx, scale_rx = got
    tx = _analog_link(link)(z, link.snr_db, generator=generator)
    cost = LinkCost(0, 0, int(tx.channel_uses), 1)
    clock.charge_link(link, cost)
    hops.append(Hop(link.name, 0, cost, 0, True, count))
    y = tx.symbols / tx.bias.to(tx.symbols.dtype)  # unbiased estimate of the sent (normalised) symbols
    values = complex_to_real(y)[0, :count] * scale_rx + mean_rx
    return values.reshape(x.shape)


def send_feature(route: Route, tier: int, x: torch.Tensor, clock: SimClock, *, rounds: int,
                 generator: torch.Generator, hops: list[Hop]) -> torch.Tensor:
    """Send a [T, d] feature up ``route.up[tier]`` as the route says: an 8-bit packet, or analog."""
    link = route.up[tier]
    if route.features == "analog":
        return send_feature_analog(link, x, clock, rounds=rounds, generator=generator, hops=hops, mcs=route.mcs)
    d = x.shape[-1]
    return transfer(link, pack_feature(x), lambda r: unpack_feature(r, d), clock, rounds=rounds,
                    generator=generator, hops=hops, mcs=route.mcs)


def model_profile(lm, seq_len: int) -> ChainProfile:
    """The chain profile of a caption LM's forward pass over ``seq_len`` tokens."""
    c = lm.model.config
    return gpt2_profile(c.n_embd, c.n_layer, c.vocab_size, seq_len, n_positions=c.n_positions, n_head=c.n_head,
                        id_bits=lm.tokenizer.id_bits)


def _causal(T: int) -> torch.Tensor:
    mask = torch.full((T, T), float("-inf")).triu(1)
    return mask[None, None]


@torch.no_grad()
def run_layers(model, a: int, b: int, state, n_layer: int):
    """Run chain layers ``[a, b)`` (0 = embed, 1..n_layer = blocks, n_layer + 1 = head) on ``state``:
    token ids ([T] long) before layer 0, a [T, d] feature after. The head returns the last position's logits."""
    tr = model.transformer
    for i in range(a, b):
        if i == 0:
            ids = torch.as_tensor(state, dtype=torch.long)
            state = tr.wte(ids) + tr.wpe(torch.arange(ids.shape[0]))
        elif i <= n_layer:
            h = state[None]
            state = tr.h[i - 1](h, attention_mask=_causal(h.shape[1]))[0]
        else:
            state = model.lm_head(tr.ln_f(state[-1:]))[0]
    return state


@dataclass
class SplitStep:
    """One forward pass run along a plan: the next token, its logits, the hops made."""

    token: int
    logits: torch.Tensor
    hops: list[Hop] = field(default_factory=list)


def split_forward(lm, ids: list[int], plan: Plan, route: Route, clock: SimClock, *, rounds: int,
                  generator: torch.Generator, profile: ChainProfile | None = None) -> SplitStep:
    """Run ``lm`` on ``ids`` along ``plan``: each tier's layers (compute charged on its node), the state
    crossing each uplink between busy tiers as a real packet (or analog, as ``route.features`` says), the
    next token returned down to the device."""
    n_layer = lm.model.config.n_layer
    profile = profile or model_profile(lm, len(ids))
    id_bits = lm.tokenizer.id_bits
    state, hops = list(ids), []
    last = plan.last_tier
    for t in range(last + 1):
        a, b = plan.ranges[t]
        if b > a:
            node = route.nodes[t]
            clock.charge_compute(node, range_flops(profile, a, b, node, route.bandwidth(node)))
            state = run_layers(lm.model, a, b, state if a > 0 else torch.tensor(state), n_layer)
        if t < last:
            link = route.up[t]
            if b == 0:
                state = transfer(link, pack_tokens(list(state), id_bits), lambda r: unpack_tokens(r, id_bits), clock,
                                 rounds=rounds, generator=generator, hops=hops, mcs=route.mcs)
            else:
                state = send_feature(route, t, state, clock, rounds=rounds, generator=generator, hops=hops)
    logits = state
    token = int(torch.argmax(logits))
    for t in range(last - 1, -1, -1):
        got = transfer(route.down[t], pack_tokens([token], id_bits), lambda r: unpack_tokens(r, id_bits), clock,
                       rounds=rounds, generator=generator, hops=hops, mcs=route.mcs)
        token = got[0]
    return SplitStep(token, logits, hops)
