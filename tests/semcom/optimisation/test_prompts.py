"""Structured prompts at the edge: parsed, generated, scored with the codec's real bits, checked."""

from __future__ import annotations

import pytest

from semcom.errors import InputError
from semcom.network.fidelity import token_f1
from semcom.optimisation.prompts import ScoredPrompt, best_prompt, parse_caption, score_prompts, templates


def test_parse_subject_attributes_action_scene():
    p = parse_caption("A black dog is running through the white snow.")
    assert p.subject == ["a", "black", "dog"] and p.head == "dog" and p.attributes == ["black"]
    assert p.action == ["is", "running"] and p.scene == ["through", "the", "white", "snow"]
    q = parse_caption("two children on a beach")
    assert q.subject == ["two", "children"] and q.action == [] and q.scene == ["on", "a", "beach"]
    with pytest.raises(InputError):
        parse_caption("...")


def test_templates_are_distinct_and_structured():
    t = templates("a black dog is running through the white snow")
    assert t["subject-scene"] == "a black dog through the white snow"
    assert t["structured"] == "subject dog attributes black scene through white snow"
    assert len(set(t.values())) == len(t)
    assert "subject-action-scene" not in t  # equal to the caption here, kept once
    assert list(templates("a dog")) == ["caption", "no-articles", "structured"]


def test_scores_use_the_codecs_bits_and_the_check_picks_under_a_price():
    from semcom.semantic import TEXT_CODECS

    codec = TEXT_CODECS.create("ngram")
    caption = "a black dog is running through the white snow"
    scored = {s.name: s for s in score_prompts(caption, templates(caption), codec, token_f1)}
    assert all(s.checked for s in scored.values())
    assert scored["caption"].bits == codec.encode(caption).num_bits and scored["caption"].similarity == 1.0
    assert scored["subject"].bits < scored["caption"].bits
    free = best_prompt(list(scored.values()), price_per_bit=0.0)
    assert free.name == "caption"
    # a word list codes worse than a sentence: the structured form costs the most bits
    assert scored["structured"].bits == max(s.bits for s in scored.values())
    dear = best_prompt(list(scored.values()), price_per_bit=0.05, min_similarity=0.3)
    assert dear.bits < scored["caption"].bits
    assert dear.utility(0.05) == max(s.utility(0.05) for s in scored.values() if s.similarity >= 0.3)


def test_unchecked_prompts_are_never_picked():
    bad = ScoredPrompt("subject", "a dog", 10, 0.9, checked=False)
    whole = ScoredPrompt("caption", "a dog runs", 40, 1.0, checked=True)
    assert best_prompt([bad, whole], price_per_bit=0.01) is whole
    with pytest.raises(InputError):
        best_prompt([bad], price_per_bit=0.01)
