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


def test_speculative_with_target_on_a_memory_bound_device_saves_device_time():
    from semcom.inference.decode import remote_greedy
    small, large = load_caption_lm("small"), load_caption_lm("large")
    for bandwidth, cheaper in ((None, False), (2e7, True)):  # compute-bound: verifying k tokens costs k passes
        memory = {} if bandwidth is None else {"ue": bandwidth}
        route = Route.through(net(), ["edge", "ue"], memory_bandwidth=memory)  # draft on the edge, big model on the device
        ids = large.tokenizer.encode("a dog")
        ref_clock = SimClock()
        ref, _ = greedy(large, ids, 10, ref_clock, route.nodes[-1], bandwidth=bandwidth)
        clock = SimClock()
        got = speculative(small, large, ids, route, clock, k=4, max_new=10, rounds=3,
                          generator=torch.Generator().manual_seed(0), prompt_at="target")
        assert got.tokens == ref and got.accepted > 0
        assert clock.ledger[0].kind == "transmission" and clock.ledger[0].target == "ue->edge"
        assert (clock.total("compute", "ue") < ref_clock.total("compute", "ue")) == cheaper
        if bandwidth is not None:  # each pass on the device: at least the weights' streaming time
            from semcom.inference.features import model_profile
            weights = sum(l.param_bytes for l in model_profile(large, 1).layers)
            passes = [c for c in clock.ledger if c.kind == "compute" and c.target == "ue"]
            assert len(passes) == got.rounds and all(float(c.seconds) == pytest.approx(weights / bandwidth) for c in passes)
    remote = remote_greedy(large, ids, Route.through(net(), ["ue", "edge"]), SimClock(), max_new=10, rounds=3,
                           generator=torch.Generator().manual_seed(0))
    assert remote == ref


def test_kv_cache_gives_the_full_pass_logits_and_charges_less():
    from semcom.inference.decode import CachedLM

    large = load_caption_lm("large")
    ids = large.tokenizer.encode("a man in a red shirt")
    cached = CachedLM(large)
    full = large.model(input_ids=torch.tensor([ids + [5, 6, 7]])).logits[0]
    assert torch.allclose(cached.logits(ids), full[len(ids) - 1:len(ids)], atol=1e-4)
    assert torch.allclose(cached.logits(ids + [5, 6, 7], 4), full[-4:], atol=1e-4)
    assert cached.ids == ids + [5, 6, 7]
    assert torch.allclose(cached.logits(ids + [9], 1), large.model(input_ids=torch.tensor([ids + [9]])).logits[0, -1:], atol=1e-4)
    assert cached.ids == ids + [9]  # the rejected tail was cut from the cache
    node = net().node("ue")
    for text in PROMPTS:
        p = large.tokenizer.encode(text)
        fast, slow = SimClock(), SimClock()
        a, _ = greedy(large, p, 10, fast, node)
        b, _ = greedy(large, p, 10, slow, node, cache=False)
        assert a == b
        assert fast.total("compute") < slow.total("compute")


def test_every_draft_block_and_verdict_crosses_the_link():
    small, large = load_caption_lm("small"), load_caption_lm("large")
    route = Route.through(net(), ["ue", "edge"])
    ids = large.tokenizer.encode("two children play in the")
    clock = SimClock()
    got = speculative(small, large, ids, route, clock, k=3, max_new=12, rounds=4, generator=torch.Generator().manual_seed(0))
    links = [h.link for h in got.hops]
    assert links == ["ue->edge"] + ["ue->edge", "edge->ue"] * got.rounds
    sends = [c.target for c in clock.ledger if c.kind == "transmission"]
    assert sends == links
    plain = speculative(small, large, ids, route, SimClock(), k=3, max_new=12, rounds=4,
                        generator=torch.Generator().manual_seed(0), cache=False)
    assert plain.tokens == got.tokens and plain.accepted == got.accepted
