"""Where retraining runs: compute, queueing, bits to move, memory."""

from __future__ import annotations

import pytest
import torch

from semcom.errors import ConfigError
from semcom.network.nodes import tiered_network
from semcom.optimisation.placement import (RetrainJob, choose_site, estimate_sites, route, training_footprint,
                                           transfer_seconds)


def network(access_snr: float = 15.0):
    return tiered_network((1e9, 1e12, 1e14), (2**31, 2**34, 2**40), snr_db=access_snr, bandwidth_hz=1e6,
                          core_bandwidth_hz=1e8)


JOB = RetrainJob(flops=1e14, memory_bytes=2**30, data_bits=8 * 10**6, data_at="cloud", model_bits=8 * 10**6,
                 model_at="edge", result_bits=8 * 10**6)


def test_total_time_adds_up_and_the_fastest_site_wins():
    net = network()
    est = {e.node: e for e in estimate_sites(net, JOB)}
    assert est["cloud"].compute_s == pytest.approx(1.0) and est["edge"].compute_s == pytest.approx(100.0)
    data_s, path = transfer_seconds(net, "cloud", "ue", JOB.data_bits)
    assert path == ["cloud", "edge", "ue"]
    assert est["ue"].move_in_s == pytest.approx(max(data_s, transfer_seconds(net, "edge", "ue", JOB.model_bits)[0]))
    assert est["ue"].total_s > est["edge"].total_s > est["cloud"].total_s
    choice = choose_site(net, JOB)
    assert choice.node == "cloud" and "finishes first" in choice.why


def test_a_long_queue_moves_the_job_and_memory_rules_a_node_out():
    net = network()
    choice = choose_site(net, JOB, queues={"cloud": 500.0})
    assert choice.node == "edge"
    assert "queueing" in choice.why  # the cloud lost on its queue
    big = RetrainJob(**{**JOB.__dict__, "memory_bytes": 2**35})
    est = {e.node: e for e in estimate_sites(net, big, queues={"cloud": 500.0})}
    assert not est["ue"].feasible and not est["edge"].feasible and est["cloud"].feasible
    assert choose_site(net, big, queues={"cloud": 500.0}).node == "cloud"


def test_unreachable_or_dead_links_and_nothing_feasible():
    net = network(access_snr=-30.0)  # no MCS works on the radio hop
    est = {e.node: e for e in estimate_sites(net, JOB)}
    assert not est["ue"].feasible and "threshold" in est["ue"].reason
    with pytest.raises(ConfigError):
        choose_site(net, RetrainJob(**{**JOB.__dict__, "memory_bytes": 2**50}))
    assert route(net, "ue", "cloud") == ["ue", "edge", "cloud"]


def test_training_footprint_counts_flops_and_saved_activations():
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    x = torch.randn(32, 64)
    flops, memory = training_footprint(model, lambda: model(x).square().mean())
    forward = 2 * 32 * (64 * 128 + 128 * 10)
    assert 2 * forward < flops <= 3 * forward * 1.01  # backward: up to 2 x forward (no input gradient for x)
    params = sum(p.numel() for p in model.parameters())
    assert memory > 16 * params and all(p.grad is None for p in model.parameters())
