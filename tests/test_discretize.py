"""discretize_diag / discretize / discretize_dplr against SciPy, dense forms and closed forms."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.signal

import statespace
from statespace._discretize import METHODS
from statespace.testing import assert_close, to_host

SCIPY_NAMES = {
    "bilinear": "bilinear",
    "euler": "euler",
    "backward_euler": "backward_diff",
    "zoh": "zoh",
    "foh": "foh",
    "impulse": "impulse",
    "gbt": "gbt",
}


def _modal_system(rng, H=3, N2=4):
    """A stable complex diagonal system, a complex B and a per-channel step."""
    Lambda = -rng.uniform(0.05, 2.0, (H, N2)) + 1j * rng.uniform(-10.0, 10.0, (H, N2))
    B = rng.standard_normal(N2) + 1j * rng.standard_normal(N2)
    dt = rng.uniform(0.01, 0.5, H)
    return Lambda, B, dt


def _scipy_modewise(Lambda, B, dt, method, alpha=None):
    """Reference: scipy.signal.cont2discrete on every 1x1 complex mode (float64)."""
    Ab = np.empty(Lambda.shape, complex)
    Bb = np.empty(Lambda.shape, complex)
    D = np.zeros((1, 1))
    for h, n in np.ndindex(*Lambda.shape):
        sys = (np.array([[Lambda[h, n]]]), np.array([[B[n]]]), np.ones((1, 1)), D)
        ad, bd, *_ = scipy.signal.cont2discrete(sys, dt[h], method=SCIPY_NAMES[method], alpha=alpha)
        Ab[h, n], Bb[h, n] = ad[0, 0], bd[0, 0]
    return Ab, Bb


# ---------------------------------------------------------------- discretize_diag
@pytest.mark.parametrize("method", ["zoh", "foh", "impulse", "bilinear", "euler", "backward_euler", "gbt"])
def test_diag_matches_scipy_modewise(backend, dtype_name, rng, method):
    Lambda, B, dt = _modal_system(rng)
    complex_name = "complex64" if dtype_name == "float32" else "complex128"
    Lx, Bx = backend.asarray(Lambda, complex_name), backend.asarray(B, complex_name)
    dtx = backend.asarray(dt, dtype_name)
    alpha = 0.3 if method == "gbt" else None
    Ab, Bb = statespace.discretize_diag(Lx, Bx, dtx, method, alpha=alpha)
    # the reference sees exactly the (possibly float32-rounded) inputs
    ref_A, ref_B = _scipy_modewise(
        to_host(Lx).astype(complex), to_host(Bx).astype(complex), to_host(dtx).astype(float), method, alpha
    )
    assert Ab.dtype == backend.dtype(complex_name) and Bb.dtype == backend.dtype(complex_name)
    assert Ab.shape == (3, 4) and Bb.shape == (3, 4)
    assert_close(Ab, ref_A)
    assert_close(Bb, ref_B)


def test_diag_zoh_simplified_and_per_mode_dt(backend, rng):
    Lambda, B, _ = _modal_system(rng)
    dt = rng.uniform(0.01, 0.5, Lambda.shape)  # per channel and mode
    Ab, Bb = statespace.discretize_diag(
        backend.asarray(Lambda), backend.asarray(B), backend.asarray(dt), "zoh_simplified", per_mode=True
    )
    assert_close(Ab, np.exp(dt * Lambda))
    assert_close(Bb, dt * B)
    Ab, Bb = statespace.discretize_diag(
        backend.asarray(Lambda), backend.asarray(B), backend.asarray(dt), "zoh", per_mode=True
    )
    assert_close(Bb, np.expm1(dt * Lambda) / Lambda * B)


def test_diag_real_lambda_stays_real(backend, rng):
    A = -rng.uniform(0.1, 3.0, (2, 5))  # Mamba-style real negative diagonal
    Ab, Bb = statespace.discretize_diag(backend.asarray(A), backend.asarray(np.ones(5)), 0.1, "zoh")
    assert Ab.dtype == backend.dtype("float64")
    assert_close(Bb, np.expm1(0.1 * A) / A)


def test_diag_dss_normalizes_the_geometric_sum(backend, rng):
    Lambda, B, dt = _modal_system(rng)
    L = 64
    Ab, Bb = statespace.discretize_diag(backend.asarray(Lambda), backend.asarray(B), backend.asarray(dt), "dss", L=L)
    powers = to_host(Ab)[..., None] ** np.arange(L)
    assert_close(np.sum(powers, axis=-1) * to_host(Bb), np.broadcast_to(B / Lambda, Lambda.shape))


@pytest.mark.parametrize("method", ["zoh", "foh", "impulse", "zoh_simplified"])
def test_diag_zero_eigenvalue_has_the_limit(backend, method):
    """Lambda = 0 exactly: B̄ -> dt*B (dt for foh/impulse as well), no 0/0, no warning."""
    Lambda = backend.asarray(np.array([0j, -1e-300 + 0j, -1.0 + 0j]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, Bb = statespace.discretize_diag(Lambda, backend.asarray(np.ones(3)), 0.25, method)
    Bb = to_host(Bb)
    assert not np.isnan(Bb).any()
    assert Bb[0] == 0.25  # exactly dt * B
    np.testing.assert_allclose(Bb[1], 0.25, rtol=4e-16)  # one rounding of the complex division


@pytest.mark.parametrize("method", ["zoh", "zoh_simplified", "bilinear", "euler", "backward_euler", "gbt", "dss"])
def test_diag_return_log(backend, rng, method):
    Lambda, B, dt = _modal_system(rng)
    args = (backend.asarray(Lambda), backend.asarray(B), backend.asarray(dt), method)
    kwargs = {"alpha": 0.7 if method == "gbt" else None, "L": 16 if method == "dss" else None}
    Ab, Bb = statespace.discretize_diag(*args, **kwargs)
    logA, Bb_log = statespace.discretize_diag(*args, **kwargs, return_log=True)
    assert_close(np.exp(to_host(logA)), Ab)
    assert_close(Bb_log, Bb)


def test_float32_zoh_Bbar_small_steps_beats_naive_form():
    """Issue 3: float32 ZOH B̄ for ΔΛ down to 1e-7 within 1e-6 of float64, where (exp(ΔΛ)−1)/Λ fails."""
    z = np.geomspace(1e-7, 1e-1, 25)
    Lambda32 = ((-1.0 + 0.3j) * np.geomspace(1.0, 1e3, 25)).astype(np.complex64)
    dt32 = (z / np.geomspace(1.0, 1e3, 25)).astype(np.float32)
    Lambda64, dt64 = Lambda32.astype(np.complex128), dt32.astype(np.float64)
    exact = np.expm1(dt64 * Lambda64) / Lambda64  # float64 on the same float32 inputs
    _, Bb = statespace.discretize_diag(Lambda32, np.ones(25, np.float32), dt32, "zoh", per_mode=True)
    naive = (np.exp(dt32 * Lambda32) - np.float32(1)) / Lambda32
    assert Bb.dtype == np.complex64 and naive.dtype == np.complex64
    per_entry = np.abs(Bb - exact) / np.abs(exact)
    assert per_entry.max() <= 1e-6  # "relative error <= 1e-6 vs float64" (issue 3)
    assert (np.abs(naive - exact) / np.abs(exact)).max() > 1e-2  # the naive form is wrong by percents


def test_float32_bilinear_log_beats_log_of_Abar():
    """2·atanh(ΔΛ/2) keeps float32 accuracy where log(Ā) of the rounded Ā does not."""
    Lambda32 = ((-1.0 + 2.0j) * np.geomspace(1e-6, 1.0, 13)).astype(np.complex64)
    exact = 2 * np.arctanh(Lambda32.astype(np.complex128) / 2)
    logA, _ = statespace.discretize_diag(Lambda32, np.ones(13, np.float32), 1.0, "bilinear", return_log=True)
    Ab, _ = statespace.discretize_diag(Lambda32, np.ones(13, np.float32), 1.0, "bilinear")
    assert (np.abs(logA - exact) / np.abs(exact)).max() <= 1e-6
    assert (np.abs(np.log(Ab) - exact) / np.abs(exact)).max() > 1e-2


# ---------------------------------------------------------------- errors
def test_diag_errors(backend):
    Lambda, B = backend.asarray(np.array([-1.0 + 1j, -2.0])), backend.asarray(np.ones(2))
    with pytest.raises(ValueError, match=r"unknown method 'rk4'.*'zoh'.*'dss'"):
        statespace.discretize_diag(Lambda, B, 0.1, "rk4")
    with pytest.raises(ValueError, match="alpha is required"):
        statespace.discretize_diag(Lambda, B, 0.1, "gbt")
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\], got 1.5"):
        statespace.discretize_diag(Lambda, B, 0.1, "gbt", alpha=1.5)
    with pytest.raises(ValueError, match=r"L \(the kernel length\) is required for method 'dss'"):
        statespace.discretize_diag(Lambda, B, 0.1, "dss")
    with pytest.raises(ValueError, match=r"B must broadcast against Lambda of shape \(2,\).*got shape \(3,\)"):
        statespace.discretize_diag(Lambda, backend.asarray(np.ones(3)), 0.1, "zoh")
    with pytest.raises(ValueError, match="dt must be positive"):
        statespace.discretize_diag(Lambda, B, 0.0, "zoh")
    with pytest.raises(ValueError, match="dt must be positive"):
        statespace.discretize_diag(Lambda, B, backend.asarray(np.array([-0.1])), "zoh")
    with pytest.raises(ValueError, match="dt must be finite"):
        statespace.discretize_diag(Lambda, B, float("nan"), "zoh")
    with pytest.raises(ValueError, match="dt must be finite"):
        statespace.discretize_diag(Lambda, B, backend.asarray(np.array([np.inf])), "zoh")
    with pytest.raises(ValueError, match=r"dt of shape .*per-mode axis .*of size 3.*has 2 modes"):
        statespace.discretize_diag(Lambda, B, backend.asarray(np.ones(3)), "zoh", per_mode=True)
    with pytest.raises(ValueError, match=r"dt .*does not broadcast"):
        statespace.discretize_diag(backend.asarray(np.ones((4, 2))), B, backend.asarray(np.ones(3)), "zoh")
    with pytest.raises(TypeError, match="dt must be real"):
        statespace.discretize_diag(Lambda, B, backend.asarray(np.array([1j])), "zoh")
    # dt with more axes than the system's batch is a batch of systems (the step-size rule), not an error
    Ab, _ = statespace.discretize_diag(Lambda, B, backend.asarray(np.full((2, 2, 2), 0.1)), "zoh")
    assert tuple(Ab.shape) == (2, 2, 2, 2)


def test_method_names():
    assert METHODS == ("euler", "backward_euler", "bilinear", "gbt", "zoh", "foh", "impulse", "zoh_simplified", "dss")


# ---------------------------------------------------------------- discretize (dense)
DENSE = [
    ("zoh", None),
    ("foh", None),
    ("impulse", None),
    ("bilinear", None),
    ("euler", None),
    ("backward_euler", None),
    ("gbt", 0.7),
]


@pytest.mark.parametrize(("method", "alpha"), DENSE)
def test_dense_matches_scipy_batched(backend, rng, method, alpha):
    A = rng.standard_normal((2, 3, 5, 5)) / 2 - 1.5 * np.eye(5)
    B = rng.standard_normal((3, 5, 2))
    dt = rng.uniform(0.05, 0.5, (2, 3))
    Ab, Bb = statespace.discretize(backend.asarray(A), backend.asarray(B), backend.asarray(dt), method, alpha=alpha)
    assert Ab.shape == (2, 3, 5, 5) and Bb.shape == (2, 3, 5, 2)
    for i, j in np.ndindex(2, 3):
        ref = scipy.signal.cont2discrete(
            (A[i, j], B[j], np.eye(5), np.zeros((5, 2))), dt[i, j], method=SCIPY_NAMES[method], alpha=alpha
        )
        assert_close(to_host(Ab)[i, j], ref[0])
        assert_close(to_host(Bb)[i, j], ref[1])


def test_dense_zoh_simplified(backend, rng):
    A, B = rng.standard_normal((4, 4)) - 2 * np.eye(4), rng.standard_normal((4, 1))
    Ab, Bb = statespace.discretize(backend.asarray(A), backend.asarray(B), 0.2, "zoh_simplified")
    assert_close(Ab, scipy.linalg.expm(0.2 * A))
    assert_close(Bb, 0.2 * B)


@pytest.mark.parametrize(
    "method", ["zoh", "foh", "impulse", "zoh_simplified", "bilinear", "euler", "backward_euler", "gbt"]
)
def test_diag_equals_dense_on_diag_lambda(backend, rng, method):
    """Issue 3: discretize_diag == discretize on diag(Λ) (complex Λ), <= 1e-12."""
    Lambda, B, dt = _modal_system(rng)
    alpha = 0.2 if method == "gbt" else None
    Ab, Bb = statespace.discretize_diag(
        backend.asarray(Lambda), backend.asarray(B), backend.asarray(dt), method, alpha=alpha
    )
    A_dense = Lambda[..., None] * np.eye(4)
    B_dense = np.broadcast_to(B[:, None], (3, 4, 1))
    Ad, Bd = statespace.discretize(
        backend.asarray(A_dense), backend.asarray(B_dense), backend.asarray(dt), method, alpha=alpha
    )
    assert_close(Ab, np.diagonal(to_host(Ad), axis1=-2, axis2=-1))
    assert_close(Bb, to_host(Bd)[..., 0])


def test_dense_float32(backend, rng):
    A, B = rng.standard_normal((4, 4)) - 2 * np.eye(4), rng.standard_normal((4, 2))
    Ab, Bb = statespace.discretize(backend.asarray(A, "float32"), backend.asarray(B, "float32"), 0.2, "zoh")
    assert Ab.dtype == backend.dtype("float32")
    ref = scipy.signal.cont2discrete((A, B, np.eye(4), np.zeros((4, 2))), 0.2)
    assert_close(Ab, ref[0])
    assert_close(Bb, ref[1])


def test_dense_errors(backend):
    A, B = backend.asarray(-np.eye(3)), backend.asarray(np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"method 'dss' does not apply to dense systems.*'zoh'"):
        statespace.discretize(A, B, 0.1, "dss")
    with pytest.raises(ValueError, match=r"unknown method 'rk4'; expected one of 'euler'"):
        statespace.discretize(A, B, 0.1, "rk4")
    with pytest.raises(ValueError, match=r"B must have shape \(\.\.\., N, M\) with N = 3"):
        statespace.discretize(A, backend.asarray(np.ones((2, 1))), 0.1, "zoh")
    with pytest.raises(ValueError, match=r"A must be a stack of square matrices"):
        statespace.discretize(backend.asarray(np.ones((3, 2))), B, 0.1, "zoh")
    with pytest.raises(ValueError, match=r"batch shapes of A \(2,\) and B \(3,\) do not broadcast"):
        statespace.discretize(backend.asarray(np.ones((2, 3, 3))), backend.asarray(np.ones((3, 3, 1))), 0.1, "zoh")
    with pytest.raises(ValueError, match=r"dt of shape \(2,\) does not broadcast against the system's batch shape"):
        statespace.discretize(backend.asarray(-np.ones((3, 3, 3))), B, backend.asarray(np.ones(2)), "zoh")
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        statespace.discretize(A, B, 0.1, "gbt", alpha=2)
    with pytest.raises(ValueError, match="dt must be finite"):
        statespace.discretize(A, B, float("inf"), "zoh")


# ---------------------------------------------------------------- discretize_dplr
def _dplr_system(rng, H=3, r=2, N2=6):
    Lambda = -rng.uniform(0.1, 1.0, (H, N2)) + 1j * rng.uniform(-8.0, 8.0, (H, N2))
    P = (rng.standard_normal((H, r, N2)) + 1j * rng.standard_normal((H, r, N2))) / 2
    B = rng.standard_normal(N2) + 1j * rng.standard_normal(N2)
    return Lambda, P, B, rng.uniform(0.01, 0.3, H)


@pytest.mark.parametrize(
    ("method", "alpha"), [("bilinear", None), ("tustin", None), ("backward_euler", None), ("euler", None), ("gbt", 0.3)]
)
def test_dplr_equals_dense_dplr_matrix(backend, rng, method, alpha):
    """Issue 3: discretize_dplr == discretize on the dense DPLR matrix, <= 1e-12; transition in the half basis."""
    Lambda, P, B, dt = _dplr_system(rng)
    A_full = np.block(
        [
            [Lambda[..., None] * np.eye(6), np.zeros((3, 6, 6))],
            [np.zeros((3, 6, 6)), Lambda.conj()[..., None] * np.eye(6)],
        ]
    )
    p_full = np.concatenate([P, P.conj()], axis=-1)  # (H, r, N)
    A_full = A_full - np.swapaxes(p_full, -1, -2) @ p_full.conj()
    B_full = np.broadcast_to(np.concatenate([B, B.conj()])[:, None], (3, 12, 1))
    args = tuple(backend.asarray(x) for x in (Lambda, P, B, dt))
    disc = statespace.discretize_dplr(*args, method, alpha=alpha)
    ref_A, ref_B = statespace.discretize(
        backend.asarray(A_full), backend.asarray(B_full), backend.asarray(dt), method, alpha=alpha
    )
    Ab, Bb = disc.dense()
    assert_close(Ab, ref_A)
    assert_close(Bb, to_host(ref_B)[..., 0])
    assert_close(disc.Bb, to_host(ref_B)[..., :6, 0])
    x = rng.standard_normal((5, 3, 6)) + 1j * rng.standard_normal((5, 3, 6))  # extra leading batch of states
    want = (to_host(ref_A) @ np.concatenate([x, x.conj()], axis=-1)[..., None])[..., :6, 0]
    assert_close(disc.transition(backend.asarray(x)), want)
    Ab2, Bb2 = statespace.discretize_dplr(*args, method, alpha=alpha, dense=True)
    assert_close(Ab2, ref_A)
    assert_close(Bb2, to_host(ref_B)[..., 0])
    assert disc.method == statespace._discretize.ALIASES.get(method, method)


@pytest.mark.parametrize("method", ["zoh", "foh", "impulse", "zoh_simplified"])
def test_dplr_exponential_methods_need_dense(backend, rng, method):
    Lambda, P, B, dt = _dplr_system(rng, H=2, r=1, N2=3)
    args = tuple(backend.asarray(x) for x in (Lambda, P, B, dt))
    with pytest.raises(ValueError, match=f"method '{method}' does not apply to DPLR systems without dense=True"):
        statespace.discretize_dplr(*args, method)
    Ab, Bb = statespace.discretize_dplr(*args, method, dense=True)
    A_full, B_full = statespace.dplr_dense(*args[:3])
    ref_A, ref_B = statespace.discretize(A_full, B_full[..., None], args[3], method)
    assert_close(Ab, ref_A)
    assert_close(Bb, to_host(ref_B)[..., 0])


def test_dplr_errors(backend, rng):
    Lambda, P, B, dt = (backend.asarray(x) for x in _dplr_system(rng, H=2, r=1, N2=3))
    with pytest.raises(ValueError, match=r"P must have shape \(\.\.\., r, N2\) with N2 = 3"):
        statespace.discretize_dplr(Lambda, backend.asarray(np.ones((1, 4))), B, dt, "bilinear")
    with pytest.raises(ValueError, match=r"B must broadcast against Lambda"):
        statespace.discretize_dplr(Lambda, P, backend.asarray(np.ones(4)), dt, "bilinear")
    with pytest.raises(ValueError, match=r"dt of shape \(2, 3\) does not broadcast.*per_mode"):
        statespace.discretize_dplr(Lambda, P, B, backend.asarray(np.ones((2, 3))), "bilinear")
    with pytest.raises(ValueError, match=r"method 'dss' does not apply to DPLR"):
        statespace.discretize_dplr(Lambda, P, B, dt, "dss")
    with pytest.raises(ValueError, match="alpha is required"):
        statespace.discretize_dplr(Lambda, P, B, dt, "gbt")
    with pytest.raises(ValueError, match="dt must be positive"):
        statespace.discretize_dplr(Lambda, P, B, 0.0, "bilinear")
