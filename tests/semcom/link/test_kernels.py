import threading

import numpy as np

import pytest
import torch

from semcom.link.kernels import exp32, log32, run_batch


@pytest.mark.parametrize("threads, size", [(1, 7), (3, 7), (4, 2), (2, 0)])
def test_run_batch_covers_the_batch_once_in_at_most_torchs_threads(threads, size):
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        calls, workers = [], set()

        def kernel(first, stop, scale):
            calls.append((first, stop, scale))
            workers.add(threading.get_ident())

        run_batch(kernel, size, 10)
    finally:
        torch.set_num_threads(old)
    covered = sorted(i for first, stop, _ in calls for i in range(first, stop))
    assert covered == list(range(size))
    assert all(scale == 10 for *_, scale in calls)
    assert len(calls) == max(1, min(threads, size)) and len(workers) <= threads


def test_run_batch_raises_what_a_kernel_raises():
    old = torch.get_num_threads()
    torch.set_num_threads(2)

    def kernel(first, stop):
        if first > 0:
            raise ValueError("second half failed")

    try:
        with pytest.raises(ValueError, match="second half"):
            run_batch(kernel, 4)
    finally:
        torch.set_num_threads(old)


def test_float32_exp_and_log_are_within_a_few_ulp_of_the_closed_forms():
    x = np.concatenate([np.linspace(-87, 88, 40001), np.linspace(-1, 1, 20001)]).astype(np.float32)
    ours = np.array([exp32(v) for v in x], dtype=np.float32)
    exact = np.exp(x.astype(np.float64))
    assert (np.abs(ours - exact) / np.spacing(exact.astype(np.float32))).max() <= 2
    q = np.concatenate([np.logspace(-37, 38, 40001), np.linspace(0.5, 2.0, 20000)]).astype(np.float32)
    ours = np.array([log32(v) for v in q], dtype=np.float32)
    exact = np.log(q.astype(np.float64))
    assert (np.abs(ours - exact) / np.spacing(np.abs(exact).astype(np.float32))).max() <= 2
