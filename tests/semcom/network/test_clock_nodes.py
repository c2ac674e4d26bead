"""Nodes, links and the exact simulated clock."""

from __future__ import annotations

from fractions import Fraction

import pytest

from semcom.errors import ConfigError, InputError
from semcom.network import Network, Node, SimClock


def _net():
    net = Network()
    net.add_node(Node("edge", "edge", 3.0e12, 2**34, ("captioner",)))
    net.add_node(Node("ue", "device", 1.0e11, 2**32))
    net.add_link("edge", "ue", snr_db=3.0, bandwidth_hz=1.5e6, latency_s=0.001)
    return net


def test_compute_and_transmission_are_exact():
    net = _net()
    clock = SimClock()
    assert clock.charge_compute(net.node("ue"), 3e11) == 3
    dt = clock.charge_transmission(net.link("edge", "ue"), 3000)
    assert dt == Fraction(3000) / Fraction(1.5e6) + Fraction(0.001)
    assert clock.now == 3 + dt
    for _ in range(10):
        clock.charge_compute(net.node("edge"), 0.1 * 3.0e12)
    assert clock.now == 3 + dt + 10 * (Fraction(0.1 * 3.0e12) / Fraction(3.0e12))
    assert clock.total("compute") + clock.total("transmission") == clock.now


def test_fork_join_takes_the_slowest():
    net = _net()
    clock = SimClock(1)
    a, b = clock.fork(), clock.fork()
    a.charge_compute(net.node("ue"), 1e11)
    b.charge_compute(net.node("ue"), 2e11)
    assert clock.join(a, b) == 2 and clock.now == 3 and len(clock.ledger) == 2


def test_bad_inputs():
    with pytest.raises(ConfigError):
        Node("x", "phone", 1e9, 1)
    with pytest.raises(ConfigError):
        Node("x", "device", -1.0, 1)
    net = _net()
    with pytest.raises(ConfigError):
        net.add_link("edge", "nowhere", snr_db=0.0, bandwidth_hz=1e6)
    with pytest.raises(ConfigError):
        net.add_link("ue", "edge", snr_db=0.0, bandwidth_hz=0)
    with pytest.raises(ConfigError):
        net.link("ue", "edge")
    with pytest.raises(InputError):
        SimClock().charge_transmission(net.link("edge", "ue"), -1)
