"""Control plane: knowledge-base synchronisation over real links, and downlink resource allocation.

Knowledge-base sync
    :class:`ControlPlane` wires a sender's :class:`~knowledge_base.sync.SyncManager` to receiver
    nodes of a :class:`~semcom.network.nodes.Network`: each update travels over the node's
    downlink through a :class:`~knowledge_base.transport.LinkTransport` (LDPC + QAM over the
    simulated channel), so its bits and channel uses are real, and the time is charged to a
    :class:`~semcom.network.clock.SimClock`. :meth:`ControlPlane.overhead` reports the cost
    under the manager's policy (``push``, ``periodic``, ``on_demand``).

Resource allocation
    Users share a downlink budget of ``B`` complex channel uses. User ``u`` takes one action
    ``a = (MCS m, attempts k)`` or stays silent; its prompt of ``b_u`` bits then costs
    ``c_u(a) = k * uses(b_u, m)`` channel uses (the digital link's own plan, pilots included),
    and it arrives with probability ``p_u(a) = 1 - (1 - (1 - BLER(m, snr_u))**n)**k``, where
    ``n`` is the number of code blocks and BLER comes from the stored table
    (:func:`semcom.link.mcs.load_bler_table`); attempts are independent (ARQ: the receiver keeps
    the first copy whose CRC passes). The allocator solves exactly::

        maximise    sum_u  w_u * ( p_u(a_u) * F_u  +  (1 - p_u(a_u)) * G_u )
        subject to  sum_u  c_u(a_u) <= B

    with ``F_u`` the fidelity of the delivered prompt (1: the text codec is lossless) and
    ``G_u`` the fidelity of the receiver's fallback prompt (what it generates from when nothing
    arrives). It is a multiple-choice knapsack, solved by dynamic programming over integer
    channel uses (exact; see :func:`optimise`).

Policies (registry :data:`ALLOCATION_POLICIES`)
    ``equal``       baseline: every user gets ``floor(B / N)`` channel uses and picks, within
                    its share, the action of highest expected fidelity; weights 1; every prompt
                    coded with the common codec (the oldest KB version any receiver holds).
    ``confidence``  the optimiser with semantic weights ``w_u = importance_u * (2 - conf_u)``,
                    ``conf_u`` the mean caption-token confidence in [0, 1]: an important or
                    uncertain semantic unit gets more protection (lower MCS, more attempts);
                    common codec.
    ``knowledge``   the optimiser with weights 1 where each prompt is coded against the KB
                    version its receiver holds (knowledge matching): a user whose KB matches
                    better spends fewer bits, so fewer channel uses.

Since the equal-share allocation is feasible for the optimiser's problem, the optimiser's
objective is never below it (tested).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

from knowledge_base.store import KnowledgeBase
from knowledge_base.sync import SyncEvent, SyncManager, SyncReceiver, SyncStats
from knowledge_base.transport import LinkTransport
from semcom.errors import ConfigError
from semcom.link.mcs import MCS_TABLE, BlerTable, load_bler_table
from semcom.network.clock import SimClock
from semcom.network.nodes import Network
from semcom.registry import Registry

MAX_DP_UNITS = 400_000  # budgets above this are solved in coarser units (costs rounded up)


# ------------------------------------------------------------------------------------ actions


@dataclass(frozen=True)
class Action:
    """What one user gets: ``mcs`` index (None: nothing sent), ``attempts`` copies, their total
    ``channel_uses``, the probability ``p_success`` that one arrives, code blocks per copy."""

    mcs: int | None
    attempts: int
    channel_uses: int
    p_success: float
    blocks: int = 0

    @property
    def silent(self) -> bool:
        return self.mcs is None or self.attempts == 0


SILENT = Action(None, 0, 0, 0.0, 0)


@dataclass(frozen=True)
class Demand:
    """One user's request to the allocator.

    bits:      prompt bits to send (header included), under the codec the policy uses.
    weight:    ``w_u`` in the objective.
    fidelity:  ``F_u``, fidelity of the delivered prompt; ``fallback``: ``G_u``.
    menu:      the user's actions (see :func:`build_menu`); SILENT is always added.
    """

    name: str
    bits: int
    weight: float
    menu: tuple[Action, ...]
    fidelity: float = 1.0
    fallback: float = 0.0

    def value(self, action: Action) -> float:
        """``w * (p F + (1 - p) G)``."""
        p = action.p_success
        return self.weight * (p * self.fidelity + (1.0 - p) * self.fallback)

    def expected_fidelity(self, action: Action) -> float:
        p = action.p_success
        return p * self.fidelity + (1.0 - p) * self.fallback


def build_menu(
    bits: int,
    snr_db: float,
    plan: Callable[[int, int], tuple[int, int]],
    table: BlerTable,
    *,
    max_attempts: int = 3,
    mcs_indices: Sequence[int] | None = None,
) -> tuple[Action, ...]:
    """Every (MCS, attempts) action for a ``bits``-bit prompt at ``snr_db``.

    plan(bits, mcs_index) -> (channel uses, code blocks) of one copy (e.g. from
    :meth:`semcom.link.digital.DigitalLink.plan` with that MCS fixed).
    """
    if max_attempts < 1:
        raise ConfigError(f"max_attempts must be >= 1, got {max_attempts}")
    actions = [SILENT]
    for m in mcs_indices if mcs_indices is not None else range(len(MCS_TABLE)):
        uses, blocks = plan(bits, m)
        block_ok = 1.0 - table.bler_at(MCS_TABLE[m], snr_db)
        copy_ok = block_ok**blocks
        for k in range(1, max_attempts + 1):
            actions.append(Action(m, k, k * int(uses), 1.0 - (1.0 - copy_ok) ** k, int(blocks)))
    return tuple(actions)


# ---------------------------------------------------------------------------------- optimiser


@dataclass
class Allocation:
    """The actions chosen for each user, their cost and the objective value they reach."""

    policy: str
    budget: int
    actions: dict[str, Action]
    objective: float
    expected_fidelity: dict[str, float]
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def channel_uses(self) -> int:
        return sum(a.channel_uses for a in self.actions.values())

    def as_dict(self) -> dict:
        return {
            "policy": self.policy,
            "budget": self.budget,
            "channel_uses": self.channel_uses,
            "objective": self.objective,
            "actions": {u: asdict(a) for u, a in self.actions.items()},
            "expected_fidelity": dict(self.expected_fidelity),
            "weights": dict(self.weights),
        }


def objective(demands: Sequence[Demand], actions: dict[str, Action]) -> float:
    """The objective ``sum_u w_u E[fidelity_u]`` of an allocation."""
    return float(sum(d.value(actions[d.name]) for d in demands))


def _check(demands: Sequence[Demand], budget: int) -> None:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise ConfigError(f"budget must be a non-negative integer of channel uses, got {budget!r}")
    names = [d.name for d in demands]
    if len(set(names)) != len(names):
        raise ConfigError("user names must be unique")


def optimise(demands: Sequence[Demand], budget: int, policy: str = "optimal") -> Allocation:
    """Exact maximiser of ``sum_u w_u E[F_u]`` subject to ``sum_u c_u <= budget``.

    Dynamic programming over channel uses (multiple-choice knapsack): ``V_u[b]`` is the best
    objective of users 1..u within ``b`` channel uses,
    ``V_u[b] = max_a V_{u-1}[b - c_u(a)] + value_u(a)``; the answer is ``V_N[budget]``, and
    the argmax tables give the actions back. Exact when the budget is at most
    ``MAX_DP_UNITS``; above, costs are counted in units of ``ceil(budget / MAX_DP_UNITS)``
    channel uses rounded up (every allocation returned still fits the budget).
    """
    _check(demands, budget)
    unit = max(1, math.ceil(budget / MAX_DP_UNITS))
    cap = budget // unit
    best = np.zeros(cap + 1)
    choices = []
    for d in demands:
        menu = (SILENT,) + tuple(a for a in d.menu if not a.silent)
        new = np.full(cap + 1, -np.inf)
        arg = np.zeros(cap + 1, dtype=np.int32)
        for i, a in enumerate(menu):
            c = math.ceil(a.channel_uses / unit)
            if c > cap:
                continue
            cand = np.full(cap + 1, -np.inf)
            cand[c:] = best[: cap + 1 - c] + d.value(a)
            better = cand > new + 1e-15  # ties keep the earlier (cheaper-listed) action
            new[better] = cand[better]
            arg[better] = i
        best = new
        choices.append((menu, arg))
    actions: dict[str, Action] = {}
    b = cap
    for d, (menu, arg) in zip(reversed(demands), reversed(choices)):
        a = menu[int(arg[b])]
        actions[d.name] = a
        b -= math.ceil(a.channel_uses / unit)
    actions = {d.name: actions[d.name] for d in demands}
    return Allocation(
        policy, budget, actions, objective(demands, actions),
        {d.name: d.expected_fidelity(actions[d.name]) for d in demands}, {d.name: d.weight for d in demands},
    )


def equal_share(demands: Sequence[Demand], budget: int, policy: str = "equal") -> Allocation:
    """Baseline: each user gets ``floor(budget / N)`` channel uses and, within them, the action
    of highest expected fidelity (ties: fewer channel uses)."""
    _check(demands, budget)
    share = budget // max(1, len(demands))
    actions = {}
    for d in demands:
        fits = [a for a in (SILENT,) + tuple(d.menu) if a.channel_uses <= share]
        actions[d.name] = max(fits, key=lambda a: (d.expected_fidelity(a), -a.channel_uses))
    return Allocation(
        policy, budget, actions, objective(demands, actions),
        {d.name: d.expected_fidelity(actions[d.name]) for d in demands}, {d.name: d.weight for d in demands},
    )


# ----------------------------------------------------------------------------------- policies


@dataclass(frozen=True)
class UserProfile:
    """What the control plane knows about one user of a shared downlink.

    bits_common:  prompt bits under the common codec (oldest KB version held by any receiver).
    bits_matched: prompt bits under the codec of the KB version this user holds.
    importance:   importance of the user's semantic unit (>= 0).
    confidence:   mean caption-token confidence in [0, 1] (1: certain).
    fallback:     fidelity of the receiver's fallback prompt, in [0, 1].
    """

    name: str
    snr_db: float
    bits_common: int
    bits_matched: int
    importance: float = 1.0
    confidence: float = 1.0
    fallback: float = 0.0
    channel: str = "awgn"

    @property
    def semantic_weight(self) -> float:
        """``importance * (2 - confidence)``: in [importance, 2 * importance]."""
        return self.importance * (2.0 - self.confidence)


@dataclass(frozen=True)
class PolicySpec:
    """How a policy builds its problem and solves it."""

    name: str
    solver: Callable[[Sequence[Demand], int, str], Allocation]
    weight: Callable[[UserProfile], float]
    matched_bits: bool
    description: str


ALLOCATION_POLICIES: Registry = Registry("allocation policy")
for _spec in (
    PolicySpec("equal", equal_share, lambda u: 1.0, False, "equal share of channel uses, per-user best action"),
    PolicySpec("confidence", optimise, lambda u: u.semantic_weight, False,
               "optimiser, weights importance * (2 - token confidence)"),
    PolicySpec("knowledge", optimise, lambda u: 1.0, True, "optimiser, prompts coded against each user's KB"),
):
    ALLOCATION_POLICIES.register(_spec.name)(_spec)


def allocate(
    policy: str,
    users: Sequence[UserProfile],
    budget: int,
    plan: Callable[[UserProfile, int, int], tuple[int, int]],
    *,
    tables: dict[str, BlerTable] | None = None,
    max_attempts: int = 3,
) -> tuple[Allocation, list[Demand]]:
    """Allocate ``budget`` channel uses among ``users`` under ``policy``.

    plan(user, bits, mcs_index) -> (channel uses, code blocks) of one copy on the user's link.
    Returns the allocation and the demands it was solved on (for evaluating objectives).
    """
    spec: PolicySpec = ALLOCATION_POLICIES.get(policy)
    tables = dict(tables or {})
    demands = []
    for u in users:
        if u.channel not in tables:
            tables[u.channel] = load_bler_table(u.channel)
        bits = u.bits_matched if spec.matched_bits else u.bits_common
        menu = build_menu(bits, u.snr_db, lambda b, m, u=u: plan(u, b, m), tables[u.channel], max_attempts=max_attempts)
        demands.append(Demand(u.name, bits, spec.weight(u), menu, 1.0, u.fallback))
    return spec.solver(demands, budget, policy), demands


# ------------------------------------------------------------------------------ KB sync plane


class ControlPlane:
    """Knowledge-base synchronisation from one sender node to receiver nodes, over real links.

    Each receiver's updates travel over the sender's downlink to it (a
    :class:`~knowledge_base.transport.LinkTransport`); the transfer time
    (``channel_uses / bandwidth + latency``) is charged to ``clock``.

    ``policy``/``period`` are those of :class:`~knowledge_base.sync.SyncManager`.
    """

    def __init__(
        self,
        network: Network,
        sender: str,
        kb: KnowledgeBase,
        signer,
        *,
        policy: str = "push",
        period: float | None = None,
        clock: SimClock | None = None,
        mcs: int | None = None,
        seed: int = 0,
    ):
        network.node(sender)
        self.network = network
        self.sender = sender
        self.clock = clock if clock is not None else SimClock()
        self.manager = SyncManager(kb, signer, policy, period=period, start=float(self.clock.now))
        self.mcs = mcs
        self.seed = seed
        self.transports: dict[str, LinkTransport] = {}

    def attach(self, node: str, kb: KnowledgeBase, verifier, *, acked_version: str | None = None) -> SyncReceiver:
        """Register receiver ``node`` (holding ``kb``) behind the sender's link to it."""
        link = self.network.link(self.sender, node)
        transport = LinkTransport(
            link.digital_link(mcs=self.mcs, code="ldpc", seed=self.seed), link.snr_db, seed=self.seed + len(self.transports)
        )
        endpoint = SyncReceiver(kb, verifier)
        self.manager.add_receiver(node, _TimedTransport(transport, link, self.clock), endpoint, acked_version=acked_version)
        self.transports[node] = transport
        return endpoint

    def commit(self, message: str = "") -> str:
        return self.manager.commit(message, now=float(self.clock.now))

    def sync(self, node: str) -> SyncEvent | None:
        return self.manager.sync(node, now=float(self.clock.now))

    def tick(self) -> list[SyncEvent]:
        return self.manager.tick(float(self.clock.now))

    def overhead(self) -> dict:
        """Cost of keeping the receivers in sync so far, in total and per receiver."""
        return {
            "policy": self.manager.policy.value,
            "total": self.manager.stats.as_dict(),
            "receivers": {name: view.stats.as_dict() for name, view in self.manager.receivers.items()},
            "seconds": float(self.clock.total("transmission")),
        }


class _TimedTransport:
    """A transport that charges each transfer's time to a clock."""

    def __init__(self, transport: LinkTransport, link, clock: SimClock):
        self.transport, self.link, self.clock = transport, link, clock

    def __call__(self, payload: bytes):
        delivery = self.transport(payload)
        self.clock.charge_transmission(self.link, int(delivery.channel_uses))
        return delivery


__all__ = [
    "Action", "SILENT", "Demand", "build_menu", "Allocation", "objective", "optimise", "equal_share",
    "UserProfile", "PolicySpec", "ALLOCATION_POLICIES", "allocate", "ControlPlane", "SyncStats",
]
