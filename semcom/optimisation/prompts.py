"""Structured prompts generated and checked at the edge: subject / attributes / scene.

:func:`parse_caption` splits a caption into a subject phrase (its head noun and the attribute words
before it), an action (the verb phrase) and a scene (from the first place preposition on), by word
lists: captions are short and regular ("a black dog is running through the snow"). :func:`templates`
builds the prompt forms a transmitter can send, from the whole caption down to the subject alone, and
the structured ``subject: ...; attributes: ...; scene: ...`` form. :func:`score_prompts` measures
each at the edge -- exact bits with the prompt codec, MiniLM similarity to the caption, and a check
that the bits decode back to the prompt -- and :func:`best_prompt` picks the one of highest
``similarity - price_per_bit x bits`` among those that pass the check and keep at least
``min_similarity`` (the whole caption when none does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from semcom.errors import InputError
from semcom.semantic import normalize_prompt, tokenize

ARTICLES = frozenset("a an the".split())
PLACES = frozenset("in on at through near by under over across along into onto beside behind inside outside "
                   "around between towards toward down up from with".split())
VERBS = frozenset("is are sits sit stands stand lies lie walks walk runs run plays play jumps jump rides ride "
                  "holds hold looks look waits wait swims swim climbs climb has have wears wear".split())
TEMPLATE_NAMES = ("caption", "no-articles", "subject-action-scene", "subject-scene", "subject-action", "subject",
                  "structured")


@dataclass(frozen=True)
class CaptionParts:
    subject: list[str]      # the subject phrase ("a black dog")
    head: str               # its last word ("dog")
    attributes: list[str]   # the subject's words but articles and the head ("black")
    action: list[str]       # the verb phrase up to the scene ("is running")
    scene: list[str]        # from the first place preposition on ("through the snow")


def parse_caption(caption: str) -> CaptionParts:
    """Split a caption into subject, attributes, action and scene (module doc)."""
    words = [w for w in tokenize(caption) if w[0].isalnum()]
    if not words:
        raise InputError(f"nothing to parse in caption {caption!r}")
    verb = next((i for i, w in enumerate(words) if i > 0 and (w in VERBS or (w.endswith("ing") and len(w) > 4))),
                None)
    place = next((i for i, w in enumerate(words) if i > 0 and w in PLACES and (verb is None or i > verb)), None)
    end_subject = min(i for i in (verb, place, len(words)) if i is not None)
    subject = words[:end_subject]
    action = words[end_subject:place] if verb is not None else []
    scene = words[place:] if place is not None else []
    head = subject[-1]
    return CaptionParts(subject, head, [w for w in subject[:-1] if w not in ARTICLES], action, scene)


def templates(caption: str) -> dict[str, str]:
    """Every prompt form of :data:`TEMPLATE_NAMES` for ``caption`` (forms that come out equal are kept once)."""
    p = parse_caption(caption)
    words = [w for w in tokenize(caption) if w[0].isalnum()]
    forms = {
        "caption": " ".join(words),
        "no-articles": " ".join(w for w in words if w not in ARTICLES),
        "subject-action-scene": " ".join(p.subject + p.action + p.scene),
        "subject-scene": " ".join(p.subject + p.scene),
        "subject-action": " ".join(p.subject + p.action),
        "subject": " ".join(p.subject),
        "structured": f"subject {p.head}" + (f" attributes {' '.join(p.attributes)}" if p.attributes else "")
                      + (f" scene {' '.join(w for w in p.scene if w not in ARTICLES)}" if p.scene else ""),
    }
    out, seen = {}, set()
    for name, text in forms.items():
        key = normalize_prompt(text)
        if key and key not in seen:
            seen.add(key)
            out[name] = text
    return out


@dataclass(frozen=True)
class ScoredPrompt:
    name: str
    text: str
    bits: int
    similarity: float
    checked: bool  # its bits decode back to it with the codec

    def utility(self, price_per_bit: float) -> float:
        return self.similarity - price_per_bit * self.bits


def score_prompts(caption: str, prompts: dict[str, str], codec, similarity: Callable[[str, str], float]) -> list[ScoredPrompt]:
    """Bits (codec, header included), similarity to ``caption`` and the decode check of each prompt."""
    out = []
    for name, text in prompts.items():
        encoded = codec.encode(text)
        decoded = codec.decode(encoded.bits)
        checked = bool(decoded.ok) and normalize_prompt(decoded.text) == normalize_prompt(text)
        out.append(ScoredPrompt(name, text, int(encoded.num_bits), float(similarity(caption, text)), checked))
    return out


def best_prompt(scored: Sequence[ScoredPrompt], *, price_per_bit: float = 0.004,
                min_similarity: float = 0.6) -> ScoredPrompt:
    """The checked prompt of highest utility with similarity >= ``min_similarity``; the caption form otherwise."""
    ok = [s for s in scored if s.checked and s.similarity >= min_similarity]
    if ok:
        return max(ok, key=lambda s: s.utility(price_per_bit))
    fallback = [s for s in scored if s.name == "caption"]
    if not fallback:
        raise InputError("no prompt passed the edge's check and there is no caption form to fall back to")
    return fallback[0]
