"""The allocator: budget respected, exact optimum, never below the equal-share baseline."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from semcom.errors import ConfigError
from semcom.link.mcs import MCS_TABLE, BlerTable
from semcom.network.control import ALLOCATION_POLICIES, UserProfile, allocate, build_menu, equal_share, objective, optimise
from semcom.network.control import Demand

# a synthetic BLER table: MCS i has its waterfall at 2*i - 4 dB
GRID = np.arange(-10.0, 40.0, 0.5)
TABLE = BlerTable("awgn", GRID, np.array([1 / (1 + np.exp(3 * (GRID - (2 * i - 4)))) for i in range(len(MCS_TABLE))]), {})


def plan(bits, m):
    return int(np.ceil(bits / MCS_TABLE[m].spectral_efficiency)) + 8, 1


def _demands(snrs, bits, weights, fallback=0.1):
    return [Demand(f"u{i}", b, w, build_menu(b, s, plan, TABLE, max_attempts=2, mcs_indices=range(0, 16, 3)), 1.0, fallback)
            for i, (s, b, w) in enumerate(zip(snrs, bits, weights))]


@pytest.mark.parametrize("budget", [0, 150, 400, 900, 3000])
def test_budget_respected_and_beats_equal(budget):
    demands = _demands([-3.0, 1.0, 6.0, 14.0], [60, 90, 70, 80], [2.0, 1.0, 1.5, 0.5])
    opt = optimise(demands, budget)
    eq = equal_share(demands, budget)
    assert opt.channel_uses <= budget and eq.channel_uses <= budget
    assert opt.objective >= objective(demands, eq.actions) - 1e-12


def test_optimise_is_exact_against_brute_force():
    demands = _demands([-2.0, 3.0, 9.0], [50, 80, 60], [1.0, 2.0, 1.0])
    budget = 500
    best = max(
        (sum(d.value(a) for d, a in zip(demands, combo))
         for combo in itertools.product(*[d.menu for d in demands])
         if sum(a.channel_uses for a in combo) <= budget),
    )
    assert optimise(demands, budget).objective == pytest.approx(best, abs=1e-12)


def test_policies_on_profiles():
    users = [UserProfile("a", -2.0, 90, 60, 2.0, 0.3, 0.1), UserProfile("b", 4.0, 90, 90, 1.0, 0.9, 0.2),
             UserProfile("c", 12.0, 90, 45, 0.5, 1.0, 0.0)]
    tables = {"awgn": TABLE}
    for policy in ALLOCATION_POLICIES.names():
        alloc, demands = allocate(policy, users, 600, lambda u, b, m: plan(b, m), tables=tables)
        assert alloc.channel_uses <= 600
        if policy != "equal":
            eq = equal_share(demands, 600)
            assert alloc.objective >= eq.objective - 1e-12
    _, demands = allocate("knowledge", users, 600, lambda u, b, m: plan(b, m), tables=tables)
    assert [d.bits for d in demands] == [60, 90, 45]
    _, demands = allocate("confidence", users, 600, lambda u, b, m: plan(b, m), tables=tables)
    assert [d.weight for d in demands] == pytest.approx([2.0 * 1.7, 1.1, 0.5])


def test_bad_budget_and_policy():
    with pytest.raises(ConfigError):
        optimise(_demands([0.0], [50], [1.0]), -1)
    with pytest.raises(ConfigError):
        allocate("greedy", [], 10, lambda u, b, m: plan(b, m))
