"""Choosing where models run: ``--device cpu|cuda|mps`` and ``--dtype float32|float16|bfloat16``, checked up front.

>>> check_device("cpu"), check_dtype("float32")
('cpu', torch.float32)
"""

from __future__ import annotations

import torch

from semcom.errors import ConfigError

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def default_device() -> str:
    """``cuda`` when a CUDA device is visible, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str | None) -> str:
    """The device to run on (None: :func:`default_device`); a device this machine lacks is a ConfigError."""
    if device is None:
        return default_device()
    name = str(device).strip().lower()
    kind, _, index = name.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (index and (kind != "cuda" or not index.isdigit())):
        raise ConfigError(f"device must be cpu, cuda, cuda:N or mps, got {device!r}")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} asked for, but this torch build sees no CUDA device "
                              f"(torch {torch.__version__}); use --device cpu")
        if index and int(index) >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    if kind == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError(f"device {device!r} asked for, but MPS is not available here; use --device cpu")
    return name


def check_dtype(dtype: str | torch.dtype | None, device: str = "cpu") -> torch.dtype:
    """A torch dtype from ``float32``/``float16``/``bfloat16`` (None: float32); float16 needs a GPU."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        chosen = dtype
    elif str(dtype) in DTYPES:
        chosen = DTYPES[str(dtype)]
    else:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if chosen == torch.float16 and device.startswith("cpu"):
        raise ConfigError("float16 runs on a GPU only; use --dtype float32 or bfloat16 on the CPU")
    return chosen
