import math

import pytest
import torch

from semcom.errors import WeightsNotFoundError
from semcom.inference.features import model_profile
from semcom.inference.lm import load_caption_lm
from semcom.inference.profiles import (caption_lm_stages, captioner_architecture, jscc_profile, jscc_stages,
                                       measure_chain, run_chain, vit_gpt2_profile, vit_gpt2_stages)
from semcom.inference.split import Route, brute_force, fixed_plan, plan_split
from semcom.network.nodes import tiered_network


def route(snr_db: float = 10.0, features: str = "digital", floor: float | None = None) -> Route:
    net = tiered_network((1e12, 1e14, 1e15), (8 * 2**30, 64 * 2**30, 2**40), snr_db=snr_db, bandwidth_hz=2e7)
    return Route.through(net, ["ue", "edge", "cloud"], features=features, analog_min_snr_db=floor)


def test_measured_caption_lm_chain_matches_the_analytic_profile():
    lm = load_caption_lm("large")
    ids = lm.tokenizer.encode("a dog runs on the grass")
    stages = caption_lm_stages(lm)
    measured = measure_chain(stages, torch.tensor(ids), input_bits=0)
    analytic = model_profile(lm, len(ids))
    assert [l.name for l in measured.layers] == [l.name for l in analytic.layers]
    for m, a in zip(measured.layers[1:-1], analytic.layers[1:-1]):  # the blocks: matmul FLOPs exactly
        assert m.flops == pytest.approx(a.flops, rel=1e-9)
        assert m.out_values == a.out_values == len(ids) * 128
    # the head: its logits matmul (the analytic profile adds the final norm, 5 T d, which the counter skips)
    assert measured.layers[-1].flops == 2 * 128 * 1504 == analytic.layers[-1].flops - 5 * len(ids) * 128
    with torch.no_grad():
        ref = lm.model(input_ids=torch.tensor([ids])).logits[0, -1]
    assert torch.allclose(run_chain(stages, 0, len(stages), torch.tensor(ids)), ref, atol=1e-4)


@pytest.mark.parametrize("attn_blocks", [0, 2])
def test_jscc_chain_equals_the_model_and_its_bottleneck_is_the_cheapest_cut(attn_blocks):
    from semcom.jscc.model import JSCCConfig, JSCCModel

    torch.manual_seed(0)
    model = JSCCModel(JSCCConfig(widths=(8, 8, 16, 32), blocks=(0, 1, 1, 0), attn_blocks=attn_blocks)).eval()
    for p in model.parameters():  # attention starts as the identity: perturb it so the test sees it
        p.data.add_(0.05 * torch.randn_like(p))
    x = torch.rand(1, 3, 32, 48)
    stages = jscc_stages(model, 10.0)
    with torch.no_grad():
        snr = torch.tensor([10.0])
        feats = model.encode(x, snr)
        quality = torch.full((1, feats.shape[1] // 2, *feats.shape[2:]), 0.5)
        ref = model.decode(feats, quality, snr)
    assert torch.allclose(run_chain(stages, 0, 5, x), feats, atol=1e-5)
    assert torch.allclose(run_chain(stages, 0, len(stages), x), ref, atol=1e-5)
    profile = jscc_profile(model, height=32, width=48)
    names = [l.name for l in profile.layers]
    assert names == ["enc0", "enc1", "enc2", "enc3", "bottleneck", "receive", "dec0", "dec1", "dec2", "dec3", "output"]
    bottleneck = profile.layers[4]
    assert bottleneck.out_values == model.config.bottleneck * 2 * 3  # C x (32/16) x (48/16)
    assert bottleneck.out_values == min(l.out_values for l in profile.layers[:-1])
    assert all(l.flops > 0 for l in profile.layers) and profile.result_at == "top"
    assert sum(l.param_bytes for l in profile.layers) == 4 * sum(p.numel() for p in model.parameters())


def test_default_jscc_on_meta_plans_its_bottleneck_across_the_radio_hop():
    profile = jscc_profile(height=512, width=768)
    assert profile.layers[4].out_values == 96 * 32 * 48  # CBR 1/16: C = 96 at 1/16 resolution
    r = route(10.0, "analog")
    plan = plan_split(profile, r)
    assert plan.latency_s == pytest.approx(brute_force(profile, r).latency_s, rel=1e-12)
    assert plan.cuts[0] == 5  # the encoder on the phone, the bottleneck's symbols over the air
    # below every MCS no packet crosses, but the bottleneck's symbols need no header: the JSCC still works
    assert not plan_split(profile, route(-5.0, "digital")).feasible
    low = plan_split(profile, route(-5.0, "analog"))
    assert low.feasible and low.cuts[0] == 5
    assert plan_split(profile, route(-5.0, "analog", floor=10.0)).feasible  # the floor is for hidden features only


def test_tiny_vit_gpt2_chain_equals_the_model():
    from semcom.testing import tiny_vit_gpt2

    net, _, _ = tiny_vit_gpt2()
    pixels = torch.rand(1, 3, 32, 32)
    ids = torch.tensor([[0, 5, 9, 3]])
    with torch.no_grad():
        ref = net(pixel_values=pixels, decoder_input_ids=ids).logits[0, -1]
    stages = vit_gpt2_stages(net)
    assert torch.allclose(run_chain(stages, 0, len(stages), (pixels, ids)), ref[None], atol=1e-4)
    profile = vit_gpt2_profile(net, caption_tokens=4)
    assert len(profile) == len(stages) == 1 + 2 + 1 + 1 + 2 + 1
    memory = 17 * 32  # 16 patches + CLS, width 32
    assert profile.layers[3].out_values == memory and profile.layers[5].out_values == 4 * 32 + memory


def test_published_vit_gpt2_shapes_profile_on_meta_and_plan_quickly():
    config, source = captioner_architecture()
    profile = vit_gpt2_profile(config=config, caption_tokens=8, name=source)
    assert len(profile) == 1 + 12 + 1 + 1 + 12 + 1
    vit = sum(l.param_bytes for l in profile.layers[:14]) / 4
    decoder = sum(l.param_bytes for l in profile.layers[14:]) / 4
    assert 8.5e7 < vit < 8.7e7  # ViT-base without its pooler
    # GPT-2 small with cross-attention, its token embedding counted at both ends (a stage needs its weights)
    assert decoder == pytest.approx(124.4e6 + 12 * (768 * 768 * 4 + 2 * 768 * 3 + 768 * 2) + 50257 * 768, rel=0.01)
    vit_layer = profile.layers[1]
    assert vit_layer.flops == pytest.approx(2 * 197 * (4 * 768**2 + 2 * 768 * 3072) + 4 * 197**2 * 768, rel=1e-6)
    for snr in (-5.0, 10.0, 25.0):
        r = route(snr)
        plan = plan_split(profile, r)
        assert plan.latency_s <= min(fixed_plan(profile, r, t).latency_s for t in range(3)) * (1 + 1e-12)


def test_named_captioner_that_is_not_here_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="captioner"):
        captioner_architecture(str(tmp_path / "no-such-model"))
    assert math.isfinite(vit_gpt2_profile(caption_tokens=1).layers[-1].flops)
