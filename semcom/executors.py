"""Where an experiment's items run: in this process, in worker processes on this machine, or on a Ray cluster.

The runner (:mod:`semcom.runner`) stays the only writer of ``results.jsonl`` and of the saved images. It
hands an executor a picklable factory of workers (:class:`semcom.runner.Worker`: the schemes built from the
config, the images, one item at a time); the executor makes one worker wherever items run (every scheme is
built before the first item runs, so a bad config fails before anything is written) and hands back one
result per item (:class:`semcom.runner.Finished`: its record, its reconstruction when asked) as it
finishes. Records do not depend on the executor: each item's noise and sampling are seeded by the
experiment's seed and the image's index.

* ``local``: one after another in this process (schemes released once their items are done).
* ``process``: ``workers`` processes of this machine (started fresh, ``spawn``), items handed out as
  workers free up; each worker uses the driver's torch thread count (so that its figures are a local
  run's to the last digit).
* ``ray``: ``workers`` Ray actors, on a local Ray instance started for the run, or on the cluster at
  ``address`` (``ray://host:10001`` or ``auto``).

Ctrl-C stops the driver; workers are stopped with it, and the run resumes like any other.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from semcom.errors import ConfigError
from semcom.extras import require
from semcom.registry import Registry

EXECUTORS: Registry = Registry("executor")


@dataclass(frozen=True)
class Task:
    """One item: scheme ``label``, image ``index`` (and ``name``) in the experiment's image list, ``snr_db``;
    ``save_image``: hand back the reconstruction too."""

    label: str
    index: int
    name: str
    snr_db: float
    save_image: bool = False


@dataclass(frozen=True)
class Built:
    """A scheme built by a worker: its :meth:`~semcom.schemes.Scheme.describe` and the seconds building took."""

    described: dict[str, Any]
    seconds: float


class Executor(ABC):
    """Makes the workers of an experiment (:meth:`start`) and runs its items on them (:meth:`run`).

    A worker, made by calling the picklable ``make_worker``, has ``built`` (label -> :class:`Built`),
    ``run(task) -> result`` (:class:`semcom.runner.Finished`) and ``release(label)``.
    """

    name: str = "executor"

    @abstractmethod
    def start(self, make_worker: Callable[[], Any]) -> dict[str, Built]:
        """Make the workers wherever items will run (building their schemes); raises the build's error."""

    @abstractmethod
    def run(self, tasks: list[Task]) -> Iterator[dict]:
        """One result per task, in the order they finish."""

    def close(self) -> None:
        """Stop the workers (idempotent)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(name: str = "local", workers: int | None = None, address: str | None = None) -> Executor:
    """The executor ``name`` (``local``, ``process``, ``ray``) with ``workers`` workers (default: the cores)."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be a positive number, got {workers!r}")
    if name == "local":
        if workers not in (None, 1) or address is not None:
            raise ConfigError("the local executor runs items one after another here: --workers and --address "
                              "need --executor process or ray")
        return EXECUTORS.create(name)
    if address is not None and name != "ray":
        raise ConfigError("--address names a Ray cluster: it needs --executor ray")
    options: dict[str, Any] = {"workers": workers or os.cpu_count() or 1}
    if name == "ray":
        options["address"] = address
    return EXECUTORS.create(name, **options)


@EXECUTORS.register("local")
class LocalExecutor(Executor):
    """Items one after another in this process."""

    name = "local"

    def __init__(self):
        self.worker = None

    def start(self, make_worker: Callable[[], Any]) -> dict[str, Built]:
        self.worker = make_worker()
        return dict(self.worker.built)

    def run(self, tasks: list[Task]) -> Iterator[dict]:
        for number, task in enumerate(tasks):
            yield self.worker.run(task)
            if number + 1 == len(tasks) or tasks[number + 1].label != task.label:
                self.worker.release(task.label)  # its models are freed before the next scheme's items


# ------------------------------------------------------------------------------------------- processes


def _keep_slowest(built: dict[str, Built], reported: dict[str, Built]) -> None:
    """Merge one worker's build report into ``built``, keeping the slowest build of each scheme."""
    for label, b in reported.items():
        if label not in built or b.seconds > built[label].seconds:
            built[label] = b


def _driver_threads() -> int:
    """Torch threads of a worker: the driver's. Convolutions sum in an order that depends on the thread count,
    so workers with fewer threads would give figures that differ from a local run's in the last digits."""
    return torch.get_num_threads()


def _process_main(make_worker: Callable[[], Any], threads: int, tasks, results) -> None:
    """A worker process: build, report ready (or the error), then run tasks until the ``None`` sentinel."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's; it stops the workers
    torch.set_num_threads(threads)
    try:
        worker = make_worker()
        results.put(("ready", worker.built))
    except BaseException as err:  # reported to the driver, which raises it
        results.put(("error", _portable(err)))
        return
    driver = os.getppid()
    while True:
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != driver:
                return  # the driver was killed: nobody is left to take records (the run resumes later)
            continue
        if task is None:
            return
        try:
            results.put(("record", worker.run(task)))
        except BaseException as err:
            results.put(("error", _portable(err)))
            return


def _portable(err: BaseException) -> BaseException:
    """``err`` if it survives pickling, else a RuntimeError with its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {err}")


@EXECUTORS.register("process")
class ProcessExecutor(Executor):
    """``workers`` processes of this machine; each builds the schemes once and takes items as it frees up."""

    name = "process"

    def __init__(self, workers: int = 2):
        self.workers = workers
        self.processes: list = []
        spawn = multiprocessing.get_context("spawn")
        self.tasks, self.results = spawn.Queue(), spawn.Queue()
        self._spawn = spawn

    def _next(self, what: str):
        while True:
            try:
                return self.results.get(timeout=1.0)
            except queue.Empty:
                if not any(p.is_alive() for p in self.processes):
                    raise RuntimeError(f"every worker process ended while {what}") from None

    def start(self, make_worker: Callable[[], Any]) -> dict[str, Built]:
        threads = _driver_threads()
        for _ in range(self.workers):
            process = self._spawn.Process(target=_process_main, daemon=True,
                                          args=(make_worker, threads, self.tasks, self.results))
            process.start()
            self.processes.append(process)
        built: dict[str, Built] = {}
        for _ in self.processes:
            kind, payload = self._next("building the schemes")
            if kind == "error":
                raise payload
            _keep_slowest(built, payload)
        return built

    def run(self, tasks: list[Task]) -> Iterator[dict]:
        for task in tasks:
            self.tasks.put(task)
        for _ in tasks:
            kind, payload = self._next("running items")
            if kind == "error":
                raise payload
            yield payload

    def close(self) -> None:
        for _ in self.processes:
            self.tasks.put(None)
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()
        self.processes = []


# ------------------------------------------------------------------------------------------------- Ray


class _RayWorker:
    """A Ray actor holding one worker."""

    def __init__(self, make_worker: Callable[[], Any], threads: int):
        torch.set_num_threads(threads)
        self.worker = make_worker()

    def built(self) -> dict[str, Built]:
        return self.worker.built

    def run(self, task: Task) -> dict:
        return self.worker.run(task)


@EXECUTORS.register("ray")
class RayExecutor(Executor):
    """``workers`` Ray actors, each building the schemes once; two items in flight per actor.

    Without ``address``, a local Ray instance with ``workers`` CPUs is started for the run and stopped
    after it; with one, the run joins that cluster (``auto``: the one this machine belongs to).
    """

    name = "ray"

    def __init__(self, workers: int = 2, address: str | None = None):
        ray = require("ray", "the ray executor")
        self.ray, self.workers, self.address = ray, workers, address
        self.actors: list = []
        self.started_ray = False

    def _error(self, err: BaseException) -> BaseException:
        cause = getattr(err, "cause", None)
        return cause if isinstance(cause, BaseException) else err

    def start(self, make_worker: Callable[[], Any]) -> dict[str, Built]:
        ray = self.ray
        if not ray.is_initialized():
            root = str(Path(__file__).resolve().parent.parent)  # workers import this very source tree
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
            options: dict[str, Any] = {"runtime_env": {"env_vars": {"PYTHONPATH": path}}, "log_to_driver": False,
                                       "include_dashboard": False, "configure_logging": False}
            if self.address is None:
                options["num_cpus"] = self.workers
            else:
                options["address"] = self.address
            ray.init(**options)
            self.started_ray = True
        threads = _driver_threads()
        actor = ray.remote(num_cpus=1)(_RayWorker)
        self.actors = [actor.remote(make_worker, threads) for _ in range(self.workers)]
        built: dict[str, Built] = {}
        try:
            for payload in ray.get([a.built.remote() for a in self.actors]):
                _keep_slowest(built, payload)
        except ray.exceptions.RayError as err:
            raise self._error(err) from None
        return built

    def run(self, tasks: list[Task]) -> Iterator[dict]:
        ray = self.ray
        pending = list(reversed(tasks))
        running: dict = {}
        for actor in self.actors * 2:
            if pending:
                running[actor.run.remote(pending.pop())] = actor
        while running:
            (ref,), _ = ray.wait(list(running), num_returns=1)
            actor = running.pop(ref)
            try:
                record = ray.get(ref)
            except ray.exceptions.RayError as err:
                raise self._error(err) from None
            if pending:
                running[actor.run.remote(pending.pop())] = actor
            yield record

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self.started_ray:
            self.ray.shutdown()
            self.started_ray = False
