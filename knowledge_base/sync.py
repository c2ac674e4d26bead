"""Keeping receivers' knowledge bases in step with the sender's: the control plane.

The sender's :class:`SyncManager` holds its view of each receiver (last acknowledged version,
next sequence number, whether a retry is due) and sends signed updates (:mod:`knowledge_base.update`)
through a :class:`Transport` under one of three policies:

``push``
    send on every commit; a failed transfer is retried at the next :meth:`SyncManager.tick`
    or commit.
``periodic``
    every ``period`` units of a simulated clock (:meth:`SyncManager.tick` gets the time), send
    to each receiver behind the head; a failure waits for the next period.
``on_demand``
    data packets carry :meth:`SyncManager.header_tag` (a short version id); a receiver that sees
    a tag other than its own asks for an update (:meth:`SyncManager.request`), telling its head.

A transport is any callable ``send(payload: bytes) -> Delivery``: the tests use a fake one that
delivers, corrupts, cuts short or drops; the digital link (LDPC + QAM over a simulated channel)
plugs in the same way. The receiving end (:class:`SyncReceiver`) applies what arrives and
answers with an :class:`~knowledge_base.update.ApplyResult`, which serves as the acknowledgement;
the feedback link that carries acknowledgements and requests is taken as reliable. A failed,
partial or rejected transfer leaves the receiver on its previous version.
"""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, field
from typing import Protocol

from knowledge_base.errors import KnowledgeBaseError
from knowledge_base.store import EMPTY_VERSION, KnowledgeBase, short_id
from knowledge_base.update import ApplyResult, Signer, Verifier, apply_update, as_signer, as_verifier, make_update


@dataclass
class Delivery:
    """What a transport did with one payload.

    data:         the bytes the far end got: all of them, damaged ones, a prefix of them, or
                  None when nothing usable arrived.
    bits:         payload bits sent (retransmissions included, if the transport does any).
    channel_uses: complex channel uses spent.
    ok:           whether the transport believes the transfer succeeded.
    """

    data: bytes | None
    bits: int
    channel_uses: int
    ok: bool


class Transport(Protocol):
    """Carries one payload to one receiver."""

    def __call__(self, payload: bytes) -> Delivery: ...


class IdealTransport:
    """A lossless transport: every byte arrives; ``bits_per_channel_use`` sets the channel uses."""

    def __init__(self, bits_per_channel_use: float = 1.0):
        if not bits_per_channel_use > 0:
            raise KnowledgeBaseError(f"bits_per_channel_use must be positive, got {bits_per_channel_use!r}")
        self.bits_per_channel_use = float(bits_per_channel_use)

    def __call__(self, payload: bytes) -> Delivery:
        bits = 8 * len(payload)
        return Delivery(bytes(payload), bits, math.ceil(bits / self.bits_per_channel_use), True)


class SyncReceiver:
    """The receiving end: applies the updates that arrive to its knowledge base.

    ``verifier`` is a :class:`Verifier` (e.g. :class:`~knowledge_base.update.Ed25519Verifier` from
    the publisher's public key) or an HMAC key (bytes). The replay counter lives in the store
    (:attr:`KnowledgeBase.last_sequence`), so replay protection survives restarts.
    """

    def __init__(self, kb: KnowledgeBase, verifier: Verifier | bytes):
        self.kb = kb
        self.verifier = as_verifier(verifier)
        self.log: list[ApplyResult] = []

    @property
    def head(self) -> str | None:
        return self.kb.head

    def tag(self, bits: int = 16) -> int:
        """Short id of this receiver's version (the empty version when it has none)."""
        return short_id(self.kb.head or EMPTY_VERSION, bits)

    def needs_update(self, header_tag: int, bits: int = 16) -> bool:
        """Whether a packet header's short version id differs from this receiver's."""
        return header_tag != self.tag(bits)

    def receive(self, data: bytes | None) -> ApplyResult:
        """Apply what arrived; the result is the acknowledgement (never raises on a bad update)."""
        result = apply_update(self.kb, data, self.verifier, raise_on_reject=False)
        self.log.append(result)
        return result


class SyncPolicy(str, enum.Enum):
    PUSH = "push"
    PERIODIC = "periodic"
    ON_DEMAND = "on_demand"


@dataclass
class SyncStats:
    """Overhead of keeping receivers in sync.

    updates_sent: updates handed to a transport (retries included).
    accepted:     updates the receiver applied.
    rejected:     updates the receiver refused (``rejections`` counts them by reason).
    failed:       transfers the transport reported failed or that delivered nothing; a transfer
                  cut short usually counts here and, once the receiver refuses the prefix, in
                  ``rejected`` as "truncated".
    bits, channel_uses, update_bytes: what the updates cost on the link.
    requests:     update requests received from receivers (on-demand policy).
    """

    updates_sent: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    bits: int = 0
    channel_uses: int = 0
    update_bytes: int = 0
    requests: int = 0
    rejections: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SyncEvent:
    """One update sent (or, with ``reason="unknown-base"``, one that could not be built)."""

    time: float | None
    receiver: str
    trigger: str  # "commit", "retry", "period", "request" or "manual"
    sequence: int | None
    from_version: str
    to_version: str
    update_bytes: int
    bits: int
    channel_uses: int
    delivered: bool  # the transport's ok flag, and something arrived
    accepted: bool
    reason: str | None  # the receiver's rejection reason; "lost" when nothing arrived


@dataclass
class ReceiverView:
    """What the sender believes about one receiver."""

    name: str
    transport: Transport
    endpoint: SyncReceiver
    acked_version: str | None = None
    next_sequence: int = 1
    pending: bool = False
    last_attempt: float | None = None
    stats: SyncStats = field(default_factory=SyncStats)


def _add(stats: SyncStats, event: SyncEvent) -> None:
    if event.sequence is None:
        return
    stats.updates_sent += 1
    stats.bits += event.bits
    stats.channel_uses += event.channel_uses
    stats.update_bytes += event.update_bytes
    if not event.delivered:
        stats.failed += 1
    if event.accepted:
        stats.accepted += 1
    elif event.reason != "lost":
        stats.rejected += 1
        stats.rejections[event.reason] = stats.rejections.get(event.reason, 0) + 1


class SyncManager:
    """The sender side: decides when to send which update to whom, and counts what it costs.

    ``signer`` signs the updates: an :class:`~knowledge_base.update.Ed25519Signer` (receivers then
    hold only its public key), an :class:`~knowledge_base.update.HmacSigner`, or an HMAC key (bytes).

    >>> sender = KnowledgeBase(); key = b"0123456789abcdef"
    >>> manager = SyncManager(sender, key, policy="push")
    >>> receiver = SyncReceiver(KnowledgeBase(), key)
    >>> _ = manager.add_receiver("rx", IdealTransport(), receiver)
    >>> sender.put("vocabulary", "en", b"a b c")
    >>> v1 = manager.commit("first")
    >>> receiver.head == v1, manager.stats.accepted
    (True, 1)
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        signer: Signer | bytes,
        policy: SyncPolicy | str = SyncPolicy.PUSH,
        *,
        period: float | None = None,
        start: float = 0.0,
        compression: str = "zlib",
        tag_bits: int = 16,
    ):
        try:
            self.policy = SyncPolicy(policy)
        except ValueError:
            known = ", ".join(p.value for p in SyncPolicy)
            raise KnowledgeBaseError(f"unknown sync policy {policy!r}; known: {known}") from None
        if self.policy is SyncPolicy.PERIODIC:
            if period is None or not period > 0 or not math.isfinite(period):
                raise KnowledgeBaseError(f"the periodic policy needs a positive period, got {period!r}")
        self.kb = kb
        self.signer = as_signer(signer)
        self.period = period
        self.next_due = float(start)
        self.compression = compression
        self.tag_bits = tag_bits
        short_id(EMPTY_VERSION, tag_bits)  # checks tag_bits
        self._receivers: dict[str, ReceiverView] = {}
        self.history: list[SyncEvent] = []
        self.stats = SyncStats()

    # ------------------------------------------------------------------ receivers

    def add_receiver(
        self, name: str, transport: Transport, endpoint: SyncReceiver, *, acked_version: str | None = None
    ) -> ReceiverView:
        """Register a receiver; ``acked_version`` is the version it is known to hold (None: empty)."""
        if name in self._receivers:
            raise KnowledgeBaseError(f"receiver {name!r} is already registered")
        if acked_version is not None:
            acked_version = self.kb.resolve(acked_version)
        view = ReceiverView(name, transport, endpoint, acked_version)
        view.pending = self._behind(view)
        self._receivers[name] = view
        return view

    def view(self, name: str) -> ReceiverView:
        try:
            return self._receivers[name]
        except KeyError:
            raise KnowledgeBaseError(f"unknown receiver {name!r}") from None

    @property
    def receivers(self) -> dict[str, ReceiverView]:
        return dict(self._receivers)

    def receiver_stats(self, name: str) -> SyncStats:
        return self.view(name).stats

    def _behind(self, view: ReceiverView) -> bool:
        head = self.kb.head
        return head is not None and (view.acked_version or EMPTY_VERSION) != head

    # ------------------------------------------------------------------ triggers

    def header_tag(self) -> int:
        """The short version id the sender puts in data packet headers."""
        return short_id(self.kb.head or EMPTY_VERSION, self.tag_bits)

    def commit(self, message: str = "", now: float | None = None) -> str:
        """Commit the sender's staged changes, then react as the policy says."""
        vid = self.kb.commit(message)
        self.on_commit(now)
        return vid

    def on_commit(self, now: float | None = None) -> list[SyncEvent]:
        """Call after each commit: under ``push``, send to every receiver behind the head."""
        if self.policy is not SyncPolicy.PUSH:
            for view in self._receivers.values():
                view.pending = self._behind(view)
            return []
        return [self._send(view, "commit", now) for view in self._receivers.values() if self._behind(view)]

    def tick(self, now: float) -> list[SyncEvent]:
        """Advance the simulated clock: periodic sends when due; push retries failed transfers."""
        if self.policy is SyncPolicy.PUSH:
            return [self._send(v, "retry", now) for v in self._receivers.values() if v.pending and self._behind(v)]
        if self.policy is SyncPolicy.PERIODIC and now >= self.next_due:
            assert self.period is not None
            self.next_due += self.period * (math.floor((now - self.next_due) / self.period) + 1)
            return [self._send(view, "period", now) for view in self._receivers.values() if self._behind(view)]
        return []

    def request(self, name: str, receiver_head: str | None, now: float | None = None) -> SyncEvent | None:
        """A receiver on ``receiver_head`` asks for the current version (any policy answers)."""
        view = self.view(name)
        self.stats.requests += 1
        view.stats.requests += 1
        view.acked_version = receiver_head
        if not self._behind(view):
            view.pending = False
            return None
        return self._send(view, "request", now)

    def on_packet(self, name: str, now: float | None = None) -> SyncEvent | None:
        """A data packet reaches receiver ``name``: under ``on_demand``, if its header tag differs
        from the receiver's own, the receiver requests an update. Other policies ignore packets."""
        view = self.view(name)
        if self.policy is not SyncPolicy.ON_DEMAND:
            return None
        if not view.endpoint.needs_update(self.header_tag(), self.tag_bits):
            return None
        return self.request(name, view.endpoint.head, now)

    def sync(self, name: str, now: float | None = None) -> SyncEvent | None:
        """Send receiver ``name`` an update now if it is behind, whatever the policy."""
        view = self.view(name)
        return self._send(view, "manual", now) if self._behind(view) else None

    # ------------------------------------------------------------------ sending

    def _send(self, view: ReceiverView, trigger: str, now: float | None) -> SyncEvent:
        head = self.kb.head
        assert head is not None
        base = view.acked_version or EMPTY_VERSION
        view.last_attempt = now
        if not self.kb.has_version(base):
            # The receiver holds a version this sender never had: no diff can reach it.
            view.pending = True
            event = SyncEvent(now, view.name, trigger, None, base, head, 0, 0, 0, False, False, "unknown-base")
            self.history.append(event)
            return event
        sequence = view.next_sequence
        view.next_sequence += 1
        update = make_update(self.kb, base, head, sequence, self.signer, compression=self.compression)
        delivery = view.transport(update)
        delivered = bool(delivery.ok) and delivery.data is not None
        ack = view.endpoint.receive(delivery.data) if delivery.data is not None else None
        if ack is not None and ack.accepted:
            view.acked_version = ack.head
            view.pending = self._behind(view)
            reason = None
        else:
            view.pending = True
            reason = "lost" if ack is None else ack.reason
            if ack is not None:
                # The acknowledgement tells where the receiver really is and which sequence
                # numbers it has used, so a retry starts from there.
                view.acked_version = ack.head
                view.next_sequence = max(view.next_sequence, ack.last_sequence + 1)
        event = SyncEvent(
            now,
            view.name,
            trigger,
            sequence,
            base,
            head,
            len(update),
            int(delivery.bits),
            int(delivery.channel_uses),
            delivered,
            ack is not None and ack.accepted,
            reason,
        )
        self.history.append(event)
        _add(self.stats, event)
        _add(view.stats, event)
        return event
