"""Prompt builder: caption + keywords -> the prompt to send, within a bit budget measured by the text codec.

Modes:

``caption``           the caption alone (the default);
``caption+keywords``  the caption, then ``", "`` and the keywords it does not already contain, best first;
``keywords``          the keywords alone, best first, joined by ``", "``.

When the encoded prompt (header included) exceeds ``max_bits``, the lowest-scoring keywords are
dropped first, then the caption is cut to its longest word prefix that fits (trailing function
words such as "with a" are dropped too, since they would only cost bits). The bits are those of a
real :meth:`TextCodec.encode`, never an estimate.

>>> from semcom.semantic import TextCodec
>>> codec = TextCodec.from_corpus(["a dog runs on the grass", "a man rides a red bike"])
>>> p = build_prompt("a dog runs on the grass", [], codec, max_bits=400)
>>> p.text, p.num_bits <= 400, p.truncated
('a dog runs on the grass', True, False)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from semcom.errors import ConfigError, InputError
from semcom.generative.keywords import Keyword
from semcom.semantic import EncodedPrompt, TextCodec, detokenize, tokenize

MODES = ("caption", "caption+keywords", "keywords")
_TRAILING = frozenset("a an the of on in at to with and or its his her their by for from is are , ; : -".split())


@dataclass
class Prompt:
    """The prompt to send and its code.

    text:     the normalised prompt (exactly what a correct receiver gets back).
    encoded:  the text codec's output (``encoded.bits`` go on air).
    keywords: keywords included; ``dropped``: keywords left out for the budget.
    truncated: the caption was cut to fit.
    """

    text: str
    encoded: EncodedPrompt
    keywords: list[Keyword] = field(default_factory=list)
    dropped: list[Keyword] = field(default_factory=list)
    truncated: bool = False

    @property
    def num_bits(self) -> int:
        return self.encoded.num_bits


def _join(caption_tokens: list[str], keywords: list[Keyword]) -> str:
    parts = [detokenize(caption_tokens)] if caption_tokens else []
    parts += [k.text for k in keywords]
    return ", ".join(p for p in parts if p)


def _trim(tokens: list[str]) -> list[str]:
    while tokens and tokens[-1] in _TRAILING:
        tokens = tokens[:-1]
    return tokens


def build_prompt(caption: str, keywords: list[Keyword], codec: TextCodec, max_bits: int | None = None,
                 mode: str = "caption") -> Prompt:
    """The prompt for ``caption`` and ``keywords`` whose code has at most ``max_bits`` bits (None: no limit).

    Raises InputError when not even the empty prompt fits (``max_bits`` below the codec header).
    """
    if mode not in MODES:
        raise ConfigError(f"unknown prompt mode {mode!r}; known: {', '.join(MODES)}")
    if max_bits is not None and max_bits < 1:
        raise ConfigError(f"max_bits must be >= 1, got {max_bits}")
    limit = float("inf") if max_bits is None else max_bits
    cap = [] if mode == "keywords" else tokenize(caption)
    kws: list[Keyword] = []
    if mode != "caption":
        present = set(cap)
        for k in sorted(keywords, key=lambda k: -k.score):
            words = tokenize(k.text)
            if words and not all(w in present for w in words) and all(k.text != q.text for q in kws):
                kws.append(k)
    dropped: list[Keyword] = []

    def encode(tokens: list[str], chosen: list[Keyword]) -> EncodedPrompt | None:
        try:
            enc = codec.encode(_join(tokens, chosen))
        except InputError:  # longer than the codec accepts at all
            return None
        return enc if enc.num_bits <= limit else None

    enc = encode(cap, kws)
    while enc is None and kws:
        dropped.insert(0, kws.pop())
        enc = encode(cap, kws)
    truncated = False
    if enc is None:
        lo, hi = 0, len(cap)  # longest prefix that fits: bits grow (almost always) with the prefix
        best = None
        while lo <= hi:
            mid = (lo + hi) // 2
            trial = encode(_trim(cap[:mid]), [])
            if trial is not None:
                best, lo = trial, mid + 1
            else:
                hi = mid - 1
        for n in range(lo - 1, -1, -1):  # the search may land on a prefix whose trimmed form does not fit
            if best is not None:
                break
            best = encode(_trim(cap[:n]), [])
        enc, truncated = best, True
    if enc is None:
        raise InputError(f"no prompt fits in {max_bits} bits: the codec header alone takes {codec.header_bits}")
    return Prompt(enc.text, enc, kws, dropped, truncated)
