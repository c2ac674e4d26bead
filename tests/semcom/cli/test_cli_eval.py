import json

import numpy as np
import pytest
from skimage import data

from semcom.cli import main
from semcom.images import save_image


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    save_image(root / "a.png", data.astronaut()[:96, :128])
    save_image(root / "b.png", data.coffee()[200:264, 300:380])
    return root


def test_eval_json_summary_per_snr(folder, capsys):
    code = main(["eval", "--scheme", "separation", "--codec", "jpeg", "--images", str(folder), "--channel", "awgn",
                 "--snr-db", "3,20", "--cbr", "1/8", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["snr_db"] for s in out["summary"]] == [3.0, 20.0]
    for record in out["summary"]:
        for key in ("psnr", "ssim", "ms_ssim", "bits_per_image", "channel_uses_per_image", "failures", "model"):
            assert key in record
    assert out["summary"][1]["psnr"] > out["summary"][0]["psnr"]
    assert len(out["images"]) == 4
    assert out["meta"]["versions"]["torch"] and out["meta"]["git_revision"]


def test_bound_through_eval(folder, capsys):
    assert main(["eval", "--scheme", "bound", "--images", str(folder), "--snr-db", "10", "--limit", "1", "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)["summary"]
    assert record["failures"] == 0 and record["bits_per_image"] > 0


def test_transmit_saves_the_reconstruction(folder, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main(["transmit", str(folder / "a.png"), "--scheme", "separation", "--codec", "webp", "--snr-db", "25",
                 "--cbr", "1/8", "--out", str(out), "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert out.exists() and result["psnr"] > 20 and not result["failed"]


@pytest.mark.parametrize(
    "argv,match",
    [
        (["eval", "--images", "/nonexistent/folder"], "nonexistent"),
        (["eval", "--scheme", "nope"], "unknown scheme"),
        (["eval", "--scheme", "bound", "--mcs", "3"], "does not take --mcs"),
        (["transmit", "/nonexistent.png"], "nonexistent.png"),
    ],
)
def test_bad_input_is_named(argv, match, capsys):
    assert main(argv) == 2
    assert match in capsys.readouterr().err


def test_empty_folder_is_named(tmp_path, capsys):
    assert main(["eval", "--images", str(tmp_path)]) == 2
    assert "no image files" in capsys.readouterr().err
