"""What result files record about where and how they were made."""

from __future__ import annotations

import sys

from semcom.provenance import codec_versions, command_line, provenance


def test_provenance_records_command_hardware_threads_and_codecs(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/usr/bin/semcom", "table4", "--snr-db", "0,10"])
    meta = provenance(3)
    assert meta["seed"] == 3 and meta["git_revision"]
    assert meta["command"] == "semcom table4 --snr-db 0,10" == command_line()
    assert meta["hardware"]["logical_cores"] >= 1 and meta["hardware"]["cpu"]
    assert meta["threads"]["torch"] >= 1 and "OMP_NUM_THREADS" in meta["threads"]
    assert meta["versions"]["torch"] and meta["versions"]["python"]


def test_codec_library_versions():
    codecs = codec_versions()
    assert codecs["libheif"] and codecs["libheif"][0].isdigit()
    assert "x265" in (codecs["x265"] or "")
    assert codecs["libavif"] and codecs["libwebp"]
