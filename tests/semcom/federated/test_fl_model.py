"""LoRA adapters through peft, frozen layers, the arrays that travel, training memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from semcom.errors import ConfigError
from semcom.federated.model import (LoraSettings, load_trainable, merge_adapters, parameter_count, prepare_model,
                                    trainable_arrays, training_memory)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Linear(6, 16)
        self.body = nn.Sequential(nn.Linear(16, 16), nn.Tanh())
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.body(self.embed(x)))


def test_lora_trains_and_sends_only_adapters():
    model = prepare_model(Net(), lora=LoraSettings(2, 4.0, ("embed", "head")))
    arrays = trainable_arrays(model)
    assert set(arrays) == {"embed.lora_A.default.weight", "embed.lora_B.default.weight",
                           "head.lora_A.default.weight", "head.lora_B.default.weight"}
    assert parameter_count(model, True) == 2 * (6 + 16) + 2 * (16 + 3)
    x = torch.randn(5, 6)
    before = model(x).detach()
    assert torch.allclose(before, Net()(x), atol=1e-6)  # B starts at zero: the adapted model is the base
    load_trainable(model, {k: np.full_like(v, 0.1) for k, v in arrays.items()})
    adapted = model(x).detach()
    assert not torch.allclose(adapted, before)
    merged = merge_adapters(model)
    assert isinstance(merged.embed, nn.Linear) and isinstance(merged.head, nn.Linear)
    assert torch.allclose(merged(x), adapted, atol=1e-5)


def test_frozen_layers_do_not_travel():
    model = prepare_model(Net(), frozen=("embed", "body"))
    assert set(trainable_arrays(model)) == {"head.weight", "head.bias"}
    with pytest.raises(ConfigError, match="names no parameters"):
        prepare_model(Net(), frozen=("tail",))
    with pytest.raises(ConfigError, match="nothing of the model is left"):
        prepare_model(Net(), frozen=("embed", "body", "head"))


def test_bad_lora_targets_and_arrays_are_refused():
    with pytest.raises(ConfigError, match="not a layer"):
        prepare_model(Net(), lora=LoraSettings(2, 4.0, ("neck",)))
    with pytest.raises(ConfigError):
        LoraSettings(0, 4.0, ("head",))
    model = prepare_model(Net())
    with pytest.raises(ConfigError, match="do not match"):
        load_trainable(model, {"head.weight": np.zeros((3, 16), np.float32)})
    arrays = trainable_arrays(model)
    arrays["head.bias"] = np.zeros(4, np.float32)
    with pytest.raises(ConfigError, match="shape"):
        load_trainable(model, arrays)


def test_memory_levers_reduce_training_memory():
    x = torch.randn(64, 6)
    full = prepare_model(Net())
    lora = prepare_model(Net(), lora=LoraSettings(2, 4.0, ("embed", "head")))
    m_full = training_memory(full, lambda: full(x).square().mean())
    m_lora = training_memory(lora, lambda: lora(x).square().mean())
    m_micro = training_memory(full, lambda: full(x[:16]).square().mean())  # gradient accumulation: 4 micro-batches
    assert m_lora["optimizer"] < m_full["optimizer"] / 5
    assert 0 < m_micro["activations"] < m_full["activations"] / 3
    assert m_full["total"] == m_full["weights"] + m_full["optimizer"] + m_full["activations"]
