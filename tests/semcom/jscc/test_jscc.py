"""Fast tests of the deep JSCC package (tiny models, small images)."""

from __future__ import annotations

import argparse
import builtins
import csv
import math
import os
from fractions import Fraction

import numpy as np
import pytest
import torch

from semcom.cli.jscc import add_commands
from semcom.errors import ConfigError, InputError, UnsafeFileError, WeightsNotFoundError
from semcom.jscc import (
    JSCCConfig,
    JSCCModel,
    bottleneck_channels,
    load_checkpoint,
    read_card,
    save_checkpoint,
)
from semcom.jscc.model import NOT_SENT_QUALITY, WindowAttentionBlock
from semcom.jscc.train import TrainOptions, load_training_state, reconstruction_loss, train
from semcom.link.analog import AnalogLink

TINY = dict(widths=(8, 8, 16, 16), blocks=(0, 1, 1, 1))


def tiny(cbr="1/16", **kw) -> JSCCModel:
    torch.manual_seed(0)
    return JSCCModel(JSCCConfig(cbr=cbr, **TINY, **kw), seed=0)


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.mark.parametrize("size", [(37, 53), (16, 16), (5, 70), (64, 48)])
def test_output_has_the_input_shape_and_range(size):
    x = torch.rand(2, 3, *size)
    out = tiny()(x, 10.0)
    assert out.reconstruction.shape == x.shape
    assert out.reconstruction.min() >= 0 and out.reconstruction.max() <= 1


def test_without_linear_skip():
    model = tiny(linear_skip=False)
    assert model.skip_encoder is None
    assert model(torch.rand(1, 3, 20, 20), 3.0).reconstruction.shape == (1, 3, 20, 20)


def test_channel_input_meets_the_power_constraint_per_image():
    x = torch.rand(3, 3, 37, 53)
    x[0] *= 0.01  # a nearly black image gets the same power
    out = tiny()(x, torch.tensor([0.0, 10.0, 20.0]))
    power = out.sent.abs().square().mean(dim=1)
    torch.testing.assert_close(power, torch.ones(3), atol=1e-5, rtol=0)


@pytest.mark.parametrize("cbr, c", [("1/16", 96), ("1/48", 32), ("1/24", 64), (0.0625, 96)])
def test_bottleneck_channels(cbr, c):
    assert bottleneck_channels(cbr) == c


@pytest.mark.parametrize("cbr", ["1/10", "0", "2", "abc", "1/1536"])
def test_bad_cbr_is_a_config_error(cbr):
    with pytest.raises(ConfigError):
        bottleneck_channels(cbr)


@pytest.mark.parametrize("cbr", ["1/16", "1/48"])
@pytest.mark.parametrize("size", [(37, 53), (64, 48), (32, 32), (321, 481), (17, 16), (5, 70)])
def test_channel_uses_are_the_exact_budget_on_every_size(cbr, size):
    h, w = size
    model = tiny(cbr)
    budget = math.floor(Fraction(cbr) * h * w * 3)
    out = model(torch.rand(1, 3, h, w), 5.0)
    assert out.num_symbols == out.channel_uses == budget == model.channel_uses_for(h, w)
    assert out.sent.shape == (1, budget)
    assert out.cbr == pytest.approx(budget / (h * w * 3))
    assert out.reconstruction.shape == (1, 3, h, w)


def test_dropped_symbols_are_those_of_the_padding_first():
    # 321 x 481: the last row and column of 16 x 16 blocks hold one real pixel row / column each
    model = tiny("1/16")
    h, w = 321, 481
    keep = model.sent_symbol_indices(h, w)
    per_position, positions = model.bottleneck // 2, 21 * 31
    dropped = sorted(set(range(per_position * positions)) - set(keep.tolist()))
    assert len(dropped) == per_position * positions - math.floor(Fraction(1, 16) * h * w * 3)
    rows, cols = (np.array(dropped) % positions) // 31, (np.array(dropped) % positions) % 31
    assert np.all((rows == 20) | (cols == 30))  # only border positions lose symbols


def test_unsent_symbols_reach_the_decoder_as_zeros_with_the_lowest_quality(monkeypatch):
    model = tiny("1/16")
    seen = {}

    def spy(y, quality, snr):
        seen["y"], seen["quality"] = y, quality
        return torch.zeros(y.shape[0], 3, 16 * y.shape[2], 16 * y.shape[3])

    monkeypatch.setattr(model, "decode", spy)
    out = model(torch.rand(1, 3, 20, 33), 10.0)
    c = model.bottleneck // 2
    quality = seen["quality"].flatten()
    sent = torch.zeros(quality.numel(), dtype=torch.bool)
    sent[model.sent_symbol_indices(20, 33)] = True
    assert int(sent.sum()) == out.num_symbols < c * 2 * 3
    assert torch.all(quality[~sent] == NOT_SENT_QUALITY) and torch.all(quality[sent] > NOT_SENT_QUALITY)
    y = seen["y"].flatten(1)
    assert torch.all(y[0, : c * 6][~sent] == 0) and torch.all(y[0, c * 6 :][~sent] == 0)


def test_pilot_overhead_is_counted_in_the_budget():
    model = tiny(channel="rayleigh", channel_options={"csi": "pilot", "num_pilots": 2, "block_length": 16})
    out = model(torch.rand(1, 3, 32, 32), 10.0)
    assert out.channel_uses == 170 + 11 * 2 == 192  # the most data symbols whose uses fit 32 * 32 * 3 / 16
    assert out.num_symbols == 170


def test_window_attention_starts_as_identity_and_keeps_padding_out():
    torch.manual_seed(0)
    for shift in (False, True):
        block = WindowAttentionBlock(32, window=4, shift=shift)
        x = torch.randn(2, 32, 6, 9)
        torch.testing.assert_close(block(x), x)
        for p in block.parameters():
            torch.nn.init.normal_(p, std=0.2)
        y = block(x)
        assert y.shape == x.shape and torch.isfinite(y).all()
        # a window's outputs depend only on its own positions: changing one window leaves the others alone
        if not shift:
            x2 = x.clone()
            x2[:, :, 4:, 8:] += 1.0  # the bottom-right window (rows 4-5, column 8; padded to 4 x 4)
            torch.testing.assert_close(block(x2)[:, :, :4], y[:, :, :4])
            assert not torch.allclose(block(x2)[:, :, 4:, 8:], y[:, :, 4:, 8:])


def test_attention_and_asymmetric_decoder_config_round_trip(tmp_path):
    config = JSCCConfig(widths=(8, 8, 16, 32), blocks=(0, 0, 1, 1), decoder_blocks=(1, 1, 1, 2), attn_blocks=2)
    torch.manual_seed(0)
    model = JSCCModel(config, seed=0)
    assert len(model.encoder_attention) == len(model.decoder_attention) == 2
    assert len(model.decoder[0].blocks) == 2 and len(model.encoder[3].blocks) == 1
    save_checkpoint(model, tmp_path / "ck", dtype=torch.float32)
    loaded = load_checkpoint(tmp_path / "ck")
    assert loaded.config == config
    x = torch.rand(1, 3, 40, 56)
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    torch.testing.assert_close(loaded.eval()(x, 10.0, generator=gen()).reconstruction,
                               model.eval()(x, 10.0, generator=gen()).reconstruction)
    with pytest.raises(ConfigError):
        JSCCConfig(widths=(8, 8, 16, 20), attn_blocks=1)
    with pytest.raises(ConfigError):
        JSCCConfig(decoder_blocks=(1, 1))


def test_snr_changes_the_output_and_gradients_reach_the_encoder():
    model = tiny()
    x = torch.rand(2, 3, 32, 32)
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    with torch.no_grad():
        a = model(x, 0.0, generator=g()).reconstruction
        b = model(x, 0.0, generator=g()).reconstruction
        c = model(x, 20.0, generator=g()).reconstruction
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    model(x, 10.0).reconstruction.mean().backward()
    assert model.encoder[0].down.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_checkpoint_round_trip(tmp_path, dtype):
    model = tiny("1/48", channel="rayleigh", channel_options={"equalizer": "mmse"}).eval()
    folder = save_checkpoint(model, tmp_path / "ck", dtype=dtype, metrics={"x": 1})
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    card = read_card(folder)
    assert card["config"]["cbr"] == "1/48" and card["config"]["channel_options"] == {"equalizer": "mmse"}
    loaded = load_checkpoint(folder)
    again = load_checkpoint(folder / "model.safetensors")
    assert loaded.config == model.config and not loaded.training
    x = torch.rand(2, 3, 37, 53)
    with torch.no_grad():
        ref = model(x, 7.0, generator=torch.Generator().manual_seed(3)).reconstruction
        got = loaded(x, 7.0, generator=torch.Generator().manual_seed(3)).reconstruction
        got2 = again(x, 7.0, generator=torch.Generator().manual_seed(3)).reconstruction
    torch.testing.assert_close(got, got2, atol=0, rtol=0)
    if dtype == torch.float32:
        torch.testing.assert_close(got, ref, atol=0, rtol=0)
    else:
        assert (got - ref).abs().max() < 5e-3


def test_load_checkpoint_with_another_link(tmp_path):
    save_checkpoint(tiny(), tmp_path / "ck")
    model = load_checkpoint(tmp_path / "ck", link=AnalogLink("rayleigh", seed=0))
    assert model.link.channel.name == "rayleigh"


def test_missing_checkpoint_raises_weights_not_found(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCOM_JSCC_CHECKPOINTS", str(tmp_path))
    monkeypatch.setattr("semcom.jscc.checkpoint.CHECKPOINT_ROOT", tmp_path / "shipped")
    with pytest.raises(WeightsNotFoundError) as err:
        load_checkpoint("jscc-awgn-cbr1-16")
    msg = str(err.value)
    assert "jscc-awgn-cbr1-16" in msg and str(tmp_path) in msg and "semcom train jscc" in msg
    with pytest.raises(WeightsNotFoundError, match="not a registered name"):
        load_checkpoint("no-such-model")
    with pytest.raises(WeightsNotFoundError):
        load_checkpoint(tmp_path / "nowhere")
    assert issubclass(WeightsNotFoundError, FileNotFoundError)


@pytest.mark.parametrize(
    "x, snr",
    [
        (torch.rand(3, 32, 32), 10.0),  # no batch dimension
        (torch.rand(1, 1, 32, 32), 10.0),  # grey
        (torch.rand(1, 3, 0, 32), 10.0),  # empty
        (torch.full((1, 3, 16, 16), float("nan")), 10.0),
        (torch.rand(1, 3, 16, 16) * 255, 10.0),  # 0..255 values
        (torch.rand(1, 3, 16, 16) - 0.5, 10.0),
        (torch.randint(0, 255, (1, 3, 16, 16), dtype=torch.uint8), 10.0),
        (np.zeros((1, 3, 16, 16)), 10.0),
        (torch.rand(1, 3, 16, 16), float("nan")),
        (torch.rand(2, 3, 16, 16), torch.tensor([1.0, 2.0, 3.0])),
        (torch.rand(1, 3, 16, 16), "10"),
    ],
)
def test_bad_inputs_raise_input_error(x, snr):
    with pytest.raises(InputError):
        tiny()(x, snr)


def test_bad_config_is_a_config_error():
    with pytest.raises(ConfigError):
        JSCCConfig(widths=(8, 8, 8))
    with pytest.raises(ConfigError):
        JSCCConfig(cbr="1/7")
    with pytest.raises(ConfigError):
        JSCCConfig.from_dict({"cbr": "1/16", "bogus": 1})


def _opts(tmp_path, data, **kw):
    base = dict(
        data=str(data), val=str(data), out=str(tmp_path / "ck"), state_dir=str(tmp_path / "state"),
        widths=TINY["widths"], blocks=TINY["blocks"], batch=4, crop=32, lr=3e-3, warmup=5,
        val_every=0, val_images=2, val_crop=32, ckpt_every=10, log_every=5, progress=False,
        final_eval=False, threads=1, seed=0,
    )
    base.update(kw)
    return TrainOptions(**base)


def _losses(path):
    with open(path) as f:
        return [float(r["loss"]) for r in csv.DictReader(f) if r["loss"]]


def test_training_loss_falls_and_writes_a_checkpoint(tmp_path, image_folder):
    data = image_folder(tmp_path / "imgs")
    summary = train(_opts(tmp_path, data, steps=60, lr=1e-2))
    losses = _losses(tmp_path / "state" / "train_log.csv")
    assert summary["steps"] == 60 and len(losses) == 12
    assert np.mean(losses[-3:]) < 0.85 * np.mean(losses[:2])
    model = load_checkpoint(tmp_path / "ck")
    assert model.config.widths == TINY["widths"]
    assert read_card(tmp_path / "ck")["training"]["steps_done"] == 60


def test_psnr_loss_is_the_batch_mse_with_the_gradient_of_the_mean_psnr():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 8, 8, generator=g)
    noise = torch.randn(3, 3, 8, 8, generator=g) * torch.tensor([0.01, 0.05, 0.2]).view(3, 1, 1, 1)
    rec = (x + noise).requires_grad_()
    loss = reconstruction_loss(rec, x, "psnr")
    torch.testing.assert_close(loss, reconstruction_loss(rec, x, "mse"))
    (grad,) = torch.autograd.grad(loss, rec)
    per_crop = (rec - x).square().flatten(1).mean(1)
    (grad_psnr,) = torch.autograd.grad(-(10 * torch.log10(1 / per_crop)).mean(), rec)
    # the same direction, scaled by the batch MSE (ln 10 / 10 converts dB to nepers)
    torch.testing.assert_close(grad, grad_psnr * per_crop.detach().mean() * math.log(10) / 10)
    # the noisiest crop no longer dominates: its share of the gradient is far below its MSE share
    share = grad.flatten(1).norm(dim=1) / grad.flatten(1).norm(dim=1).sum()
    (grad_mse,) = torch.autograd.grad(reconstruction_loss(rec, x, "mse"), rec)
    assert share[2] < 0.5 < (grad_mse.flatten(1).norm(dim=1) / grad_mse.flatten(1).norm(dim=1).sum())[2]


def test_training_with_the_psnr_loss_learns_and_a_bad_loss_is_a_config_error(tmp_path, image_folder):
    data = image_folder(tmp_path / "imgs")
    train(_opts(tmp_path, data, steps=40, lr=1e-2, loss="psnr"))
    losses = _losses(tmp_path / "state" / "train_log.csv")
    assert np.mean(losses[-2:]) < 0.85 * np.mean(losses[:2])
    assert read_card(tmp_path / "ck")["training"]["loss"] == "psnr"
    with pytest.raises(ConfigError, match="loss must be one of mse, psnr"):
        TrainOptions(data=data, out=str(tmp_path / "x"), steps=1, loss="l1")


def test_resume_continues_the_interrupted_run_exactly(tmp_path, image_folder):
    data = image_folder(tmp_path / "imgs")
    full = train(_opts(tmp_path / "a", data, steps=20))
    # the same run stopped after 7 steps (as if interrupted), then resumed to the end
    paused = train(_opts(tmp_path / "b", data, steps=20, stop_at_step=7))
    assert paused["steps"] == 7 and paused["interrupted"]
    resumed = train(_opts(tmp_path / "b", data, steps=20, resume=True))
    assert full["steps"] == resumed["steps"] == 20
    wa = load_training_state(tmp_path / "a" / "state" / "state.pt")["model"]
    wb = load_training_state(tmp_path / "b" / "state" / "state.pt")["model"]
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=1e-5, rtol=1e-4)


def test_resume_is_exact_with_ema_mixed_and_odd_crops_and_ships_the_average(tmp_path, image_folder):
    data = image_folder(tmp_path / "imgs")
    kw = dict(steps=16, ema=0.9, crops=(32, 48), odd_frac=0.5, decay_frac=0.5, log_every=1)
    train(_opts(tmp_path / "a", data, **kw))
    train(_opts(tmp_path / "b", data, stop_at_step=9, **kw))
    train(_opts(tmp_path / "b", data, resume=True, **kw))
    sa = load_training_state(tmp_path / "a" / "state" / "state.pt")
    sb = load_training_state(tmp_path / "b" / "state" / "state.pt")
    for key in ("model", "ema"):
        for k in sa[key]:
            torch.testing.assert_close(sa[key][k], sb[key][k], atol=1e-5, rtol=1e-4)
    logs = {}
    for run in ("a", "b"):
        with open(tmp_path / run / "state" / "train_log.csv") as f:
            logs[run] = [r for r in csv.DictReader(f) if r["lr"]]
    # the resumed run logs the same steps at the same learning rates and crops (the schedule goes on)
    assert [(r["step"], r["lr"], r["crop"]) for r in logs["a"]] == [(r["step"], r["lr"], r["crop"]) for r in logs["b"]]
    assert {r["crop"] for r in logs["a"]} == {"32", "48"}
    # the shipped checkpoint holds the moving average, not the last weights
    shipped = load_checkpoint(tmp_path / "a" / "ck").state_dict()
    average = {k.removeprefix("module."): v for k, v in sa["ema"].items() if k.startswith("module.")}
    raw = sa["model"]
    name = "from_channel.weight"
    torch.testing.assert_close(shipped[name], average[name].half().float())
    assert not torch.allclose(shipped[name], raw[name].half().float())


def test_bfloat16_autocast_trains_and_float16_or_cuda_without_a_gpu_are_config_errors(tmp_path, image_folder):
    data = image_folder(tmp_path / "imgs")
    summary = train(_opts(tmp_path / "bf16", data, steps=6, amp="bfloat16"))
    assert summary["steps"] == 6 and all(np.isfinite(_losses(tmp_path / "bf16" / "state" / "train_log.csv")))
    model = load_checkpoint(tmp_path / "bf16" / "ck")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    with pytest.raises(ConfigError, match="float16 runs on a GPU only"):
        train(_opts(tmp_path / "fp16", data, steps=2, amp="float16"))
    with pytest.raises(ConfigError):
        TrainOptions(data=str(data), out=str(tmp_path), steps=2, amp="int8")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            train(_opts(tmp_path / "cuda", data, steps=2, device="cuda"))


def test_odd_sizes_are_below_the_crop_and_mostly_not_multiples_of_16():
    from semcom.jscc.train import odd_size

    g = torch.Generator().manual_seed(0)
    sizes = [odd_size(64, g) for _ in range(200)]
    assert all(49 <= h <= 64 and 49 <= w <= 64 for h, w in sizes)
    assert sum(h % 16 or w % 16 for h, w in sizes) > 180


class _Payload:
    """Pickles as a call of ``func(*args)``: what a crafted state file would run when unpickled."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("how", ["open", "os.system"])
def test_resume_refuses_a_state_that_would_run_code(tmp_path, image_folder, how):
    data = image_folder(tmp_path / "imgs")
    marker = tmp_path / "pwned"
    payload = _Payload(builtins.open, str(marker), "w") if how == "open" else _Payload(os.system, f"touch {marker}")
    state_path = tmp_path / "state" / "state.pt"
    state_path.parent.mkdir()
    torch.save({"model": payload, "optimizer": {}, "step": 0, "elapsed_s": 0.0, "rng": {}, "config": {}}, state_path)
    with pytest.raises(UnsafeFileError, match="refusing to load"):
        train(_opts(tmp_path, data, steps=5, resume=True))
    assert not marker.exists()
    torch.load(state_path, weights_only=False)  # the file is live: an unchecked load runs it
    assert marker.exists()


def test_resume_refuses_files_that_are_not_training_states(tmp_path):
    path = tmp_path / "state.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(InputError, match="not a training state"):
        load_training_state(path)
    torch.save({"model": {}, "step": 1}, path)
    with pytest.raises(InputError, match="'optimizer' is missing"):
        load_training_state(path)
    path.write_bytes(b"not a torch file at all")
    with pytest.raises(InputError, match="refusing to load"):
        load_training_state(path)
    path.write_bytes(b"PK\x03\x04 a cut-off zip")
    with pytest.raises(InputError, match="not a readable training state"):
        load_training_state(path)


def test_training_needs_steps_or_minutes(tmp_path):
    with pytest.raises(ConfigError):
        TrainOptions(data="x", out=str(tmp_path))


def test_fine_tune_init_copies_matching_weights(tmp_path, image_folder):
    data = image_folder(tmp_path / "imgs")
    save_checkpoint(tiny(), tmp_path / "base")
    summary = train(_opts(tmp_path, data, steps=2, cbr="1/48", init=str(tmp_path / "base")))
    fresh = read_card(summary["checkpoint"])["training"]["init_fresh_weights"]
    assert set(fresh) == {
        "to_channel.weight", "to_channel.bias", "from_channel.weight",
        "skip_encoder.weight", "skip_encoder.bias", "skip_decoder.weight",
    }


def test_cli_parses_train_jscc():
    parser = argparse.ArgumentParser(prog="semcom")
    sub = parser.add_subparsers(dest="command")
    add_commands(sub)
    args = parser.parse_args(
        ["train", "jscc", "--cbr", "1/48", "--channel", "rayleigh", "--channel-option", "equalizer=mmse",
         "--minutes", "1.5", "--out", "x", "--resume", "--seed", "3", "--loss", "psnr"]
    )
    assert args.cbr == 1 / 48 and args.channel_option == [("equalizer", "mmse")]
    assert args.minutes == 1.5 and args.resume and args.seed == 3 and args.loss == "psnr"
    assert args.run.__name__ == "run_train"
    defaults = parser.parse_args(["train", "jscc", "--out", "x"])
    assert defaults.cbr == 1 / 16 and defaults.loss == "mse"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "jscc", "--cbr", "one", "--out", "x"])


def test_checkpoint_picked_by_channel_and_cbr():
    from semcom.jscc.checkpoint import pick_checkpoint

    assert pick_checkpoint("awgn") == "jscc-awgn-cbr1-16"
    assert pick_checkpoint("rayleigh", 1 / 16) == "jscc-rayleigh-cbr1-16"
    assert pick_checkpoint("awgn", "1/48") == "jscc-awgn-cbr1-48"
    assert pick_checkpoint("rayleigh", 1 / 48) == "jscc-awgn-cbr1-48"  # none for Rayleigh at 1/48: the AWGN one
    # block fading (block_length 64 by default) or per-symbol fading (block_length 1)
    assert pick_checkpoint("rayleigh", 1 / 16, {"equalizer": "mmse"}) == "jscc-rayleigh-cbr1-16"
    assert pick_checkpoint("rayleigh", 1 / 16, {"block_length": 1}) == "jscc-rayleigh-symbol-cbr1-16"
    with pytest.raises(ConfigError, match="no shipped JSCC checkpoint is trained for CBR 1/8; shipped: "):
        pick_checkpoint("awgn", "1/8")


def test_scheme_uses_the_matching_checkpoint_and_labels_a_mismatch():
    import warnings

    from semcom.schemes import make_scheme

    assert make_scheme("jscc", channel="rayleigh").model_name == "jscc-rayleigh-cbr1-16"
    assert make_scheme("jscc", cbr=1 / 48).model_name == "jscc-awgn-cbr1-48"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tdl = make_scheme("jscc", channel="tdl")
    assert tdl.model_name == "jscc-awgn-cbr1-16" and "trained on awgn" in tdl.card().label
    assert any("trained on awgn, not on tdl" in str(w.message) for w in caught)
    assert "trained on" not in make_scheme("jscc").card().label
    # per-symbol fading picks the per-symbol model; the block-fading one on it is labelled
    assert make_scheme("jscc", channel="rayleigh", block_length=1).model_name == "jscc-rayleigh-symbol-cbr1-16"
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        block = make_scheme("jscc", channel="rayleigh", block_length=1, model="jscc-rayleigh-cbr1-16")
    assert "(trained on rayleigh block_length=64)" in block.card().label
    # the receiver equalises as its model was trained to (MMSE) unless told otherwise
    assert make_scheme("jscc", channel="rayleigh").model.link.channel.equalizer == "mmse"
    with pytest.warns(UserWarning, match="trained on rayleigh equalizer=mmse"):
        zf = make_scheme("jscc", channel="rayleigh", equalizer="zf")
    assert zf.model.link.channel.equalizer == "zf" and "(trained on rayleigh equalizer=mmse)" in zf.card().label
