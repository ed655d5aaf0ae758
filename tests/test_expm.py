"""expm: array-API scaling and squaring against scipy.linalg.expm, batched, norms 1e-3..1e3."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg

import statespace
from statespace.testing import assert_close, to_host

NORMS = np.geomspace(1e-3, 1e3, 7)


def _matrices(rng, n, complex_):
    """A batch with 1-norms spread over 1e-3..1e3: random (small norms), skew-dominated stable (large), and
    badly scaled (a diagonal similarity with spread 1e2, rescaled into the same norm range)."""
    out = []
    for norm in NORMS:
        G = rng.standard_normal((n, n)) + (1j * rng.standard_normal((n, n)) if complex_ else 0)
        if n == 1:  # a scalar: decaying and oscillating, so that e^a stays a normal float32 number
            G = np.array([[-1e-3 + 1j]]) if complex_ else np.array([[-1.0]])
            if not complex_ and norm > 50:
                continue
        elif norm > 1:
            S = (G - G.conj().T) / 2
            H = rng.standard_normal((n, n)) / np.sqrt(n)
            G = S / np.abs(S).sum(0).max() * norm + H - (np.linalg.eigvals(H).real.max() + 0.5) * np.eye(n)
        D = np.diag(np.geomspace(0.1, 10.0, n))
        for M in (G, D @ G @ np.linalg.inv(D)):
            out.append(M / np.abs(M).sum(0).max() * norm)
    return np.stack(out)


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("n", [1, 4, 16])
def test_expm_matches_scipy(backend, dtype_name, rng, n, complex_):
    A = _matrices(rng, n, complex_)
    name = {"float32": "complex64", "float64": "complex128"}[dtype_name] if complex_ else dtype_name
    Ax = backend.asarray(A, name)
    got = statespace.expm(Ax)  # NumPy: SciPy from n = 16 on, the xp code below
    assert got.dtype == Ax.dtype and got.shape == A.shape
    ref = scipy.linalg.expm(to_host(Ax).astype(np.complex128 if complex_ else np.float64))  # same rounded input
    for i in range(len(A)):
        # issue 3: "<= 1e-12 relative (float64), <= 1e-5 (float32)" = the elementwise tolerances
        assert_close(to_host(got)[i], ref[i], dtype=Ax.dtype, err_msg=f"matrix {i}, 1-norm {np.abs(A[i]).sum(0).max()}")


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_expm_xp_engine_on_numpy(rng, dtype_name):
    A = _matrices(rng, 6, False).astype(dtype_name)
    got = statespace.expm(A, engine="xp")
    ref = scipy.linalg.expm(A.astype(np.float64))
    for i in range(len(A)):
        assert_close(got[i], ref[i], dtype=A.dtype)


def test_expm_per_matrix_scaling_in_one_batch(backend):
    """Norms 1e-3 and 1e3 in one stack: each matrix is squared exactly its own number of times."""
    A = np.stack(
        [
            np.array([[-1e-3, 0.0], [0.0, 0.0]]),
            np.array([[-1e3, 0.0], [1.0, -1.0]]),
            np.array([[0.0, 30.0], [-30.0, 0.0]]),
        ]
    )
    got = statespace.expm(backend.asarray(A), engine="xp")
    assert_close(got, scipy.linalg.expm(A))


def test_expm_does_not_overflow_finished_matrices():
    """A matrix that needs 7 squarings (e^360 ≈ 2e156, whose square overflows) beside one that needs 11: the
    finished one must not be squared again (that overflowed with a RuntimeWarning before the fix)."""
    A = np.stack([360.0 * np.eye(2), np.array([[-1.0, 1e4], [-1e4, -1.0]])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = statespace.expm(A, engine="xp")
    assert np.all(np.isfinite(got))
    assert_close(got[0], scipy.linalg.expm(A[0]))


def test_expm_scalar_batch_shapes(backend):
    A = np.zeros((2, 3, 0, 0))
    assert statespace.expm(backend.asarray(A)).shape == (2, 3, 0, 0)
    one = statespace.expm(backend.asarray(np.array([[2.0]])))
    assert_close(one, np.array([[np.e**2]]))


def test_expm_errors(backend):
    with pytest.raises(ValueError, match=r"A must be a stack of square matrices \(\.\.\., n, n\), got shape \(2, 3\)"):
        statespace.expm(backend.asarray(np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"expm has no 'numba' engine; it supports 'xp'"):
        statespace.expm(backend.asarray(np.eye(2)), engine="numba")
    with pytest.raises(ValueError, match=r"unknown engine 'fortran'"):
        statespace.expm(backend.asarray(np.eye(2)), engine="fortran")
    if backend.name != "numpy":
        with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="engine 'scipy' takes NumPy arrays only"):
            statespace.expm(backend.asarray(np.eye(2)), engine="scipy")


def test_expm_engine_vocabulary(rng, monkeypatch):
    """expm speaks the engine vocabulary: "scipy" is the automatic choice's delegation, not an engine."""
    A = _matrices(rng, 16, False)
    calls = []
    real_expm = scipy.linalg.expm
    monkeypatch.setattr(scipy.linalg, "expm", lambda M: calls.append(M.shape) or real_expm(M))
    auto = statespace.expm(A)
    assert calls, "engine=None hands NumPy stacks of order 16 to SciPy"
    calls.clear()
    monkeypatch.setenv("STATESPACE_ENGINE", "xp")
    assert_close(statespace.expm(A), auto)
    assert not calls, "STATESPACE_ENGINE=xp runs the array-API code"
    with pytest.warns(DeprecationWarning, match=r'expm\(engine="scipy"\) is deprecated'):
        assert_close(statespace.expm(A, engine="scipy"), auto)
    assert calls, 'the deprecated engine="scipy" still forces SciPy'
