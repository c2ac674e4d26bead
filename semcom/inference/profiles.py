"""Layer chains of further models for the split planner, measured by running them: the JSCC encoder and
decoder (:mod:`semcom.jscc`) and the ViT-GPT2 captioner's architecture (:mod:`semcom.generative.captioner`).

A model is cut into :class:`Stage` s, each a callable from one state to the next (a tensor, or a tuple
of tensors when something rides along: the JSCC's linear skip path, the captioner's encoder output
that every decoder block attends to). :func:`measure_chain` runs the stages once on an example input
under :class:`torch.utils.flop_counter.FlopCounterMode` and records, per stage, the FLOPs (matrix
products, convolutions and attention, counted at 2 per multiply-add; elementwise work is not counted),
its parameter bytes, the real values of its output (what may cross a link analog) and their bits as an
8-bit feature packet, and its activation memory. The result is a :class:`~semcom.inference.split.ChainProfile`
that :func:`~semcom.inference.split.plan_split` takes like the caption LMs' chains; :func:`run_chain` runs
any range of stages, so a split run equals the whole model (tests).

Models may live on the ``meta`` device: shapes and FLOPs only, no weights and no memory -- how the real
ViT-GPT2 (``nlpconnect/vit-gpt2-image-captioning``: ViT-base/16 at 224 px, GPT-2 124M with
cross-attention, about 239M parameters) is profiled when its weights are not on this machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import nn

from semcom.errors import ConfigError, WeightsNotFoundError
from semcom.inference.split import FEATURE_HEADER_BITS, ChainProfile, LayerProfile, token_packet_bits

State = Any  # a tensor or a tuple of tensors


@dataclass
class Stage:
    """One link of a chain: ``fn(state) -> state``; ``modules`` hold the weights it uses (parameter bytes);
    ``channel_symbols``: its output is made for the channel (a JSCC bottleneck)."""

    name: str
    fn: Callable[[State], State]
    modules: tuple[nn.Module, ...] = ()
    channel_symbols: bool = False  # its output is made for the channel (see LayerProfile)


def _tensors(state: State) -> list[torch.Tensor]:
    return [state] if isinstance(state, torch.Tensor) else [t for t in state if isinstance(t, torch.Tensor)]


def _float_values(state: State) -> int:
    return sum(t.numel() for t in _tensors(state) if t.is_floating_point())


def _int_bits(state: State, id_bits: int) -> int:
    return sum(t.numel() * id_bits for t in _tensors(state) if not t.is_floating_point())


def _param_bytes(modules: Sequence[nn.Module]) -> int:
    seen, total = set(), 0
    for m in modules:
        for p in m.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                total += p.numel() * p.element_size()
    return total


@torch.no_grad()
def run_chain(stages: Sequence[Stage], a: int, b: int, state: State) -> State:
    """Run stages ``[a, b)`` on ``state``."""
    for stage in stages[a:b]:
        state = stage.fn(state)
    return state


@torch.no_grad()
def measure_chain(stages: Sequence[Stage], example: State, *, input_bits: int, result_bits: int | None = None,
                  result_at: str = "device", id_bits: int = 16, name: str = "") -> ChainProfile:
    """Profile ``stages`` by running them on ``example`` (the chain's input). A stage's output is sent as
    one 8-bit feature packet of its float values (plus ``id_bits`` per integer value riding along);
    the last stage's output is the result: ``result_bits`` when given (token ids), else its packet."""
    from torch.utils.flop_counter import FlopCounterMode

    if not stages:
        raise ConfigError("a chain needs at least one stage")
    layers, state = [], example
    for stage in stages:
        before = _float_values(state)
        with FlopCounterMode(display=False) as counter:
            state = stage.fn(state)
        values, side = _float_values(state), _int_bits(state, id_bits)
        layers.append(LayerProfile(stage.name, float(counter.get_total_flops()), 8 * values + side + FEATURE_HEADER_BITS,
                                   _param_bytes(stage.modules), 4 * (before + values), values, side,
                                   stage.channel_symbols))
    if result_bits is not None:
        last = layers[-1]
        layers[-1] = LayerProfile(last.name, last.flops, result_bits, last.param_bytes, last.act_bytes)
    return ChainProfile(tuple(layers), int(input_bits), int(layers[-1].out_bits), result_at, name)


# ------------------------------------------------------------------------------------------ caption LM


def caption_lm_stages(lm) -> list[Stage]:
    """The caption LM's chain as stages (embed, blocks, head), the same cuts as :func:`~semcom.inference.features.model_profile`."""
    from semcom.inference.features import run_layers

    model, n_layer = lm.model, lm.model.config.n_layer
    tr = model.transformer
    names = ["embed"] + [f"block{i}" for i in range(n_layer)] + ["head"]
    mods = [(tr.wte, tr.wpe)] + [(tr.h[i],) for i in range(n_layer)] + [(tr.ln_f, model.lm_head)]
    return [Stage(n, (lambda s, i=i: run_layers(model, i, i + 1, s, n_layer)), m) for i, (n, m) in enumerate(zip(names, mods))]


# ------------------------------------------------------------------------------------------------ JSCC


def jscc_stages(model, snr_db: float) -> list[Stage]:
    """The JSCC model as a chain, image to image, with the channel noise-free (the planner decides where
    the bottleneck's symbols cross, and how): ``enc0..enc3`` (the linear skip path's output rides along
    from ``enc0``), ``bottleneck`` (window attention, if any, then the C real channels the JSCC sends: ``C/2`` complex symbols per
    16x16 patch; sent analog they need no header, the decoder takes them power-normalised), ``receive``
    (received values with the receiver's per-symbol SNR map, the decoder's input conv and attention), ``dec0..dec3``,
    ``output`` (the skip path back, sigmoid). Input: a padded image ``[1, 3, Hp, Wp]`` in [0, 1]."""
    from semcom.jscc.model import SNR_SCALE_DB

    s = torch.tensor([float(snr_db)], device=next(model.parameters()).device) / SNR_SCALE_DB
    skip_enc, skip_dec = model.skip_encoder, model.skip_decoder

    def enc0(x):
        h = x - 0.5
        h2 = model.encoder[0](h, s)
        return h2 if skip_enc is None else (h2, skip_enc(h))

    def enc(i):
        def fn(state):
            if skip_enc is None:
                return model.encoder[i](state, s)
            h, skip = state
            return model.encoder[i](h, s), skip
        return fn

    def bottleneck(state):
        if skip_enc is None:
            return model.to_channel(model.encoder_attention(state))
        h, skip = state
        return model.to_channel(model.encoder_attention(h)) + skip

    def receive(y):
        # the received values with the effective SNR of each symbol (AWGN, noise-free chain: the link's SNR)
        b, c, hh, ww = y.shape
        quality = torch.full((b, c // 2, hh, ww), float(snr_db) / SNR_SCALE_DB, device=y.device).clamp(-1.5, 2.5)
        inp = torch.cat([y, quality.to(y.dtype)], dim=1)
        h = model.decoder_attention(model.from_channel(inp))
        return h if skip_dec is None else (h, inp)

    def dec(i):
        def fn(state):
            if skip_dec is None:
                return model.decoder[i](state, s)
            h, inp = state
            return model.decoder[i](h, s), inp
        return fn

    def output(state):
        if skip_dec is None:
            return torch.sigmoid(state)
        h, inp = state
        return torch.sigmoid(h + skip_dec(inp))

    stages = [Stage("enc0", enc0, (model.encoder[0],) + ((skip_enc,) if skip_enc is not None else ()))]
    stages += [Stage(f"enc{i}", enc(i), (model.encoder[i],)) for i in range(1, 4)]
    stages.append(Stage("bottleneck", bottleneck, (model.encoder_attention, model.to_channel), channel_symbols=True))
    stages.append(Stage("receive", receive, (model.from_channel, model.decoder_attention)))
    stages += [Stage(f"dec{i}", dec(i), (model.decoder[i],)) for i in range(4)]
    stages.append(Stage("output", output, (skip_dec,) if skip_dec is not None else ()))
    return stages


def jscc_profile(model=None, *, height: int = 512, width: int = 768, snr_db: float = 10.0,
                 result_at: str = "top") -> ChainProfile:
    """The chain profile of a JSCC model (default: the default :class:`~semcom.jscc.model.JSCCConfig` on the
    ``meta`` device) for one ``height x width`` image: the input is the image's 8-bit pixels on the device;
    the result (the reconstruction, 8 bits a value) is wanted on the route's top node (``result_at``)."""
    from semcom.jscc.model import STRIDE, JSCCModel

    if height < 1 or width < 1:
        raise ConfigError(f"image size must be positive, got {height} x {width}")
    if model is None:
        with torch.device("meta"):
            model = JSCCModel()
    device = next(model.parameters()).device
    hp, wp = STRIDE * math.ceil(height / STRIDE), STRIDE * math.ceil(width / STRIDE)
    x = torch.zeros(1, 3, hp, wp, device=device)
    name = f"JSCC CBR {model.config.cbr} {width}x{height}"
    return measure_chain(jscc_stages(model, snr_db), x, input_bits=8 * 3 * height * width,
                         result_bits=8 * 3 * height * width + FEATURE_HEADER_BITS, result_at=result_at, name=name)


# ------------------------------------------------------------------------------------------- ViT-GPT2


def vit_gpt2_architecture():
    """The ``VisionEncoderDecoderConfig`` of ``nlpconnect/vit-gpt2-image-captioning`` (ViT-base/16 at 224 px
    as encoder, GPT-2 124M with cross-attention as decoder), from the published shapes: no weights needed."""
    from transformers import GPT2Config, ViTConfig, VisionEncoderDecoderConfig

    encoder = ViTConfig(image_size=224, patch_size=16, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, qkv_bias=True)
    decoder = GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
                         add_cross_attention=True, is_decoder=True, bos_token_id=50256, eos_token_id=50256)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = config.pad_token_id = config.eos_token_id = 50256
    return config


def captioner_architecture(model: str | None = None):
    """(config, source) of a ViT-GPT2 captioner: ``model`` (a hub id in the local cache, or a folder) read
    with ``from_pretrained``; None: the default captioner's config when it is cached, else its published
    shapes (:func:`vit_gpt2_architecture`). A named model that is not here raises WeightsNotFoundError."""
    from transformers import VisionEncoderDecoderConfig

    from semcom.generative.captioner import DEFAULT_VIT_GPT2
    from semcom.generative.weights import load_pretrained

    if model is not None:
        return load_pretrained(VisionEncoderDecoderConfig.from_pretrained, str(model), "captioner",
                               "[plan] captioner_model"), str(model)
    try:
        return load_pretrained(VisionEncoderDecoderConfig.from_pretrained, DEFAULT_VIT_GPT2, "captioner",
                               "[plan] captioner_model"), DEFAULT_VIT_GPT2
    except WeightsNotFoundError:
        return vit_gpt2_architecture(), f"{DEFAULT_VIT_GPT2} (published shapes; no weights here)"


def _causal(T: int, dtype=torch.float32, device=None) -> torch.Tensor:
    return torch.full((T, T), float("-inf"), dtype=dtype, device=device).triu(1)[None, None]


def vit_gpt2_stages(net) -> list[Stage]:
    """A ``VisionEncoderDecoderModel`` (ViT encoder, GPT-2 decoder) as a chain scoring the next caption token:
    ``vit.embed``, ``vit.layer{i}``, ``vit.norm`` (the encoder output, projected to the decoder's width when
    they differ), ``gpt2.embed``, ``gpt2.block{j}`` (each attends to the encoder output, which rides along),
    ``gpt2.head`` (the last position's logits). Input: ``(pixel_values [1, 3, H, W], caption ids [1, T])``;
    the ids ride along until the decoder embeds them."""
    enc, dec = net.encoder, net.decoder
    layers = getattr(enc, "layers", None) or enc.encoder.layer
    tr = dec.transformer
    proj = getattr(net, "enc_to_dec_proj", None)

    def embed(state):
        pixels, ids = state
        return enc.embeddings(pixels), ids

    def vit_layer(i):
        def fn(state):
            h, ids = state
            out = layers[i](h)
            return (out[0] if isinstance(out, tuple) else out), ids
        return fn

    def norm(state):
        h, ids = state
        memory = enc.layernorm(h)
        return (memory if proj is None else proj(memory)), ids

    def gpt2_embed(state):
        memory, ids = state
        pos = torch.arange(ids.shape[1], device=ids.device)[None]
        return tr.wte(ids) + tr.wpe(pos), memory

    def block(j):
        def fn(state):
            h, memory = state
            out = tr.h[j](h, attention_mask=_causal(h.shape[1], h.dtype, h.device), encoder_hidden_states=memory)
            return (out[0] if isinstance(out, tuple) else out), memory
        return fn

    def head(state):
        h, _ = state
        return dec.lm_head(tr.ln_f(h[:, -1]))

    stages = [Stage("vit.embed", embed, (enc.embeddings,))]
    stages += [Stage(f"vit.layer{i}", vit_layer(i), (layers[i],)) for i in range(len(layers))]
    stages.append(Stage("vit.norm", norm, (enc.layernorm,) + ((proj,) if proj is not None else ())))
    stages.append(Stage("gpt2.embed", gpt2_embed, (tr.wte, tr.wpe)))
    stages += [Stage(f"gpt2.block{j}", block(j), (tr.h[j],)) for j in range(len(tr.h))]
    stages.append(Stage("gpt2.head", head, (tr.ln_f, dec.lm_head)))
    return stages


def vit_gpt2_profile(net=None, *, config=None, caption_tokens: int = 8, name: str = "") -> ChainProfile:
    """The chain profile of a ViT-GPT2 captioner scoring the next token after ``caption_tokens`` tokens:
    ``net`` (a loaded ``VisionEncoderDecoderModel``) or ``config`` (built on the ``meta`` device; default
    :func:`captioner_architecture`). Input: the processed image's 8-bit pixels on the device; result:
    one token id back to the device."""
    from transformers import VisionEncoderDecoderModel

    if caption_tokens < 1:
        raise ConfigError(f"caption_tokens must be >= 1, got {caption_tokens}")
    if net is None:
        if config is None:
            config, source = captioner_architecture()
            name = name or source
        with torch.device("meta"):
            net = VisionEncoderDecoderModel(config=config)
    net.eval()
    enc_cfg, dec_cfg = net.config.encoder, net.config.decoder
    size = enc_cfg.image_size
    device = next(net.parameters()).device
    pixels = torch.zeros(1, enc_cfg.num_channels, size, size, device=device)
    ids = torch.zeros(1, caption_tokens, dtype=torch.long, device=device)
    id_bits = max(1, math.ceil(math.log2(dec_cfg.vocab_size)))
    return measure_chain(vit_gpt2_stages(net), (pixels, ids), input_bits=8 * pixels.numel() + caption_tokens * id_bits,
                         result_bits=token_packet_bits(1, id_bits), id_bits=id_bits,
                         name=name or f"ViT-GPT2 ({enc_cfg.num_hidden_layers}+{dec_cfg.n_layer} layers)")
