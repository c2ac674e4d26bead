"""Compression for the device with PyTorch's own tools, and the pick under a device's budget.

* :func:`quantize_dynamic_int8`: post-training dynamic int8 quantisation (``torch.ao.quantization.quantize_dynamic``)
  of every linear layer; GPT-2's ``Conv1D`` layers (a linear layer with a transposed weight) are turned
  into ``nn.Linear`` first (:func:`conv1d_to_linear`), so the caption LMs quantise whole.
* :func:`quantize_static_int8`: post-training static int8 quantisation (eager mode of ``torch.ao``):
  each ``nn.Conv2d`` is wrapped in a ``QuantWrapper`` (quantise -> int8 conv -> dequantise), observers
  are calibrated on sample inputs, then converted. For the JSCC models, whose cost is in their convs;
  the GDN, attention and channel layers stay in float32.
* :func:`prune_l1`: global unstructured magnitude pruning (``torch.nn.utils.prune.global_unstructured``
  with ``L1Unstructured``) of the weights of the conv and linear layers, made permanent.
* Distillation into a smaller model: :func:`distil_caption_lm` (soft targets of the teacher, KL at
  temperature ``T``) and :func:`distil_jscc` (the teacher's reconstruction as a second target).

:func:`pick_variant` chooses, for one device, the variant of best metric whose size and latency fit
its memory and latency budgets.
"""

from __future__ import annotations

import copy
import math
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from semcom.errors import ConfigError
from semcom.optimisation.artefacts import serialized_size


def conv1d_to_linear(module: nn.Module) -> nn.Module:
    """Replace every ``transformers`` ``Conv1D`` (``y = x W + b``, W [in, out]) with the equal ``nn.Linear``, in place."""
    from transformers.pytorch_utils import Conv1D

    for name, child in list(module.named_children()):
        if isinstance(child, Conv1D):
            fan_in, fan_out = child.weight.shape
            linear = nn.Linear(fan_in, fan_out)
            with torch.no_grad():
                linear.weight.copy_(child.weight.t())
                linear.bias.copy_(child.bias)
            setattr(module, name, linear)
        else:
            conv1d_to_linear(child)
    return module


def quantize_dynamic_int8(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with int8 dynamic quantisation of its linear layers (weights int8, activations
    quantised on the fly per batch)."""
    from torch.ao.quantization import quantize_dynamic

    model = conv1d_to_linear(copy.deepcopy(module)).eval()
    if hasattr(model, "lm_head") and hasattr(model, "transformer"):  # GPT-2's output layer is tied to the embedding
        quantize_dynamic(model.transformer, {nn.Linear}, dtype=torch.qint8, inplace=True)
        return model
    return quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def quantize_static_int8(module: nn.Module, calibrate: Callable[[nn.Module], None], backend: str = "x86",
                         layers: tuple[type, ...] = (nn.Conv2d,)) -> nn.Module:
    """A copy of ``module`` whose ``layers`` run in int8 (weights per channel, activations per tensor),
    calibrated by ``calibrate(model)`` (which runs it on representative inputs)."""
    from torch.ao.quantization import QuantWrapper, convert, get_default_qconfig, prepare

    model = copy.deepcopy(module).eval()
    qconfig = get_default_qconfig(backend)
    wrapped = 0

    def wrap(parent: nn.Module) -> None:
        nonlocal wrapped
        for name, child in list(parent.named_children()):
            if isinstance(child, layers):
                wrapper = QuantWrapper(child)
                wrapper.qconfig = qconfig
                setattr(parent, name, wrapper)
                wrapped += 1
            else:
                wrap(child)

    wrap(model)
    if not wrapped:
        raise ConfigError(f"no layer of {', '.join(t.__name__ for t in layers)} to quantise")
    torch.backends.quantized.engine = backend
    prepare(model, inplace=True)
    with torch.no_grad():
        calibrate(model)
    convert(model, inplace=True)
    return model.eval()


def prunable(module: nn.Module) -> list[tuple[nn.Module, str]]:
    """(layer, "weight") of every conv, linear and GPT-2 Conv1D layer; embeddings excluded, and so are
    output layers tied to an embedding (pruning one would untie it)."""
    from transformers.pytorch_utils import Conv1D

    tied = {m.weight.data_ptr() for m in module.modules() if isinstance(m, nn.Embedding)}
    return [(m, "weight") for m in module.modules()
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, Conv1D)) and m.weight.data_ptr() not in tied]


def prune_l1(module: nn.Module, amount: float) -> nn.Module:
    """A copy of ``module`` with the ``amount`` share of its conv/linear weights of smallest magnitude
    (over all those layers together) set to zero, permanently."""
    from torch.nn.utils import prune

    if not 0 < amount < 1:
        raise ConfigError(f"pruning amount must be in (0, 1), got {amount}")
    model = copy.deepcopy(module)
    params = prunable(model)
    if not params:
        raise ConfigError("no conv or linear layer to prune")
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=float(amount))
    for layer, name in params:
        prune.remove(layer, name)
    return model.eval()


def sparsity(module: nn.Module) -> float:
    """Share of zero weights over the prunable layers."""
    params = prunable(module)
    total = sum(getattr(m, n).numel() for m, n in params)
    zeros = sum(int((getattr(m, n) == 0).sum()) for m, n in params)
    return zeros / max(total, 1)


# ---------------------------------------------------------------------------------------- distillation


def distil_caption_lm(teacher: nn.Module, student: nn.Module, captions: Sequence[list[int]], *, steps: int,
                      batch: int = 64, lr: float = 3e-3, temperature: float = 2.0, alpha: float = 0.5,
                      seed: int = 0, minutes: float | None = None) -> dict:
    """Train ``student`` (in place) on ``alpha`` x KL(teacher || student) at ``temperature`` (times T^2) +
    (1 - alpha) x next-token cross-entropy, over token-id rows ``<bos> words <eos>``; returns facts of the run."""
    from semcom.inference.lm import PAD, _pad

    if steps < 1 or not 0 <= alpha <= 1 or temperature <= 0:
        raise ConfigError(f"bad distillation settings: steps {steps}, alpha {alpha}, temperature {temperature}")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.01)
    teacher.eval()
    student.train()
    start, done = time.monotonic(), 0
    for step in range(steps):
        if minutes is not None and time.monotonic() - start > 60 * minutes:
            break
        for g in opt.param_groups:
            g["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        rows = [captions[int(i)] for i in torch.randint(len(captions), (batch,), generator=gen)]
        x, labels = _pad(rows)
        mask = (x != PAD).long()
        with torch.no_grad():
            t_logits = teacher(input_ids=x, attention_mask=mask).logits[:, :-1]
        s_logits = student(input_ids=x, attention_mask=mask).logits[:, :-1]
        target = labels[:, 1:]
        keep = target != -100
        ce = nn.functional.cross_entropy(s_logits[keep], target[keep])
        kl = nn.functional.kl_div(nn.functional.log_softmax(s_logits[keep] / temperature, -1),
                                  nn.functional.log_softmax(t_logits[keep] / temperature, -1),
                                  log_target=True, reduction="batchmean") * temperature**2
        loss = alpha * kl + (1 - alpha) * ce
        opt.zero_grad()
        loss.backward()
        opt.step()
        done += 1
    student.eval()
    return {"steps": done, "seconds": time.monotonic() - start, "temperature": temperature, "alpha": alpha}


def distil_jscc(teacher: nn.Module, student: nn.Module, images: Sequence[torch.Tensor], *, steps: int, batch: int = 8,
                crop: int = 64, lr: float = 2e-3, alpha: float = 0.5, snr_range: tuple[float, float] = (0.0, 20.0),
                seed: int = 0, minutes: float | None = None) -> dict:
    """Train JSCC ``student`` (in place) on ``(1 - alpha) MSE(x_s, x) + alpha MSE(x_s, x_t)``, ``x_t`` the
    teacher's reconstruction through the same channel draw's SNR; random crops of ``images`` ([3, H, W] uint8)."""
    from semcom.jscc.data import CropSampler

    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    gen = torch.Generator().manual_seed(seed)
    noise = torch.Generator().manual_seed(seed + 1)
    sampler = CropSampler(list(images), gen)
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    teacher.eval()
    student.train()
    start, done = time.monotonic(), 0
    for step in range(steps):
        if minutes is not None and time.monotonic() - start > 60 * minutes:
            break
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 20) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        x = sampler.batch(batch, crop)
        snr = snr_range[0] + (snr_range[1] - snr_range[0]) * torch.rand(batch, generator=noise)
        with torch.no_grad():
            x_t = teacher(x, snr, generator=noise).reconstruction
        x_s = student(x, snr, generator=noise).reconstruction
        loss = (1 - alpha) * nn.functional.mse_loss(x_s, x) + alpha * nn.functional.mse_loss(x_s, x_t)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        done += 1
    student.eval()
    return {"steps": done, "seconds": time.monotonic() - start, "alpha": alpha}


# ---------------------------------------------------------------------------------------- variants


@dataclass
class Variant:
    """One compressed (or not) form of a model, measured.

    size_bytes:   ``torch.save`` of its state dict (what a device stores).
    link_bytes:   the same, zlib-compressed (what a KB update carries; zeros of pruning compress).
    latency_s:    median CPU latency of one inference call (semcom.benchmark), ``latency_iqr_s`` its spread.
    metric:       the family's quality figure (higher is better unless the name says a loss).
    """

    name: str
    module: nn.Module
    size_bytes: int
    link_bytes: int
    parameters: int
    nonzero: int
    latency_s: float = float("nan")
    latency_iqr_s: float = float("nan")
    metric: float = float("nan")
    notes: dict = field(default_factory=dict)

    def row(self) -> dict:
        return {"variant": self.name, "size_bytes": self.size_bytes, "link_bytes": self.link_bytes,
                "parameters": self.parameters, "nonzero": self.nonzero, "latency_s": self.latency_s,
                "latency_iqr_s": self.latency_iqr_s, "metric": self.metric, **self.notes}


def describe(name: str, module: nn.Module, **notes) -> Variant:
    """Sizes and parameter counts of ``module`` (latency and metric are filled in by :func:`measure_variants`)."""
    import io

    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    raw = buffer.getvalue()
    params, seen = [], set()
    for t in module.state_dict().values():  # tied weights (GPT-2's output layer) counted once
        if torch.is_tensor(t) and t.dtype.is_floating_point and t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            params.append(t)
    dense = sum(t.numel() for t in params)
    packed = sum(m.weight().numel() for m in module.modules() if hasattr(m, "weight") and callable(m.weight))
    nonzero = sum(int((t != 0).sum()) for t in params)
    packed_nz = sum(int((m.weight().int_repr() != 0).sum()) if m.weight().is_quantized else 0
                    for m in module.modules() if hasattr(m, "weight") and callable(m.weight))
    return Variant(name, module, serialized_size(module), len(zlib.compress(raw, 6)), dense + packed,
                   nonzero + packed_nz, notes=dict(notes))


def measure_variants(variants: Sequence[Variant], call: Callable[[nn.Module], object],
                     metric: Callable[[nn.Module], float], *, repeats: int = 10, warmup: int = 2) -> None:
    """Fill in each variant's CPU latency (``call(module)`` timed by :func:`semcom.benchmark.measure`) and metric."""
    from semcom.benchmark import measure

    for v in variants:
        with torch.no_grad():
            stats = measure(lambda: call(v.module), repeats=repeats, warmup=warmup)
            v.latency_s, v.latency_iqr_s = stats.median, stats.iqr
            v.metric = float(metric(v.module))


def pick_variant(variants: Sequence[Variant], *, memory_bytes: int, latency_s: float,
                 higher_is_better: bool = True) -> Variant | None:
    """The variant of best metric with ``size_bytes <= memory_bytes`` and ``latency_s <= latency_s`` (None: none fits)."""
    fits = [v for v in variants if v.size_bytes <= memory_bytes and v.latency_s <= latency_s]
    if not fits:
        return None
    return max(fits, key=lambda v: v.metric if higher_is_better else -v.metric)
