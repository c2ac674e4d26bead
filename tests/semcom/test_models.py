"""``semcom models``: shipped models and those found here, read from their cards (nothing loaded)."""

from __future__ import annotations

import json

from semcom.cli.main import main
from semcom.models import MISSING, SHIPPED, list_models


def test_shipped_models_are_listed_with_what_they_are_for(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    entries = {(e.kind, e.name): e for e in list_models()}
    jscc = {name: e for (kind, name), e in entries.items() if kind == "jscc"}
    assert set(jscc) >= {"jscc-awgn-cbr1-16", "jscc-awgn-cbr1-48", "jscc-rayleigh-cbr1-16"}
    assert "channel rayleigh (equalizer=mmse), CBR 1/16" in jscc["jscc-rayleigh-cbr1-16"].about
    assert "(block_length=1 equalizer=mmse)" in jscc["jscc-rayleigh-symbol-cbr1-16"].about
    assert all(e.status == SHIPPED for e in jscc.values())
    assert any(name == "prompt-lm-flickr8k" for _, name in entries)
    assert {"caption-lm-small", "caption-lm-large"} <= {name for _, name in entries}
    hub = [e for e in entries.values() if "Hugging Face" in e.about or "download" in e.about]
    assert all(e.status == MISSING and "huggingface-cli download" in e.about for e in hub)


def test_locally_found_checkpoints_and_hub_models(monkeypatch, tmp_path):
    import shutil

    from semcom.jscc.checkpoint import CHECKPOINT_ROOT

    mine = tmp_path / "mine" / "my-jscc"
    shutil.copytree(CHECKPOINT_ROOT / "jscc-awgn-cbr1-48", mine)
    snapshot = tmp_path / "hub" / "models--nlpconnect--vit-gpt2-image-captioning" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    monkeypatch.setenv("SEMCOM_JSCC_CHECKPOINTS", str(tmp_path / "mine"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    entries = {e.name: e for e in list_models()}
    assert entries["my-jscc"].status == "found here" and "CBR 1/48" in entries["my-jscc"].about
    assert entries["nlpconnect/vit-gpt2-image-captioning"].status == "found here"


def test_models_command(capsys):
    assert main(["models", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)["models"]
    assert any(m["name"] == "jscc-awgn-cbr1-16" and m["status"] == SHIPPED for m in models)
    assert main(["models"]) == 0
    assert "jscc-rayleigh-cbr1-16" in capsys.readouterr().out
