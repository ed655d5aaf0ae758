"""Engines agree on every input (#14): NaN, inf, out-of-domain values, zero modes, odd batch axes.

Same values (non-finite positions included), same warnings (none) and same errors on the xp and
numba engines; and the deprecated spellings of ``return_state`` keep working with a warning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import statespace as ss
from statespace.testing import assert_close

pytestmark = pytest.mark.numba


def _both(fn):
    """``fn(engine)`` on both engines with every warning turned into an error."""
    out = []
    for engine in ("xp", "numba"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out.append(fn(engine))
    return out


def _same_nonfinite_then_close(a, b, kind="scan"):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
    finite = np.isfinite(a)
    assert_close(a[finite], b[finite], kind=kind)


def _mamba(rng, L=400, sign=1.0):
    u, delta = rng.standard_normal((2, 3, L)), sign * rng.uniform(0.5, 3.0, (2, 3, L))
    A = -rng.uniform(1.0, 5.0, (3, 4))
    return u, delta, A, rng.standard_normal((2, 4, L)), rng.standard_normal((2, 4, L))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_selective_scan_negative_delta_same_on_every_engine(rng, dtype):
    args = [a.astype(dtype) for a in _mamba(rng, sign=-1.0)]
    xp_out, nb_out = _both(lambda e: ss.selective_scan(*args, engine=e))
    assert not np.all(np.isfinite(xp_out))  # the case overflows: the point of the test
    # xp runs a tree scan, numba a sequential loop: two algorithms on exponentially growing states,
    # compared with the tolerance of two views of one computation
    _same_nonfinite_then_close(xp_out, nb_out, kind="views")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_selective_scan_nonfinite_input(rng, bad):
    u, delta, A, B, C = _mamba(rng, L=32)
    u[0, 1, 7] = bad
    delta[1, 2, 3] = bad if bad != -np.inf else np.nan
    xp_out, nb_out = _both(lambda e: ss.selective_scan(u, delta, A, B, C, engine=e))
    _same_nonfinite_then_close(xp_out, nb_out)
    assert np.all(np.isfinite(xp_out[0, 1, :7]))  # causal: earlier outputs are untouched


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_linear_scan_nonfinite(rng, bad):
    a, b = rng.uniform(0.5, 0.99, (3, 40)), rng.standard_normal((3, 40))
    b[1, 10] = bad
    xp_out, nb_out = _both(lambda e: ss.linear_scan(a, b, engine=e))
    _same_nonfinite_then_close(xp_out, nb_out)
    assert np.all(np.isfinite(xp_out[1, :10]))


def test_recurrence_with_batch_axes_only_in_C(rng):
    """The issue's example: C (2, 3) while Ab, Bb, u have no batch; xp used to fail with an x0 message."""
    Ab, Bb, C, u = np.full(3, 0.5 + 0.1j), np.ones(3, complex), np.ones((2, 3), complex), np.ones(5)
    (y_xp, s_xp), (y_nb, s_nb) = _both(lambda e: ss.recurrence(Ab, Bb, C, u, engine=e, return_state=True))
    assert y_xp.shape == y_nb.shape == (2, 5) and s_xp.shape == s_nb.shape == (2, 3)
    assert_close(y_xp, y_nb)
    x, want = np.zeros(3, complex), []
    for t in range(5):
        x = Ab * x + Bb * u[t]
        want.append(2 * (C @ x).real)
    assert_close(y_xp, np.stack(want, axis=-1))


def test_recurrence_zero_modes(rng):
    y_xp, y_nb = _both(
        lambda e: ss.recurrence(
            np.zeros((2, 0), complex), np.zeros(0, complex), np.zeros(0, complex), np.ones(5), engine=e
        )
    )
    np.testing.assert_array_equal(y_xp, np.zeros((2, 5)))
    np.testing.assert_array_equal(y_nb, np.zeros((2, 5)))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_recurrence_nonfinite(rng, bad):
    Ab, Bb, C = np.full(4, 0.9 + 0.1j), np.ones(4, complex), rng.standard_normal(4) + 0j
    u = rng.standard_normal((2, 30))
    u[0, 12] = bad
    y_xp, y_nb = _both(lambda e: ss.recurrence(Ab, Bb, C, u, engine=e))
    _same_nonfinite_then_close(y_xp, y_nb)


def test_kernels_zero_modes_and_nan(rng):
    v, x = np.zeros((2, 0), complex), np.zeros((2, 0), complex)
    k_xp, k_nb = _both(lambda e: ss.vandermonde(v, x, 6, engine=e))
    np.testing.assert_array_equal(k_xp, k_nb)
    v, x = rng.standard_normal((2, 3)) + 0j, -rng.uniform(0.1, 1, (2, 3)) + 1j
    v[1, 0] = np.nan
    k_xp, k_nb = _both(lambda e: ss.vandermonde(v, x, 6, engine=e))
    _same_nonfinite_then_close(k_xp, k_nb, kind="kernel")
    w, z = -rng.uniform(0.1, 1, (2, 3)) + 1j, np.exp(2j * np.pi * np.arange(5) / 5)
    c_xp, c_nb = _both(lambda e: ss.cauchy(v, z, w, engine=e))
    _same_nonfinite_then_close(c_xp, c_nb, kind="kernel")


def test_causal_conv_nonfinite_stays_causal(rng):
    u, K = rng.standard_normal((2, 20)), rng.standard_normal(20)
    u[0, 6] = np.nan
    u[1, 9] = np.inf
    y = ss.causal_conv(u, K)
    direct = np.array([[np.sum(K[: t + 1][::-1] * u[c, : t + 1]) for t in range(20)] for c in range(2)])
    assert np.all(np.isnan(y[0, 6:])) and np.all(np.isnan(y[1, 9:]))
    assert_close(y[0, :6], direct[0, :6], kind="kernel")
    assert_close(y[1, :9], direct[1, :9], kind="kernel")
    K2 = K.copy()
    K2[4] = np.nan
    y2 = ss.causal_conv(rng.standard_normal(20), K2)
    assert np.all(np.isfinite(y2[:4])) and np.all(np.isnan(y2[4:]))


# ----------------------------------------------------------------------------- deprecation shims
def test_linear_scan_return_last_is_deprecated(rng):
    a, b = rng.uniform(0.1, 0.9, (2, 9)), rng.standard_normal((2, 9))
    new = ss.linear_scan(a, b, return_state=True)
    with pytest.warns(DeprecationWarning, match=r"return_last= is deprecated.*use return_state="):
        old = ss.linear_scan(a, b, return_last=True)
    np.testing.assert_array_equal(old[0], new[0])
    np.testing.assert_array_equal(old[1], new[1])
    with pytest.raises(TypeError, match="both return_state= and its deprecated spelling return_last="):
        ss.linear_scan(a, b, return_state=True, return_last=True)


def test_selective_scan_return_last_state_is_deprecated(rng):
    args = _mamba(rng, L=8)
    new = ss.selective_scan(*args, return_state=True)
    with pytest.warns(DeprecationWarning, match=r"return_last_state= is deprecated.*use return_state="):
        old = ss.selective_scan(*args, return_last_state=True)
    np.testing.assert_array_equal(old[0], new[0])
    np.testing.assert_array_equal(old[1], new[1])


def test_engine_is_keyword_only(rng):
    with pytest.raises(TypeError):
        ss.linear_scan(np.ones(3), np.ones(3), None, False, -1, "xp")  # type: ignore[misc]
    with pytest.raises(TypeError):
        ss.vandermonde(np.ones(2, complex), -np.ones(2, complex), 4, True, "xp")  # type: ignore[misc]
    with pytest.raises(TypeError):
        ss.kernel_diag(-np.ones(2, complex), np.ones(2), np.ones(2), 0.1, 4, "zoh", "xp")  # type: ignore[misc]
