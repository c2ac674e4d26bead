import math
import random
import time

import pytest

from semcom.inference.split import (ChainProfile, LayerProfile, Route, brute_force, evaluate, fixed_plan,
                                    gpt2_profile, plan_split)
from semcom.network.nodes import Network, Node


def network(rng: random.Random, device_memory: int) -> Network:
    net = Network()
    net.add_node(Node("ue", "device", rng.choice([1e8, 1e9, 1e10]), device_memory))
    net.add_node(Node("edge", "edge", rng.choice([1e10, 1e11]), 2**34))
    net.add_node(Node("cloud", "cloud", rng.choice([1e11, 1e12]), 2**40))
    for a, b in (("ue", "edge"), ("edge", "ue")):
        net.add_link(a, b, snr_db=rng.uniform(0, 25), bandwidth_hz=rng.choice([1e5, 1e6, 1e7]), latency_s=rng.uniform(0, 0.01))
    for a, b in (("edge", "cloud"), ("cloud", "edge")):
        net.add_link(a, b, snr_db=30.0, bandwidth_hz=1e8, latency_s=rng.uniform(0.001, 0.05))
    return net


def random_chain(rng: random.Random, n: int) -> ChainProfile:
    layers = tuple(LayerProfile(f"l{i}", rng.uniform(1e5, 1e9), rng.randint(100, 100_000),
                                rng.randint(1_000, 1_000_000), rng.randint(1_000, 100_000)) for i in range(n))
    return ChainProfile(layers, rng.randint(100, 50_000), rng.randint(20, 200))


@pytest.mark.parametrize("seed", range(25))
def test_planner_matches_brute_force_on_random_small_chains(seed):
    rng = random.Random(seed)
    chain = random_chain(rng, rng.randint(1, 9))
    names = ["ue", "edge", "cloud"][: rng.choice([1, 2, 3])]
    memory = rng.choice([10**9, 2_000_000, 600_000])
    route = Route.through(network(rng, memory), names)
    dp, ref = plan_split(chain, route), brute_force(chain, route)
    if math.isinf(ref.latency_s):
        assert math.isinf(dp.latency_s)
    else:
        assert dp.latency_s == pytest.approx(ref.latency_s, rel=1e-12)
        assert evaluate(chain, route, dp.cuts).latency_s == pytest.approx(dp.latency_s, rel=1e-12)


def test_device_memory_forces_offloading():
    rng = random.Random(1)
    chain = random_chain(rng, 6)
    route = Route.through(network(rng, 1_000), ["ue", "edge", "cloud"])
    plan = plan_split(chain, route)
    assert plan.ranges[0] == (0, 0) and math.isinf(fixed_plan(chain, route, 0).latency_s)


def test_fixed_plans_and_never_slower_than_them():
    rng = random.Random(3)
    chain = gpt2_profile(128, 8, 1504, 12)
    route = Route.through(network(rng, 2**30), ["ue", "edge", "cloud"])
    best = plan_split(chain, route)
    fixed = [fixed_plan(chain, route, t) for t in range(3)]
    assert fixed[0].ranges == [(0, 10), (10, 10), (10, 10)]
    assert fixed[2].ranges == [(0, 0), (0, 0), (0, 10)]
    assert all(best.latency_s <= f.latency_s * (1 + 1e-12) for f in fixed)


def test_below_threshold_link_is_not_used():
    rng = random.Random(4)
    net = network(rng, 2**30)
    net.link("ue", "edge").snr_db = -10.0
    chain = gpt2_profile(64, 4, 1504, 8)
    plan = plan_split(chain, Route.through(net, ["ue", "edge", "cloud"]))
    assert plan.ranges[0] == (0, len(chain)) and plan.feasible


def test_deep_chain_planned_quickly():
    rng = random.Random(5)
    chain = gpt2_profile(1600, 48, 50257, 32, n_head=25)
    assert len(chain) == 50
    route = Route.through(network(rng, 2**33), ["ue", "edge", "cloud"])
    start = time.perf_counter()
    plan = plan_split(chain, route)
    assert time.perf_counter() - start < 2.0
    assert plan.feasible


def test_memory_forces_a_mid_model_cut():
    chain = gpt2_profile(128, 8, 1504, 12)  # ~8.7 MB of float32 weights
    net = Network()
    net.add_node(Node("ue", "device", 1e9, 4_000_000))
    net.add_node(Node("edge", "edge", 1e11, 6_000_000))
    for a, b in (("ue", "edge"), ("edge", "ue")):
        net.add_link(a, b, snr_db=10.0, bandwidth_hz=1e6, latency_s=0.002)
    route = Route.through(net, ["ue", "edge"])
    plan = plan_split(chain, route)
    assert plan.feasible and 0 < plan.cuts[0] < len(chain)
    assert plan.latency_s == pytest.approx(brute_force(chain, route).latency_s, rel=1e-12)
    assert math.isinf(fixed_plan(chain, route, 0).latency_s) and math.isinf(fixed_plan(chain, route, 1).latency_s)
