"""Shared parts of the link's compiled kernels: float32 exp and log that vectorise, and running a
kernel over a batch in as many threads as torch uses.

The kernels (numba, ``nogil=True``) each take a range ``first, stop`` of the batch. They run in
a small pool of Python threads rather than numba's own parallel layer: GNU OpenMP, which numba
would otherwise use next to the OpenMP runtime bundled with torch, keeps its idle threads
spinning after each kernel and slows the torch operations that follow.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import torch
from llvmlite import ir as llvm_ir
from numba.core import types
from numba.extending import intrinsic

# numpy error model: no zero-division branches, so that loops vectorise; FMA contraction allowed
FAST = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}

_F = np.float32
_HALF, _ONE = _F(0.5), _F(1.0)
# Cephes expf and logf, from plain arithmetic and bit casts (no libm calls, so loops vectorise)
_LOG2E, _LN2_HI, _LN2_LO, _SQRT2 = _F(1.44269504088896341), _F(0.693359375), _F(-2.12194440e-4), _F(1.41421356237)
_EXP_MIN, _EXP_MAX = _F(-87.3), _F(88.7)
_EXP = tuple(_F(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                             1.6666665459e-1, 5.0000001201e-1))
_LOG = tuple(_F(c) for c in (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
                             1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
                             3.3333331174e-1))

_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] = (0, 0)  # (process id, threads) the pool was made for


@intrinsic
def _pow2(typingctx, n):
    """2**n for a float32 n holding an integer in [-126, 127], built from its exponent bits."""
    if n != types.float32:
        return None

    def codegen(context, builder, sig, args):
        i32 = llvm_ir.IntType(32)
        biased = builder.add(builder.fptosi(args[0], i32), i32(127))
        return builder.bitcast(builder.shl(biased, i32(23)), llvm_ir.FloatType())

    return types.float32(n), codegen


@intrinsic
def _split(typingctx, x):
    """(m, e) float32 with x = m * 2**e, m in [1, 2), for a positive normal float32 x."""
    if x != types.float32:
        return None
    pair = types.UniTuple(types.float32, 2)

    def codegen(context, builder, sig, args):
        i32, f32 = llvm_ir.IntType(32), llvm_ir.FloatType()
        bits = builder.bitcast(args[0], i32)
        exponent = builder.sitofp(builder.sub(builder.lshr(bits, i32(23)), i32(127)), f32)
        mantissa = builder.bitcast(builder.or_(builder.and_(bits, i32(0x007FFFFF)), i32(0x3F800000)), f32)
        return context.make_tuple(builder, pair, (mantissa, exponent))

    return pair(x), codegen


@numba.njit(inline="always", **FAST)
def exp32(x):
    """exp(x) of a float32 within 2 ulp; inputs are clamped to [-87.3, 88.7] (normal results)."""
    x = min(max(x, _EXP_MIN), _EXP_MAX)
    n = np.floor(x * _LOG2E + _HALF)
    r = x - n * _LN2_HI - n * _LN2_LO
    c = _EXP
    p = ((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]
    return (p * r * r + r + _ONE) * _pow2(n)


@numba.njit(inline="always", **FAST)
def log32(q):
    """log(q) of a positive normal float32, within 2 ulp."""
    m, e = _split(q)
    big = m > _SQRT2
    m = m * _HALF if big else m
    e = e + _ONE if big else e
    f = m - _ONE
    z = f * f
    c = _LOG
    poly = (((((((c[0] * f + c[1]) * f + c[2]) * f + c[3]) * f + c[4]) * f + c[5]) * f + c[6]) * f + c[7]) * f + c[8]
    return f + (f * z * poly + _LN2_LO * e - _HALF * z) + _LN2_HI * e


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
