"""The generative stages on their own: captioners, keyword extractors, the prompt within a budget, metrics."""

import json

import numpy as np
import pytest

from semcom.errors import InputError, WeightsNotFoundError
from semcom.generative import (
    CAPTIONERS,
    KEYWORD_EXTRACTORS,
    Keyword,
    StableDiffusionGenerator,
    VitGpt2Captioner,
    build_prompt,
    keyword_recall,
    prompt_exact,
    semantic_similarity,
    word_error_rate,
)
from semcom.images import load_image
from semcom.schemes import make_scheme
from semcom.schemes.gai import get_text_codec

CAPTION = "a man in a blue jacket riding a brown horse along a snowy mountain road"


@pytest.fixture(scope="module")
def codec():
    return get_text_codec()


def image(seed=0, shape=(40, 56)):
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3)).astype(np.uint8)


def test_reference_captioner(image_folder, tmp_path):
    folder = image_folder(tmp_path / "images", n=2)
    captions = {"images": {"im0.png": {"caption": CAPTION, "keywords": ["man", "horse"]},
                           "im1.png": {"caption": "a cup of coffee"}}}
    (folder / "captions.json").write_text(json.dumps(captions))
    cap = CAPTIONERS.create("reference", captions=folder / "captions.json")
    assert cap.caption(load_image(folder / "im0.png")).text == CAPTION
    assert cap.caption_for("im0.png").keywords == ["man", "horse"]
    with pytest.raises(InputError, match="matches none"):
        cap.caption(image(9))


def test_tiny_captioner_reports_token_confidences():
    cap = CAPTIONERS.create("tiny-vit-gpt2").caption(image(4))
    assert cap.text and len(cap.tokens) == len(cap.token_confidences) > 0
    assert all(0.0 < p <= 1.0 for p in cap.token_confidences)


@pytest.mark.parametrize("name", ["yake", "keybert"])
def test_keyword_extractors(name):
    found = KEYWORD_EXTRACTORS.create(name, top=3).extract(CAPTION)
    assert 0 < len(found) <= 3 and all(isinstance(k, Keyword) and k.text for k in found)
    assert [k.score for k in found] == sorted((k.score for k in found), reverse=True)
    assert KEYWORD_EXTRACTORS.create(name).extract("") == []


@pytest.mark.parametrize("budget", [30, 48, 64, 100, 400])
def test_prompt_fits_its_budget(codec, budget):
    caption = "a man in a blue jacket riding a brown horse along a snowy mountain road next to a frozen lake"
    kws = [Keyword("horse", 0.9), Keyword("frozen lake", 0.5), Keyword("mountain sunset", 0.2)]
    for mode in ("caption", "caption+keywords", "keywords"):
        p = build_prompt(caption, kws, codec, budget, mode)
        assert p.num_bits <= budget
        assert codec.decode(p.encoded.bits).text == p.text
    full = build_prompt(caption, [], codec, None)
    assert full.text == caption and not full.truncated
    with pytest.raises(InputError):
        build_prompt(caption, [], codec, codec.header_bits - 1)


def test_prompt_drops_lowest_scoring_keywords_first(codec):
    kws = [Keyword("horse", 0.9), Keyword("sunset", 0.1)]
    unlimited = build_prompt("a man", kws, codec, None, "caption+keywords")
    assert unlimited.text == "a man, horse, sunset"
    tight = build_prompt("a man", kws, codec, codec.bits_for("a man, horse"), "caption+keywords")
    assert tight.text == "a man, horse" and [k.text for k in tight.dropped] == ["sunset"]


def test_missing_weights_name_the_model(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="nlpconnect/vit-gpt2-image-captioning") as err:
        VitGpt2Captioner()
    assert "huggingface-cli download" in str(err.value) and "--captioner-model" in str(err.value)
    missing = tmp_path / "sd-folder"
    missing.mkdir()
    with pytest.raises(WeightsNotFoundError, match="sd-folder") as err:
        StableDiffusionGenerator(model=str(missing))
    assert "--generator-model" in str(err.value)
    with pytest.raises(WeightsNotFoundError):
        make_scheme("gai", captioner="tiny-vit-gpt2", generator="stable-diffusion", strict=True)


def test_semantic_metrics():
    assert prompt_exact("A dog.", "a dog.") == 1 and prompt_exact("a dog", None) == 0
    assert word_error_rate("a dog on the grass", "a cat on grass") == pytest.approx(0.4)
    assert word_error_rate("a dog", "") == 1.0
    assert keyword_recall(["red door", "stone"], "a red wooden door") == 0.5
    near = semantic_similarity("a dog runs on the grass", "a puppy running in a field")
    far = semantic_similarity("a dog runs on the grass", "a red car parked in a street")
    assert 0 < far < near < 1
