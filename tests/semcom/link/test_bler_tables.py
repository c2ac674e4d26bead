"""BLER tables: checked when loaded (the file is named when it is unusable), written where the user says."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semcom.cli.main import main
from semcom.errors import ConfigError
from semcom.link.mcs import BLER_TABLES_ENV, MCS_TABLE, SHIPPED_TABLES, load_bler_table, read_bler_table, select_mcs


def _table(snr=(0.0, 1.0, 2.0), bler=None) -> dict:
    rows = [[1.0, 0.5, 0.0]] * len(MCS_TABLE) if bler is None else bler
    return {"channel": "awgn", "snr_db": list(snr), "bler": rows, "meta": {}}


@pytest.mark.parametrize("channel", ["awgn", "rayleigh", "tdl"])
def test_shipped_tables_load(channel):
    table = load_bler_table(channel)
    assert table.bler.shape == (len(MCS_TABLE), table.snr_db.size)


@pytest.mark.parametrize("content, message", [
    (json.dumps(_table(snr=[], bler=[])), "snr_db must be an increasing list of at least 2 finite values, got 0"),
    (json.dumps(_table(snr=[0.0, 2.0, 1.0])), "snr_db must be an increasing list"),
    (json.dumps(_table(bler=[[1.0, 0.5, 0.0]])), "bler must have one row per MCS (16) and one column per SNR (3)"),
    (json.dumps(_table(bler=[[1.0, 0.5, 2.0]] * len(MCS_TABLE))), "bler values must lie in [0, 1]"),
    (json.dumps(_table(bler=[[1.0, "x", 0.0]] * len(MCS_TABLE))), "snr_db and bler must hold numbers"),
    (json.dumps({"snr_db": [0.0, 1.0]}), "it needs the keys 'snr_db' and 'bler'"),
    ('{"snr_db": [0.0, 1.', "not a readable JSON file"),
    ("", "not a readable JSON file"),
])
def test_unusable_table_is_refused_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bler_awgn.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        read_bler_table(path, "awgn")
    text = str(info.value)
    assert text.startswith(f"BLER table {path} is unusable: ") and message in text
    assert f"semcom link bler-table --channel awgn --out {path}" in text and "\n" not in text


def test_tables_in_the_environment_folder_come_first(tmp_path, monkeypatch):
    bler = [[0.0, 0.0, 0.0]] * len(MCS_TABLE)  # every MCS is perfect: link adaptation takes the fastest
    (tmp_path / "bler_awgn.json").write_text(json.dumps(_table(bler=bler)))
    monkeypatch.setenv(BLER_TABLES_ENV, str(tmp_path))
    assert select_mcs(-5.0, "awgn") == max(MCS_TABLE, key=lambda m: m.spectral_efficiency)
    monkeypatch.delenv(BLER_TABLES_ENV)
    assert select_mcs(-5.0, "awgn") is None


def test_bler_table_writes_to_the_working_folder_not_the_shipped_table(tmp_path, monkeypatch, capsys):
    shipped = (SHIPPED_TABLES / "bler_awgn.json").read_bytes()
    simulated = load_bler_table("awgn")
    monkeypatch.setattr("semcom.link.bler_table.generate_bler_table", lambda channel, **options: simulated)
    monkeypatch.chdir(tmp_path)
    assert main(["link", "bler-table", "--channel", "awgn"]) == 0
    assert capsys.readouterr().out.strip() == "wrote bler_awgn.json"
    written = read_bler_table(tmp_path / "bler_awgn.json", "awgn")
    np.testing.assert_allclose(written.bler, simulated.bler, atol=1e-5)
    assert (SHIPPED_TABLES / "bler_awgn.json").read_bytes() == shipped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bler_awgn.json"]
