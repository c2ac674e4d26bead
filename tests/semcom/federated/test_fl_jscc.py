"""The JSCC task on a tiny checkpoint: the new channel, crops, FLOPs, PSNR, LoRA on convolutions."""

from __future__ import annotations

import math

import pytest
import torch

from semcom.federated.jscc import JSCCSettings, make_jscc_task
from semcom.federated.model import LoraSettings, prepare_model, trainable_arrays
from semcom.federated.task import TrainSettings, local_train
from semcom.jscc import JSCCConfig, JSCCModel, save_checkpoint
from semcom.jscc.data import load_images


@pytest.fixture
def task(tmp_path, image_folder):
    ck = save_checkpoint(JSCCModel(JSCCConfig(widths=(8, 8, 8, 8), blocks=(0, 1, 0, 0)), seed=0), tmp_path / "tiny-awgn",
                         dtype=torch.float32)
    images = load_images(image_folder(tmp_path / "images", n=6, size=(64, 64)))
    settings = JSCCSettings(checkpoint=str(ck), crop=32, val_crop=32, eval_snr_db=(5.0, 15.0))
    return make_jscc_task(settings, images[:4], images[4:], 2)


def test_the_model_runs_on_the_new_channel(task):
    model = task.build_model()
    assert model.link.channel.name == "rayleigh" and model.training
    assert [task.client_examples(k) for k in range(2)] == [2, 2]
    x, snr = task.sample_batch(0, 3, torch.Generator().manual_seed(0))
    assert x.shape == (3, 3, 32, 32) and snr.shape == (3,) and 0 <= float(snr.min()) <= float(snr.max()) <= 20
    assert task.forward_flops(model, (x, snr)) > 0


def test_training_lowers_the_loss_and_psnr_is_a_number(task):
    model = task.build_model()
    before = task.evaluate(model)
    g = torch.Generator().manual_seed(0)
    first = local_train(task, model, 0, TrainSettings(steps=1, batch=4, lr=1e-2), g)
    for _ in range(3):
        last = local_train(task, model, 0, TrainSettings(steps=10, batch=4, lr=1e-2), g)
    assert last.loss < first.loss
    assert math.isfinite(before) and task.evaluate(model) > before


def test_lora_wraps_the_channel_facing_convolutions(task):
    model = prepare_model(task.build_model(), lora=LoraSettings(2, 4.0, ("to_channel", "from_channel", "fc1")))
    names = set(trainable_arrays(model))
    assert any(n.startswith("to_channel.lora_A") for n in names) and any(".af.fc1.lora_B" in n for n in names)
    x, snr = task.sample_batch(1, 2, torch.Generator().manual_seed(1))
    assert model(x, snr).reconstruction.shape == x.shape
