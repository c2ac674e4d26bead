"""Files a command reads and writes: paths checked before any work, atomic writes, line-atomic appends, locks.

* :func:`input_file` / :func:`input_folder` / :func:`output_folder` / :func:`output_file` check a
  path given as an option before anything is computed; the ConfigError names the option.
* :func:`atomic_path` / :func:`write_text` write through a temporary file in the same folder and
  ``os.replace`` it, so an interrupted write leaves the old file or none, never half of one.
* :func:`append_line` appends one complete line in a single write and syncs it to disk.
* :func:`exclusive` locks a folder for one run; a second run on it is refused at once.
* :func:`jsonable` turns NumPy values, tuples and paths into plain JSON types for result files.
* :func:`default_data_dir` finds the shared data folder (Kodak, BSDS500, Flickr8k captions).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from semcom.errors import ConfigError

LOCK_FILE = ".lock"
#: environment variable naming the shared data folder
DATA_ENV = "SEMCOM_DATA"
#: where the shared data folder is looked for when neither --data nor $SEMCOM_DATA names it: beside the
#: folder a command runs in, then beside the source checkout semcom runs from
DATA_DEFAULT = Path("..") / "shared" / "data"


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def input_file(path: str | os.PathLike, option: str) -> Path:
    """An existing, readable file; ConfigError naming ``option`` otherwise."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file")
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        raise ConfigError(f"{option} {path}: cannot read the file ({_reason(err)})") from None
    return path


def input_folder(path: str | os.PathLike, option: str) -> Path:
    """An existing folder; ConfigError naming ``option`` otherwise."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ConfigError(f"{option} {path}: folder not found")
    if not path.is_dir():
        raise ConfigError(f"{option} {path} is a file; give a folder")
    return path


def _folder_problem(folder: Path, given: Path) -> str | None:
    """Why ``folder`` (``given`` or the folder of ``given``) cannot take new files; None when it can (it is
    then created)."""
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                return "it is a file, not a folder" if part == given else f"{part} is a file, not a folder"
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".probe-")
        os.close(handle)
        os.unlink(probe)
    except OSError as err:
        return f"cannot write in {folder} ({_reason(err)})"
    return None


def output_folder(path: str | os.PathLike, option: str) -> Path:
    """``path`` as a folder that exists (created with its parents) and takes new files.

    Checked by creating and removing a temporary file in it; ConfigError naming ``option`` and the
    reason when it cannot be (a file in the way, a read-only or missing place).
    """
    path = Path(path).expanduser()
    problem = _folder_problem(path, path)
    if problem is not None:
        raise ConfigError(f"{option} {path}: {problem}")
    return path


def output_file(path: str | os.PathLike, option: str, suffixes: tuple[str, ...] = ()) -> Path:
    """``path`` as a file that can be written (its folder created), with one of ``suffixes`` if given."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ConfigError(f"{option} {path} must end with one of: {', '.join(suffixes)}")
    problem = _folder_problem(path.parent, path)
    if problem is not None:
        raise ConfigError(f"{option} {path}: {problem}")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) to write to; it replaces ``path`` when the block ends.

    On an exception (or an interrupt) the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as synced:
            os.fsync(synced.fileno())
        tmp.chmod(0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (the folder is created); returns the path."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append ``line`` and a newline in one write, then sync it: a line is on disk whole or not at all."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(handle, data)
        if written != len(data):
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
        os.fsync(handle)
    finally:
        os.close(handle)


@contextlib.contextmanager
def exclusive(folder: str | os.PathLike, option: str) -> Iterator[Path]:
    """Hold the lock of ``folder`` (its ``.lock`` file) for a run; ConfigError at once if another run holds it."""
    folder = Path(folder)
    lock = FileLock(str(folder / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ConfigError(f"{option} {folder} is in use by another run (it holds {folder / LOCK_FILE}); "
                          f"wait for that run to end or pass another {option}") from None
    try:
        yield folder
    finally:
        lock.release()


def jsonable(value):
    """``value`` with NumPy scalars and arrays, tuples and paths turned into plain JSON types (recursively)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def read_toml(path: str | os.PathLike, what: str) -> dict:
    """The table of the TOML file ``path``; ConfigError naming ``what`` (e.g. 'config') when it is missing,
    a folder, not text or malformed."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder; give a TOML file")
    if not path.is_file():
        raise ConfigError(f"{what} file not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: malformed TOML: {err}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a text file: {err}") from err


def default_data_dir(given: str | os.PathLike | None = None) -> Path:
    """The shared data folder (holds ``kodak/``, ``bsds500/``, ``flickr8k-captions/``).

    In this order: ``given`` (a command's ``--data``), ``$SEMCOM_DATA``, then ``../shared/data`` from the
    current folder, then ``../shared/data`` from the source checkout semcom runs from, whichever exists first.
    When none exists, ``../shared/data`` (relative: the error that reads it names the folder it looked in).
    """
    if given is not None and str(given):
        return Path(given).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[1]  # the folder holding the semcom package
    for base in (Path.cwd(), checkout):
        candidate = base / DATA_DEFAULT
        if candidate.is_dir():
            return candidate.resolve()
    return DATA_DEFAULT
