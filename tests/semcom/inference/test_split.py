import math
import random
import time

import pytest

from semcom.errors import ConfigError
from semcom.inference.split import (ChainProfile, LayerProfile, Route, analog_channel_uses, brute_force, evaluate,
                                    fixed_plan, gpt2_profile, gpt2_step_flops, plan_split, transfer_seconds)
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


def random_chain(rng: random.Random, n: int, result_at: str = "device") -> ChainProfile:
    layers = []
    for i in range(n):
        values = rng.choice([0, rng.randint(10, 10_000)])
        layers.append(LayerProfile(f"l{i}", rng.uniform(1e5, 1e9), 8 * values + rng.randint(100, 20_000),
                                   rng.randint(1_000, 1_000_000), rng.randint(1_000, 100_000), values,
                                   rng.choice([0, 64])))
    return ChainProfile(tuple(layers), rng.randint(100, 50_000), rng.randint(20, 200), result_at)


@pytest.mark.parametrize("seed", range(40))
def test_planner_matches_brute_force_on_random_small_chains(seed):
    rng = random.Random(seed)
    chain = random_chain(rng, rng.randint(1, 9), rng.choice(["device", "top"]))
    names = ["ue", "edge", "cloud"][: rng.choice([1, 2, 3])]
    memory = rng.choice([10**9, 2_000_000, 600_000])
    route = Route.through(network(rng, memory), names, features=rng.choice(["digital", "analog"]),
                          analog_min_snr_db=rng.choice([None, 12.0]),
                          memory_bandwidth=rng.choice([{}, {"ue": 1e6}, {"ue": 1e7, "edge": 1e9}]))
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


def test_analog_features_cost_symbols_and_cross_below_every_mcs():
    chain = gpt2_profile(128, 4, 1504, 12)
    net = network(random.Random(6), 2**30)
    link = net.link("ue", "edge")
    link.snr_db = -8.0  # below every MCS: no digital packet crosses
    digital = Route.through(net, ["ue", "edge"])
    analog = Route.through(net, ["ue", "edge"], features="analog")
    assert math.isinf(evaluate(chain, digital, (2,)).latency_s)
    assert analog_channel_uses(link, 12 * 128) == 12 * 128 // 2
    link.snr_db = 10.0
    plan = evaluate(chain, analog, (2,))
    header = transfer_seconds(link, 128)  # count, mean, scale, CRC-32
    up = header + 12 * 128 / 2 / link.bandwidth_hz + link.latency_s
    back = transfer_seconds(net.link("edge", "ue"), chain.result_bits)
    assert plan.transfer_s == pytest.approx(up + back, rel=1e-12)
    floor = Route.through(net, ["ue", "edge"], features="analog", analog_min_snr_db=12.0)
    assert math.isinf(evaluate(chain, floor, (2,)).latency_s) and plan_split(chain, floor).cuts[0] in (0, len(chain))


def test_result_wanted_on_top_climbs_instead_of_returning():
    rng = random.Random(7)
    chain = random_chain(rng, 5, "top")
    route = Route.through(network(rng, 10**9), ["ue", "edge", "cloud"])
    device_only = fixed_plan(chain, route, 0)
    climb = transfer_seconds(route.up[0], chain.bits_at(5)) + transfer_seconds(route.up[1], chain.bits_at(5))
    assert device_only.transfer_s == pytest.approx(climb, rel=1e-12)
    assert fixed_plan(chain, route, 2).transfer_s == pytest.approx(
        transfer_seconds(route.up[0], chain.input_bits) + transfer_seconds(route.up[1], chain.input_bits), rel=1e-12)


def test_step_flops_match_the_profile_and_the_cache_saves_work():
    d, L, V, T = 128, 4, 1504, 12
    assert gpt2_step_flops(d, L, V, 0, T) == pytest.approx(sum(l.flops for l in gpt2_profile(d, L, V, T).layers))
    full = gpt2_step_flops(d, L, V, 0, T + 1)
    cached = gpt2_step_flops(d, L, V, T, 1)
    assert cached < full / 5


def test_memory_bound_node_pays_for_reading_its_weights():
    chain = gpt2_profile(128, 4, 1504, 12)
    net = network(random.Random(8), 2**30)
    weights = sum(l.param_bytes for l in chain.layers)
    bound = Route.through(net, ["ue", "edge"], memory_bandwidth={"ue": 1e6})
    free = Route.through(net, ["ue", "edge"])
    assert fixed_plan(chain, bound, 0).compute_s == pytest.approx(weights / 1e6, rel=1e-12)
    assert fixed_plan(chain, free, 0).compute_s == pytest.approx(sum(l.flops for l in chain.layers) / net.node("ue").flops)
    with pytest.raises(ConfigError, match="memory bandwidth"):
        Route.through(net, ["ue", "edge"], memory_bandwidth={"ue": 0.0})
