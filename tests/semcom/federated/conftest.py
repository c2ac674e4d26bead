"""Tiny federated set-ups: a prompt codec built in seconds from a few hundred Flickr8k captions."""

from __future__ import annotations

import numpy as np
import pytest


HELD_OUT = ("snow", "mountains")


@pytest.fixture(scope="session")
def tiny_split():
    from semcom.federated.prompt_lm import split_captions
    from semcom.semantic.corpus import default_data_dir, load_flickr8k_pairs

    return split_captions(load_flickr8k_pairs(default_data_dir())[:3000], HELD_OUT, test_share=0.3)


@pytest.fixture(scope="session")
def tiny_base(tiny_split):
    """A prompt codec (n-gram + 8-unit LSTM, random 32-d word vectors) of 400 base captions."""
    import torch

    from semcom.federated.prompt_lm import build_base

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    return build_base(tiny_split.base[:400], hidden=8, epochs=0.3, dim=16, general={}, negatives=50,
                      embed=lambda words: rng.standard_normal((len(words), 32)).astype(np.float32), log=lambda _: None)


@pytest.fixture
def tiny_task(tiny_split, tiny_base):
    from semcom.federated.prompt_lm import make_prompt_lm_task

    return lambda clients=2, **kw: make_prompt_lm_task(tiny_split, tiny_base, clients, test_captions=20, negatives=50, **kw)


@pytest.fixture(scope="session")
def minilm_base(tiny_split):
    """A prompt codec of 40 base captions with the real MiniLM word vectors (as every KB end computes them)."""
    import torch

    from semcom.federated.prompt_lm import build_base

    torch.manual_seed(0)
    return build_base(tiny_split.base[:40], hidden=8, epochs=0.5, dim=16, general={}, negatives=20, log=lambda _: None)
