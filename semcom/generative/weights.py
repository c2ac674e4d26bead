"""Finding pretrained weights on this machine, and saying exactly what to do when they are missing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, TypeVar

from semcom.errors import WeightsNotFoundError

T = TypeVar("T")

#: What a stage's components are: loaded from real weights, a model trained by this project and shipped
#: with it, a tiny random test double, or a fallback.
REAL, TRAINED, TEST_DOUBLE, FALLBACK, REFERENCE = (
    "real weights", "trained here", "test double", "fallback", "reference data")


def hf_cache_dir() -> str:
    """The Hugging Face hub cache that ``from_pretrained`` reads (``$HF_HUB_CACHE`` / ``$HF_HOME``)."""
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # huggingface_hub missing or broken: report the documented default
        return os.path.expanduser("~/.cache/huggingface/hub")


def is_local_folder(model: str | os.PathLike) -> bool:
    return Path(model).expanduser().is_dir()


def missing_weights_message(kind: str, model: str, option: str, cause: BaseException | None = None) -> str:
    """A message naming the model, where it was looked for, and how to get it."""
    path = Path(str(model)).expanduser()
    if path.is_absolute() or str(model).startswith((".", "~")) or path.exists():
        where = f"the local folder {path} (it holds no usable {kind} weights)"
    else:
        where = f"the Hugging Face cache {hf_cache_dir()} (offline: nothing is downloaded)"
    repo = str(model) if not path.is_absolute() else "<hub id>"
    how = (f"on a machine with internet run `huggingface-cli download {repo} --local-dir DIR` (or "
           f"`hf download {repo} --local-dir DIR`), copy DIR here, then pass `{option} DIR`; or fill the cache "
           f"above and keep the hub id")
    text = f"{kind} weights {model!r} not found: looked in {where}. To get them: {how}."
    if cause is not None:
        text += f" ({type(cause).__name__}: {str(cause).splitlines()[0][:200] if str(cause) else ''})"
    return text


def load_pretrained(load: Callable[..., T], model: str, kind: str, option: str, *, download: bool = False, **kwargs) -> T:
    """``load(model, local_files_only=..., **kwargs)``; a missing model becomes WeightsNotFoundError."""
    local = is_local_folder(model)
    try:
        source = str(Path(model).expanduser()) if local else model
        return load(source, local_files_only=local or not download, **kwargs)
    except (OSError, ValueError, EnvironmentError) as err:
        raise WeightsNotFoundError(missing_weights_message(kind, model, option, err)) from err
