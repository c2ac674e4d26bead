"""How much of the meaning arrived: exact match, word error rate, MiniLM similarity, keyword recall, CLIP score.

All text comparisons use the text codec's normalisation (:func:`semcom.semantic.normalize_prompt`):
case, spacing and clitics do not count as errors, since the codec does not send them.

>>> word_error_rate("a dog on the grass", "a cat on grass")
0.4
>>> keyword_recall(["red door", "stone"], "a red wooden door")
0.5
"""

from __future__ import annotations

import numpy as np

from semcom.errors import WeightsNotFoundError
from semcom.semantic import minilm_similarity, normalize_prompt, tokenize

_STOP = frozenset("a an the of on in at to with and or is are its his her their by for from".split())


def prompt_exact(sent: str, received: str | None) -> int:
    """1 when the received prompt is the sent one (after normalisation), else 0."""
    return int(received is not None and normalize_prompt(sent) == normalize_prompt(received))


def _edit_distance(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def word_error_rate(reference: str, hypothesis: str | None) -> float:
    """(substitutions + deletions + insertions) / reference words, over normalised tokens.

    An empty reference gives 0 for an empty hypothesis and 1 otherwise. Uses ``jiwer`` when it is
    installed, else the same Levenshtein distance computed here.
    """
    ref = tokenize(reference)
    hyp = tokenize(hypothesis or "")
    if not ref:
        return 0.0 if not hyp else 1.0
    if not hyp:
        return 1.0
    try:
        import jiwer

        return float(jiwer.wer(" ".join(ref), " ".join(hyp)))
    except ImportError:
        return _edit_distance(ref, hyp) / len(ref)


def semantic_similarity(sent: str, received: str | None, model_path: str | None = None) -> float | None:
    """:func:`~semcom.semantic.minilm.minilm_similarity` of the received prompt to the sent one, in [0, 1];
    None when the MiniLM sentence model is not installed here (the metric is then left out)."""
    try:
        return minilm_similarity(sent, received, model_path)
    except (WeightsNotFoundError, ImportError):
        return None


def content_words(text: str) -> list[str]:
    """Tokens of ``text`` that are words and not stop words, in order, without repeats."""
    seen, out = set(), []
    for tok in tokenize(text):
        if tok[0].isalnum() and tok not in _STOP and tok not in seen:
            seen.add(tok)
            out.append(tok)
    return out


def keyword_recall(keywords: list[str], received: str | None) -> float:
    """Share of ``keywords`` all of whose content words are in the received text (1 when there are none)."""
    phrases = [content_words(k) or tokenize(k) for k in keywords]
    phrases = [p for p in phrases if p]
    if not phrases:
        return 1.0
    words = set(tokenize(received or ""))
    return sum(all(w in words for w in p) for p in phrases) / len(phrases)


_CLIP: dict[str, object] = {}


def clip_score(image: np.ndarray, text: str, model: str = "openai/clip-vit-base-patch32") -> float | None:
    """CLIP score 100 x max(cos(image, text), 0), only when the CLIP weights are on this machine
    (local folder or Hugging Face cache); None otherwise. Nothing is downloaded."""
    if not text:
        return None
    if model not in _CLIP:
        try:
            import transformers
            from transformers import CLIPModel

            processor_cls = getattr(transformers, "CLIPProcessorPil", None) or transformers.CLIPProcessor
            _CLIP[model] = (CLIPModel.from_pretrained(model, local_files_only=True).eval(),
                            processor_cls.from_pretrained(model, local_files_only=True))
        except Exception:  # weights absent (or unusable) here: no score rather than a guess
            _CLIP[model] = None
    if _CLIP[model] is None:
        return None
    net, processor = _CLIP[model]
    import torch
    from PIL import Image

    with torch.no_grad():
        inputs = processor(text=[text], images=Image.fromarray(image), return_tensors="pt", padding=True,
                           truncation=True)
        out = net(**inputs)
        img = out.image_embeds / out.image_embeds.norm(dim=-1, keepdim=True)
        txt = out.text_embeds / out.text_embeds.norm(dim=-1, keepdim=True)
        return float(100.0 * max(float((img * txt).sum()), 0.0))
