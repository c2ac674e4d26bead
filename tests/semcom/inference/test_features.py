import pytest
import torch

from semcom.inference.features import (LinkFailedError, pack_feature, pack_tokens, run_layers, split_forward,
                                       unpack_feature, unpack_tokens, model_profile)
from semcom.inference.lm import load_caption_lm
from semcom.inference.split import Route, evaluate
from semcom.network.clock import SimClock
from semcom.network.nodes import Network, tiered_network


def net(snr_db: float) -> Network:
    return tiered_network((1e9, 1e11, 1e12), (2**30, 2**34, 2**40), snr_db=snr_db, bandwidth_hz=1e6)


def test_feature_and_token_packets_round_trip_and_reject_flipped_bits():
    x = torch.randn(5, 24)
    bits = pack_feature(x)
    y = unpack_feature(bits, 24)
    assert y.shape == (5, 24) and float((x - y).abs().max()) <= float(x.max() - x.min()) / 255 * 0.51 + 1e-6
    bad = bits.copy()
    bad[200] ^= 1
    assert unpack_feature(bad, 24) is None
    ids = [1, 5, 1503, 0, 77]
    tb = pack_tokens(ids, 11)
    assert unpack_tokens(tb, 11) == ids
    tb[20] ^= 1
    assert unpack_tokens(tb, 11) is None


@pytest.mark.parametrize("size", ["small", "large"])
def test_layer_chain_equals_the_model(size):
    lm = load_caption_lm(size)
    ids = lm.tokenizer.encode("a dog runs on the grass")
    n = lm.model.config.n_layer + 2
    assert len(model_profile(lm, len(ids))) == n
    with torch.no_grad():
        ref = lm.model(input_ids=torch.tensor([ids])).logits[0, -1]
    got = run_layers(lm.model, 0, n, torch.tensor(ids), n - 2)
    assert torch.allclose(got, ref, atol=1e-4)


def test_split_pass_over_the_link_charges_the_clock_and_matches_no_link():
    lm = load_caption_lm("large")
    ids = lm.tokenizer.encode("two children play in the")
    network = net(15.0)
    route = Route.through(network, ["ue", "edge", "cloud"])
    profile = model_profile(lm, len(ids))
    plan = evaluate(profile, route, (2, 4))  # embed + block0 on ue, blocks 1-2 on edge, rest on cloud
    clock = SimClock()
    step = split_forward(lm, ids, plan, route, clock, rounds=3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = int(lm.model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
    assert step.token == ref
    assert [h.link for h in step.hops] == ["ue->edge", "edge->cloud", "cloud->edge", "edge->ue"]
    assert step.hops[0].bits == profile.bits_at(2)
    assert clock.now > 0 and len(clock.ledger) == 3 + 4
    assert float(clock.total("compute")) == pytest.approx(plan.compute_s)


def test_low_snr_feature_is_retransmitted_then_fails_visibly():
    lm = load_caption_lm("large")
    ids = lm.tokenizer.encode("a man rides a bike")
    network = net(-12.0)
    route = Route.through(network, ["ue", "edge"], mcs=0)
    plan = evaluate(model_profile(lm, len(ids)), route, (2,))
    clock = SimClock()
    with pytest.raises(LinkFailedError):
        split_forward(lm, ids, plan, route, clock, rounds=2, generator=torch.Generator().manual_seed(0))
    sends = [c for c in clock.ledger if c.kind == "transmission"]
    assert len(sends) == 1 and sends[0].target == "ue->edge"


def test_analog_feature_noise_follows_the_snr_and_costs_half_a_use_per_value():
    from semcom.inference.features import send_feature_analog

    x = torch.randn(12, 128) * 3 + 1
    errors = {}
    for snr in (0.0, 20.0):
        link = net(snr).link("ue", "edge")
        clock, hops = SimClock(), []
        y = send_feature_analog(link, x, clock, rounds=3, generator=torch.Generator().manual_seed(1), hops=hops)
        assert y.shape == x.shape
        assert [h.values for h in hops] == [0, 12 * 128] and hops[1].cost.channel_uses == 12 * 128 // 2
        assert sum(c.amount for c in clock.ledger if c.kind == "transmission") == sum(h.cost.channel_uses for h in hops)
        centred = x - x.mean()
        errors[snr] = float((y - x).square().mean() / centred.square().mean())
    # Es/N0 per complex symbol: the relative error of each real value is 10^(-SNR/10)
    assert errors[0.0] == pytest.approx(1.0, rel=0.15)
    assert errors[20.0] == pytest.approx(0.01, rel=0.15)


def test_analog_header_that_never_arrives_fails_visibly():
    from semcom.inference.features import send_feature_analog

    link = net(-12.0).link("ue", "edge")
    clock, hops = SimClock(), []
    with pytest.raises(LinkFailedError):
        send_feature_analog(link, torch.randn(4, 8), clock, rounds=1, generator=torch.Generator().manual_seed(0),
                            hops=hops, mcs=0)
    assert [h.values for h in hops] == [0] and not hops[0].ok  # the values were never sent


def test_split_pass_with_analog_features():
    lm = load_caption_lm("large")
    ids = lm.tokenizer.encode("two children play in the")
    network = net(30.0)
    route = Route.through(network, ["ue", "edge", "cloud"], features="analog")
    profile = model_profile(lm, len(ids))
    plan = evaluate(profile, route, (2, 4))
    clock = SimClock()
    step = split_forward(lm, ids, plan, route, clock, rounds=3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = lm.model(input_ids=torch.tensor([ids])).logits[0, -1]
    assert step.token == int(ref.argmax())
    assert [h.link for h in step.hops] == ["ue->edge"] * 2 + ["edge->cloud"] * 2 + ["cloud->edge", "edge->ue"]
    assert [h.values for h in step.hops] == [0, len(ids) * 128, 0, len(ids) * 128, 0, 0]
    assert float(clock.now) == pytest.approx(plan.latency_s, rel=1e-9)
