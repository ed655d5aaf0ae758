"""cont2discrete: SciPy's convention, batched, on every backend (parity and SciPy's MATLAB-verified cases)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

import statespace
from statespace.testing import assert_close, to_host

CASES = [
    ("zoh", None),
    ("foh", None),
    ("impulse", None),
    ("bilinear", None),
    ("tustin", None),
    ("euler", None),
    ("forward_diff", None),
    ("backward_diff", None),
    ("gbt", 0.0),
    ("gbt", 0.25),
    ("gbt", 1.0),
]


def _stable_systems(rng, batch, n, m, p):
    A = rng.standard_normal((batch, n, n)) / np.sqrt(n)
    A = A - (np.linalg.eigvals(A).real.max(axis=-1) + 0.2)[:, None, None] * np.eye(n)
    return A, rng.standard_normal((batch, n, m)), rng.standard_normal((batch, p, n)), rng.standard_normal((batch, p, m))


@pytest.mark.parametrize(("method", "alpha"), CASES)
@pytest.mark.parametrize(("n", "m", "p"), [(1, 1, 1), (3, 2, 2), (8, 3, 1), (24, 1, 4)])
def test_parity_with_scipy_per_system(backend, rng, method, alpha, n, m, p):
    A, B, C, D = _stable_systems(rng, 4, n, m, p)
    if method == "impulse":
        D = np.zeros_like(D)
    dt = rng.uniform(0.01, 1.0, 4)
    out = statespace.cont2discrete(
        tuple(backend.asarray(x) for x in (A, B, C, D)), backend.asarray(dt), method=method, alpha=alpha
    )
    assert len(out) == 5
    for i in range(4):
        ref = scipy.signal.cont2discrete((A[i], B[i], C[i], D[i]), dt[i], method=method, alpha=alpha)
        for name, got, want in zip("ABCD", out[:4], ref[:4], strict=True):
            # issue 3: "per system: max relative difference <= 1e-12 in float64 for Ad, Bd, Cd, Dd"
            assert_close(to_host(got)[i], want, kind="elementwise", dtype="float64", err_msg=f"{name}d of system {i}")


def test_broadcasting_one_system_many_steps(backend, rng):
    A, B, C, D = (x[0] for x in _stable_systems(rng, 1, 3, 1, 1))
    dt = np.array([0.1, 0.2, 0.5])
    system = (backend.asarray(A[None]), backend.asarray(B), backend.asarray(C), backend.asarray(D))
    Ad, Bd, Cd, Dd, dt_out = statespace.cont2discrete(system, backend.asarray(dt), method="bilinear")
    assert dt_out is not None and Bd.shape == (3, 3, 1)
    assert Ad.shape == (3, 3, 3) and Cd.shape == (3, 1, 3) and Dd.shape == (3, 1, 1)
    for i in range(3):
        ref = scipy.signal.cont2discrete((A, B, C, D), dt[i], method="bilinear")
        assert_close(to_host(Ad)[i], ref[0])
        assert_close(to_host(Dd)[i], ref[3])


def test_float32_stays_float32(backend, rng):
    A, B, C, D = (x[0] for x in _stable_systems(rng, 1, 4, 2, 2))
    out = statespace.cont2discrete(tuple(backend.asarray(x, "float32") for x in (A, B, C, D)), 0.1, method="foh")
    assert all(x.dtype == backend.dtype("float32") for x in out[:4])
    ref = scipy.signal.cont2discrete((A, B, C, D), 0.1, method="foh")
    for got, want in zip(out[:4], ref[:4], strict=True):
        assert_close(got, want)


# SciPy's MATLAB-verified cases (scipy/signal/tests/test_cont2discrete.py, ecosystem.md §A1)
_AC, _BC = np.eye(2), np.full((2, 1), 0.5)
_CC, _DC = np.array([[0.75, 1.0], [1.0, 1.0], [1.0, 0.25]]), np.array([[0.0], [0.0], [-0.33]])
LITERAL = [
    ("zoh", None, 0.5, _DC, 1.648721270700128 * np.eye(2), np.full((2, 1), 0.324360635350064), _CC, _DC),
    (
        "foh",
        None,
        0.5,
        _DC,
        1.648721270700128 * np.eye(2),
        np.full((2, 1), 0.420839287058789),
        _CC,
        np.array([[0.260262223725224], [0.297442541400256], [-0.144098411624840]]),
    ),
    (
        "impulse",
        None,
        0.5,
        0 * _DC,
        1.648721270700128 * np.eye(2),
        np.full((2, 1), 0.412180317675032),
        _CC,
        np.array([[0.4375], [0.5], [0.3125]]),
    ),
    (
        "gbt",
        1 / 3,
        0.5,
        _DC,
        1.6 * np.eye(2),
        np.full((2, 1), 0.3),
        np.array([[0.9, 1.2], [1.2, 1.2], [1.2, 0.3]]),
        np.array([[0.175], [0.2], [-0.205]]),
    ),
    ("euler", None, 0.5, _DC, 1.5 * np.eye(2), np.full((2, 1), 0.25), _CC, _DC),
    (
        "backward_diff",
        None,
        0.5,
        _DC,
        2.0 * np.eye(2),
        np.full((2, 1), 0.5),
        np.array([[1.5, 2.0], [2.0, 2.0], [2.0, 0.5]]),
        np.array([[0.875], [1.0], [0.295]]),
    ),
    (
        "bilinear",
        None,
        0.5,
        _DC,
        5 / 3 * np.eye(2),
        np.full((2, 1), 1 / 3),
        np.array([[1.0, 4 / 3], [4 / 3, 4 / 3], [4 / 3, 1 / 3]]),
        np.array([[0.291666666666667], [1 / 3], [-0.121666666666667]]),
    ),
]


@pytest.mark.parametrize(("method", "alpha", "dt", "D", "Ad", "Bd", "Cd", "Dd"), LITERAL, ids=[c[0] for c in LITERAL])
def test_matlab_verified_literals(backend, method, alpha, dt, D, Ad, Bd, Cd, Dd):
    out = statespace.cont2discrete(
        tuple(backend.asarray(x) for x in (_AC, _BC, _CC, D)), dt, method=method, alpha=alpha
    )
    for got, want in zip(out[:4], (Ad, Bd, Cd, Dd), strict=True):
        assert_close(got, want)
    assert out[4] == dt


def test_bilinear_literal_other_step(backend):
    Ad, *_ = statespace.cont2discrete(tuple(backend.asarray(x) for x in (_AC, _BC, _CC, _DC)), 1 / 3, method="bilinear")
    assert_close(Ad, 1.4 * np.eye(2))


def test_differs_from_discretize_only_in_C_and_D(backend, rng):
    A, B, C, D = (backend.asarray(x[0]) for x in _stable_systems(rng, 1, 4, 1, 1))
    Ad, Bd, Cd, _, _ = statespace.cont2discrete((A, B, C, D), 0.3, method="bilinear")
    Ab, Bb = statespace.discretize(A, B, 0.3, "bilinear")
    assert_close(Ad, Ab)
    assert_close(Bd, Bb)
    assert float(np.max(np.abs(to_host(Cd) - to_host(C)))) > 1e-3


def test_errors(backend):
    A, B, C, D = (backend.asarray(x) for x in (_AC, _BC, _CC, _DC))
    with pytest.raises(ValueError, match="strictly proper"):
        statespace.cont2discrete((A, B, C, D), 0.5, method="impulse")
    with pytest.raises(ValueError, match=r"system must be a tuple \(A, B, C, D\).*length 2"):
        statespace.cont2discrete((A, B), 0.5)
    with pytest.raises(ValueError, match=r"unknown method 'rk4'.*'zoh'.*'backward_diff'"):
        statespace.cont2discrete((A, B, C, D), 0.5, method="rk4")
    with pytest.raises(ValueError, match=r"method 'zoh_simplified' does not apply"):
        statespace.cont2discrete((A, B, C, D), 0.5, method="zoh_simplified")
    with pytest.raises(ValueError, match="alpha is required"):
        statespace.cont2discrete((A, B, C, D), 0.5, method="gbt")
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        statespace.cont2discrete((A, B, C, D), 0.5, method="gbt", alpha=-0.1)
    with pytest.raises(ValueError, match=r"C must have shape \(\.\.\., P, N\) with N = 2"):
        statespace.cont2discrete((A, B, backend.asarray(np.ones((3, 3))), D), 0.5)
    with pytest.raises(ValueError, match=r"D must have shape \(\.\.\., P, M\)"):
        statespace.cont2discrete((A, B, C, backend.asarray(np.ones((2, 1)))), 0.5)
    with pytest.raises(ValueError, match="dt must be positive"):
        statespace.cont2discrete((A, B, C, D), -0.5)
