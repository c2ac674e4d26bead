"""Test doubles of the generative stages: tiny randomly initialised models built from configs, offline.

Importing this module registers them (production code never does):

``tiny-vit-gpt2``          in :data:`~semcom.generative.captioner.CAPTIONERS`: the ViT-GPT2 captioner's code
                           path on a tiny random model (:func:`tiny_vit_gpt2`); its captions are word salad
                           from a small caption vocabulary.
``tiny-stable-diffusion``  in :data:`~semcom.generative.generator.GENERATORS`: the Stable Diffusion
                           pipelines on tiny random components built under a fixed seed (as diffusers' own
                           tests do): 32 px, 2 steps.

The test suite imports it in ``tests/conftest.py``; on the command line, ``--plugin semcom.testing``;
in an experiment config, ``plugins = ["semcom.testing"]``.

>>> import numpy as np
>>> import semcom.testing
>>> from semcom.generative import CAPTIONERS
>>> cap = CAPTIONERS.create("tiny-vit-gpt2").caption(np.zeros((32, 32, 3), np.uint8))
>>> isinstance(cap.text, str) and len(cap.token_confidences) == len(cap.tokens)
True
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from semcom.generative.captioner import CAPTIONERS, VitGpt2Captioner, image_processor_class
from semcom.generative.generator import GENERATORS, StableDiffusionGenerator
from semcom.generative.weights import TEST_DOUBLE
from semcom.extras import require


# ------------------------------------------------------------------------------------ captioner

#: Words of the tiny captioner's vocabulary (all common in image captions).
TINY_WORDS = (
    "a an the of on in with and at near is are two three man woman boy girl child people dog cat horse bird "
    "car bike boat house building door window tree trees grass field water sea beach river mountain sky road "
    "street snow red blue green white black yellow brown small large old wooden stone standing sitting "
    "running walking playing riding flying holding wearing hat shirt ball flowers table chair"
).split()
_CAPTION_SPECIALS = ("<|endoftext|>", "<unk>")


def tiny_caption_tokenizer(words: tuple[str, ...] = TINY_WORDS):
    """A word-level fast tokenizer over ``words`` (GPT-2's ``<|endoftext|>`` as BOS/EOS/pad), built offline."""
    require("tokenizers", "the tiny caption tokenizer")
    require("transformers", "the tiny caption tokenizer")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(list(_CAPTION_SPECIALS) + list(words))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.decoder = decoders.WordPiece(prefix="##")  # joins words with single spaces
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>", unk_token="<unk>")


def tiny_vit_gpt2(seed: int = 0, image_size: int = 32):
    """(model, image processor, tokenizer): a randomly initialised ViT-GPT2 with 2 tiny layers each side.

    Same classes as the real captioner, so the whole pipeline runs without downloaded weights.
    """
    require("transformers", "the tiny ViT-GPT2 test double")
    from transformers import GPT2Config, ViTConfig, VisionEncoderDecoderConfig, VisionEncoderDecoderModel

    tokenizer = tiny_caption_tokenizer()
    encoder = ViTConfig(image_size=image_size, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64)
    eos = tokenizer.eos_token_id
    decoder = GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                         bos_token_id=eos, eos_token_id=eos, add_cross_attention=True, is_decoder=True)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = eos
    config.pad_token_id = eos
    config.eos_token_id = eos
    fork = torch.random.fork_rng()
    with fork:
        torch.manual_seed(seed)
        model = VisionEncoderDecoderModel(config=config)
    model.generation_config.decoder_start_token_id = eos
    model.generation_config.pad_token_id = eos
    model.generation_config.eos_token_id = eos
    # random weights: keep a few distinct known words before the end token, as a real captioner would
    model.generation_config.min_new_tokens = 4
    model.generation_config.no_repeat_ngram_size = 1
    model.generation_config.suppress_tokens = [tokenizer.unk_token_id]
    processor = image_processor_class()(size={"height": image_size, "width": image_size}, do_resize=True,
                                         do_normalize=True, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    return model.eval(), processor, tokenizer


@CAPTIONERS.register("tiny-vit-gpt2")
def make_tiny_vit_gpt2(seed: int = 0, max_tokens: int = 8, **_ignored) -> VitGpt2Captioner:
    """The ViT-GPT2 captioner on :func:`tiny_vit_gpt2` components (a test double: random weights)."""
    cap = VitGpt2Captioner(model=f"tiny-vit-gpt2(seed={seed})", max_tokens=max_tokens,
                           components=tiny_vit_gpt2(seed), kind=TEST_DOUBLE)
    cap.name = "tiny-vit-gpt2"
    return cap


# ------------------------------------------------------------------------------------ generator


def _byte_symbols() -> list[str]:
    """GPT-2/CLIP's printable stand-in for each of the 256 bytes (the byte-level BPE alphabet)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), 256))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return [out[b] for b in range(256)]


def tiny_clip_tokenizer(folder: str | Path | None = None):
    """A CLIP tokenizer with a tiny byte-level vocabulary (each byte symbol, alone and word-final, no
    merges), written to ``folder`` (a temporary one by default) as vocab.json + merges.txt."""
    require("transformers", "the tiny CLIP tokenizer")
    from transformers import CLIPTokenizer

    symbols = list(_byte_symbols())
    tokens = ["<|startoftext|>", "<|endoftext|>"] + symbols + [s + "</w>" for s in symbols]
    vocab = {t: i for i, t in enumerate(tokens)}
    folder = Path(folder or tempfile.mkdtemp(prefix="tiny-clip-tokenizer-"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True, model_max_length=77)


def tiny_stable_diffusion(seed: int = 0):
    """A ``StableDiffusionPipeline`` of tiny random components (UNet block_out_channels=(32, 64),
    2-block VAE, 2-layer CLIP text encoder), built from configs under ``seed``: 32 px images."""
    require("diffusers", "the tiny Stable Diffusion test double")
    require("transformers", "the tiny Stable Diffusion test double")
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = tiny_clip_tokenizer()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32)
        vae = AutoencoderKL(block_out_channels=[32, 32], in_channels=3, out_channels=3, latent_channels=4,
                            down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                            layers_per_block=1, norm_num_groups=32, sample_size=32)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
            num_attention_heads=4, num_hidden_layers=2, vocab_size=len(tokenizer), layer_norm_eps=1e-5,
            max_position_embeddings=77))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    return StableDiffusionPipeline(vae=vae.eval(), text_encoder=text_encoder.eval(), tokenizer=tokenizer,
                                   unet=unet.eval(), scheduler=scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)


def tiny_controlnet(seed: int = 0):
    """A ``ControlNetModel`` of tiny random weights matching :func:`tiny_stable_diffusion`'s UNet."""
    from diffusers import ControlNetModel

    with torch.random.fork_rng():
        torch.manual_seed(seed + 1)
        return ControlNetModel(block_out_channels=(32, 64), layers_per_block=1, in_channels=4,
                               down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), cross_attention_dim=32,
                               attention_head_dim=8, norm_num_groups=32,
                               conditioning_embedding_out_channels=(16, 32)).eval()


@GENERATORS.register("tiny-stable-diffusion")
def make_tiny_stable_diffusion(seed: int = 0, steps: int = 2, guidance: float = 2.0, scheduler: str | None = None,
                               strength: float = 0.75, device: str = "cpu", dtype: str | None = None,
                               controlnet: str | None = None, **_ignored) -> StableDiffusionGenerator:
    """The Stable Diffusion generator on :func:`tiny_stable_diffusion` (a test double: random weights);
    with ``controlnet`` (any name), a tiny random ControlNet too."""
    gen = StableDiffusionGenerator(model=f"tiny-stable-diffusion(seed={seed})", steps=steps, guidance=guidance,
                                   scheduler=scheduler, strength=strength, device=device, dtype=dtype,
                                   controlnet=tiny_controlnet(seed) if controlnet else None,
                                   pipeline=tiny_stable_diffusion(seed), kind=TEST_DOUBLE)
    gen.name = "tiny-stable-diffusion"
    return gen
