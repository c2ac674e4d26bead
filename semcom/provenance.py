"""What every result file records: the command, package and codec library versions, the git revision of the
code, the hardware and the threads it ran on.

:func:`provenance` gathers it (``meta.json`` of a run, ``table.json``, ``--json`` outputs)::

    {"versions": {...}, "codecs": {"libheif": "1.23.6", "x265": "...", "libavif": "1.4.2", ...},
     "git_revision": "...", "seed": 0, "command": "semcom table4 --snr-db 0,10",
     "hardware": {"cpu": "...", "logical_cores": 2, "memory_gb": 7.8, ...},
     "threads": {"torch": 2, "OMP_NUM_THREADS": null, ...}}
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("semcom", "torch", "sionna-no-rt", "numpy", "scikit-image", "pillow", "pillow-heif",
            "transformers", "diffusers", "ray")
#: environment variables that set thread counts of the numeric libraries
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
                    "OMP_WAIT_POLICY")


def package_versions() -> dict[str, str | None]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    found["python"] = platform.python_version()
    return found


def codec_versions() -> dict[str, str | None]:
    """Versions of the image codec libraries the codecs run on (None where the library is not there):
    libheif and its HEVC encoder x265 and decoder libde265 (pillow-heif), libavif, libwebp and libjpeg (Pillow)."""
    found: dict[str, str | None] = {}
    try:
        import pillow_heif

        info = pillow_heif.libheif_info()
        found["libheif"] = info.get("libheif")
        found["x265"] = info.get("encoders", {}).get("x265")
        found["libde265"] = info.get("decoders", {}).get("libde265")
    except Exception:  # pillow-heif missing or without this information
        found.update(libheif=None, x265=None, libde265=None)
    try:
        from PIL import features

        for name, feature in (("libavif", "avif"), ("libwebp", "webp"), ("libjpeg", "jpg"),
                              ("libjpeg_turbo", "libjpeg_turbo")):
            found[name] = features.version(feature)
    except Exception:  # a Pillow without these features
        pass
    return found


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo, else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def hardware() -> dict:
    """CPU model, logical cores (and those this process may use), memory, operating system."""
    memory = None
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu_model(), "logical_cores": os.cpu_count(), "usable_cores": usable, "memory_gb": memory,
            "machine": platform.machine(), "system": platform.platform()}


def threads() -> dict:
    """Torch's intra-op threads (when torch is loaded) and the thread settings of the environment."""
    torch = sys.modules.get("torch")
    return {"torch": torch.get_num_threads() if torch is not None else None,
            **{name: os.environ.get(name) for name in THREAD_VARIABLES}}


def command_line() -> str:
    """The command this process runs, as typed (``semcom ...`` for the command line)."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("semcom", "__main__.py"):
        argv[0] = "semcom"
    return shlex.join(argv)


def git_revision() -> str:
    """Commit of the source tree semcom runs from (suffix ``-dirty`` with local changes), or 'unknown'."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(seed: int | None = None) -> dict:
    return {"versions": package_versions(), "codecs": codec_versions(), "git_revision": git_revision(),
            "seed": seed, "command": command_line(), "hardware": hardware(), "threads": threads()}
