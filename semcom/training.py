"""What every resumable training run of semcom shares: the schedule, the step loop, the resume
state, the log, stop signals.

A run's schedule follows *progress*, the larger of ``step / steps`` and ``elapsed / minutes``, so a
run with a time budget anneals fully and stops cleanly when the budget is spent. Its state
(weights, optimiser, step, elapsed time, RNG states) is written atomically by the trainer and read
back here without unpickling anything but tensors and plain values; SIGINT/SIGTERM set a flag the
loop checks, so an interrupted run saves its state and ``--resume`` continues the same schedule.
:func:`run_steps` is the loop itself; a trainer gives it one optimisation step, its validation and
its saving.
"""

from __future__ import annotations

import csv
import math
import os
import pickle
import random
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from semcom.errors import ConfigError, InputError, UnsafeFileError


@dataclass(frozen=True)
class Schedule:
    """Steps and/or a time budget; linear warm-up, then the peak rate, then cosine decay to
    ``min_lr_frac * lr`` over the last ``decay_frac`` of the run (1.0: a plain cosine schedule).

    A ``decay_frac`` below 1 is a warm-up/stable/decay schedule: a long run stays at the peak rate
    across many resumed sessions, and a copy of its state resumed with a budget that ends soon
    anneals to a finished checkpoint while the long run goes on.
    """

    steps: int | None
    minutes: float | None
    lr: float
    min_lr_frac: float = 0.02
    warmup: int = 100
    decay_frac: float = 1.0

    def __post_init__(self):
        if self.steps is None and self.minutes is None:
            raise ConfigError("give a number of steps (--steps) or a time budget (--minutes), or both")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.steps}")
        if self.minutes is not None and not self.minutes > 0:
            raise ConfigError(f"minutes must be > 0, got {self.minutes}")
        if not self.lr > 0 or not 0 <= self.min_lr_frac <= 1:
            raise ConfigError(f"bad learning rate {self.lr} / min_lr_frac {self.min_lr_frac}")
        if not 0 < self.decay_frac <= 1:
            raise ConfigError(f"decay_frac must be in (0, 1], got {self.decay_frac}")

    def progress(self, step: int, elapsed_s: float) -> float:
        """Fraction of the run done: the larger of the step and the time fractions, in [0, 1]."""
        p = 0.0
        if self.steps:
            p = max(p, step / self.steps)
        if self.minutes:
            p = max(p, elapsed_s / (60.0 * self.minutes))
        return min(p, 1.0)

    def learning_rate(self, step: int, p: float) -> float:
        """Linear warm-up over ``warmup`` steps; cosine decay from p = 1 - decay_frac to ``min_lr_frac * lr`` at p = 1."""
        warm = min(1.0, (step + 1) / max(1, self.warmup))
        q = max(0.0, (p - (1.0 - self.decay_frac)) / self.decay_frac)
        cosine = self.min_lr_frac + (1 - self.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * q))
        return self.lr * warm * cosine


def rng_state(generators: dict[str, torch.Generator]) -> dict:
    """The global RNG states (torch, Python, NumPy) and those of the run's own generators."""
    return {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        **{name: g.get_state() for name, g in generators.items()},
    }


def set_rng_state(state: dict, generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    for name, g in generators.items():
        g.set_state(state[name])


#: What a training state holds besides tensors and plain values: the NumPy RNG state's uint32 array.
_NUMPY_CORE = getattr(np, "_core", None) or np.core  # NumPy 2 / NumPy 1.x
_STATE_NUMPY_GLOBALS = [_NUMPY_CORE.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]
_STATE_KEYS = {"model": dict, "optimizer": dict, "step": int, "elapsed_s": (int, float), "rng": dict, "config": dict}


def load_training_state(path: Path, generators: tuple[str, ...] = ()) -> dict:
    """Read a resume state without running any code a crafted file holds.

    Only tensors, containers, plain values and the NumPy RNG state's uint32 array are unpickled
    (``torch.load(weights_only=True)``); anything else raises :class:`UnsafeFileError`, and a file
    that loads but is not a training state (with the RNG states of ``generators``) raises
    :class:`InputError`.
    """
    try:
        with torch.serialization.safe_globals(_STATE_NUMPY_GLOBALS):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UnsafeFileError(
            f"refusing to load {path}: it holds something other than tensors and plain values, and "
            "loading that could run code the file contains (resume only from states this program wrote)"
        ) from None
    except (RuntimeError, EOFError, OSError) as err:
        raise InputError(f"{path} is not a readable training state: {err}") from None
    if not isinstance(state, dict):
        raise InputError(f"{path} is not a training state (a {type(state).__name__}, not a dict)")
    for key, kind in _STATE_KEYS.items():
        if not isinstance(state.get(key), kind):
            raise InputError(f"{path} is not a training state: {key!r} is missing or of the wrong type")
    missing = [k for k in ("torch", "python", "numpy", *generators) if k not in state["rng"]]
    if missing:
        raise InputError(f"{path} is not a training state: RNG states {missing} are missing")
    return state


def cut_log(log_path: Path, size: int) -> None:
    """Drop the log rows written after the saved state (steps a resumed run does again)."""
    if log_path.stat().st_size > size:
        os.truncate(log_path, size)


class StopFlag:
    """Set by SIGINT/SIGTERM (see :func:`stop_signals`); the training loop stops at the next step."""

    def __init__(self):
        self.stop = False
        self.signal = None

    def __call__(self, signum, frame):
        self.stop, self.signal = True, signum


@contextmanager
def stop_signals(flag: StopFlag):
    """Route SIGINT and SIGTERM to ``flag`` inside the block (main thread only), then restore."""
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, flag)
        except ValueError:  # not in the main thread
            pass
    try:
        yield flag
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


class TrainingLog:
    """The CSV log of a resumable run (header ``columns``); a resume (``state`` given) appends to it
    after cutting it back to the rows of the saved state (``state["log_bytes"]``), so each step is
    logged once."""

    def __init__(self, path: Path, columns: list[str], state: dict | None):
        new = state is None or not path.is_file()
        if not new and "log_bytes" in state:
            cut_log(path, int(state["log_bytes"]))
        self.width = len(columns)
        self._file = open(path, "w" if new else "a", newline="")
        self._writer = csv.writer(self._file)
        if new:
            self.write(columns)

    def write(self, row: list) -> None:
        """One row, padded with empty cells to the header's width."""
        self._writer.writerow([*row, *[""] * (self.width - len(row))])
        self._file.flush()

    def size(self) -> int:
        """Bytes written so far (what a resume cuts the log back to)."""
        self._file.flush()
        return os.fstat(self._file.fileno()).st_size

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class LoopResult:
    """Where :func:`run_steps` stopped: the step, the total elapsed time (s, earlier sessions
    included), whether the schedule was left unfinished, and the signal that stopped it (or None)."""

    step: int
    elapsed_s: float
    interrupted: bool
    signal: int | None


def run_steps(
    schedule: Schedule,
    optimizer: torch.optim.Optimizer,
    train_step: Callable[[float], tuple[dict[str, float], list]],
    *,
    step: int,
    elapsed_s: float,
    log: TrainingLog,
    averages: dict[str, str],
    save: Callable[[int, float, int], None],
    validate: Callable[[], list[str]] | None = None,
    val_every: int = 0,
    log_every: int = 25,
    ckpt_every: int = 0,
    stop_at_step: int | None = None,
    progress: bool = False,
) -> LoopResult:
    """Run optimisation steps from ``step`` (``elapsed_s`` already spent) until the schedule ends, a
    signal arrives or ``stop_at_step`` is reached.

    Before each step the optimiser's rate is set from the schedule; ``train_step(progress)`` does
    one step and returns the values averaged between log rows (keys and formats of ``averages``)
    and the fields logged as they are at the logging step. Every ``log_every`` steps (and at each
    validation) a row ``step, elapsed_s, lr, *fields, *averages, *validate()`` is logged; every
    ``ckpt_every`` steps ``save(step, elapsed_s, log bytes)`` writes the checkpoint and the state.
    """
    flag = StopFlag()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=schedule.steps, initial=step, unit="step", dynamic_ncols=True, file=sys.stderr)
    t0 = time.time()
    sums, count, last_val = dict.fromkeys(averages, 0.0), 0, []
    with stop_signals(flag):
        try:
            while True:
                elapsed = elapsed_s + time.time() - t0
                p = schedule.progress(step, elapsed)
                if p >= 1.0 or flag.stop or (stop_at_step is not None and step >= stop_at_step):
                    break
                lr = schedule.learning_rate(step, p)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                values, fields = train_step(p)
                step += 1
                for key in sums:
                    sums[key] += values[key]
                count += 1
                val_row = []
                if validate is not None and val_every and step % val_every == 0:
                    val_row = last_val = validate()
                if step % log_every == 0 or val_row:
                    means = {key: format(total / count, averages[key]) for key, total in sums.items()}
                    log.write([step, f"{elapsed:.1f}", f"{lr:.3e}", *fields, *means.values(), *val_row])
                    if bar is not None:
                        post = dict(means, **({"val": "/".join(last_val)} if last_val else {}), lr=f"{lr:.1e}")
                        bar.set_postfix(post, refresh=False)
                    sums, count = dict.fromkeys(averages, 0.0), 0
                if bar is not None:
                    bar.update(1)
                if ckpt_every and step % ckpt_every == 0:
                    save(step, elapsed_s + time.time() - t0, log.size())
        finally:
            if bar is not None:
                bar.close()
    elapsed = elapsed_s + time.time() - t0
    interrupted = flag.stop or schedule.progress(step, elapsed) < 1.0
    return LoopResult(step, elapsed, interrupted, flag.signal)
