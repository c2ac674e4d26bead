"""``semcom table4``: rows, published figures, outputs, options, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from semcom.cli.main import main
from semcom.errors import ConfigError
from semcom.table4 import PUBLISHED_LABEL, PUBLISHED_NOTE, parse_schemes, run_table4, table4_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Every row on one embedded photograph cropped to 64 x 64, tiny generator."""
    out = tmp_path_factory.mktemp("table4")
    code = main(["table4", "--limit", "1", "--crop", "64", "--generator", "tiny-stable-diffusion", "--out", str(out),
                 "--no-progress", "--snr-db", "0,10"])
    assert code == 0
    return out


def test_outputs_written(tiny_run):
    for name in ("table.md", "table.csv", "table.json", "psnr_vs_bits.png", "psnr_vs_snr.png",
                 "side_by_side_0dB.png", "side_by_side_10dB.png"):
        assert (tiny_run / name).is_file(), name
    assert (tiny_run / "psnr_vs_bits.png").read_bytes()[:4] == b"\x89PNG"


def test_rows_and_published_figures(tiny_run):
    report = json.loads((tiny_run / "table.json").read_text())
    ours = [r for r in report["rows"] if r["source"] != PUBLISHED_LABEL]
    assert [(r["scheme"], r["snr_db"]) for r in ours] == [
        (s, snr) for s in ("traditional", "semantic", "generative", "generative+side", "bound") for snr in (0.0, 10.0)]
    side = [r for r in ours if r["scheme"] == "generative+side"]
    for r in side:  # prompt and side information apart and together, within 2,000 bits per image
        assert r["bits_per_image"] == r["prompt_bits_per_image"] + r["side_bits_per_image"] <= 2000
        assert r["side_bits_per_image"] > 0
    published = [r for r in report["rows"] if r["source"] == PUBLISHED_LABEL]
    assert [(r["downlink_bits"], r["psnr"]) for r in published] == [(1.28e5, 28.05), (5.99e4, 28.25), (3.03e4, 28.64)]
    semantic = next(r for r in ours if r["scheme"] == "semantic")
    assert semantic["downlink_bits"] is None and semantic["capacity_bits_analog"] > 0
    assert "shipped checkpoint" in semantic["model"]
    generative = next(r for r in ours if r["scheme"] == "generative")
    assert "reference data" in generative["model"] and "test double" in generative["model"]
    assert generative["downlink_bits"] > 0 and generative["semantic_similarity"] is not None
    assert report["meta"]["git_revision"] and report["meta"]["versions"]
    assert report["config"]["seed"] == 0 and set(report["wall_seconds"]) == {"traditional", "semantic",
                                                                            "generative", "generative+side", "bound"}
    md = (tiny_run / "table.md").read_text()
    assert PUBLISHED_LABEL in md and "at capacity" in md and "wall time" in md
    assert f"[1] Published rows are the white paper's own figures, not measured here: {PUBLISHED_NOTE}" in md
    assert "bits per image are those totals / 300" in md and "± " in md  # a one-image run has no interval
    rows = list(csv.DictReader(open(tiny_run / "table.csv")))
    assert len(rows) == 10 + 3


def test_rerun_resumes_without_recomputing(tiny_run, capsys):
    assert main(["table4", "--limit", "1", "--crop", "64", "--generator", "tiny-stable-diffusion", "--out",
                 str(tiny_run), "--no-progress", "--snr-db", "0,10"]) == 0
    report = json.loads((tiny_run / "table.json").read_text())
    assert report["computed_items"] == 0 and report["resumed_items"] == 10


def test_subset_and_kodak_style_captions(tmp_path):
    """A user folder with its own captions file (cropped, so the captioner sees the pixels actually sent)."""
    from PIL import Image

    from semcom.images import default_images

    folder = tmp_path / "imgs"
    folder.mkdir()
    name, image = default_images()[1]
    Image.fromarray(image).save(folder / "cat.png")
    (folder / "captions.json").write_text(json.dumps({"images": {"cat.png": {"caption": "a cat", "keywords": []}}}))
    config = table4_config(images=str(folder), crop=48, schemes="gai,bound", captions=str(folder / "captions.json"),
                           generator="fallback", snr_db=[5.0])
    report = run_table4(config, tmp_path / "out", progress=False)
    ours = [r for r in report["rows"] if r["source"] != PUBLISHED_LABEL]
    assert [r["scheme"] for r in ours] == ["generative", "bound"]
    assert "fallback" in ours[0]["model"]


def test_parse_schemes():
    assert parse_schemes("gai,traditional") == [("traditional", "separation"), ("generative", "gai")]
    with pytest.raises(ConfigError, match="unknown Table 4 scheme 'x'"):
        parse_schemes("x")


def test_bad_input_messages(tmp_path, capsys):
    assert main(["table4", "--images", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "image folder not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["table4", "--images", str(tmp_path / "empty"), "--out", str(tmp_path / "o"),
                 "--schemes", "bound"]) == 2
    assert "no image files" in capsys.readouterr().err
    assert main(["table4", "--schemes", "teleport", "--out", str(tmp_path / "o")]) == 2
    assert "unknown Table 4 scheme" in capsys.readouterr().err
    assert main(["table4", "--generator", "nope", "--out", str(tmp_path / "o")]) == 2
    assert "unknown generator 'nope'" in capsys.readouterr().err


def test_default_captions_cover_embedded_images():
    from semcom.images import DEFAULT_IMAGE_NAMES, default_images
    from semcom.runner import DEFAULT_CAPTIONS

    entries = json.loads(DEFAULT_CAPTIONS.read_text())["images"]
    assert sorted(entries) == sorted(f"{n}.png" for n in DEFAULT_IMAGE_NAMES)
    for name, image in default_images():
        entry = entries[f"{name}.png"]
        assert entry["caption"] and 3 <= len(entry["keywords"]) <= 5
        assert (entry["height"], entry["width"]) == image.shape[:2]


def test_a_folder_with_its_own_captions_uses_them(tmp_path):
    (tmp_path / "captions.json").write_text(json.dumps({"images": {}}))
    config = table4_config(images=str(tmp_path), schemes="generative")
    (entry,) = [s for s in config["schemes"] if s["name"] == "gai"]
    assert Path(entry["options"]["captions"]) == (tmp_path / "captions.json").resolve()


def test_jscc_row_uses_the_checkpoint_of_the_channel_and_cbr():
    def model(**options):
        (entry,) = table4_config(schemes="semantic", **options)["schemes"]
        return entry["options"]["model"]

    assert model() == "jscc-awgn-cbr1-16"
    assert model(channel="rayleigh") == "jscc-rayleigh-cbr1-16"
    assert model(cbr=1 / 48) == "jscc-awgn-cbr1-48"
    assert model(cbr=1 / 48, jscc_model="my-folder") == "my-folder"


def test_side_by_side_shows_saved_reconstructions(tiny_run):
    report = json.loads((tiny_run / "table.json").read_text())
    runs = Path(report["results_folder"])
    saved = sorted(p.relative_to(runs / "images").parts[:2] for p in (runs / "images").rglob("*.png"))
    assert saved == sorted((s, f"{snr}dB") for s in ("traditional", "semantic", "generative", "generative+side", "bound")
                           for snr in ("0", "10"))
    assert "side_by_side_0dB.png" in report["figures"] and report["meta"]["codecs"]["libheif"]
