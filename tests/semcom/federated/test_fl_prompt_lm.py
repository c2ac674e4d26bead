"""The prompt-LM task: topics, the split, training lowers the held-out code length, real codec bits, publishing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcom.errors import ConfigError
from semcom.federated.prompt_lm import TOPIC_WORDS, image_topic, prompt_bits, publish_codec, split_captions
from semcom.federated.task import POOLED, TrainSettings, local_train
from semcom.semantic.tokens import corpus_tokens


def test_an_image_takes_the_topic_its_captions_name_most():
    caps = [corpus_tokens(c) for c in ("A skier on the snow .", "Two dogs play in the snow", "a dog runs")]
    assert image_topic(caps) == "snow"
    assert image_topic([corpus_tokens("a man sits on a bench")]) == "other"
    assert set(TOPIC_WORDS) >= {"snow", "mountains", "ball_sports"}


def test_split_keeps_held_out_topics_off_the_base_and_images_whole(tiny_split):
    base_images = {img for img, _ in tiny_split.base}
    device_images = {img for img, _ in tiny_split.devices}
    test_images = {img for img, _ in tiny_split.test}
    assert not (base_images & device_images or base_images & test_images or device_images & test_images)
    assert all(tiny_split.topics[img] in tiny_split.held_out for img in device_images | test_images)
    assert all(tiny_split.topics[img] not in tiny_split.held_out for img in base_images)
    with pytest.raises(ConfigError):
        split_captions([("a", "a dog")], ["volcanoes"])


def test_local_training_lowers_the_held_out_code_length(tiny_task):
    task = tiny_task(2)
    model = task.build_model()
    before = task.evaluate(model)
    stats = local_train(task, model, POOLED, TrainSettings(steps=15, batch=8, lr=3e-2), torch.Generator().manual_seed(0))
    after = task.evaluate(model)
    assert stats.examples == 120 and stats.flops > 0
    assert after < before - 1.0


def test_flops_grow_with_the_batch(tiny_task):
    task = tiny_task(2)
    model = task.build_model()
    g = torch.Generator().manual_seed(0)
    small, large = task.sample_batch(0, 2, g), task.sample_batch(0, 8, g)
    assert 0 < task.forward_flops(model, small) < task.forward_flops(model, large)


def test_ideal_bits_match_the_real_codec(tiny_task, tmp_path):
    task = tiny_task(2)
    model = task.build_model()
    ideal = task.caption_bits(model)
    real = prompt_bits(task.base, model, task.test_captions, tmp_path / "ck")
    header = 8 + 14
    # the codec's real bits follow the ideal code length of its mixture to a few bits per caption
    # (coder termination, frequencies rounded to 2**-30, repeats of spelled words priced apart)
    assert abs(np.mean(real - header) - np.mean(ideal)) < 2.0
    assert np.abs(real - header - ideal).max() < 8.0
    assert np.corrcoef(real, ideal)[0, 1] > 0.99


def test_the_adapted_codec_is_published_as_a_signed_version(tiny_split, minilm_base, tmp_path):
    from knowledge_base import Ed25519Signer, KnowledgeBase, UpdateRejected, apply_update
    from semcom.semantic.knowledge import codec_from_kb

    from semcom.federated.prompt_lm import make_prompt_lm_task

    task = make_prompt_lm_task(tiny_split, minilm_base, 2, test_captions=5, negatives=20)
    model = task.build_model()
    local_train(task, model, POOLED, TrainSettings(steps=5, batch=8, lr=3e-2), torch.Generator().manual_seed(0))
    signer = Ed25519Signer.generate()
    with KnowledgeBase(tmp_path / "server.sqlite") as server, KnowledgeBase(tmp_path / "device.sqlite") as device:
        published = publish_codec(server, task.base, model, tmp_path / "models", signer, sequence=1)
        previous, version, update = published.previous, published.version, published.update
        assert server.head == version and len(server.versions()) == 2
        # a new device gets the base version, then the signed update brings it to the adapted codec
        apply_update(device, published.base_update, signer.verifier())
        tampered = bytearray(update)
        tampered[len(tampered) // 2] ^= 1
        with pytest.raises(UpdateRejected):
            apply_update(device, bytes(tampered), signer.verifier())
        assert device.head == previous
        result = apply_update(device, update, signer.verifier())
        assert result.head == version
        sent = codec_from_kb(server).encode(task.test_captions[0])
        assert codec_from_kb(device).decode(sent.bits).text == sent.text
