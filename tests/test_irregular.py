"""Irregular sampling: per-interval discretization against scipy.linalg.expm loops, the LTI views, evolve."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from statespace import (
    causal_conv,
    discretize,
    discretize_diag,
    evolve,
    irregular_response,
    kernel_diag,
    recurrence,
)
from statespace._irregular import IRREGULAR_METHODS
from statespace.testing import assert_close, to_host


# ------------------------------------------------------------------ references and systems
def zoh_reference(A, B, C, D, u, intervals, x0):
    """Float64 loop: one scipy.linalg.expm of [[AΔ, BΔ], [0, 0]] per interval; y = C x + D u (complex)."""
    n, m = B.shape
    x = np.array(x0, dtype=complex)
    ys = []
    for k, delta in enumerate(intervals):
        if delta > 0:
            block = np.zeros((n + m, n + m), dtype=complex)
            block[:n, :n], block[:n, n:] = A * delta, B * delta
            E = scipy.linalg.expm(block)
            x = E[:n, :n] @ x + E[:n, n:] @ u[:, k]
        ys.append(C @ x + D @ u[:, k])
    return np.array(ys).T, x


def diag_system(rng, H, N2):
    Lambda = -rng.uniform(0.1, 2.0, (H, N2)) + 1j * rng.uniform(-6, 6, (H, N2))
    B = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    C = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    return Lambda, B, C, rng.normal(size=H)


def dense_system(rng, N, M=1, P=1):
    A = rng.normal(size=(N, N)) / np.sqrt(N) - 1.5 * np.eye(N)
    return A, rng.normal(size=(N, M)), rng.normal(size=(P, N)), rng.normal(size=(P, M))


def random_times(rng, shape, start=0.0):
    return start + np.cumsum(rng.exponential(0.2, shape) + 1e-3, axis=-1)


def diag_reference(Lambda, B, C, D, u, intervals, x0):
    """Each channel as the conj-extended real system, through zoh_reference: y = 2 Re(C x) + D u."""
    ys = []
    for h in range(Lambda.shape[0]):
        y, _ = zoh_reference(
            np.diag(Lambda[h]), B[h][:, None], C[h][None, :], np.zeros((1, 1)), u[h][None, :], intervals[h], x0[h]
        )
        ys.append(2 * y[0].real + D[h] * u[h])
    return np.array(ys)


# ------------------------------------------------------------------ ZOH against expm per interval
@pytest.mark.parametrize("with_start", [True, False], ids=["start", "x0-at-t0"])
def test_diag_zoh_matches_expm_loop(rng, engine, with_start):
    H, N2, L = 3, 4, 60
    Lambda, B, C, D = diag_system(rng, H, N2)
    u = rng.normal(size=(H, L))
    t = random_times(rng, (H, L), start=1.0)
    x0 = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    start = 0.7 if with_start else None
    y, last = irregular_response((Lambda, B, C, D), u, times=t, start=start, x0=x0, return_state=True, engine=engine)
    first = t[:, :1] - start if with_start else np.zeros((H, 1))
    intervals = np.concatenate([first, np.diff(t, axis=-1)], axis=-1)
    want = diag_reference(Lambda, B, C, D, u, intervals, x0)
    assert y.shape == (H, L) and y.dtype == np.float64
    assert_close(y, want, kind="scan")
    want_last = np.array(
        [
            zoh_reference(
                np.diag(Lambda[h]), B[h][:, None], C[h][None, :], np.zeros((1, 1)), u[h][None, :], intervals[h], x0[h]
            )[1]
            for h in range(H)
        ]
    )
    assert_close(last, want_last, kind="scan")


@pytest.mark.parametrize("M, P", [(1, 1), (2, 3)])
def test_dense_zoh_matches_expm_loop(rng, M, P):
    N, L = 5, 40
    A, B, C, D = dense_system(rng, N, M, P)
    u = rng.normal(size=(M, L))
    steps = rng.exponential(0.3, L) + 1e-3
    x0 = rng.normal(size=N)
    system = (A, B if M > 1 else B[:, 0], C if P > 1 else C[0], D if M > 1 else D[0, 0])
    y, last = irregular_response(system, u if M > 1 else u[0], steps=steps, x0=x0, return_state=True)
    want, want_last = zoh_reference(A, B, C, D, u, steps, x0)
    assert y.dtype == np.float64
    assert_close(y, want.real if P > 1 else want[0].real, kind="scan")
    assert_close(last, want_last.real, kind="scan")


def test_dense_times_without_start_keep_x0_at_first_sample(rng):
    N, L = 4, 25
    A, B, C, D = dense_system(rng, N)
    t = random_times(rng, L)
    u, x0 = rng.normal(size=L), rng.normal(size=N)
    y = irregular_response((A, B[:, 0], C[0], D[0, 0]), u, times=t, x0=x0)
    intervals = np.concatenate([[0.0], np.diff(t)])
    want, _ = zoh_reference(A, B, C, D, u[None, :], intervals, x0)
    assert_close(y, want[0].real, kind="scan")
    assert_close(y[0], C[0] @ x0 + D[0, 0] * u[0], kind="scan")  # a zero-length first interval: x(t_0) = x0


def test_batched_times_per_channel_dense(rng):
    """Dense systems shared by channels, each channel with its own timestamps."""
    N, H, L = 3, 4, 20
    A, B, C, _ = dense_system(rng, N)
    u, t = rng.normal(size=(H, L)), random_times(rng, (H, L))
    y = irregular_response((A, B[:, 0], C[0]), u, times=t, start=0.0)
    for h in range(H):
        intervals = np.diff(np.concatenate([[0.0], t[h]]))
        want, _ = zoh_reference(A, B, C, np.zeros((1, 1)), u[h][None, :], intervals, np.zeros(N))
        assert_close(y[h], want[0].real, kind="scan")


def per_step_pair(A, B, delta, method, alpha):
    """Float64 (Ā, B̄) of one interval from the textbook formulas (solve for gbt, scipy expm otherwise)."""
    n = A.shape[0]
    if method in ("euler", "backward_euler", "bilinear", "gbt"):
        a = {"euler": 0.0, "backward_euler": 1.0, "bilinear": 0.5}.get(method, alpha)
        M = np.eye(n) - a * delta * A
        return np.linalg.solve(M, np.eye(n) + (1 - a) * delta * A), np.linalg.solve(M, delta * B)
    E = scipy.linalg.expm(A * delta)
    return E, {"impulse": E @ B * delta, "zoh_simplified": B * delta}[method]


@pytest.mark.parametrize("method", [m for m in IRREGULAR_METHODS if m != "zoh"])
def test_other_methods_match_per_step_loop(rng, method):
    N, L = 4, 30
    A, B, C, D = dense_system(rng, N)
    u, steps, x0 = rng.normal(size=L), rng.uniform(0.01, 0.4, L), rng.normal(size=N)
    alpha = 0.3 if method == "gbt" else None
    x, want = x0.copy(), []
    for k in range(L):
        Ab, Bb = per_step_pair(A, B, steps[k], method, alpha)
        x = Ab @ x + Bb[:, 0] * u[k]
        want.append(C[0] @ x + D[0, 0] * u[k])
    y = irregular_response((A, B[:, 0], C[0], D[0, 0]), u, steps=steps, method=method, alpha=alpha, x0=x0)
    assert_close(y, np.array(want), kind="scan")
    # the diagonal path on the same system written in its eigenbasis (conj=False: every mode kept)
    w, V = np.linalg.eig(A)
    Vinv = np.linalg.inv(V)
    y = irregular_response(
        (w, Vinv @ B[:, 0], C[0] @ V, D[0, 0]), u, steps=steps, method=method, alpha=alpha, x0=Vinv @ x0, conj=False
    )
    assert_close(y.real, np.array(want), kind="views")


def test_start_per_channel_equals_steps(rng):
    H, N2, L = 3, 4, 20
    Lambda, B, C, D = diag_system(rng, H, N2)
    u, t, start = rng.normal(size=(H, L)), random_times(rng, (H, L), start=1.0), rng.uniform(0, 1, H)
    y = irregular_response((Lambda, B, C, D), u, times=t, start=start)
    steps = np.diff(np.concatenate([start[:, None], t], axis=-1), axis=-1)
    assert_close(y, irregular_response((Lambda, B, C, D), u, steps=steps), kind="scan")
    with pytest.raises(ValueError, match="start must be earlier than times"):
        irregular_response((Lambda, B, C, D), u, times=t, start=np.array([0.0, 5.0, 0.0]))


# ------------------------------------------------------------------ even spacing = the LTI views
@pytest.mark.parametrize("method", IRREGULAR_METHODS)
def test_even_steps_equal_lti_recurrence_diag(rng, method):
    H, N2, L, dt = 2, 6, 50, 0.07
    Lambda, B, C, D = diag_system(rng, H, N2)
    u, x0 = rng.normal(size=(H, L)), rng.normal(size=(H, N2)) + 0j
    alpha = 0.3 if method == "gbt" else None
    Ab, Bb = discretize_diag(Lambda, B, dt, method, alpha=alpha)
    want = recurrence(Ab, Bb, C, u, D, x0, engine="xp")
    y = irregular_response((Lambda, B, C, D), u, steps=np.full(L, dt), method=method, alpha=alpha, x0=x0, engine="xp")
    assert_close(y, want, kind="scan")
    t = 2.0 + dt * np.arange(1, L + 1)  # timestamps: the gaps differ from dt by rounding only
    y = irregular_response((Lambda, B, C, D), u, times=t, start=2.0, method=method, alpha=alpha, x0=x0)
    assert_close(y, want, kind="scan")


@pytest.mark.parametrize("method", ["zoh", "bilinear", "zoh_simplified"])
def test_even_steps_equal_kernel_convolution(rng, method):
    H, N2, L, dt = 3, 8, 200, 0.05
    Lambda, B, C, D = diag_system(rng, H, N2)
    u = rng.normal(size=(H, L))
    want = causal_conv(u, kernel_diag(Lambda, B, C, dt, L, method=method), D=D)
    y = irregular_response((Lambda, B, C, D), u, steps=np.full((H, L), dt), method=method)
    assert_close(y, want, kind="views")


@pytest.mark.parametrize("method", IRREGULAR_METHODS)
def test_even_steps_equal_lti_recurrence_dense(rng, method):
    N, L, dt = 4, 30, 0.1
    A, B, C, D = dense_system(rng, N)
    u, x0 = rng.normal(size=L), rng.normal(size=N)
    alpha = 0.7 if method == "gbt" else None
    Ab, Bb = discretize(A, B, dt, method, alpha=alpha)
    want = recurrence(Ab, Bb[:, 0], C[0], u, D[0, 0], x0)
    y = irregular_response((A, B[:, 0], C[0], D[0, 0]), u, steps=np.full(L, dt), method=method, alpha=alpha, x0=x0)
    assert_close(y, want, kind="scan")


def test_engines_agree(rng):
    pytest.importorskip("numba")
    H, N2, L = 4, 8, 300
    Lambda, B, C, D = diag_system(rng, H, N2)
    u, t = rng.normal(size=(H, L)), random_times(rng, (H, L))
    got = {
        e: irregular_response((Lambda, B, C, D), u, times=t, method="bilinear", engine=e, return_state=True)
        for e in ("xp", "numba")
    }
    assert_close(got["numba"][0], got["xp"][0], kind="scan")
    assert_close(got["numba"][1], got["xp"][1], kind="scan")


def test_empty_sequence_returns_x0(rng):
    Lambda, B, C, _ = diag_system(rng, 2, 3)
    x0 = rng.normal(size=(2, 3)) + 0j
    y, last = irregular_response((Lambda, B, C), np.zeros((2, 0)), steps=np.ones((2, 0)), x0=x0, return_state=True)
    assert y.shape == (2, 0)
    assert_close(last, x0, kind="scan")
    A, B, C, _ = dense_system(rng, 3)
    y, last = irregular_response((A, B[:, 0], C[0]), np.zeros(0), times=np.zeros(0), return_state=True)
    assert y.shape == (0,) and last.shape == (3,)


# ------------------------------------------------------------------ evolve
def test_evolve_matches_expm_and_forecasts_the_response(rng):
    N, L = 4, 30
    A, B, C, D = dense_system(rng, N, P=2)
    x = rng.normal(size=N)
    delta = np.array([0.0, 0.3, 1.7])
    y, states = evolve((A, B, C, D), x, delta, return_state=True)
    want = np.stack([scipy.linalg.expm(A * d) @ x for d in delta], axis=-1)
    assert states.shape == (N, 3) and y.shape == (2, 3)
    assert_close(states, want, kind="elementwise")
    assert_close(y, C @ want, kind="elementwise")
    # forecasting: the state after the samples, evolved by δ, is the response to one more sample u = 0 at T + δ
    u, t = rng.normal(size=L), random_times(rng, L)
    _, last = irregular_response((A, B[:, 0], C[0]), u, times=t, start=0.0, return_state=True)
    forecast = evolve((A, B[:, 0], C[0]), last, 0.4)
    extended = irregular_response((A, B[:, 0], C[0]), np.append(u, 0.0), times=np.append(t, t[-1] + 0.4), start=0.0)
    assert forecast.shape == (1,)
    assert_close(forecast[0], extended[-1], kind="scan")


def test_evolve_diag_semigroup_and_closed_form(rng):
    H, N2 = 3, 5
    Lambda, B, C, D = diag_system(rng, H, N2)
    x = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    delta = rng.uniform(0, 2, (H, 4))
    y, states = evolve((Lambda, B, C, D), x, delta, return_state=True)
    want = x[..., None] * np.exp(Lambda[..., None] * delta[:, None, :])
    assert_close(states, want, kind="elementwise")
    assert_close(y, 2 * np.einsum("hn,hnk->hk", C, want).real, kind="elementwise")
    _, mid = evolve((Lambda, B, C), x, np.full((H, 1), 0.5), return_state=True)
    _, end = evolve((Lambda, B, C), mid[..., 0], delta, return_state=True)
    _, direct = evolve((Lambda, B, C), x, delta + 0.5, return_state=True)
    assert_close(end, direct, kind="elementwise")


# ------------------------------------------------------------------ backends
@pytest.mark.parametrize("kind", ["diag", "dense"])
def test_backends(backend, dtype_name, rng, kind):
    L = 24
    if kind == "diag":
        Lambda, B, C, D = diag_system(rng, 2, 3)
        system, x0, u = (Lambda, B, C, D), rng.normal(size=(2, 3)) + 0j, rng.normal(size=(2, L))
        t = random_times(rng, (2, L))
    else:
        A, B, C, D = dense_system(rng, 3)
        system, x0, u, t = (A, B[:, 0], C[0], D[0, 0]), rng.normal(size=3), rng.normal(size=L), random_times(rng, L)
    want, want_last = irregular_response(system, u, times=t, start=0.0, x0=x0, return_state=True, engine="xp")
    want_f = evolve(system, want_last, np.array([0.0, 0.5]))
    complex_name = {"float32": "complex64", "float64": "complex128"}[dtype_name]
    cast = [backend.asarray(a, complex_name if np.iscomplexobj(a) else dtype_name) for a in (*system, x0, u)]
    *sys_b, x0_b, u_b = cast
    y, last = irregular_response(
        tuple(sys_b), u_b, times=backend.asarray(t, "float64"), start=0.0, x0=x0_b, return_state=True, engine="xp"
    )
    assert y.dtype == backend.dtype(dtype_name)
    assert type(y) is type(u_b)
    if backend.device is not None:
        assert y.device == backend.device and last.device == backend.device
    assert_close(to_host(y), want, kind="views", dtype=dtype_name)
    assert_close(to_host(last), want_last, kind="views", dtype=dtype_name)
    f = evolve(tuple(sys_b), last, backend.asarray([0.0, 0.5], dtype_name))
    assert f.dtype == backend.dtype(dtype_name)
    assert_close(to_host(f), want_f, kind="views", dtype=dtype_name)


# ------------------------------------------------------------------ errors
@pytest.fixture
def small(rng):
    Lambda, B, C, D = diag_system(rng, 1, 2)
    return (Lambda[0], B[0], C[0], D[0]), rng.normal(size=5)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(times=np.array([0.0, 1.0, 1.0, 2.0, 3.0])), ValueError, "times must be strictly increasing"),
        (dict(times=np.array([0.0, 2.0, 1.0, 3.0, 4.0])), ValueError, "times must be strictly increasing"),
        (dict(times=np.arange(4.0)), ValueError, "times has 4 samples on its last axis but u has 5"),
        (dict(steps=np.ones(6)), ValueError, "steps has 6 samples on its last axis but u has 5"),
        (dict(steps=np.array([1.0, 0.0, 1.0, 1.0, 1.0])), ValueError, "steps must be positive"),
        (dict(steps=-np.ones(5)), ValueError, "steps must be positive"),
        (dict(steps=np.array([1.0, np.nan, 1, 1, 1])), ValueError, "steps must be finite"),
        (dict(times=np.arange(5.0), steps=np.ones(5)), ValueError, "exactly one of times= .* not both"),
        (dict(), ValueError, "exactly one of times= .* not neither"),
        (dict(times=np.arange(5.0), start=0.0), ValueError, "start must be earlier than times"),
        (dict(steps=np.ones(5), start=0.0), ValueError, "start applies to times= only"),
        (dict(steps=np.ones(5) + 0j), TypeError, "steps must be real"),
        (dict(times=[0.0, 1, 2, 3, 4]), TypeError, r"times must be an array \(..., L\)"),
        (dict(steps=np.ones(5), method="foh"), ValueError, "does not apply to irregularly sampled .*foh"),
        (dict(steps=np.ones(5), method="dss"), ValueError, "does not apply to irregularly sampled"),
        (dict(steps=np.ones(5), method="nope"), ValueError, "unknown method 'nope'; expected one of"),
        (dict(steps=np.ones(5), method="gbt"), ValueError, "alpha is required"),
        (dict(steps=np.ones((3, 5))), ValueError, "do not broadcast"),
    ],
)
def test_bad_sampling_arguments(small, kwargs, error, match):
    system, u = small
    if "steps" in kwargs and kwargs["steps"].shape == (3, 5):
        system = tuple(np.stack([a] * 4) for a in system[:3])
        u = np.ones((4, 5))
    with pytest.raises(error, match=match):
        irregular_response(system, u, **kwargs)


def test_bad_system_and_input(rng, small):
    system, u = small
    with pytest.raises(TypeError, match="system must be a tuple"):
        irregular_response(system[0], u, steps=np.ones(5))
    with pytest.raises(TypeError, match=r"system must be a tuple .* of length 2"):
        irregular_response(system[:2], u, steps=np.ones(5))
    with pytest.raises(ValueError, match="match no system structure"):
        irregular_response((system[0], system[1][:1], np.ones(3)), u, steps=np.ones(5))
    with pytest.raises(ValueError, match="do not form a dense system"):
        irregular_response(system, u, steps=np.ones(5), structure="dense")
    with pytest.raises(ValueError, match="unknown structure"):
        irregular_response(system, u, steps=np.ones(5), structure="dplr")
    with pytest.raises(TypeError, match="complex u needs conj=False"):
        irregular_response(system, u + 0j, steps=np.ones(5))
    A, B, C, _ = dense_system(rng, 3)
    with pytest.raises(ValueError, match="no 'numba' engine"):
        irregular_response((A, B[:, 0], C[0]), u, steps=np.ones(5), engine="numba")
    with pytest.raises(ValueError, match=r"with M = 3 inputs D must be a matrix \(..., P, M\)"):
        irregular_response((A, np.eye(3), C, np.ones(3)), np.ones((3, 5)), steps=np.ones(5), structure="dense")


def test_evolve_errors(small):
    system, _ = small
    x = np.ones(2, complex)
    with pytest.raises(ValueError, match="delta must be non-negative"):
        evolve(system, x, np.array([0.5, -0.1]))
    with pytest.raises(ValueError, match="delta must be finite"):
        evolve(system, x, np.array([np.inf]))
    with pytest.raises(TypeError, match="delta must be real"):
        evolve(system, x, np.array([1j]))
    with pytest.raises(TypeError, match="delta must be a non-negative real number"):
        evolve(system, x, None)
    with pytest.raises(ValueError, match=r"x must be \(..., 2\)"):
        evolve(system, np.ones(3), 1.0)
    with pytest.raises(ValueError, match="batch shapes do not broadcast: Lambda"):
        evolve(system, np.ones((4, 2)), np.ones((3, 2)))
