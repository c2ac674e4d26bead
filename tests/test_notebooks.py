"""The notebooks execute (tiny settings: SEMCOM_NOTEBOOK_TINY=1), so that they cannot rot."""

from __future__ import annotations

import os
from pathlib import Path

import ipykernel  # noqa: F401  (the kernel the notebooks run in; a dev dependency)
import nbclient
import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_all_notebooks_found():
    assert [p.name for p in NOTEBOOKS] == ["01_quick_start.ipynb", "02_channels_and_ber.ipynb",
                                           "03_swapping_encoders.ipynb", "04_table4.ipynb",
                                           "05_federated.ipynb", "06_lifecycle.ipynb",
                                           "07_collaborative_inference.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, monkeypatch):
    monkeypatch.setenv("SEMCOM_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(book, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
