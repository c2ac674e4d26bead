"""Generative semantic communication: caption -> prompt bits -> digital link -> text-to-image generator.

Stages, each found by name in its registry and swappable:

* :mod:`~semcom.generative.captioner`: :data:`CAPTIONERS` (``vit-gpt2``, ``reference``);
* :mod:`~semcom.generative.keywords`: :data:`KEYWORD_EXTRACTORS` (``yake``, ``keybert``, ``none``);
* :mod:`~semcom.generative.prompt`: :func:`build_prompt` within a bit budget;
* :mod:`~semcom.generative.side_info`: :class:`ThumbnailSideInfo`;
* :mod:`~semcom.generative.generator`: :data:`GENERATORS` (``stable-diffusion``, ``fallback``);
* :mod:`~semcom.generative.semantic_metrics`: exact match, WER, MiniLM similarity, keyword recall, CLIP score;

The end-to-end scheme ``gai`` that joins these stages is :mod:`semcom.schemes.gai`.

Tiny random test doubles of the captioner and the generator (``tiny-vit-gpt2``, ``tiny-stable-diffusion``)
are registered by :mod:`semcom.testing` (``--plugin semcom.testing``). Heavy libraries (transformers,
diffusers, sentence-transformers, yake, keybert) load on first use.
"""

from semcom.generative.captioner import CAPTIONERS, Caption, Captioner, ReferenceCaptioner, VitGpt2Captioner
from semcom.generative.generator import GENERATORS, FallbackGenerator, ImageGenerator, StableDiffusionGenerator
from semcom.generative.keywords import KEYWORD_EXTRACTORS, Keyword, KeywordExtractor
from semcom.generative.prompt import Prompt, build_prompt
from semcom.generative.semantic_metrics import (
    clip_score,
    keyword_recall,
    prompt_exact,
    semantic_similarity,
    word_error_rate,
)
from semcom.generative.side_info import SideInfo, ThumbnailSideInfo

__all__ = [
    "CAPTIONERS", "Caption", "Captioner", "ReferenceCaptioner", "VitGpt2Captioner",
    "GENERATORS", "FallbackGenerator", "ImageGenerator", "StableDiffusionGenerator",
    "KEYWORD_EXTRACTORS", "Keyword", "KeywordExtractor", "Prompt", "build_prompt",
    "clip_score", "keyword_recall", "prompt_exact", "semantic_similarity", "word_error_rate",
    "SideInfo", "ThumbnailSideInfo",
]
