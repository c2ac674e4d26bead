"""What of a model trains and travels: LoRA adapters (``peft``), frozen layers, and their arrays.

:func:`prepare_model` turns a task's base model into the model the clients train: layers named
in ``frozen`` stop learning, and with :class:`LoraSettings` every base weight is frozen and LoRA
adapters (rank ``r``, scale ``alpha / r``) are injected into the ``targets`` layers by ``peft``.
Only the trainable parameters (:func:`trainable_arrays`) are broadcast and updated: the rest is
the base model every node already holds. :func:`merge_adapters` folds trained adapters back into
the base weights (``W + (alpha / r) B A``) for publishing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from semcom.errors import ConfigError


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapters: ``rank`` r, scale ``alpha / r``, the layer names they wrap (``targets``: names or
    suffixes of ``nn.Linear`` / ``nn.Conv2d`` / ``nn.Embedding`` modules), ``dropout`` on their input."""

    rank: int = 4
    alpha: float = 8.0
    targets: tuple[str, ...] = ()
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ConfigError(f"LoRA rank must be a positive integer, got {self.rank!r}")
        if not isinstance(self.alpha, (int, float)) or not self.alpha > 0:
            raise ConfigError(f"LoRA alpha must be positive, got {self.alpha!r}")
        if not self.targets or not all(isinstance(t, str) and t for t in self.targets):
            raise ConfigError("LoRA needs the names of the layers it adapts (targets)")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"LoRA dropout must be in [0, 1), got {self.dropout!r}")
        object.__setattr__(self, "targets", tuple(self.targets))


def prepare_model(model: nn.Module, *, lora: LoraSettings | None = None, frozen: Sequence[str] = (),
                  seed: int = 0) -> nn.Module:
    """Freeze the parameters under the ``frozen`` module prefixes, then inject LoRA adapters (all base
    weights frozen). Returns the model to train (the same object: adapters are injected in place)."""
    names = [n for n, _ in model.named_parameters()]
    for prefix in frozen:
        hit = [n for n in names if n == prefix or n.startswith(prefix + ".")]
        if not hit:
            raise ConfigError(f"frozen layer {prefix!r} names no parameters; the model has {_prefixes(names)}")
        for n, p in model.named_parameters():
            if n in hit:
                p.requires_grad_(False)
    if lora is not None:
        from peft import LoraConfig, inject_adapter_in_model

        modules = dict(model.named_modules())
        for t in lora.targets:
            if not any(m == t or m.endswith("." + t) for m in modules):
                raise ConfigError(f"LoRA target {t!r} is not a layer of the model; layers: {_prefixes(list(modules))}")
        torch.manual_seed(seed)  # adapter initialisation (A random, B zero); the server's copy is what travels
        config = LoraConfig(r=lora.rank, lora_alpha=lora.alpha, target_modules=list(lora.targets),
                            lora_dropout=lora.dropout, bias="none")
        try:
            inject_adapter_in_model(config, model)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"peft cannot put LoRA adapters on {list(lora.targets)}: {err}") from err
        for n, p in model.named_parameters():
            p.requires_grad_("lora_" in n)
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError("nothing of the model is left to train (every layer frozen)")
    return model


def _prefixes(names: Sequence[str]) -> str:
    tops = list(dict.fromkeys(n.split(".")[0] for n in names if n))
    return ", ".join(tops[:20]) + (" ..." if len(tops) > 20 else "")


def trainable_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    """The trainable parameters as float32 arrays (copies), by parameter name."""
    return {n: p.detach().to(torch.float32).cpu().numpy().copy() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable(model: nn.Module, arrays: Mapping[str, np.ndarray]) -> None:
    """Copy ``arrays`` into the model's trainable parameters (names and shapes must match exactly)."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if set(arrays) != set(params):
        missing, extra = sorted(set(params) - set(arrays)), sorted(set(arrays) - set(params))
        raise ConfigError(f"arrays do not match the trainable parameters (missing {missing[:4]}, unexpected {extra[:4]})")
    with torch.no_grad():
        for n, p in params.items():
            value = torch.as_tensor(np.asarray(arrays[n]), dtype=p.dtype)
            if value.shape != p.shape:
                raise ConfigError(f"array {n!r} has shape {tuple(value.shape)}, the parameter {tuple(p.shape)}")
            p.copy_(value)


def merge_adapters(model: nn.Module) -> nn.Module:
    """Fold every LoRA adapter into its base layer and put the base layer back (in place)."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
    return model


def parameter_count(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def training_memory(model: nn.Module, forward: Callable[[], torch.Tensor]) -> dict[str, int]:
    """Bytes a training step needs: weights and buffers, gradients and the two Adam moments of the
    trainable parameters, and the activations autograd saves in ``forward()`` (measured, one micro-batch)."""
    saved, held = [0], {p.data_ptr() for p in model.parameters()} | {b.data_ptr() for b in model.buffers()}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in held:  # weights saved for the backward pass are already counted
            saved[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = forward()
    del loss
    weights = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return {"weights": int(weights), "optimizer": int(3 * trainable), "activations": int(saved[0]),
            "total": int(weights + 3 * trainable + saved[0])}
