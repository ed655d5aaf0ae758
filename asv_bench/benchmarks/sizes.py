"""Fast at every size (issue 19): tiny calls, few long channels, one system at many steps, the exp bound.

Targets, each a benchmark here (``python asv_bench/perf19.py`` prints them side by side, interleaved):

* tiny calls (``cauchy`` H=4, N/2=4, L=64; ``linear_scan`` 16×2048; ``recurrence`` H=4, N/2=4, L=64;
  ``selective_scan`` B=1, D=4, N=4, L=64) ≤ 100 µs on the numba engine, alone and beside a process running
  numba-engine calls; ``engine=None`` ("auto") never more than 1.2× the faster engine;
* diagonal recurrence with output, complex128, H=256/L=4096 and H=16/L=65536: ≤ 1.3× a hand-tuned
  split-real/imaginary ``prange`` loop (the peer below), ≥ 8× ``jax.lax.scan``;
* 256 ZOH discretizations of one 64×64 HiPPO-LegS system: ≥ 3× ``scipy.linalg.expm`` on the stacked blocks,
  error ≤ 1e-12 against it; bilinear no slower than one batched ``numpy.linalg.solve``;
* ``selective_scan`` B=2, D=512, N=16, L=2048 float32: ≥ 3× ``jax.lax.scan``, ≤ 2× the float32 ``exp``
  throughput bound (the same number of vectorised exponentials on all threads, nothing else);
* first use: the cold first call of every hot function (empty Numba cache), in a fresh interpreter.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile

import numpy as np

from .common import (
    ERROR_UNIT,
    Benchmark,
    legs_dense,
    log_uniform,
    optional,
    ours,
    relative_error,
    require_engine,
    rng,
    warm_up,
)
from .scan import _jax_recurrence, _jax_selective, recurrence_data, selective_data, selective_kwargs

# ------------------------------------------------------------------------------------------- tiny calls


@functools.cache
def tiny_data(function: str) -> tuple:
    """The operands of :func:`tiny_call`, made once per function: every engine timed on the same arrays.

    With a copy per engine, interleaved timing alternates between two working sets (``linear_scan``'s is
    512 KiB, a core's whole L2), and whichever call came second paid for the other's: ``engine=None`` measured
    2.0× the numba engine that way, 1.07× on shared arrays.
    """
    gen = rng(5)
    if function == "cauchy":
        v, w = gen.standard_normal((4, 4)) + 0j, -0.5 + 1j * gen.standard_normal((4, 4))
        return v, np.exp(2j * np.pi * np.arange(64) / 64), w
    if function == "linear_scan":
        return gen.uniform(0.5, 1.0, (16, 2048)), gen.standard_normal((16, 2048))
    if function == "recurrence":
        return recurrence_data(4, 4, 64)
    return selective_data(1, 4, 4, 64)


def tiny_call(function: str, engine: str | None):
    """One tiny call of ``function`` on ``engine`` (``None``: automatic choice), compiled already."""
    if engine is not None:
        require_engine(engine)
    kw = {} if engine is None else {"engine": engine}
    import statespace as ss

    data = tiny_data(function)
    if function == "cauchy":
        run = lambda: ss.cauchy(*data, **kw)  # noqa: E731
    elif function == "linear_scan":
        run = lambda: ss.linear_scan(*data, **kw)  # noqa: E731
    elif function == "recurrence":
        run = lambda: ss.recurrence(*data, structure="diag", **kw)  # noqa: E731
    else:
        run = lambda: ss.selective_scan(*data[:5], **selective_kwargs(*data[5:]), **kw)  # noqa: E731
    warm_up(run)
    return run


class TinyCalls(Benchmark):
    """Latency of tiny calls: the numba engine must not pay for its thread pool (target ≤ 100 µs)."""

    params = (["cauchy", "linear_scan", "recurrence", "selective_scan"], ["numba", "xp", "auto"])
    param_names = ("function", "engine")
    repeat = (1, 50, 4.0)

    def setup(self, function, engine):
        self.run = tiny_call(function, None if engine == "auto" else engine)

    def time_tiny_call(self, function, engine):
        self.run()


# ---------------------------------------------------------------------------- few long channels


def split_prange_peer():
    """The hand-tuned peer: split real/imaginary parameters, ``prange`` over channels, modes innermost."""
    numba = optional("numba")

    @numba.njit(parallel=True, fastmath={"contract"}, cache=True)
    def loop(ar, ai, br, bi, cr, ci, u, y):  # pragma: no cover - compiled
        H, N2 = ar.shape
        for h in numba.prange(H):
            xr = np.zeros(N2)
            xi = np.zeros(N2)
            for t in range(u.shape[1]):
                ut = u[h, t]
                acc = 0.0
                for n in range(N2):
                    pr = ar[h, n] * xr[n] - ai[h, n] * xi[n] + br[h, n] * ut
                    pi = ar[h, n] * xi[n] + ai[h, n] * xr[n] + bi[h, n] * ut
                    xr[n] = pr
                    xi[n] = pi
                    acc += cr[h, n] * pr - ci[h, n] * pi
                y[h, t] = 2 * acc

    return loop


FEW_CHANNEL_SHAPES = {"256x4096": (256, 4096), "16x65536": (16, 65536)}


def few_channel_recurrence(impl: str, shape: str):
    """The diagonal recurrence with output (N/2 = 32, complex128) at one of :data:`FEW_CHANNEL_SHAPES`."""
    H, L = FEW_CHANNEL_SHAPES[shape]
    Ab, Bb, C, u = recurrence_data(H, 32, L)
    if impl == "numba":
        fn = ours("recurrence", "numba")
        run = lambda: fn(Ab, Bb, C, u, structure="diag")  # noqa: E731
    elif impl == "split prange loop":
        loop = split_prange_peer()
        parts = [np.ascontiguousarray(p) for m in (Ab, Bb, C) for p in (m.real, m.imag)]
        y = np.empty(u.shape)
        run = lambda: loop(*parts, u, y) or y  # noqa: E731
    else:
        run = _jax_recurrence(Ab, Bb, C, u)
    run()
    return run


class FewChannelRecurrence(Benchmark):
    """Diagonal recurrence with output at many short and few long channels (target ≤ 1.3× the split loop)."""

    params = (["numba", "split prange loop", "jax"], list(FEW_CHANNEL_SHAPES))
    param_names = ("impl", "shape")

    def setup(self, impl, shape):
        self.run = few_channel_recurrence(impl, shape)

    def time_recurrence_few_channels(self, impl, shape):
        self.run()


# ------------------------------------------------------------------------- one system, many steps


def legs_steps(K: int = 256, N: int = 64):
    """HiPPO-LegS ``(A, B)`` and ``K`` log-uniform steps in [1e-3, 1e-1] (S4's range)."""
    A = legs_dense(N)
    B = np.sqrt(2.0 * np.arange(N) + 1.0)[:, None]
    return A, B, log_uniform(rng(0), K, 1e-3, 1e-1)


def zoh_many_steps(impl: str):
    import scipy.linalg

    A, B, dt = legs_steps()
    if impl == "xp":
        fn = ours("discretize", "xp", engine_kw=False)
        return lambda: fn(A, B, dt, "zoh")
    n = A.shape[0]
    G = np.zeros((n + 1, n + 1))
    G[:n, :n], G[:n, n:] = A, B

    def stacked():
        E = scipy.linalg.expm(dt[:, None, None] * G)
        return E[:, :n, :n], E[:, :n, n:]

    return stacked


def bilinear_many_steps(impl: str):
    A, B, dt = legs_steps()
    if impl == "xp":
        fn = ours("discretize", "xp", engine_kw=False)
        return lambda: fn(A, B, dt, "bilinear")
    eye, t = np.eye(A.shape[0]), dt[:, None, None]

    def one_solve():
        rhs = np.concatenate([eye + (0.5 * t) * A, np.broadcast_to(t * B, t.shape[:1] + B.shape)], axis=-1)
        X = np.linalg.solve(eye - (0.5 * t) * A, rhs)
        return X[..., : A.shape[0]], X[..., A.shape[0] :]

    return one_solve


class ZOHManySteps(Benchmark):
    """256 ZOH discretizations of one 64×64 HiPPO-LegS system (target ≥ 3× the stacked expm)."""

    params = (["xp", "scipy expm stack"],)
    param_names = ("impl",)

    def setup(self, impl):
        self.run = zoh_many_steps(impl)

    def time_zoh_many_steps(self, impl):
        self.run()


class ZOHManyStepsAccuracy:
    """Error of our 256-step ZOH against ``scipy.linalg.expm`` of the stacked blocks (target ≤ 1e-12)."""

    unit = ERROR_UNIT

    def track_zoh_many_steps_error(self):
        Ab, Bb = zoh_many_steps("xp")()
        Ae, Be = zoh_many_steps("scipy expm stack")()
        return max(relative_error(Ab, Ae), relative_error(Bb, Be))


class BilinearManySteps(Benchmark):
    """Bilinear of one 64×64 system at 256 steps (target: no slower than one batched ``numpy.linalg.solve``)."""

    params = (["xp", "numpy solve"],)
    param_names = ("impl",)

    def setup(self, impl):
        self.run = bilinear_many_steps(impl)

    def time_bilinear_many_steps(self, impl):
        self.run()


# ------------------------------------------------------------------------------ selective scan bound


def exp_bound(full_range: bool = False):
    """``B·D·L·N`` float32 exponentials, vectorised (lanes across a row), on all threads: the floor.

    The exponential is the fastest the engine has, :func:`~statespace._engines.numba._vecmath.vexp_bounded`
    (the arguments lie in ``[-2, 0]``), or with ``full_range`` :func:`~statespace._engines.numba._vecmath.vexp`
    (the selective scan's exponential for arguments beyond the bounded one's range, and its only one before
    0.2). Each row keeps a vector of sums (``acc[j] += exp(...)``, no reduction across lanes), the way the
    selective scan's channels-innermost kernel keeps one state per lane.

    The sums live in an array allocated once, outside the timed call, and each thread zeroes its own rows.
    Before, a fresh 4 MiB ``np.zeros`` inside the call (allocated and cleared by one thread before the
    parallel loop) slowed this floor by an amount that changed from one process to the next, which
    flattered everything measured against it: minima of one thread 11.0–15.4 ms in eight processes,
    10.9–11.2 ms without it; two threads 6.0–6.1 ms, 5.7–5.8 ms without it (interleaved, three processes).
    """
    numba = optional("numba")
    from statespace._engines.numba._vecmath import exp_constants, vexp, vexp_bounded

    @numba.njit(parallel=True, fastmath={"contract"}, error_model="numpy", cache=True)
    def exps(x, total, reps, full_range):  # pragma: no cover - compiled
        for i in numba.prange(x.shape[0]):
            acc = total[i]
            row = x[i]
            constants = exp_constants(row[0])
            for j in range(row.shape[0]):
                acc[j] = 0
            for r in range(reps):
                scale = np.float32(1 + r % 2)
                if full_range:
                    for j in range(row.shape[0]):
                        acc[j] += vexp(row[j] * scale)
                else:
                    for j in range(row.shape[0]):
                        acc[j] += vexp_bounded(row[j] * scale, constants)
        return total

    x = -rng(1).uniform(0, 1, (2 * 512, 16 * 64)).astype(np.float32)  # 16·64 exps per row and repeat
    total = np.empty_like(x)
    exps(x, total, 1, full_range)
    return lambda: exps(x, total, 2048 // 64, full_range)


def selective_at_scale(impl: str):
    data = selective_data(2, 512, 16, 2048)
    if impl == "numba":
        fn = ours("selective_scan", "numba")
        return lambda: fn(*data[:5], **selective_kwargs(*data[5:]))
    if impl == "jax":
        return _jax_selective(data)
    return exp_bound(full_range=impl == "exp bound, full-range exp")


class SelectiveScanBound(Benchmark):
    """``selective_scan`` at B=2, D=512, N=16, L=2048 float32 beside jax and the float32 exp throughput bound."""

    params = (["numba", "jax", "exp bound", "exp bound, full-range exp"],)
    param_names = ("impl",)

    def setup(self, impl):
        self.run = selective_at_scale(impl)
        self.run()

    def time_selective_scan_bound(self, impl):
        self.run()


# ----------------------------------------------------------------------------------------- first use


class ColdFirstCall:
    """Seconds for the first call of every hot function in a fresh interpreter with an empty Numba cache."""

    unit = "seconds"
    timeout = 600

    def setup(self):
        require_engine("numba")

    def track_cold_first_call(self):
        script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cold_start.py")
        with tempfile.TemporaryDirectory() as cache:
            out = subprocess.run(
                [sys.executable, script, "--total-only"],
                env=dict(os.environ, NUMBA_CACHE_DIR=cache),
                capture_output=True,
                text=True,
                check=True,
            )
        return float(out.stdout.split()[-1])
