"""The side-information refiner: shapes, checkpoints, resumable training, and its place in the gai pipeline."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from semcom.devices import check_device, check_dtype
from semcom.errors import ConfigError, InputError, WeightsNotFoundError
from semcom.generative.generator import RefinerGenerator
from semcom.generative.refiner import Refiner, RefinerConfig, refiner_macs_per_pixel
from semcom.generative.refiner_checkpoint import load_refiner, save_refiner
from semcom.generative.refiner_train import RefinerTrainOptions, side_info_pair, train_refiner
from semcom.generative.side_info import ThumbnailSideInfo
from semcom.training import Schedule

TINY = RefinerConfig(widths=(8, 8, 8), blocks=(1, 0, 1))


@pytest.mark.parametrize("shape", [(1, 1), (17, 33), (40, 56), (64, 48)])
def test_any_size_and_identity_at_initialisation(shape):
    model = Refiner(TINY).eval()
    x = torch.rand(2, 3, *shape)
    out = model(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x)  # the zero-initialised tail: x_up passes through untouched


def test_bad_input_and_config_are_clear_errors():
    with pytest.raises(InputError, match=r"\[B, 3, H, W\]"):
        Refiner(TINY)(torch.rand(3, 8, 8))
    with pytest.raises(ConfigError, match="3 levels"):
        RefinerConfig(widths=(8, 8), blocks=(1, 1))


def test_macs_count_matches_the_convolutions():
    model, h, w = Refiner(TINY), 32, 48
    macs = 0

    def count(module, inputs, output):
        nonlocal macs
        macs += output.numel() * module.in_channels * module.kernel_size[0] * module.kernel_size[1] // module.groups

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    model(torch.rand(1, 3, h, w))
    for hook in hooks:
        hook.remove()
    assert macs == pytest.approx(refiner_macs_per_pixel(TINY) * h * w)


def test_checkpoint_round_trip_and_missing_checkpoint(tmp_path):
    model = Refiner(TINY)
    torch.nn.init.normal_(model.tail.weight, std=0.01)
    folder = save_refiner(model, tmp_path / "ck", training={"steps_done": 3})
    loaded = load_refiner(folder)
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(loaded(x), model.eval()(x), atol=2e-3, rtol=0)  # float16 weights
    with pytest.raises(WeightsNotFoundError, match="semcom train refiner"):
        load_refiner(tmp_path / "nothing-here")


def test_side_info_pair_is_what_the_receiver_decodes(image_folder, tmp_path):
    from semcom.jscc.data import load_image, list_images

    image = load_image(list_images(image_folder(tmp_path / "im", n=1, size=(96, 80)))[0])
    assert side_info_pair(image, 8, 0.01, "webp") is None  # 1 bit for a 12 x 10 thumbnail: nothing fits
    up, bits = side_info_pair(image, 8, 16.0, "webp")
    side = ThumbnailSideInfo(max_bits=16 * 12 * 10, codec="webp", scale=8)
    enc = side.encode(image.permute(1, 2, 0).numpy())
    assert enc.thumb_shape == (12, 10) and enc.bits == bits <= 16 * 12 * 10
    received = side.decode(enc.data, (96, 80), enc.thumb_shape)
    assert np.array_equal(up.permute(1, 2, 0).numpy(), received)


def _train(tmp, data, **kw):
    opts = RefinerTrainOptions(data=str(data), val=str(data), out=str(tmp / "ck"), state_dir=str(tmp / "state"),
                               widths=TINY.widths, blocks=TINY.blocks, steps=6, batch=2, crop=32, bpps=(16.0,),
                               codec="webp", val_every=3, val_images=1, ckpt_every=2, log_every=1, warmup=2,
                               threads=1, progress=False, **kw)
    return train_refiner(opts)


def test_resume_continues_the_schedule(image_folder, tmp_path):
    data = image_folder(tmp_path / "data", n=3, size=(64, 48))
    whole = _train(tmp_path / "a", data)
    assert whole["steps"] == 6 and not whole["interrupted"]
    part = _train(tmp_path / "b", data, stop_at_step=3)
    assert part["steps"] == 3 and part["interrupted"]
    resumed = _train(tmp_path / "b", data, resume=True)
    assert resumed["steps"] == 6

    def rows(run):
        with open(tmp_path / run / "state" / "train_log.csv") as f:
            return [r for r in csv.DictReader(f)]

    a, b = rows("a"), rows("b")
    assert [r["step"] for r in b] == [r["step"] for r in a]  # each step logged once
    assert [r["lr"] for r in b] == [r["lr"] for r in a]  # the same schedule, step for step
    wa, wb = load_refiner(tmp_path / "a" / "ck").state_dict(), load_refiner(tmp_path / "b" / "ck").state_dict()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k])


def test_resume_without_state_is_refused(image_folder, tmp_path):
    data = image_folder(tmp_path / "data", n=2, size=(64, 48))
    with pytest.raises(InputError, match="no training state"):
        _train(tmp_path / "c", data, resume=True)


def test_schedule_warms_up_then_anneals():
    s = Schedule(steps=100, minutes=None, lr=1e-3, min_lr_frac=0.1, warmup=10)
    assert s.learning_rate(0, 0.0) == pytest.approx(1e-4)
    assert s.learning_rate(50, 0.5) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert s.learning_rate(99, 1.0) == pytest.approx(1e-4)
    assert s.progress(10, 0.0) == 0.1
    with pytest.raises(ConfigError):
        Schedule(None, None, 1e-3)


def test_refiner_generator_needs_side_information(tmp_path):
    folder = save_refiner(Refiner(TINY), tmp_path / "ck")
    gen = RefinerGenerator(model=str(folder), device="cpu")
    with pytest.raises(InputError, match="side information"):
        gen.generate("a cat", (32, 32))
    init = np.full((8, 8, 3), 77, np.uint8)
    out = gen.generate("", (32, 24), init_image=init)
    assert out.shape == (32, 24, 3) and out.dtype == np.uint8 and np.all(out == 77)


def test_devices_are_checked_up_front():
    assert check_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            check_device("cuda")
    with pytest.raises(ConfigError, match="cpu, cuda"):
        check_device("tpu")
    with pytest.raises(ConfigError, match="GPU only"):
        check_dtype("float16", "cpu")
    assert check_dtype("bfloat16") == torch.bfloat16
