"""Running the link's compiled kernels over a batch, in as many threads as torch uses.

The kernels (numba, ``nogil=True``) each take a range ``first, stop`` of the batch. They run in
a small pool of Python threads rather than numba's own parallel layer: GNU OpenMP, which numba
would otherwise use next to the OpenMP runtime bundled with torch, keeps its idle threads
spinning after each kernel and slows the torch operations that follow.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch

_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] = (0, 0)  # (process id, threads) the pool was made for


def kernel_threads() -> int:
    """Threads for the compiled kernels: torch's intra-op setting."""
    return max(1, torch.get_num_threads())


def run_batch(kernel: Callable[..., None], size: int, *args) -> None:
    """Call ``kernel(first, stop, *args)`` on contiguous ranges that cover ``0..size`` once each.

    >>> seen = []
    >>> run_batch(lambda first, stop: seen.append((first, stop)), 5)
    >>> sorted(seen)[0][0], sorted(seen)[-1][1]
    (0, 5)
    """
    threads = min(kernel_threads(), size)
    if threads <= 1:
        kernel(0, size, *args)
        return
    bounds = [size * i // threads for i in range(threads + 1)]
    futures = [_executor(threads).submit(kernel, bounds[i], bounds[i + 1], *args) for i in range(threads)]
    for future in futures:
        future.result()


def _executor(threads: int) -> ThreadPoolExecutor:
    """The shared pool, made anew when the thread count or the process (after a fork) changes."""
    global _pool, _pool_key
    key = (os.getpid(), threads)
    if _pool is None or _pool_key != key:
        if _pool is not None and _pool_key[0] == key[0]:
            _pool.shutdown(wait=False)
        _pool, _pool_key = ThreadPoolExecutor(threads, thread_name_prefix="semcom-kernel"), key
    return _pool
