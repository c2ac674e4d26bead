"""Timing harness shared by the benchmark scripts in ``experiments/``.

A figure from a single timed call is decided by first-call costs (JIT compilation, thread-pool
start-up, caches) and by whatever else the machine is doing at that moment. The harness

* runs warm-up calls that are not timed,
* times N repeats, and when two implementations are compared, interleaves them in pairs whose
  order alternates (ours, reference, reference, ours, ...) so that a change of load hits both
  sides and a steady drift favours neither,
* summarises each side by median, minimum and interquartile range, and the comparison by the
  ratio of medians with the interquartile range of the per-pair ratios,
* records threads, CPU model, package versions and git revision in a header, and prints either
  text or one JSON document.

>>> ticks = iter([0.0, 2.0, 2.0, 10.0, 10.0, 18.0, 18.0, 20.0])
>>> c = compare(lambda: None, lambda: None, repeats=2, warmup=0, clock=lambda: next(ticks))
>>> (c.ours.median, c.reference.median, c.speedup)
(2.0, 8.0, 4.0)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Callable, Sequence

import numpy as np
import torch

from semcom.errors import ConfigError
from semcom.provenance import cpu_model, git_revision

Clock = Callable[[], float]
PACKAGES = ("torch", "sionna-no-rt", "numba", "numpy")


@dataclass(frozen=True)
class Stats:
    """Summary of repeated timings in seconds: median, minimum, quartiles, and the samples."""

    median: float
    minimum: float
    q1: float
    q3: float
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if len(samples) == 0:
            raise ConfigError("no timings to summarise: repeats must be at least 1")
        values = np.asarray(samples, dtype=np.float64)
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        return cls(float(median), float(values.min()), float(q1), float(q3), tuple(float(v) for v in values))

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def to_dict(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.minimum, "q1": self.q1, "q3": self.q3, "iqr": self.iqr,
                "samples": list(self.samples)}


@dataclass(frozen=True)
class Comparison:
    """Ours against a reference, timed in interleaved pairs.

    ratios: reference time / our time of each pair (its median and quartiles give the spread).
    speedup: ratio of the medians, reference / ours (above 1: ours is faster).
    """

    ours: Stats
    reference: Stats
    ratios: Stats

    @property
    def speedup(self) -> float:
        return self.reference.median / self.ours.median

    def to_dict(self) -> dict[str, Any]:
        return {"ours": self.ours.to_dict(), "reference": self.reference.to_dict(),
                "speedup": self.speedup, "pair_ratios": self.ratios.to_dict()}


def _check_counts(repeats: int, warmup: int) -> None:
    if not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"repeats must be a positive integer, got {repeats!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ConfigError(f"warm-up calls must be a non-negative integer, got {warmup!r}")


def time_call(fn: Callable[[], Any], clock: Clock = time.perf_counter) -> float:
    """Seconds one call of ``fn`` takes, with the garbage collector paused (as :mod:`timeit` does)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        fn()
        return clock() - start
    finally:
        if enabled:
            gc.enable()


def measure(fn: Callable[[], Any], *, repeats: int, warmup: int = 1, clock: Clock = time.perf_counter) -> Stats:
    """``warmup`` untimed calls of ``fn``, then ``repeats`` timed ones."""
    _check_counts(repeats, warmup)
    for _ in range(warmup):
        fn()
    return Stats.of([time_call(fn, clock) for _ in range(repeats)])


def compare(
    ours: Callable[[], Any],
    reference: Callable[[], Any],
    *,
    repeats: int,
    warmup: int = 1,
    clock: Clock = time.perf_counter,
) -> Comparison:
    """Warm both up, then time ``repeats`` interleaved pairs; pair i runs ours first when i is even."""
    _check_counts(repeats, warmup)
    for _ in range(warmup):
        ours()
        reference()
    mine, theirs = [], []
    for i in range(repeats):
        if i % 2 == 0:
            mine.append(time_call(ours, clock))
            theirs.append(time_call(reference, clock))
        else:
            theirs.append(time_call(reference, clock))
            mine.append(time_call(ours, clock))
    ratios = [t / m if m > 0 else float("inf") for m, t in zip(mine, theirs)]
    return Comparison(Stats.of(mine), Stats.of(theirs), Stats.of(ratios))


def set_threads(threads: int) -> None:
    """Use ``threads`` intra-op threads in torch (the link's compiled kernels follow torch's setting)."""
    if not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be a positive integer, got {threads!r}")
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class Environment:
    """Where a benchmark ran: CPU, threads, package versions, git revision."""

    cpu: str
    cpu_count: int
    threads: int
    python: str
    versions: dict[str, str | None]
    git_revision: str

    def header(self) -> str:
        packages = " ".join(f"{name}={v}" for name, v in self.versions.items() if v is not None)
        return (f"cpu: {self.cpu} ({self.cpu_count} logical cores), threads={self.threads}, "
                f"python {self.python}, {packages}, git {self.git_revision}")


def environment() -> Environment:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return Environment(cpu_model(), os.cpu_count() or 1, torch.get_num_threads(), platform.python_version(),
                       versions, git_revision())


@dataclass
class Report:
    """Rows of a benchmark: printed as text while they come, or as one JSON document at the end."""

    title: str
    settings: dict[str, Any]
    as_json: bool = False
    rows: list[dict[str, Any]] = field(default_factory=list)
    env: Environment = field(default_factory=environment)

    def start(self) -> None:
        if not self.as_json:
            print(self.title)
            print(self.env.header())
            print("settings: " + ", ".join(f"{k}={v}" for k, v in self.settings.items()), flush=True)

    def line(self, text: str) -> None:
        """Print a line of the text report (nothing in JSON mode)."""
        if not self.as_json:
            print(text, flush=True)

    def add(self, row: dict[str, Any], text: str | None = None) -> None:
        """Record ``row`` (JSON-ready values) and print ``text`` for it in text mode."""
        self.rows.append(row)
        if text is not None:
            self.line(text)

    def finish(self) -> None:
        if self.as_json:
            document = {"title": self.title, "environment": asdict(self.env), "settings": self.settings,
                        "rows": self.rows}
            json.dump(document, sys.stdout, indent=1)
            print()


def format_stats(stats: Stats, scale: float = 1e3, unit: str = "ms") -> str:
    """'median unit (min x, IQR y)' with times multiplied by ``scale``."""
    return f"{stats.median * scale:.1f} {unit} (min {stats.minimum * scale:.1f}, IQR {stats.iqr * scale:.1f})"


def format_speedup(comparison: Comparison) -> str:
    """'12.3x [11.8-12.9]': ratio of medians and the interquartile range of the per-pair ratios."""
    r = comparison.ratios
    return f"{comparison.speedup:.2f}x [{r.q1:.2f}-{r.q3:.2f}]"


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0, "a non-negative integer")


def _int_at_least(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
    return value


def add_timing_arguments(parser: argparse.ArgumentParser, repeats: int = 5, warmup: int = 1) -> None:
    """--repeats, --warmup, --threads and --json, validated."""
    parser.add_argument("--repeats", type=positive_int, default=repeats, help=f"timed repeats (default {repeats})")
    parser.add_argument("--warmup", type=non_negative_int, default=warmup,
                        help=f"untimed warm-up calls before timing (default {warmup})")
    parser.add_argument("--threads", type=positive_int, default=torch.get_num_threads(),
                        help="threads for torch and the link kernels (default: torch's default)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
