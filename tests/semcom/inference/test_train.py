import pytest
import torch

from semcom.cli.main import main
from semcom.errors import ConfigError
from semcom.inference.lm import STATE_FILE, load_training_state, train_caption_lm


def quiet(_line: str) -> None:
    pass


def test_stopped_and_resumed_run_ends_with_the_weights_of_one_that_never_stopped(tmp_path):
    args = dict(steps=6, batch=8, eval_captions=20, save_every=0, log=quiet)
    whole = train_caption_lm("small", out=tmp_path / "a", state_dir=tmp_path / "sa", **args)
    assert whole["finished"] and whole["steps"] == 6
    part = train_caption_lm("small", out=tmp_path / "b", state_dir=tmp_path / "sb", stop_at_step=4, **args)
    assert not part["finished"] and part["steps"] == 4
    paused = load_training_state(tmp_path / "sb" / STATE_FILE)
    assert paused["step"] == 4 and paused["batch_in_epoch"] == 4
    done = train_caption_lm(out=tmp_path / "b", state_dir=tmp_path / "sb", resume=True, eval_captions=20, log=quiet)
    assert done["finished"] and done["steps"] == 6
    a = load_training_state(tmp_path / "sa" / STATE_FILE)
    b = load_training_state(tmp_path / "sb" / STATE_FILE)
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["optimizer"]["param_groups"][0]["lr"] == b["optimizer"]["param_groups"][0]["lr"]
    assert done["held_out_loss"] == pytest.approx(whole["held_out_loss"], abs=1e-6)


def test_resume_keeps_its_schedule_and_a_fresh_start_does_not_overwrite_a_state(tmp_path):
    train_caption_lm("small", out=tmp_path / "m", state_dir=tmp_path / "s", steps=3, batch=8, eval_captions=10,
                     stop_at_step=1, log=quiet)
    with pytest.raises(ConfigError, match="differs from the run being resumed"):
        train_caption_lm(out=tmp_path / "m", state_dir=tmp_path / "s", resume=True, lr=1e-2, log=quiet)
    with pytest.raises(ConfigError, match="--resume"):
        train_caption_lm("small", out=tmp_path / "m", state_dir=tmp_path / "s", steps=3, batch=8, log=quiet)


def test_cli_pauses_and_resumes(tmp_path, capsys):
    out, state = tmp_path / "lm", tmp_path / "state"
    base = ["train", "caption-lm", "--out", str(out), "--state-dir", str(state)]
    assert main(base + ["--size", "small", "--steps", "3", "--batch", "8", "--stop-at-step", "2"]) == 0
    assert "paused" in capsys.readouterr().out
    assert main(base + ["--resume"]) == 0
    assert "3 steps" in capsys.readouterr().out
    assert load_training_state(state / STATE_FILE)["step"] == 3
    assert main(base + ["--resume", "--batch", "16"]) == 2
    assert "semcom: error:" in capsys.readouterr().err
