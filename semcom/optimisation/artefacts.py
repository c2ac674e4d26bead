"""Models as bytes: what the registry stores and the links carry, and how a node builds the module back.

Families (how a module is built from its config):

``jscc``        :class:`~semcom.jscc.JSCCModel` from a :class:`~semcom.jscc.JSCCConfig` dict (the channel
                layer holds no weights and is not stored).
``caption-lm``  ``transformers.GPT2LMHeadModel`` of the caption LMs (:mod:`semcom.inference.lm`): config
                ``n_embd, n_layer, n_head, n_inner, vocab_size, n_positions`` and the tokenizer's ``words``;
                the output layer is tied to the token embedding and not stored.

Formats (how the tensors are stored; every one is a safetensors file):

``safetensors``   float16 or float32 tensors as they are (loaded as float32).
``int8-weights``  every floating tensor of 2+ dimensions as int8 with one float32 scale per output
                  channel (symmetric, ``scale = max|w| / 127`` per row, stored as ``NAME::scale``);
                  vectors as float16. About a quarter of the float32 size; loaded back dequantised.
"""

from __future__ import annotations

import io
from typing import Any, Mapping

import torch

from semcom.errors import ConfigError, InputError

FAMILIES = ("jscc", "caption-lm")
FORMATS = ("safetensors", "int8-weights")
_SCALE = "::scale"


def _float_tensors(module: torch.nn.Module, skip: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()
            if not any(k.startswith(s) for s in skip) and torch.is_tensor(v)}


def _skip(family: str) -> tuple[str, ...]:
    return ("link.",) if family == "jscc" else ("lm_head.",)


def encode_tensors(tensors: Mapping[str, torch.Tensor], format: str, dtype: torch.dtype = torch.float16) -> bytes:
    """Tensors -> safetensors bytes in ``format`` (``dtype``: float storage of the ``safetensors`` format)."""
    from safetensors.torch import save

    if format == "safetensors":
        out = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    elif format == "int8-weights":
        out = {}
        for k, v in tensors.items():
            if v.is_floating_point() and v.dim() >= 2:
                rows = v.float().reshape(v.shape[0], -1)
                scale = rows.abs().amax(dim=1).clamp_min(1e-12) / 127.0
                out[k] = torch.round(rows / scale[:, None]).clamp(-127, 127).to(torch.int8).reshape(v.shape).contiguous()
                out[k + _SCALE] = scale.contiguous()
            else:
                out[k] = (v.to(torch.float16) if v.is_floating_point() else v).contiguous()
    else:
        raise ConfigError(f"unknown model format {format!r}; known: {', '.join(FORMATS)}")
    return save(out)


def decode_tensors(data: bytes, format: str) -> dict[str, torch.Tensor]:
    """safetensors bytes in ``format`` -> float32 tensors (int8 weights dequantised)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    if format not in FORMATS:
        raise InputError(f"unknown model format {format!r}; known: {', '.join(FORMATS)}")
    try:
        raw = load(bytes(data))
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise InputError(f"model bytes are not a safetensors file: {err}") from None
    out = {}
    for k, v in raw.items():
        if k.endswith(_SCALE):
            continue
        if format == "int8-weights" and v.dtype == torch.int8:
            scale = raw.get(k + _SCALE)
            if scale is None:
                raise InputError(f"int8 tensor {k} has no scale")
            v = (v.float().reshape(v.shape[0], -1) * scale[:, None]).reshape(v.shape)
        out[k] = v.float() if v.is_floating_point() else v
    return out


def model_config(family: str, module: torch.nn.Module, words: list[str] | None = None) -> dict[str, Any]:
    """The config a node needs to build ``module`` again."""
    if family == "jscc":
        return module.config.to_dict()
    if family == "caption-lm":
        c = module.config
        if words is None:
            raise ConfigError("a caption LM's config needs its tokenizer's words")
        return {"n_embd": c.n_embd, "n_layer": c.n_layer, "n_head": c.n_head, "n_inner": c.n_inner or 4 * c.n_embd,
                "vocab_size": c.vocab_size, "n_positions": c.n_positions, "words": list(words)}
    raise ConfigError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")


def artefact(family: str, module: torch.nn.Module, format: str = "safetensors", *, dtype: torch.dtype = torch.float16,
             words: list[str] | None = None) -> tuple[bytes, dict[str, Any]]:
    """``module`` as registry bytes and the metadata fields ``family``, ``format``, ``config``, ``parameters``."""
    data = encode_tensors(_float_tensors(module, _skip(family)), format, dtype)
    meta = {"family": family, "format": format, "config": model_config(family, module, words),
            "parameters": sum(p.numel() for p in module.parameters())}
    return data, meta


def caption_lm_module(config: Mapping[str, Any]):
    """A GPT-2 caption LM of the given shape (random weights, eval mode)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from semcom.inference.lm import BOS, EOS, PAD

    cfg = GPT2Config(vocab_size=int(config["vocab_size"]), n_positions=int(config["n_positions"]),
                     n_embd=int(config["n_embd"]), n_layer=int(config["n_layer"]), n_head=int(config["n_head"]),
                     n_inner=int(config["n_inner"]), bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, attn_implementation="eager")
    return GPT2LMHeadModel(cfg).eval()


def build_module(family: str, config: Mapping[str, Any]) -> torch.nn.Module:
    if family == "jscc":
        from semcom.jscc import JSCCConfig, JSCCModel

        return JSCCModel(JSCCConfig.from_dict(dict(config)))
    if family == "caption-lm":
        return caption_lm_module(config)
    raise InputError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")


def module_from_bytes(data: bytes, meta: Mapping[str, Any]) -> torch.nn.Module:
    """Build the module an entry holds (float32, eval mode); InputError when the bytes do not fit the config."""
    family, config = meta.get("family"), meta.get("config")
    if family not in FAMILIES or not isinstance(config, Mapping):
        raise InputError(f"model metadata names no family of {', '.join(FAMILIES)} or no config")
    module = build_module(family, config)
    state = decode_tensors(data, str(meta.get("format", "safetensors")))
    expected = _float_tensors(module, _skip(family))
    wrong = sorted(k for k in expected if k not in state or state[k].shape != expected[k].shape)
    extra = sorted(set(state) - set(expected))
    if wrong or extra:
        raise InputError(f"model bytes do not fit the {family} config: missing or misshapen {wrong[:4]}, "
                         f"unexpected {extra[:4]}")
    module.load_state_dict(state, strict=False)
    if family == "caption-lm":
        module.tie_weights()
    return module.eval()


def serialized_size(module: torch.nn.Module) -> int:
    """Bytes of ``torch.save(module.state_dict())``: the size of any module, quantised ones included."""
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.tell()
