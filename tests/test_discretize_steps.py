"""Dense ZOH of one system at many step sizes: the Chebyshev-in-t path (``statespace._stepexp``) and its guard.

Reference: ``scipy.linalg.expm`` of each block ``t_k [[A, B], [0, 0]]`` (independent code).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import statespace as ss
from statespace._stepexp import MIN_STEPS, _SharedPowers, expm_steps
from statespace.testing import assert_close, relative_error, rtol


def _legs(N):
    q = np.sqrt(2.0 * np.arange(N) + 1.0)
    return -(np.tril(np.outer(q, q), -1) + np.diag(np.arange(N) + 1.0)), q[:, None]


def _block(A, B):
    n, m = B.shape
    G = np.zeros((n + m, n + m), dtype=np.result_type(A, B))
    G[:n, :n], G[:n, n:] = A, B
    return G


def _steps(K, low, high, seed=0):
    return np.exp(np.random.default_rng(seed).uniform(np.log(low), np.log(high), K))


def test_legs_256_steps_matches_scipy_and_interpolates():
    A, B = _legs(64)
    dt = _steps(256, 1e-3, 1e-1)
    G = _block(A, B)
    reference = scipy.linalg.expm(dt[:, None, None] * G)
    E, degree = expm_steps(np, G, dt)
    assert degree > 0, "the interpolation path should serve 256 steps of LegS in [1e-3, 1e-1]"
    assert relative_error(E, reference) <= rtol(np.float64, "construction")
    Ab, Bb = ss.discretize(A, B[:, 0], dt, "zoh")
    assert Ab.shape == (256, 64, 64) and Bb.shape == (256, 64)
    assert_close(Ab, reference[:, :64, :64], kind="construction")
    assert_close(Bb, reference[:, :64, 64], kind="construction")


@pytest.mark.parametrize(("K", "low", "high"), [(64, 1e-3, 10.0), (256, 1e-2, 100.0)])
def test_guard_falls_back_to_expm(K, low, high):
    """A wide range of steps for LegS (non-normal, ‖A‖₁ ≈ 2600) needs too many nodes: every step exactly."""
    A, B = _legs(64)
    G = _block(A, B)
    dt = _steps(K, low, high)
    E, degree = expm_steps(np, G, dt)
    assert degree == 0
    np.testing.assert_array_equal(E, ss.expm(dt[:, None, None] * G))


def test_few_or_equal_steps_are_direct():
    A, B = _legs(8)
    G = _block(A, B)
    assert expm_steps(np, G, _steps(MIN_STEPS - 1, 1e-3, 1e-1))[1] == 0
    assert expm_steps(np, G, np.full(100, 0.1))[1] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.complex128])
def test_dtypes(dtype):
    rng = np.random.default_rng(3)
    A = (rng.standard_normal((16, 16)) / 4 - np.eye(16)).astype(dtype)
    if np.iscomplexobj(A):
        A = A + 1j * rng.standard_normal((16, 16)).astype(dtype) / 4
    B = rng.standard_normal((16, 2)).astype(dtype)
    dt = _steps(200, 1e-3, 1.0).astype(np.finfo(dtype).dtype)
    Ab, Bb = ss.discretize(A, B, dt, "zoh")
    assert Ab.dtype == dtype and Bb.dtype == dtype
    wide = np.complex128 if np.iscomplexobj(A) else np.float64
    G = _block(A.astype(wide), B.astype(wide))
    reference = scipy.linalg.expm(dt.astype(np.float64)[:, None, None] * G)
    assert_close(Ab, reference[:, :16, :16], kind="construction", dtype=dtype)
    assert_close(Bb, reference[:, :16, 16:], kind="construction", dtype=dtype)


def test_batch_shape_and_strict_backend():
    xps = pytest.importorskip("array_api_strict")
    A, B = _legs(6)
    dt = _steps(70, 1e-3, 1e-1).reshape(7, 10)
    Ab, Bb = ss.discretize(xps.asarray(A), xps.asarray(B), xps.asarray(dt), "zoh")
    assert Ab.shape == (7, 10, 6, 6) and Bb.shape == (7, 10, 6, 1)
    reference = scipy.linalg.expm(dt.reshape(-1)[:, None, None] * _block(A, B)).reshape(7, 10, 7, 7)
    assert_close(np.asarray(Ab), reference[..., :6, :6], kind="construction")
    assert_close(np.asarray(Bb), reference[..., :6, 6:], kind="construction")


@pytest.mark.parametrize("kind", ["legs", "random", "complex", "nilpotent", "zero"])
def test_shared_powers_match_scipy_at_every_node(kind):
    """The node exponentials from one set of powers (``_SharedPowers``) against ``scipy.linalg.expm`` of each
    ``t M`` separately, over norms that need no squaring up to several."""
    rng = np.random.default_rng(11)
    if kind == "legs":
        M = _block(*_legs(32))
    elif kind == "random":
        M = rng.standard_normal((20, 20)) * 3
    elif kind == "complex":
        M = rng.standard_normal((12, 12)) + 1j * rng.standard_normal((12, 12)) - 2 * np.eye(12)
    elif kind == "nilpotent":
        M = np.triu(rng.standard_normal((9, 9)), 1) * 40  # M⁹ = 0: Al-Mohy–Higham's η is 0, no squaring
    else:
        M = np.zeros((5, 5))
    t = _steps(40, 1e-3, 2.0)
    E = _SharedPowers(np, M)(t)
    reference = scipy.linalg.expm(t[:, None, None] * M)
    assert E.dtype == M.dtype and E.shape == reference.shape
    assert relative_error(E, reference) <= rtol(np.float64, "construction")


def test_nonfinite_matrix_takes_the_direct_path():
    A, B = _legs(8)
    G = _block(A, B)
    G[0, 0] = np.nan
    dt = _steps(100, 1e-3, 1e-1)
    E, degree = expm_steps(np, G, dt)
    assert degree == 0
    np.testing.assert_array_equal(E, ss.expm(dt[:, None, None] * G))
