import numpy as np
import pytest
import torch

from semcom.errors import ConfigError
from semcom.link import arq
from semcom.link.arq import LinkCost
from semcom.link.digital import DigitalLink


def test_link_costs_add():
    total = LinkCost(100, 636, 318, 1) + LinkCost(0, 636, 318, 1)
    assert total == LinkCost(100, 1272, 636, 2)
    assert sum([LinkCost(1, 2, 3, 1)] * 3, LinkCost()) == LinkCost(3, 6, 9, 3)


def test_a_refused_packet_is_sent_again_and_every_copy_is_paid():
    link = DigitalLink("awgn", mcs=0, code="polar")
    bits = np.random.default_rng(0).integers(0, 2, 100).astype(np.uint8)
    verdicts = iter([False, False, True])
    delivery = arq.send(link, bits, 10.0, rounds=3, generator=torch.Generator().manual_seed(0),
                        accept=lambda got: (next(verdicts), "decoded"))
    one = link.plan(100, 10.0).channel_uses
    assert delivery.ok and delivery.value == "decoded" and delivery.retransmissions == 2
    assert delivery.cost == LinkCost(100, 3 * delivery.cost.coded_bits // 3, 3 * one, 3)
    refused = arq.send(link, bits, 10.0, rounds=1, accept=lambda got: (False, None))
    assert not refused.ok and refused.bits is None and refused.cost.transmissions == 2


def test_selective_arq_resends_only_the_lost_blocks():
    link = DigitalLink("awgn", mcs=9, code="ldpc")
    bits = np.random.default_rng(1).integers(0, 2, 20_000).astype(np.uint8)
    gen = torch.Generator().manual_seed(3)
    first = arq.send(link, bits, 13.0, rounds=0, generator=gen, selective=True)
    lost = int((~first.block_ok).sum())
    assert 0 < lost < first.block_ok.size  # a rate where some blocks are lost and some arrive
    again = arq.send(link, bits, 13.0, rounds=4, generator=torch.Generator().manual_seed(3), selective=True)
    assert again.cost.transmissions > 1 and again.cost.transmissions - 1 <= 4 * lost
    if again.ok:
        assert np.array_equal(again.bits, bits)


def test_retransmissions_stay_within_the_channel_use_budget():
    link = DigitalLink("awgn", mcs=9, code="ldpc")
    bits = np.random.default_rng(1).integers(0, 2, 20_000).astype(np.uint8)
    first = arq.send(link, bits, 13.0, rounds=0, generator=torch.Generator().manual_seed(3), selective=True)
    block = link.plan(first.block_ok.size and 20_000 // first.block_ok.size, 13.0).channel_uses
    budget = first.cost.channel_uses + block  # room for one resent block
    capped = arq.send(link, bits, 13.0, rounds=4, generator=torch.Generator().manual_seed(3), selective=True,
                      max_channel_uses=budget)
    assert capped.cost.transmissions == 2 and capped.cost.channel_uses <= budget
    whole = DigitalLink("awgn", mcs=0, code="polar")
    few = np.zeros(100, dtype=np.uint8)
    once = whole.plan(100, 10.0).channel_uses
    refused = arq.send(whole, few, 10.0, rounds=3, accept=lambda got: (False, None), max_channel_uses=2 * once)
    assert refused.cost.transmissions == 2 and refused.cost.channel_uses == 2 * once


def test_bad_rounds_are_refused():
    link = DigitalLink("awgn", mcs=0)
    with pytest.raises(ConfigError, match="non-negative"):
        arq.send(link, np.zeros(8, np.uint8), 0.0, rounds=-1)
    with pytest.raises(ConfigError, match="selective"):
        arq.send(link, np.zeros(8, np.uint8), 0.0, selective=True, accept=lambda b: (True, None))
