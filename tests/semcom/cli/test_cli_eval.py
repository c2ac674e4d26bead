import json

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


def test_channel_options_reach_the_link_and_pick_the_model(folder, capsys):
    assert main(["eval", "--scheme", "jscc", "--images", str(folder), "--limit", "1", "--snr-db", "10",
                 "--channel", "rayleigh", "--channel-option", "block_length=1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (record,) = out["summary"]
    assert record["model"].endswith("jscc-rayleigh-symbol-cbr1-16")
    assert out["config"]["channel"] == {"name": "rayleigh", "block_length": 1}


def test_a_channel_option_without_a_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "--channel-option", "block_length"])
    assert exit_.value.code == 2 and "KEY=VALUE" in capsys.readouterr().err


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
        (["eval", "--channel", "rayleigh", "--channel-option", "bogus=1"], "has no option 'bogus'"),
    ],
)
def test_bad_input_is_named(argv, match, capsys):
    assert main(argv) == 2
    assert match in capsys.readouterr().err


def test_empty_folder_is_named(tmp_path, capsys):
    assert main(["eval", "--images", str(tmp_path)]) == 2
    assert "no image files" in capsys.readouterr().err


def test_transmit_reads_the_folder_captions_and_takes_an_snr_list(tmp_path, capsys):
    save_image(tmp_path / "cat.png", data.chelsea()[100:164, 100:164])
    (tmp_path / "captions.json").write_text(json.dumps({"images": {"cat.png": {"caption": "a cat on a rug"}}}))
    out = tmp_path / "rx.png"
    assert main(["transmit", str(tmp_path / "cat.png"), "--scheme", "gai", "--generator", "fallback", "--keywords",
                 "none", "--prompt-bits", "0", "--snr-db", "0,10", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["snr_db"] for r in report["results"]] == [0.0, 10.0]
    assert all(r["details"]["sent_prompt"] == "a cat on a rug" for r in report["results"])
    assert (tmp_path / "rx_0dB.png").is_file() and (tmp_path / "rx_10dB.png").is_file()


def test_eval_table_gives_confidence_intervals_and_saves_images(folder, tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["eval", "--scheme", "bound", "--images", str(folder), "--snr-db", "5,15", "--out", str(out),
                 "--save-images"]) == 0
    text = capsys.readouterr().out
    assert "±" in text and "95 % confidence interval" in text
    assert len(list((out / "images").rglob("*.png"))) == 4 and (out / "psnr_vs_snr.png").is_file()
    assert main(["eval", "--scheme", "bound", "--images", str(folder), "--save-images"]) == 2
    assert "--save-images needs --out" in capsys.readouterr().err
