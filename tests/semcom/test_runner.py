"""Experiment configs: validation, end-to-end runs, resuming, plugins."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from semcom.cli.main import main
from semcom.errors import ConfigError, InputError
from semcom.runner import load_config, run_experiment, validate_config

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "experiments" / "plugins" / "grey_generator.py"


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    """Two 48 x 48 crops of the embedded photographs as PNG files, with a captions file."""
    from PIL import Image

    from semcom.images import default_images

    folder = tmp_path / "images"
    folder.mkdir()
    captions = {}
    for name, image in default_images()[:2]:
        Image.fromarray(np.ascontiguousarray(image[100:148, 100:148])).save(folder / f"{name}.png")
        captions[f"{name}.png"] = {"caption": f"a photograph of a {name}", "keywords": [name]}
    (folder / "captions.json").write_text(json.dumps({"images": captions}))
    return folder


def sweep_config(folder: Path, **extra) -> dict:
    raw = {"name": "sweep", "seed": 1, "snr_db": [0.0, 10.0], "images": {"folder": str(folder)},
           "schemes": [{"name": "jscc", "label": "semantic"}], **extra}
    return validate_config(raw)


def test_tiny_config_runs_end_to_end(tmp_path, capsys):
    assert main(["run", str(REPO / "experiments" / "tiny.toml"), "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 0
    lines = (tmp_path / "r" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4  # 2 schemes x 1 image x 2 SNRs
    for name in ("config.json", "meta.json", "summary.json"):
        assert (tmp_path / "r" / name).is_file()
    meta = json.loads((tmp_path / "r" / "meta.json").read_text())
    assert meta["seed"] == 0 and "git_revision" in meta and "versions" in meta
    out = capsys.readouterr().out
    assert "traditional" in out and "semantic" in out and "4 items computed" in out


def test_shipped_configs_validate():
    for name in ("tiny", "separation_kodak", "table4_kodak"):
        config = load_config(REPO / "experiments" / f"{name}.toml")
        assert config["schemes"]


def test_resume_skips_finished_items(tmp_path, tiny_folder, monkeypatch):
    config = sweep_config(tiny_folder)
    first = run_experiment(config, tmp_path / "r", progress=False)
    assert first.computed == 4 and first.skipped == 0
    before = (tmp_path / "r" / "results.jsonl").read_bytes()

    from semcom.schemes.jscc import JSCCScheme

    def boom(*args, **kwargs):
        raise AssertionError("a finished item was recomputed")

    monkeypatch.setattr(JSCCScheme, "transmit", boom)
    again = run_experiment(config, tmp_path / "r", progress=False)
    assert again.computed == 0 and again.skipped == 4
    assert (tmp_path / "r" / "results.jsonl").read_bytes() == before
    assert [r["psnr"] for r in again.records] == [r["psnr"] for r in first.records]


def test_resume_after_truncation_mid_line(tmp_path, tiny_folder):
    config = sweep_config(tiny_folder)
    first = run_experiment(config, tmp_path / "r", progress=False)
    path = tmp_path / "r" / "results.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[1][: len(lines[1]) // 2])  # interrupted while writing item 2
    again = run_experiment(config, tmp_path / "r", progress=False)
    assert again.skipped == 1 and again.computed == 3
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 4 and records[0] == json.loads(lines[0])
    assert [r["psnr"] for r in again.records] == pytest.approx([r["psnr"] for r in first.records])


def test_other_experiment_in_same_folder_is_refused(tmp_path, tiny_folder):
    run_experiment(sweep_config(tiny_folder), tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="different experiment"):
        run_experiment(sweep_config(tiny_folder, seed=2), tmp_path / "r", progress=False)


def test_plugin_stage_is_used(tmp_path, tiny_folder):
    config_file = write(tmp_path / "gai.toml", f"""
        name = "plugin"
        snr_db = [10.0]
        plugins = ["{PLUGIN}"]
        [images]
        folder = "{tiny_folder}"
        limit = 1
        [[schemes]]
        name = "gai"
        captions = "{tiny_folder / 'captions.json'}"
        similarity = false
        [schemes.stages.generator]
        name = "grey"
        light = 200
        """)
    result = run_experiment(load_config(config_file), tmp_path / "r", progress=False)
    record = result.records[0]
    assert "grey plugin" in record["model"]
    assert record["details"]["generator"] == "grey"
    assert not record["failed"]


def test_plugin_from_command_line(tmp_path, tiny_folder, capsys):
    config_file = write(tmp_path / "gai.toml", f"""
        snr_db = [10.0]
        [images]
        folder = "{tiny_folder}"
        limit = 1
        [scheme]
        name = "gai"
        captions = "{tiny_folder / 'captions.json'}"
        generator = "grey"
        similarity = false
        """)
    assert main(["run", str(config_file), "--out", str(tmp_path / "r"), "--plugin", str(PLUGIN),
                 "--no-progress"]) == 0
    assert "grey plugin" in capsys.readouterr().out


@pytest.mark.parametrize("body, message", [
    ('snr_db = [0.0]\nbogus = 1\n[scheme]\nname = "jscc"\n', "unknown key 'bogus'"),
    ('[scheme]\nname = "jscc"\n', "missing key 'snr_db'"),
    ('snr_db = [0.0]\n', "missing key 'scheme'"),
    ('snr_db = [0.0]\n[scheme]\nname = "nope"\n', "unknown scheme 'nope'"),
    ('snr_db = [0.0]\n[scheme]\nname = "separation"\ncodec = "nope"\n', "unknown codec 'nope'"),
    ('snr_db = [0.0]\n[scheme]\nname = "gai"\n[scheme.stages.generator]\nname = "nope"\n',
     "stages.generator.name: unknown generator 'nope'"),
    ('snr_db = [0.0]\n[scheme]\nname = "gai"\n[scheme.stages.wizard]\nname = "x"\n', "unknown stage kind"),
    ('snr_db = [0.0]\n[channel]\nname = "nope"\n[scheme]\nname = "jscc"\n', "unknown channel 'nope'"),
    ('snr_db = ["x"]\n[scheme]\nname = "jscc"\n', "snr_db must be a list of one or more values, each a finite number"),
    ('snr_db = [0.0]\n[images]\nlimit = 0\n[scheme]\nname = "jscc"\n', "images.limit must be an integer at least 1"),
    ('snr_db = [0.0]\n[images]\nfolders = "x"\n[scheme]\nname = "jscc"\n', "unknown key 'images.folders'"),
    ('snr_db = [0.0]\n[scheme]\nname = "bound"\nwidth = 3\n', "has no option 'width'"),
    ('snr_db = [0.0\n[scheme]\n', "malformed TOML"),
    ('snr_db = [0.0]\nplugins = ["no_such_plugin_module"]\n[scheme]\nname = "jscc"\n', "cannot import plugin"),
])
def test_bad_config_is_named(tmp_path, body, message):
    path = write(tmp_path / "bad.toml", body)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(path)


def test_bad_config_from_command_line(tmp_path, capsys):
    path = write(tmp_path / "bad.toml", 'snr_db = [0.0]\n[scheme]\nname = "nope"\n')
    assert main(["run", str(path), "--out", str(tmp_path / "r")]) == 2
    assert "unknown scheme 'nope'" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_missing_or_empty_image_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    for folder, message in ((tmp_path / "missing", "image folder not found"), (tmp_path / "empty", "no image files")):
        config = validate_config({"snr_db": [0.0], "images": {"folder": str(folder)}, "scheme": {"name": "jscc"}})
        with pytest.raises(InputError, match=message):
            run_experiment(config, tmp_path / "r", progress=False)


def test_config_error_leaves_no_state_that_refuses_the_corrected_config(tmp_path, tiny_folder, capsys):
    """A config that fails while its schemes are built writes nothing; the corrected one then runs there."""
    body = 'snr_db = [10.0]\n[images]\nfolder = "{folder}"\nlimit = 1\n[[schemes]]\nname = "jscc"\nmodel = "{model}"\n'
    bad = write(tmp_path / "bad.toml", body.format(folder=tiny_folder, model="no-such-model"))
    out = tmp_path / "r"
    assert main(["run", str(bad), "--out", str(out), "--no-progress"]) == 2
    assert "JSCC checkpoint 'no-such-model' not found" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == [".lock"]
    good = write(tmp_path / "bad.toml", body.format(folder=tiny_folder, model="jscc-awgn-cbr1-16"))
    assert main(["run", str(good), "--out", str(out), "--no-progress"]) == 0
    assert "1 items computed" in capsys.readouterr().out


def test_invalid_config_creates_no_folder(tmp_path, capsys):
    path = write(tmp_path / "bad.toml", 'snr_db = [0.0]\n[scheme]\nname = "bound"\ncbr = "abc"\n')
    assert main(["run", str(path), "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip().endswith("scheme.cbr must be a fraction in (0, 1] such as 1/16 or "
                                                     "0.0625, got 'abc'")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("tail", [b'{"key": "semantic|a', b'{"key": "semantic|a"}', b"\x00\x00\x00\n"])
def test_resume_drops_a_damaged_last_line(tmp_path, tiny_folder, tail):
    """A last line cut short, unterminated or garbled (a kill, a crash) is dropped and redone, once."""
    config = sweep_config(tiny_folder)
    first = run_experiment(config, tmp_path / "r", progress=False)
    path = tmp_path / "r" / "results.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2]) + tail)
    again = run_experiment(config, tmp_path / "r", progress=False)
    assert (again.skipped, again.computed) == (2, 2)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(r["key"] for r in records) == sorted(r["key"] for r in first.records)
    assert [r["psnr"] for r in again.records] == pytest.approx([r["psnr"] for r in first.records])


def test_config_values_are_normalised_as_the_flags_are(tmp_path):
    config = validate_config({"snr_db": 3, "scheme": {"name": "separation", "cbr": "1/16", "arq": 0}})
    assert config["snr_db"] == [3.0]
    assert config["schemes"][0]["options"] == {"cbr": 0.0625, "arq": 0}


def test_summary_rows_give_spread_and_confidence_interval(tmp_path, tiny_folder):
    from scipy.stats import t

    result = run_experiment(sweep_config(tiny_folder), tmp_path / "r", progress=False)
    row = result.summary[0]
    psnrs = [r["psnr"] for r in result.records if r["snr_db"] == row["snr_db"]]
    assert row["psnr"] == pytest.approx(np.mean(psnrs))
    assert row["psnr_std"] == pytest.approx(np.std(psnrs, ddof=1))
    assert row["psnr_ci95"] == pytest.approx(t.ppf(0.975, 1) * np.std(psnrs, ddof=1) / np.sqrt(2))
    for key in ("ssim", "ms_ssim", "bits_per_image"):
        assert f"{key}_std" in row and f"{key}_ci95" in row
    assert (tmp_path / "r" / "psnr_vs_snr.png").read_bytes()[:4] == b"\x89PNG"  # two SNRs: the curve is drawn


def test_one_image_has_no_spread():
    from semcom.runner import spread

    assert spread([30.0]) == (None, None)
    std, ci = spread([1.0, 3.0])
    assert std == pytest.approx(np.sqrt(2)) and ci == pytest.approx(12.706 * 1.0, rel=1e-3)


def test_saved_reconstructions_and_resume_fills_missing_ones(tmp_path, tiny_folder):
    from semcom.images import load_image
    from semcom.runner import image_file

    config = sweep_config(tiny_folder)
    out = tmp_path / "r"
    result = run_experiment(config, out, progress=False, save_images=True)
    files = sorted((out / "images").rglob("*.png"))
    assert len(files) == len(result.records) == 4
    first = image_file(out, "semantic", 10.0, result.records[-1]["image"])
    assert first.is_file() and load_image(first).shape == (48, 48, 3)
    first.unlink()
    lines = (out / "results.jsonl").read_bytes()
    again = run_experiment(config, out, progress=False, save_images=True)
    assert first.is_file() and again.computed == 0  # sent again for its image only
    assert (out / "results.jsonl").read_bytes() == lines  # no record added or changed
    with pytest.raises(ConfigError, match="needs a results folder"):
        run_experiment(config, None, progress=False, save_images=True)


def test_saved_images_of_the_first_n_only(tmp_path, tiny_folder):
    result = run_experiment(sweep_config(tiny_folder), tmp_path / "r", progress=False, save_images=1)
    names = {p.stem for p in (tmp_path / "r" / "images").rglob("*.png")}
    assert names == {Path(result.records[0]["image"]).stem}
