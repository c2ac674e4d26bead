"""Output paths checked before any work, atomic writes, line-atomic appends and run locks."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from semcom.errors import ConfigError
from semcom.files import (
    LOCK_FILE,
    append_line,
    atomic_path,
    exclusive,
    input_file,
    input_folder,
    output_file,
    output_folder,
    write_text,
)


def test_output_folder_is_created_and_checked(tmp_path):
    assert output_folder(tmp_path / "a" / "b", "--out") == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir() and not list((tmp_path / "a" / "b").iterdir())
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"^--out .*/file/sub: .*/file is a file, not a folder$"):
        output_folder(tmp_path / "file" / "sub", "--out")
    with pytest.raises(ConfigError, match=r"^--out .*/file: it is a file, not a folder$"):
        output_folder(tmp_path / "file", "--out")
    with pytest.raises(ConfigError, match=r"cannot write in /proc/semcom-x/out \(No such file"):
        output_folder("/proc/semcom-x/out", "--out")


def test_output_file_checks_folder_and_suffix(tmp_path):
    assert output_file(tmp_path / "new" / "t.json", "--out", (".json",)) == tmp_path / "new" / "t.json"
    assert (tmp_path / "new").is_dir()
    with pytest.raises(ConfigError, match="is a folder; give a file name"):
        output_file(tmp_path / "new", "--out")
    with pytest.raises(ConfigError, match=r"must end with one of: \.json"):
        output_file(tmp_path / "t.csv", "--out", (".json",))


def test_input_paths(tmp_path):
    (tmp_path / "f").write_text("x")
    assert input_file(tmp_path / "f", "config") == tmp_path / "f"
    assert input_folder(tmp_path, "--data") == tmp_path
    with pytest.raises(ConfigError, match="is a folder; give a file"):
        input_file(tmp_path, "config")
    with pytest.raises(ConfigError, match=r"cannot read the file \(No such file"):
        input_file(tmp_path / "missing", "config")
    with pytest.raises(ConfigError, match="is a file; give a folder"):
        input_folder(tmp_path / "f", "--data")
    with pytest.raises(ConfigError, match="folder not found"):
        input_folder(tmp_path / "missing", "--data")


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "table.json"
    write_text(target, "old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".json"
            tmp.write_text("half of the ne")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.json"]
    write_text(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["table.json"]


def test_append_line_writes_complete_lines(tmp_path):
    path = tmp_path / "results.jsonl"
    append_line(path, '{"a": 1}')
    append_line(path, '{"b": 2}\n')
    assert path.read_text() == '{"a": 1}\n{"b": 2}\n'


def test_lock_refuses_a_second_holder_at_once(tmp_path):
    """A lock held by another process refuses this one; released, it can be taken."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from filelock import FileLock
        lock = FileLock({str(tmp_path / LOCK_FILE)!r}, timeout=0)
        lock.acquire()
        print("locked", flush=True)
        sys.stdin.readline()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match=r"^--out .* is in use by another run \(it holds .*\.lock\); "
                                              r"wait for that run to end or pass another --out$"):
            with exclusive(tmp_path, "--out"):
                pass
    finally:
        holder.communicate("\n", timeout=30)
    with exclusive(tmp_path, "--out") as folder:
        assert folder == tmp_path


def test_shared_data_folder_lookup(tmp_path, monkeypatch):
    """--data, then $SEMCOM_DATA, then ../shared/data from the current folder, then from the checkout."""
    from pathlib import Path

    from semcom.files import DATA_DEFAULT, default_data_dir

    monkeypatch.setenv("SEMCOM_DATA", str(tmp_path / "env"))
    assert default_data_dir(tmp_path / "given") == tmp_path / "given"
    assert default_data_dir() == tmp_path / "env"
    monkeypatch.delenv("SEMCOM_DATA")
    work = tmp_path / "project" / "work"
    work.mkdir(parents=True)
    (tmp_path / "project" / "shared" / "data").mkdir(parents=True)
    monkeypatch.chdir(work)
    assert default_data_dir() == (tmp_path / "project" / "shared" / "data").resolve()
    monkeypatch.chdir(tmp_path)  # no ../shared/data here: the source checkout's, or the relative default
    found = default_data_dir()
    checkout = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    assert found == (checkout.resolve() if checkout.is_dir() else DATA_DEFAULT)
    assert not DATA_DEFAULT.is_absolute()
