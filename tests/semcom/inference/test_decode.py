import pytest
import torch

from semcom.inference.decode import cascade, greedy, speculative
from semcom.inference.lm import load_caption_lm
from semcom.inference.split import Route
from semcom.network.clock import SimClock
from semcom.network.nodes import Network, tiered_network

PROMPTS = ["a dog", "two children play in the", "a man in a red shirt", "a woman is"]


def net(snr_db: float = 15.0) -> Network:
    return tiered_network((1e8, 1e10), (2**30, 2**34), snr_db=snr_db, bandwidth_hz=1e6)


@pytest.mark.parametrize("k", [1, 4])
def test_speculative_output_equals_target_greedy(k):
    small, large = load_caption_lm("small"), load_caption_lm("large")
    route = Route.through(net(), ["ue", "edge"])
    for text in PROMPTS:
        ids = large.tokenizer.encode(text)
        ref, _ = greedy(large, ids, 12)
        clock = SimClock()
        got = speculative(small, large, ids, route, clock, k=k, max_new=12, rounds=4, generator=torch.Generator().manual_seed(0))
        assert got.tokens == ref
        assert 0 <= got.accepted <= got.drafted and got.rounds >= 1
        assert sum(h.cost.channel_uses for h in got.hops) == sum(c.amount for c in clock.ledger if c.kind == "transmission")
        assert {c.target for c in clock.ledger if c.kind == "compute"} == {"ue", "edge"}


def test_cascade_threshold_decides_escalation():
    small, large = load_caption_lm("small"), load_caption_lm("large")
    route = Route.through(net(), ["ue", "edge"])
    ids = small.tokenizer.encode("a dog")
    gen = torch.Generator().manual_seed(0)
    local = cascade(small, large, ids, route, SimClock(), threshold=0.0, max_new=8, rounds=3, generator=gen)
    assert not local.escalated and local.tokens == greedy(small, ids, 8)[0] and not local.hops
    clock = SimClock()
    up = cascade(small, large, ids, route, clock, threshold=1.01, max_new=8, rounds=3, generator=gen)
    assert up.escalated and up.tokens == greedy(large, ids, 8)[0]
    assert [h.link for h in up.hops] == ["ue->edge", "edge->ue"]


def test_speculative_with_target_on_the_device_saves_device_passes():
    from semcom.inference.decode import remote_greedy
    small, large = load_caption_lm("small"), load_caption_lm("large")
    route = Route.through(net(), ["edge", "ue"])  # draft on the edge, the big model on the slow device
    ids = large.tokenizer.encode("a dog")
    ref_clock = SimClock()
    ref, _ = greedy(large, ids, 10, ref_clock, route.nodes[-1])
    clock = SimClock()
    got = speculative(small, large, ids, route, clock, k=4, max_new=10, rounds=3,
                      generator=torch.Generator().manual_seed(0), prompt_at="target")
    assert got.tokens == ref
    assert clock.ledger[0].kind == "transmission" and clock.ledger[0].target == "ue->edge"
    if got.accepted:
        assert clock.total("compute", "ue") < ref_clock.total("compute", "ue")
    remote = remote_greedy(large, ids, Route.through(net(), ["ue", "edge"]), SimClock(), max_new=10, rounds=3,
                           generator=torch.Generator().manual_seed(0))
    assert remote == ref
