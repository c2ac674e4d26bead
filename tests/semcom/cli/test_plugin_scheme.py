"""A scheme registered by a plugin runs through every command of the one evaluation engine, under its own label."""

import json
from pathlib import Path

from semcom.cli import main

PLUGIN = str(Path(__file__).with_name("block_means_plugin.py"))
LABEL = "plugin: block means over 5G LDPC"


def test_plugin_scheme_through_eval(capsys):
    assert main(["eval", "--plugin", PLUGIN, "--scheme", "block-means", "--snr-db", "10", "--limit", "1",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["summary"]
    assert row["scheme"] == "block-means" and row["model"] == LABEL and row["failures"] == 0
    assert row["bits_per_image"] > 0 and row["psnr"] > 15 and out["scheme"] == {"scheme": "block-means"}


def test_plugin_scheme_through_run(tmp_path, capsys):
    config = tmp_path / "plugin.toml"
    config.write_text(f'name = "plugin"\nsnr_db = [10.0]\nplugins = ["{PLUGIN}"]\n'
                      '[images]\nfolder = "embedded"\nlimit = 1\ncrop = 64\n'
                      '[[schemes]]\nname = "block-means"\nlabel = "tiles"\nblock = 4\n')
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    (row,) = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert row["scheme"] == "tiles" and row["scheme_name"] == "block-means" and row["model"] == LABEL
    assert row["bits_per_image"] == 16 * 16 * 3 * 8  # 64 x 64 crop, 4 x 4 tiles, 3 x 8 bits each
    printed = capsys.readouterr().out
    assert "tiles" in printed and LABEL in printed


def test_plugin_scheme_through_table4(tmp_path, capsys):
    assert main(["table4", "--plugin", PLUGIN, "--schemes", "bound,block-means", "--limit", "1", "--crop", "64",
                 "--out", str(tmp_path), "--no-progress"]) == 0
    report = json.loads((tmp_path / "table.json").read_text())
    rows = {r["scheme"]: r for r in report["rows"] if r["source"].startswith("measured")}
    assert set(rows) == {"bound", "block-means"}
    assert rows["block-means"]["model"] == LABEL and rows["block-means"]["bits_per_image"] == 8 * 8 * 3 * 8
    assert "block-means" in capsys.readouterr().out
