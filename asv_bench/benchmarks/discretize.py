"""Discretization: batched dense ZOH/bilinear, ``cont2discrete``, ``expm``, diagonal and DPLR systems.

Headline (issue 3): batched ZOH of 256 dense 64×64 systems against a loop of
``scipy.signal.cont2discrete`` and against ``scipy.linalg.expm`` on the stack (target ≥ 10× the loop,
within 1.5× of the stacked expm); diagonal discretization at H=1024, N/2=32 with per-channel steps.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.signal

from .common import (
    ENGINES,
    ERROR_UNIT,
    Benchmark,
    complex_normal,
    function,
    log_uniform,
    ours,
    place,
    random_stable,
    relative_error,
    rng,
    s4d_lin_modes,
    split_impl,
    warm_up,
)

N = 64
M = 1


def dense_system(batch: int, n: int = N, scale: float = 1.0):
    gen = rng(10)
    A = random_stable(gen, batch, n, scale)
    B = gen.standard_normal((batch, n, M))
    C = gen.standard_normal((batch, 1, n))
    D = np.zeros((batch, 1, M))
    dt = 0.05
    return A, B, C, D, dt


def scipy_zoh_stack(A, B, dt):
    """ZOH through one stacked ``scipy.linalg.expm`` of the block matrices ``[[A, B], [0, 0]]·dt``."""
    batch, n, m = B.shape
    block = np.zeros((batch, n + m, n + m))
    block[:, :n, :n] = A * dt
    block[:, :n, n:] = B * dt
    E = scipy.linalg.expm(block)
    return E[:, :n, :n], E[:, :n, n:]


def scipy_cont2discrete_loop(A, B, C, D, dt, method):
    return [scipy.signal.cont2discrete((a, b, c, d), dt, method=method) for a, b, c, d in zip(A, B, C, D)]


class DenseZOH(Benchmark):
    """``discretize(A, B, dt, "zoh")`` of a batch of dense 64×64 systems (one input)."""

    params = (["xp", "cupy", "scipy expm stack", "scipy cont2discrete loop"], [16, 256])
    param_names = ("impl", "batch")

    def setup(self, impl, batch):
        kind, name = split_impl(impl)
        A, B, C, D, dt = dense_system(batch)
        if kind == "ours":
            fn = ours("discretize", name, engine_kw=False)
            args = place(name, A, B)
            self.run = lambda: fn(*args, dt, "zoh")
            self.run()  # warm-up (cupy kernels); NumPy has nothing to compile
        elif name == "scipy expm stack":
            self.run = lambda: scipy_zoh_stack(A, B, dt)
        else:
            self.run = lambda: scipy_cont2discrete_loop(A, B, C, D, dt, "zoh")

    def time_discretize_zoh(self, impl, batch):
        self.run()


class Cont2Discrete(Benchmark):
    """``cont2discrete((A, B, C, D), dt, method)`` batched, beside a loop of SciPy's, 256 systems 64×64."""

    params = (["xp", "cupy", "scipy loop"], ["zoh", "bilinear", "foh"])
    param_names = ("impl", "method")

    def setup(self, impl, method):
        kind, name = split_impl(impl)
        A, B, C, D, dt = dense_system(256)
        if kind == "ours":
            fn = ours("cont2discrete", name, engine_kw=False)
            system = place(name, A, B, C, D)
            self.run = lambda: fn(system, dt, method)
            self.run()
        else:
            self.run = lambda: scipy_cont2discrete_loop(A, B, C, D, dt, method)

    def time_cont2discrete(self, impl, method):
        self.run()


class Expm(Benchmark):
    """``expm(A)`` of a stack of 256 matrices 64×64 (norm scale 0.1 and 10) beside ``scipy.linalg.expm``.

    ``expm`` has an ``engine="scipy"`` of its own (delegation on NumPy arrays): timed as ``"scipy"``; the
    peer is ``"scipy.linalg.expm"`` called directly.
    """

    params = ([*ENGINES, "scipy", "scipy.linalg.expm"], [0.1, 10.0])
    param_names = ("impl", "scale")

    def setup(self, impl, scale):
        A = random_stable(rng(11), 256, N, scale)
        if impl != "scipy.linalg.expm":
            fn = ours("expm", impl)
            warm_up(fn, *place(impl, A[:2]))
            (arg,) = place(impl, A)
            self.run = lambda: fn(arg)
        else:
            self.run = lambda: scipy.linalg.expm(A)

    def time_expm(self, impl, scale):
        self.run()


class ExpmAccuracy:
    """``expm`` against ``scipy.linalg.expm`` (float64) for norms from 1e-3 to 1e3 (issue 3: ≤ 1e-12)."""

    params = ([1e-3, 1.0, 1e3],)
    param_names = ("norm",)
    unit = ERROR_UNIT

    def setup(self, norm):
        self.fn = ours("expm", "xp")  # the array-API algorithm itself, not a delegation to SciPy
        A = rng(12).standard_normal((16, 32, 32))
        self.A = A * (norm / np.linalg.norm(A, 2, axis=(-2, -1)))[:, None, None]
        self.desired = scipy.linalg.expm(self.A)

    def track_expm_error(self, norm):
        return relative_error(self.fn(self.A), self.desired)


class Cont2DiscreteAccuracy:
    """``cont2discrete`` against ``scipy.signal.cont2discrete``, per method, max over (Ad, Bd, Cd, Dd)."""

    params = (["zoh", "bilinear", "foh", "euler", "backward_diff"],)
    param_names = ("method",)
    unit = ERROR_UNIT

    def setup(self, method):
        self.fn = function("cont2discrete")
        A, B, C, D, dt = dense_system(8, n=16)
        D = rng(13).standard_normal(D.shape)
        self.system, self.dt = (A, B, C, D), dt
        self.desired = [
            scipy.signal.cont2discrete((a, b, c, d), dt, method=method)[:4] for a, b, c, d in zip(A, B, C, D)
        ]

    def track_cont2discrete_error(self, method):
        actual = self.fn(self.system, self.dt, method)
        return max(relative_error(actual[i], np.stack([d[i] for d in self.desired])) for i in range(4))


def diag_modes(h: int, N2: int = 32, dtype=np.complex128):
    gen = rng(14)
    real = np.float32 if dtype == np.complex64 else np.float64
    return s4d_lin_modes(h, N2, dtype), complex_normal(gen, (h, N2), dtype), log_uniform(gen, (h,)).astype(real)


def numpy_diag_zoh(Lambda, B, dt):
    dtA = dt[:, None] * Lambda
    return np.exp(dtA), np.expm1(dtA) / Lambda * B


class DiagonalDiscretize(Benchmark):
    """``discretize_diag(Lambda, B, dt, method)``, N/2=32 modes, per-channel dt, beside NumPy elementwise ZOH."""

    params = (["xp", "cupy", "numpy"], ["zoh", "bilinear"], [256, 1024])
    param_names = ("impl", "method", "H")

    def setup(self, impl, method, h):
        kind, name = split_impl(impl)
        Lambda, B, dt = diag_modes(h)
        if kind == "ours":
            fn = ours("discretize_diag", name, engine_kw=False)
            args = place(name, Lambda, B, dt)
            self.run = lambda: fn(*args, method)
            self.run()
        elif method == "zoh":
            self.run = lambda: numpy_diag_zoh(Lambda, B, dt)
        else:
            raise NotImplementedError("the NumPy peer is the ZOH formula only")

    def time_discretize_diag(self, impl, method, h):
        self.run()


class DiagonalZOHAccuracy:
    """Float32 diagonal ZOH ``B̄`` at ΔΛ down to 1e-7 against float64 (issue 3: ≤ 1e-6)."""

    unit = ERROR_UNIT

    def setup(self):
        self.fn = function("discretize_diag")
        Lambda = (-np.logspace(-7, 0, 64) + 1j * np.logspace(-7, 0, 64))[None, :]
        B = np.ones_like(Lambda)
        dt = np.ones(1)
        self.args = (Lambda.astype(np.complex64), B.astype(np.complex64), dt.astype(np.float32))
        self.desired = numpy_diag_zoh(Lambda, B, dt)[1]

    def track_discretize_diag_zoh_error(self):
        return relative_error(self.fn(*self.args, "zoh")[1], self.desired)


class DPLRDiscretize(Benchmark):
    """``discretize_dplr(Lambda, P, B, dt, "bilinear")`` (Woodbury), H=256, N/2=32, rank 1."""

    params = (["xp", "cupy"],)
    param_names = ("impl",)

    def setup(self, impl):
        fn = ours("discretize_dplr", impl, engine_kw=False)
        gen = rng(15)
        Lambda, B, dt = diag_modes(256)
        P = 0.3 * complex_normal(gen, (1, 32))
        args = place(impl, Lambda, P, B, dt)
        self.run = lambda: fn(*args, "bilinear")
        self.run()

    def time_discretize_dplr(self, impl):
        self.run()
