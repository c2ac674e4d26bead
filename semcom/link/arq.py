"""What a transmission costs, and the one retransmission (ARQ) loop every sender uses.

:class:`LinkCost` is the bill of one or more transmissions: payload bits, coded bits, channel uses and
the number of transmissions; costs add with ``+``. :func:`send` moves a payload over a
:class:`~semcom.link.digital.DigitalLink` with up to ``rounds`` retransmissions, either of the whole
payload (a short packet: a lost CRC, or a receiver that refuses what arrived, asks for it again) or of
the lost code blocks only (``selective``: a long stream, where 5G HARQ resends just those blocks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

import numpy as np
import torch

from semcom.errors import ConfigError
from semcom.link.digital import DigitalLink

T = TypeVar("T")


@dataclass(frozen=True)
class LinkCost:
    """The bill of transmissions.

    bits:          payload bits sent (each payload counted once, however often it was retransmitted).
    coded_bits:    bits on air after channel coding, every transmission counted.
    channel_uses:  complex channel uses, every transmission counted.
    transmissions: link transmissions made (a selective retransmission of several blocks counts once per block).
    """

    bits: int = 0
    coded_bits: int = 0
    channel_uses: int = 0
    transmissions: int = 0

    def __add__(self, other: "LinkCost") -> "LinkCost":
        if not isinstance(other, LinkCost):
            return NotImplemented
        return LinkCost(self.bits + other.bits, self.coded_bits + other.coded_bits,
                        self.channel_uses + other.channel_uses, self.transmissions + other.transmissions)


@dataclass
class Delivery(Generic[T]):
    """What arrived after :func:`send`.

    bits:      [num_bits] uint8 received payload when every block arrived (and ``accept`` took it), else None.
    value:     what ``accept`` returned for the last copy that arrived (None without ``accept`` or arrival).
    cost:      the bill of every transmission made.
    retransmissions: rounds used beyond the first transmission.
    block_ok:  [num_blocks] bool, final CRC verdict per code block of the first transmission's segmentation.
    info:      link facts of the last transmission: ``mcs``, ``code``, ``below_threshold``.
    """

    bits: np.ndarray | None
    value: T | None
    cost: LinkCost
    retransmissions: int
    block_ok: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.bits is not None


def send(
    link: DigitalLink,
    bits: np.ndarray,
    snr_db: float,
    *,
    rounds: int = 0,
    generator: torch.Generator | None = None,
    selective: bool = False,
    accept: Callable[[np.ndarray], tuple[bool, T]] | None = None,
    max_channel_uses: int | None = None,
) -> Delivery[T]:
    """Send ``bits`` ([num_bits] 0/1) with up to ``rounds`` retransmissions.

    Whole-payload ARQ (default): the payload is sent again while a block's CRC fails or ``accept``
    (called on the received bits; returns ``(ok, value)``) refuses it. ``selective``: after the first
    transmission, each round resends only the blocks still lost, one transmission per block.
    ``max_channel_uses``: a retransmission is sent only while it fits in what is left of this budget
    (the first transmission is the caller's to fit).
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise ConfigError(f"ARQ rounds must be a non-negative number, got {rounds!r}")
    if selective and accept is not None:
        raise ConfigError("selective ARQ resends blocks; it cannot also re-ask a receiver that refused the payload")
    bits = np.asarray(bits, dtype=np.uint8).reshape(-1)
    sent = link.transmit_bits(bits, snr_db, generator=generator)
    cost = LinkCost(int(bits.size), sent.coded_bits, sent.channel_uses, 1)
    if selective:
        received, ok, used = sent.bits.copy(), sent.block_ok.copy(), 0
        while not ok.all() and used < rounds:
            resend = [b for b in np.flatnonzero(~ok)
                      if _fits(link, sent.block_ranges[b][1] - sent.block_ranges[b][0], snr_db, cost, max_channel_uses)]
            if not resend:
                break  # no lost block fits in what is left of the budget
            used += 1
            for block in resend:
                start, stop = sent.block_ranges[block]
                if not _fits(link, stop - start, snr_db, cost, max_channel_uses):
                    continue  # earlier resends of this round used up the room
                again = link.transmit_bits(bits[start:stop], snr_db, generator=generator)
                cost += LinkCost(0, again.coded_bits, again.channel_uses, 1)
                if again.ok:
                    received[start:stop] = again.bits
                    ok[block] = True
        return Delivery(received if ok.all() else None, None, cost, used, ok, _info(sent))
    used = 0
    while True:
        value, arrived = None, sent.ok
        if arrived and accept is not None:
            arrived, value = accept(sent.bits)
        if arrived or used >= rounds or not _fits(link, bits.size, snr_db, cost, max_channel_uses):
            return Delivery(sent.bits if arrived else None, value, cost, used, sent.block_ok, _info(sent))
        used += 1
        sent = link.transmit_bits(bits, snr_db, generator=generator)
        cost += LinkCost(0, sent.coded_bits, sent.channel_uses, 1)


def _fits(link: DigitalLink, num_bits: int, snr_db: float, cost: LinkCost, budget: int | None) -> bool:
    """Whether sending ``num_bits`` again keeps the channel uses within ``budget`` (None: no budget)."""
    return budget is None or cost.channel_uses + link.plan(num_bits, snr_db).channel_uses <= budget


def _info(sent) -> dict[str, Any]:
    return {"mcs": str(sent.mcs), "code": sent.code, "below_threshold": sent.below_threshold}
