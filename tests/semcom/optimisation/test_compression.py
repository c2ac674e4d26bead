"""Compression with torch's tools on tiny models: int8 dynamic and static, pruning, distillation, the pick."""

from __future__ import annotations

import pytest
import torch

from semcom.errors import ConfigError
from semcom.jscc import JSCCConfig, JSCCModel
from semcom.optimisation.artefacts import caption_lm_module
from semcom.optimisation.compression import (Variant, conv1d_to_linear, describe, distil_caption_lm, pick_variant,
                                             prune_l1, quantize_dynamic_int8, quantize_static_int8, sparsity)

LM = dict(n_embd=16, n_layer=1, n_head=2, n_inner=64, vocab_size=30, n_positions=12)


def tiny_lm(seed=0, **shape):
    torch.manual_seed(seed)
    return caption_lm_module({**LM, **shape})


def test_conv1d_to_linear_is_exact_and_dynamic_int8_is_close():
    import copy

    model = tiny_lm()
    x = torch.randint(4, 30, (2, 10))
    ref = model(input_ids=x).logits
    same = conv1d_to_linear(copy.deepcopy(model))
    assert torch.allclose(same(input_ids=x).logits, ref, atol=1e-5)
    q = quantize_dynamic_int8(model)
    kinds = {type(m).__name__ for m in q.modules()}
    assert "Linear" in kinds and any("quantized" in type(m).__module__ for m in q.modules())
    assert (q(input_ids=x).logits - ref).abs().max() < 0.05 * ref.abs().max()
    assert describe("int8", q).size_bytes < describe("fp32", model).size_bytes


def test_static_int8_quantises_the_convs_of_a_jscc_model():
    torch.manual_seed(0)
    model = JSCCModel(JSCCConfig(widths=(8, 8, 8, 8), blocks=(0, 0, 0, 0))).eval()
    x = torch.rand(2, 3, 32, 32)

    def run(m):
        with torch.no_grad():
            return m(x, 10.0, generator=torch.Generator().manual_seed(0)).reconstruction

    q = quantize_static_int8(model, lambda m: run(m))
    assert any(type(m).__module__.startswith("torch.ao.nn.quantized") and "Conv2d" in type(m).__name__
               for m in q.modules())
    assert (run(q) - run(model)).abs().max() < 0.1
    with pytest.raises(ConfigError):
        quantize_static_int8(torch.nn.Linear(2, 2), lambda m: None)


def test_pruning_reaches_its_share_and_leaves_the_original():
    model = tiny_lm()
    pruned = prune_l1(model, 0.5)
    assert sparsity(pruned) == pytest.approx(0.5, abs=0.01) and sparsity(model) < 0.01
    assert describe("p", pruned).link_bytes < describe("f", model).link_bytes
    with pytest.raises(ConfigError):
        prune_l1(model, 1.5)


def test_distillation_moves_the_student_towards_the_teacher():
    teacher, student = tiny_lm(0), tiny_lm(1, n_embd=8, n_inner=16)
    rows = [[1] + torch.randint(4, 30, (8,)).tolist() + [2] for _ in range(32)]
    x = torch.tensor(rows)

    def kl():
        with torch.no_grad():
            t = torch.log_softmax(teacher(input_ids=x).logits, -1)
            s = torch.log_softmax(student(input_ids=x).logits, -1)
        return float((t.exp() * (t - s)).sum(-1).mean())

    before = kl()
    facts = distil_caption_lm(teacher, student, rows, steps=30, batch=16, lr=1e-2, alpha=1.0)
    assert facts["steps"] == 30 and kl() < 0.7 * before


def test_pick_variant_under_budgets():
    def v(name, size, lat, metric):
        return Variant(name, torch.nn.Identity(), size, size, 1, 1, lat, 0.0, metric)

    variants = [v("fp32", 400, 0.010, 30.0), v("int8", 100, 0.006, 29.5), v("small", 50, 0.002, 27.0)]
    assert pick_variant(variants, memory_bytes=1000, latency_s=1.0).name == "fp32"
    assert pick_variant(variants, memory_bytes=200, latency_s=1.0).name == "int8"
    assert pick_variant(variants, memory_bytes=1000, latency_s=0.003).name == "small"
    assert pick_variant(variants, memory_bytes=10, latency_s=1.0) is None
    losses = [v("a", 10, 0.001, 3.0), v("b", 10, 0.001, 2.5)]
    assert pick_variant(losses, memory_bytes=100, latency_s=1.0, higher_is_better=False).name == "b"
