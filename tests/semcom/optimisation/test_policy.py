"""The prompt model: word-level tokenizer with <sep>, extractive decoding, supervised prompt forms."""

from __future__ import annotations

import torch

from semcom.optimisation.policy import SEP, PromptPolicy, supervised_fine_tune, usable_captions


def is_subsequence(prompt: list[str], caption: list[str]) -> bool:
    it = iter(caption)
    return all(any(w == c for c in it) for w in prompt)


def test_extractive_prompts_are_the_caption_shortened():
    policy = PromptPolicy.from_caption_lm("small")
    policy.extractive = True
    caption = "a dog runs on the grass with a ball"
    gen = torch.Generator().manual_seed(0)
    for prompt in policy.prompts(caption) + policy.prompts(caption, 8, sample=True, temperature=1.5, generator=gen):
        assert is_subsequence(prompt.split(), caption.split()), prompt
    ids = policy.encode_context(caption)
    assert ids[0] == 1 and ids[-1] == policy.sep_id == len(policy.words) - 1 and policy.words[-1] == SEP


def test_supervised_forms_are_learnt_and_captions_filtered():
    policy = PromptPolicy.from_caption_lm("small")
    examples = [("a dog runs on the grass", "a dog"), ("a man rides a horse on the beach", "a man")] * 8
    facts = supervised_fine_tune(policy, examples, steps=60, batch=8, lr=1e-2)
    assert facts["final_loss"] < 0.5
    assert policy.prompts("a dog runs on the grass") == ["a dog"]
    assert usable_captions(policy, ["a dog runs", "a zyxwv runs", "a dog runs", "dog"]) == ["a dog runs"]
