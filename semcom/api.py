"""The Python interface of semcom: load images, make schemes, transmit, evaluate, run a config.

Each function is a thin layer over the one engine (:mod:`semcom.runner`): schemes are checked and built as
configs build them, items are seeded and measured as every run measures them, and :func:`evaluate` and
:func:`run_config` are the runs of ``semcom eval`` and ``semcom run`` (resumable with ``out``, any executor).

    >>> import semcom
    >>> images = semcom.load_images(limit=1, crop=64)           # (name, [H, W, 3] uint8) pairs
    >>> scheme = semcom.make_scheme("separation", codec="jpeg")
    >>> sent = semcom.transmit(scheme, images[0][1], snr_db=10.0)
    >>> sent.record["psnr"] > 20, sent.reconstruction.shape
    (True, (64, 64, 3))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from semcom import runner
from semcom.options import CROP, LIMIT
from semcom.schemes import BuildContext, Scheme, SchemeResult


@dataclass
class Transmission:
    """One image sent once: ``record`` is what a run writes for the item (PSNR, SSIM, MS-SSIM, bits, coded
    bits, channel uses, failure, model, the scheme's own metrics); ``result`` the scheme's full answer."""

    record: dict[str, Any]
    result: SchemeResult

    @property
    def reconstruction(self) -> np.ndarray:
        """What the receiver shows, [H, W, 3] uint8."""
        return self.result.reconstruction


def _config(raw: dict, plugins: Sequence[str], source: str) -> dict:
    return runner.validate_config(raw, base=Path.cwd(), plugins=list(plugins), source=source)


def _channel(channel: str | dict) -> dict:
    return {"name": channel} if isinstance(channel, str) else dict(channel)


def load_images(folder: str | os.PathLike = "embedded", limit: int | None = None,
                crop: int | None = None) -> list[tuple[str, np.ndarray]]:
    """(file name, [H, W, 3] uint8 RGB) pairs of ``folder``: ``embedded`` (the scikit-image photographs), a
    path, or ``data:NAME`` (NAME in the shared data folder, e.g. ``data:kodak``); the first ``limit``,
    centre-cropped to at most ``crop`` x ``crop``."""
    folder = str(folder)
    return runner.load_images({
        "folder": folder if folder == "embedded" else runner.resolve_path(folder, Path.cwd()),
        "limit": None if limit is None else LIMIT.check(limit, "limit"),
        "crop": None if crop is None else CROP.check(crop, "crop")})


def make_scheme(name: str, channel: str | dict = "awgn", seed: int = 0, plugins: Sequence[str] = (),
                images: Sequence[tuple[str, np.ndarray]] = (), **options: Any) -> Scheme:
    """The scheme ``name`` (``separation``, ``bound``, ``jscc``, ``gai`` or a plugin's) on ``channel`` (a name,
    or a table with its options), its options checked as a config's ``[scheme]`` keys are. ``images``: the
    (name, image) pairs it will be sent, which a reference captioner (``captions=...``) matches by their pixels."""
    config = _config({"name": name, "seed": seed, "snr_db": [0.0], "channel": _channel(channel),
                      "scheme": {"name": name, **options}}, plugins, "make_scheme")
    context = BuildContext(list(images), cropped=True)  # in memory only: a reference captioner gets them as files
    return runner.build_scheme(config["schemes"][0], config, context)


def transmit(scheme: Scheme, image: np.ndarray, snr_db: float, seed: int = 0, index: int = 0,
             name: str = "image") -> Transmission:
    """Send ``image`` ([H, W, 3] uint8) once at Es/N0 = ``snr_db``; noise and sampling seeded by ``seed`` and the
    image's ``index``, as in a run."""
    record, result = runner.run_item(scheme, {"label": scheme.name, "name": scheme.name}, seed, index, name,
                                     image, float(snr_db))
    return Transmission(record, result)


def evaluate(scheme: str, images: str | os.PathLike = "embedded", snr_db: Sequence[float] = (10.0,), *,
             channel: str | dict = "awgn", seed: int = 0, limit: int | None = None, crop: int | None = None,
             out: str | os.PathLike | None = None, save_images: bool = False, progress: bool = False,
             executor: str = "local", workers: int | None = None, address: str | None = None,
             plugins: Sequence[str] = (), **options: Any) -> runner.RunResult:
    """``semcom eval``: the scheme ``scheme`` (with ``options``) over ``images`` at each SNR. With ``out`` the
    items are kept there and a second call resumes; ``executor``: ``local``, ``process`` or ``ray``."""
    config = _config({"name": scheme, "seed": seed, "snr_db": list(snr_db), "channel": _channel(channel),
                      "images": {"folder": str(images), "limit": limit, "crop": crop},
                      "scheme": {"name": scheme, **options}}, plugins, "evaluate")
    return runner.run_experiment(config, out, progress=progress, executor=executor, workers=workers,
                                 address=address, save_images=save_images)


def run_config(config: str | os.PathLike | dict, out: str | os.PathLike | None = None, *, progress: bool = False,
               save_images: bool = False, executor: str = "local", workers: int | None = None,
               address: str | None = None, plugins: Sequence[str] = ()) -> runner.RunResult:
    """``semcom run``: an experiment config (a TOML file, or the same table as a dict), resumable with ``out``
    (None: nothing written)."""
    if isinstance(config, dict):
        resolved = _config(dict(config), plugins, "run_config")
    else:
        resolved = runner.load_config(config, plugins=list(plugins))
    return runner.run_experiment(resolved, out, progress=progress, executor=executor, workers=workers,
                                 address=address, save_images=save_images)
