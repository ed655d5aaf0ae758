"""The numba engine the way Python programs use it: after ``fork``, from several threads, tiny calls.

* A fork-based ``multiprocessing.Pool`` created after a parallel numba-engine call returns the right
  results (GNU OpenMP, Numba's default layer where it exists, hangs there).
* 4 threads × 100 concurrent calls give bitwise the single-threaded results (Numba's ``workqueue``
  layer aborts the process on concurrent parallel launches unless they are kept apart).
* Tiny problems never launch the thread pool: they run the serial kernels, so their latency does not
  depend on other processes' threads (the timing itself is measured by ``asv_bench/threading_layers.py``).
"""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest

import statespace as ss
from statespace.testing import assert_close

numba = pytest.importorskip("numba")
engine = pytest.importorskip("statespace._engines.numba")

pytestmark = pytest.mark.numba


def _problems():
    """Calls on each parallel kernel (scan, diagonal recurrence, Cauchy and DPLR sums, Vandermonde, selective scan)."""
    rng = np.random.default_rng(7)
    H, N2, L = 64, 8, 512  # H = 64: two channel blocks of the recurrence, so its parallel version runs too
    a, b = rng.uniform(0.5, 1.0, (H, L)), rng.standard_normal((H, L))
    Ab = np.exp(-0.05 + 1j * rng.standard_normal((H, N2)))
    Bb, C = rng.standard_normal((H, N2)) + 0j, rng.standard_normal((H, N2)) + 1j * rng.standard_normal((H, N2))
    u = rng.standard_normal((H, L))
    v, w = rng.standard_normal((H, N2)) + 0j, -0.5 + 1j * rng.standard_normal((H, N2))
    z = np.exp(2j * np.pi * np.arange(L) / L)
    us = rng.standard_normal((2, 64, 128)).astype(np.float32)
    delta = rng.uniform(0.01, 0.1, (2, 64, 128)).astype(np.float32)
    As = -rng.uniform(0.5, 2, (64, 16)).astype(np.float32)
    Bs, Cs = (rng.standard_normal((2, 16, 128)).astype(np.float32) for _ in range(2))
    return {
        "linear_scan": lambda: ss.linear_scan(a, b, engine="numba"),
        "recurrence": lambda: ss.recurrence(Ab, Bb, C, u, structure="diag", engine="numba"),
        "cauchy": lambda: ss.cauchy(v, z, w, engine="numba"),
        "vandermonde": lambda: ss.vandermonde(v, w * 0.01, L, engine="numba"),
        "selective_scan": lambda: ss.selective_scan(us, delta, As, Bs, Cs, engine="numba"),
        # the other kernels that index per-thread scratch: the DPLR sum, the recurrence's general kernel (complex
        # output; the steps after the last group of four when the state is wanted), the selective scan per channel
        "kernel_dplr": lambda: ss.kernel_dplr(w, v[:1], v, v, np.full(H, 0.01), L, engine="numba"),
        "recurrence complex y": lambda: ss.recurrence(Ab, Bb, C, u, structure="diag", conj=False, engine="numba"),
        "recurrence state": lambda: ss.recurrence(
            Ab, Bb, C, u[:, :-3], structure="diag", return_state=True, engine="numba"
        ),
        "selective_scan fixed B, C": lambda: ss.selective_scan(us, delta, As, As, As, z=us, engine="numba"),
        "selective_scan complex A": lambda: ss.selective_scan(us, delta, As * (1 + 1j), As, As, engine="numba"),
    }


@pytest.fixture
def always_parallel(monkeypatch):
    """Every call that has two tasks takes the parallel kernel (the thread pool is really used)."""
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 0)


def _scan_in_child(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0.5, 1.0, (8, 512)), rng.standard_normal((8, 512))
    return ss.linear_scan(a, b, engine="numba"), ss.linear_scan(a, b, engine="xp")


# JAX, when an earlier test imported it, warns that it is multithreaded at every fork: that is JAX's
# thread pool, not numba's, and the children here never touch JAX
@pytest.mark.filterwarnings(r"ignore:os\.fork\(\) was called:RuntimeWarning")
def test_fork_pool_after_parallel_call(always_parallel):
    _problems()["linear_scan"]()  # the parent has launched its thread pool
    if numba.threading_layer() == "omp":  # only when NUMBA_THREADING_LAYER asks for it: GNU OpenMP hangs here
        pytest.skip("NUMBA_THREADING_LAYER chose the fork-unsafe omp layer")
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        job = pool.map_async(_scan_in_child, range(4))
        try:
            results = job.get(timeout=120)
        except multiprocessing.TimeoutError:  # pragma: no cover - the failure this test exists for
            pool.terminate()
            pytest.fail("a fork-based Pool after a parallel numba-engine call did not answer within 120 s")
    for seed, (got, expected) in enumerate(results):
        np.testing.assert_array_equal(got, _scan_in_child(seed)[0])
        assert_close(got, expected, kind="scan")


@pytest.mark.parametrize("min_work", [0, None], ids=["parallel-threshold-0", "default-threshold"])
def test_concurrent_threads_bitwise(monkeypatch, min_work):
    if min_work is not None:
        monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", min_work)
    problems = _problems()
    expected = {name: f() for name, f in problems.items()}
    names = list(problems)
    failures = []
    start = threading.Barrier(4)

    def worker(k):
        start.wait()
        for i in range(100):
            name = names[(i + k) % len(names)]
            got = problems[name]()
            pairs = zip(got, expected[name]) if isinstance(got, tuple) else [(got, expected[name])]
            if not all(np.array_equal(x, y) for x, y in pairs):
                failures.append((k, i, name))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, f"results differ from the single-threaded ones: {failures[:5]}"


def test_tiny_problems_run_serially(monkeypatch):
    """At the smallest benchmark sizes no kernel touches the thread pool (the latency stays the caller's own)."""
    launched = []
    original = engine.Kernel.__call__

    def spy(self, *args, work, tasks):
        if tasks > 1 and work * self.cost >= engine.PARALLEL_MIN_WORK:
            launched.append(self.__name__)
        return original(self, *args, work=work, tasks=tasks)

    monkeypatch.setattr(engine.Kernel, "__call__", spy)
    rng = np.random.default_rng(0)
    ss.cauchy(rng.standard_normal((4, 4)) + 0j, np.exp(1j * np.arange(64.0)), -0.5 + 1j * rng.standard_normal((4, 4)))
    ss.linear_scan(rng.uniform(size=(16, 2048)), rng.standard_normal((16, 2048)), engine="numba")
    assert not launched


def test_serial_and_parallel_agree_bitwise(monkeypatch):
    """The two compiled versions do the same operations per element in the same order."""
    problems = _problems()
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
    serial = {name: f() for name, f in problems.items()}
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 0)
    for name, f in problems.items():
        got = f()
        pairs = zip(got, serial[name]) if isinstance(got, tuple) else [(got, serial[name])]
        for x, y in pairs:
            np.testing.assert_array_equal(x, y, err_msg=name)


def test_threading_layer_respects_the_user(monkeypatch):
    """The engine picks ``workqueue`` only when ``NUMBA_THREADING_LAYER`` is unset."""
    import os
    import subprocess
    import sys

    code = "import statespace._engines.numba as e, numba; print(numba.config.THREADING_LAYER)"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    chosen = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert chosen.stdout.strip() == engine.THREADING_LAYER
    env["NUMBA_THREADING_LAYER"] = "safe"
    kept = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert kept.stdout.strip() == "safe"
