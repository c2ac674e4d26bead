"""Kill and resume: ``semcom run``, ``semcom table4`` and ``semcom train jscc`` SIGKILLed at seeded random
points, then run again until they finish; the results must equal those of an uninterrupted run, with no
line duplicated, missing or cut short. The default suite kills each command a few times; ``-m slow``
kills each one many more times."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import textwrap
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from semcom.cli.main import main
from semcom.files import exclusive

#: per-item timings and counters that differ between runs by nature
TIMINGS = {"seconds", "transmit_seconds", "item_seconds", "build_seconds", "elapsed_s", "computed_items",
           "resumed_items", "wall_seconds", "total_seconds", "meta"}

CONFIG = """
    name = "killed"
    seed = 3
    snr_db = [0.0, 10.0]
    [images]
    folder = "embedded"
    limit = {limit}
    crop = 64
    [[schemes]]
    name = "separation"
    label = "traditional"
    codec = "jpeg"
    [[schemes]]
    name = "jscc"
    label = "semantic"
    [[schemes]]
    name = "bound"
    """


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def kill_until_done(launcher, argv, workdir: Path, kills: int, seed: int, progress, pause_s: float,
                    resume_argv=None) -> dict:
    """Run ``argv`` again and again, SIGKILLing it ``kills`` times at seeded random points, then let it finish.

    A kill point: once ``progress()`` has grown by 0 or 1 unit since the start, after a random pause
    of up to ``pause_s`` seconds. ``resume_argv(attempt)`` gives the command of later attempts.
    Returns how many kills landed (a command that finished first is not counted) and the attempts.
    """
    rng = random.Random(seed)
    landed = attempts = 0
    log = workdir / "commands.log"
    while True:
        command = argv if attempts == 0 or resume_argv is None else resume_argv()
        attempts += 1
        pid = launcher.start(command, log, workdir)
        if landed < kills:
            target = progress() + rng.randint(0, 1)
            deadline = time.monotonic() + 300
            while _alive(pid) and progress() < target and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, pause_s))
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        code = launcher.wait()
        if code == -signal.SIGKILL:
            landed += 1
            continue
        assert code == 0, f"attempt {attempts} of {command} ended with {code}:\n{log.read_text()[-3000:]}"
        return {"kills": landed, "attempts": attempts}


def _records(path: Path) -> dict[str, dict]:
    """The records of a results.jsonl, by key; every line whole JSON, no key twice."""
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    records = [json.loads(line) for line in raw.decode().splitlines()]
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)), "duplicated result lines"
    return {r["key"]: _without_timings(r) for r in records}


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _report(name: str, outcome: dict) -> None:
    print(f"{name}: {outcome['kills']} kills survived in {outcome['attempts']} attempts")


@pytest.mark.parametrize("kills, images, executor", [
    pytest.param(2, 2, [], id="2-kills"),
    pytest.param(2, 2, ["--executor", "process", "--workers", "2"], id="2-kills-process"),
    # a Ray instance starts with each attempt (about 20 s on 2 cores); experiments/kill_resume.py runs it too
    pytest.param(2, 2, ["--executor", "ray", "--workers", "2"], id="2-kills-ray", marks=pytest.mark.slow),
    pytest.param(15, 4, [], id="15-kills", marks=pytest.mark.slow),
])
def test_run_survives_kills(launcher, tmp_path, kills, images, executor):
    config = tmp_path / "killed.toml"
    config.write_text(textwrap.dedent(CONFIG).format(limit=images))
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    assert launcher.run(["run", str(config), "--out", str(reference), "--no-progress"], tmp_path / "ref.log",
                        tmp_path) == 0
    results = killed / "results.jsonl"
    outcome = kill_until_done(launcher, ["run", str(config), "--out", str(killed), "--no-progress", *executor],
                              tmp_path, kills, seed=kills, progress=lambda: _lines(results), pause_s=0.3)
    _report("semcom run", outcome)
    assert outcome["kills"] >= max(1, kills // 3)
    expected = _records(reference / "results.jsonl")
    assert len(expected) == 3 * 2 * images
    assert _records(results) == expected
    summary = json.loads((killed / "summary.json").read_text())
    assert _without_timings(summary) == _without_timings(json.loads((reference / "summary.json").read_text()))


@pytest.mark.parametrize("kills, images", [pytest.param(2, 1, id="2-kills"),
                                           pytest.param(15, 4, id="15-kills", marks=pytest.mark.slow)])
def test_table4_survives_kills(launcher, tmp_path, kills, images):
    argv = ["table4", "--schemes", "traditional,semantic,bound", "--codec", "jpeg", "--limit", str(images), "--crop", "64",
            "--snr-db", "0,10", "--no-progress", "--out"]
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    assert launcher.run([*argv, str(reference)], tmp_path / "ref.log", tmp_path) == 0

    def lines() -> int:
        return sum(_lines(p) for p in killed.glob("runs/*/results.jsonl"))

    outcome = kill_until_done(launcher, [*argv, str(killed)], tmp_path, kills, seed=100 + kills, progress=lines,
                              pause_s=0.3)
    _report("semcom table4", outcome)
    assert outcome["kills"] >= max(1, kills // 3)
    (ref_results,) = reference.glob("runs/*/results.jsonl")
    (results,) = killed.glob("runs/*/results.jsonl")
    assert _records(results) == _records(ref_results)
    ours, theirs = (json.loads((folder / "table.json").read_text()) for folder in (killed, reference))
    assert _without_timings(ours["rows"]) == _without_timings(theirs["rows"])
    assert len(ours["rows"]) == 3 * 2 + 3  # 3 schemes x 2 SNRs, then the published rows
    table = list(csv.DictReader((killed / "table.csv").open()))
    assert [r["scheme"] for r in table] == [r["scheme"] for r in theirs["rows"]]


def _log_rows(path: Path) -> list[dict]:
    with path.open() as handle:
        return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in csv.DictReader(handle)]


@pytest.mark.parametrize("kills, steps", [pytest.param(2, 100, id="2-kills"),
                                          pytest.param(15, 600, id="15-kills", marks=pytest.mark.slow)])
def test_train_jscc_survives_kills(launcher, tmp_path, kills, steps, image_folder):
    data = image_folder(tmp_path / "images", size=(64, 64))

    def argv(name: str) -> list[str]:
        return ["train", "jscc", "--data", str(data), "--val", "", "--cbr", "1/16", "--widths", "8,8,16,16",
                "--blocks", "0,1,1,1", "--steps", str(steps), "--ckpt-every", "25", "--batch", "4", "--crop", "32",
                "--lr", "3e-3", "--warmup", "5", "--threads", "1", "--seed", "0", "--no-progress",
                "--out", str(tmp_path / name / "checkpoint"), "--state-dir", str(tmp_path / name / "state")]

    start = time.monotonic()
    assert launcher.run(argv("reference"), tmp_path / "ref.log", tmp_path) == 0
    seconds = time.monotonic() - start
    log = tmp_path / "killed" / "state" / "train_log.csv"

    def resume() -> list[str]:  # --resume once a state was saved, otherwise from the start again
        saved = (tmp_path / "killed" / "state" / "state.pt").exists()
        return argv("killed") + (["--resume"] if saved else [])

    outcome = kill_until_done(launcher, argv("killed"), tmp_path, kills, seed=200 + kills,
                              progress=lambda: _lines(log), pause_s=seconds * 25 / steps, resume_argv=resume)
    _report("semcom train jscc", outcome)
    assert outcome["kills"] >= max(1, kills // 3)
    reference_log = _log_rows(tmp_path / "reference" / "state" / "train_log.csv")
    assert [int(r["step"]) for r in reference_log] == list(range(25, steps + 1, 25))
    assert _log_rows(log) == reference_log
    ours = load_file(str(tmp_path / "killed" / "checkpoint" / "model.safetensors"))
    theirs = load_file(str(tmp_path / "reference" / "checkpoint" / "model.safetensors"))
    assert ours.keys() == theirs.keys()
    assert all(bool((ours[k] == theirs[k]).all()) for k in ours)


def test_second_run_into_a_busy_folder_is_refused_at_once(launcher, tmp_path, capsys):
    """While one ``semcom run`` holds OUT, a second (in another process) refuses before computing anything."""
    config = tmp_path / "killed.toml"
    config.write_text(textwrap.dedent(CONFIG).format(limit=1))
    out = tmp_path / "out"
    pid = launcher.start(["run", str(config), "--out", str(out), "--no-progress"], tmp_path / "first.log", tmp_path)
    deadline = time.monotonic() + 300
    while _lines(out / "results.jsonl") < 1 and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    start = time.monotonic()
    code = main(["run", str(config), "--out", str(out), "--no-progress"])
    refused_in = time.monotonic() - start
    assert _alive(pid), "the first run ended before the second one was tried"
    assert code == 2 and refused_in < 5
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"semcom: error: --out {out} is in use by another run")
    assert launcher.wait() == 0
    assert len(_records(out / "results.jsonl")) == 6
    with exclusive(out, "--out"):  # released when the first run ended
        pass


def test_ctrl_c_stops_a_run_that_resumes(launcher, tmp_path):
    """SIGINT (Ctrl-C) in the middle of ``semcom run``: exit 130 and one line saying how to resume; the same
    command then finishes the sweep without repeating an item."""
    config = tmp_path / "killed.toml"
    paced = Path(__file__).with_name("paced_plugin.py")  # items 3 and 4 take 1 s each: the signal lands mid-run
    text = textwrap.dedent(CONFIG).format(limit=1).replace('name = "jscc"\nlabel = "semantic"',
                                                           'name = "paced"\nseconds = 1.0')
    assert "paced" in text
    config.write_text(f'plugins = ["{paced}"]\n' + text)
    out, log = tmp_path / "out", tmp_path / "interrupted.log"
    argv = ["run", str(config), "--out", str(out), "--no-progress"]
    pid = launcher.start(argv, log, tmp_path)
    deadline = time.monotonic() + 300
    while _lines(out / "results.jsonl") < 2 and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(pid, signal.SIGINT)
    assert launcher.wait() == 130
    lines = log.read_text().strip().splitlines()
    assert lines[-1] == "semcom: interrupted; resume with the same command"
    assert not any("Traceback" in line for line in lines)
    done = _lines(out / "results.jsonl")
    assert 2 <= done < 6
    assert launcher.run(argv, tmp_path / "resumed.log", tmp_path) == 0
    assert f"{6 - done} items computed, {done} already done" in (tmp_path / "resumed.log").read_text()
    assert len(_records(out / "results.jsonl")) == 6
