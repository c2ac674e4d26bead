"""Prompt normalisation: the token split both ends of the prompt codec agree on.

Normalisation is part of the codec's contract: the receiver gets back the normalised prompt exactly.

* lower-case (``str.lower``);
* split into tokens: words are runs of letters and digits, joined by inner hyphens or
  apostrophes (``t-shirt``, ``o'clock``); numbers keep inner ``.``, ``,`` and ``:`` between
  digits (``3.5``, ``10:30``); the clitics ``'s 're 've 'll 'd 'm n't`` are split off
  a word (``man's`` -> ``man 's``, ``don't`` -> ``do n't``); every other non-space
  character is a token of its own (punctuation, symbols), so nothing is lost;
* join the tokens with single spaces, except: no space before ``, . ; : ! ? ) ] } %``
  or a clitic, and none after ``( [ {``.

``normalize_prompt(normalize_prompt(x)) == normalize_prompt(x)`` for every text.

>>> normalize_prompt("A man's  T-shirt ( red ) , 3.5 m")
"a man's t-shirt (red), 3.5 m"
"""

from __future__ import annotations

import re
from typing import Sequence

from semcom.errors import InputError

_TOKEN_RE = re.compile(r"\d+(?:[.,:]\d+)+|[^\W_]+(?:['\-][^\W_]+)*|\S")
_CLITIC_RE = re.compile(r"^(.+?)(n't|'s|'re|'ve|'ll|'d|'m)$")
CLITICS = frozenset({"n't", "'s", "'re", "'ve", "'ll", "'d", "'m"})
"""Tokens split off the end of a word and written back against it, with no space before."""
_NO_SPACE_BEFORE = frozenset(",.;:!?)]}%")
_NO_SPACE_AFTER = frozenset("([{")


def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and split it into word and punctuation tokens (see module doc)."""
    if not isinstance(text, str):
        raise InputError(f"a prompt must be a str, got {type(text).__name__}")
    tokens: list[str] = []
    for tok in _TOKEN_RE.findall(text.lower()):
        m = _CLITIC_RE.match(tok) if "'" in tok else None
        if m and m.group(1)[-1].isalnum():
            tokens.append(m.group(1))
            tokens.append(m.group(2))
        else:
            tokens.append(tok)
    return tokens


def detokenize(tokens: Sequence[str]) -> str:
    """Join tokens into the normalised text (inverse of :func:`tokenize` on its own output)."""
    out: list[str] = []
    for i, tok in enumerate(tokens):
        if i > 0 and not (tok in _NO_SPACE_BEFORE or tok in CLITICS or tokens[i - 1] in _NO_SPACE_AFTER):
            out.append(" ")
        out.append(tok)
    return "".join(out)


def normalize_prompt(text: str) -> str:
    """The normalised form of a prompt: what the receiver gets back, word for word."""
    return detokenize(tokenize(text))


_CORPUS_CLITIC_RE = re.compile(r"\s+(n't|'s|'re|'ve|'ll|'d|'m)\b", re.IGNORECASE)


def corpus_tokens(line: str, *, strip_final_period: bool = True) -> list[str]:
    """Tokens of one training caption: clitics written apart (``man 's``) are rejoined first,
    and a final ``.`` is dropped (prompts usually have none; the end symbol ends them)."""
    tokens = tokenize(_CORPUS_CLITIC_RE.sub(r"\1", line))
    if strip_final_period and tokens and tokens[-1] == ".":
        tokens.pop()
    return tokens
