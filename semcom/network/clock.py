"""Simulated time, in exact rational seconds.

:class:`SimClock` advances by what the simulation charges to it:

* compute: ``flops / node.flops`` seconds on ``node``;
* transmission: ``channel_uses / link.bandwidth_hz + link.latency_s`` seconds on ``link``.

Durations are :class:`fractions.Fraction` built from the exact binary values of the floats
involved, so sums never drift (``0.1 + 0.2`` worth of charges is exactly their sum). Work done
in parallel (several downlinks at once) runs on forks of the clock; :meth:`SimClock.join`
moves the parent to the latest fork.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from semcom.link.arq import LinkCost
from semcom.errors import ConfigError, InputError
from semcom.network.nodes import Link, Node


def exact(value: int | float | Fraction) -> Fraction:
    """The exact rational value of a number (a float's binary value, not its decimal string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)):
        raise InputError(f"expected a number, got {value!r}")
    return Fraction(value)


@dataclass(frozen=True)
class Charge:
    """One entry of a clock's ledger: ``kind`` is ``compute`` or ``transmission``; ``target``
    the node or link name; ``amount`` FLOP or channel uses; ``start`` and ``seconds`` exact."""

    kind: str
    target: str
    amount: int | float
    start: Fraction
    seconds: Fraction


class SimClock:
    """Simulated clock with exact arithmetic.

    >>> from semcom.network.nodes import Node
    >>> clock = SimClock()
    >>> clock.charge_compute(Node("ue", "device", 4.0, 1), 2)
    Fraction(1, 2)
    >>> clock.now
    Fraction(1, 2)
    """

    def __init__(self, start: int | float | Fraction = 0):
        self._now = exact(start)
        self.ledger: list[Charge] = []

    @property
    def now(self) -> Fraction:
        return self._now

    @property
    def seconds(self) -> float:
        return float(self._now)

    def advance(self, seconds: int | float | Fraction) -> Fraction:
        dt = exact(seconds)
        if dt < 0:
            raise InputError(f"time cannot go backwards: {seconds}")
        self._now += dt
        return dt

    def charge_compute(self, node: Node, flops: int | float) -> Fraction:
        """Charge ``flops`` on ``node``: advances by ``flops / node.flops`` and returns it."""
        amount = exact(flops)
        if amount < 0:
            raise InputError(f"FLOP count must be non-negative, got {flops}")
        dt = amount / exact(node.flops)
        self.ledger.append(Charge("compute", node.name, flops, self._now, dt))
        self._now += dt
        return dt

    def charge_transmission(self, link: Link, channel_uses: int) -> Fraction:
        """Charge ``channel_uses`` on ``link``: ``channel_uses / bandwidth + latency``."""
        if isinstance(channel_uses, bool) or not isinstance(channel_uses, int) or channel_uses < 0:
            raise InputError(f"channel uses must be a non-negative integer, got {channel_uses!r}")
        dt = Fraction(channel_uses) / exact(link.bandwidth_hz) + exact(link.latency_s)
        self.ledger.append(Charge("transmission", link.name, channel_uses, self._now, dt))
        self._now += dt
        return dt

    def charge_link(self, link: Link, cost: LinkCost) -> Fraction:
        """Charge the transmissions of ``cost`` on ``link``: ``channel_uses / bandwidth + transmissions x latency``
        (each transmission waits for the link's latency, as :meth:`charge_transmission` charges one)."""
        uses, count = cost.channel_uses, cost.transmissions
        if isinstance(uses, bool) or not isinstance(uses, int) or uses < 0 or not isinstance(count, int) or count < 0:
            raise InputError(f"a link cost needs non-negative integer channel uses and transmissions, got {cost!r}")
        dt = Fraction(uses) / exact(link.bandwidth_hz) + count * exact(link.latency_s)
        self.ledger.append(Charge("transmission", link.name, uses, self._now, dt))
        self._now += dt
        return dt

    def fork(self) -> "SimClock":
        """A clock for work that runs in parallel from now on (its own ledger)."""
        return SimClock(self._now)

    def join(self, *forks: "SimClock") -> Fraction:
        """Move to the latest of ``forks`` (parallel work ends when the slowest ends); their
        ledgers are appended to this one. Returns the time advanced."""
        if not forks:
            return Fraction(0)
        latest = max(f.now for f in forks)
        if latest < self._now:
            raise ConfigError("a fork cannot end before the clock it was forked from")
        for f in forks:
            self.ledger.extend(f.ledger)
        dt = latest - self._now
        self._now = latest
        return dt

    def total(self, kind: str | None = None, target: str | None = None) -> Fraction:
        """Sum of ledger durations, optionally of one kind and/or one target."""
        return sum(
            (c.seconds for c in self.ledger if (kind is None or c.kind == kind) and (target is None or c.target == target)),
            Fraction(0),
        )
