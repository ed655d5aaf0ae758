"""Hypothesis property of the step-size rule (#14).

For random shapes of the system and of ``dt``, every ``dt``-taking function either returns
the result of the documented rule — computed here by a reference that applies the rule
explicitly with NumPy broadcasting and a float64 formula — or raises ``ValueError`` exactly when
the reference says the shapes do not fit. Never a result of another shape.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

import statespace as ss
from statespace.testing import assert_close

small = st.integers(1, 3)
shapes = st.lists(small, min_size=0, max_size=2).map(tuple)
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)


def _rule_batch(*batch_shapes):
    """The broadcast batch, or None when the shapes do not broadcast (NumPy's rule)."""
    try:
        return tuple(np.broadcast_shapes(*batch_shapes))
    except ValueError:
        return None


def _data(seed, shape, complex_=True):
    rng = np.random.default_rng(seed)
    real = rng.uniform(0.2, 1.0, shape)
    return -real + 1j * rng.uniform(-3, 3, shape) if complex_ else real


@SETTINGS
@given(lam=shapes, n2=small, b_batch=shapes, dt_shape=st.lists(small, max_size=3).map(tuple), per_mode=st.booleans())
def test_discretize_diag_follows_the_rule(lam, n2, b_batch, dt_shape, per_mode):
    Lambda, B = _data(1, lam + (n2,)), _data(2, b_batch + (n2,))
    dt = np.random.default_rng(3).uniform(0.01, 0.5, dt_shape)
    # the system's batch is Lambda's and B's; dt's batch axes (all of them, or all but the mode axis
    # with per_mode=True) broadcast against it. Ab depends on Lambda and dt only, Bb on all three.
    fits = not per_mode or (len(dt_shape) >= 1 and dt_shape[-1] in (1, n2))
    dt_batch = dt_shape[:-1] if per_mode else dt_shape
    batch = _rule_batch(lam, b_batch, dt_batch) if fits else None
    if batch is None:
        with pytest.raises(ValueError):
            ss.discretize_diag(Lambda, B, dt, "zoh", per_mode=per_mode)
        return
    Ab, Bb = ss.discretize_diag(Lambda, B, dt, "zoh", per_mode=per_mode)
    a_batch = _rule_batch(lam, dt_batch)
    assert Ab.shape == a_batch + (n2,) and Bb.shape == batch + (n2,)
    z = (dt if per_mode else dt[..., None]) * Lambda
    assert_close(Ab, np.broadcast_to(np.exp(z), a_batch + (n2,)))
    assert_close(Bb, np.broadcast_to(np.expm1(z) / Lambda * B, batch + (n2,)))


@SETTINGS
@given(lam=shapes, n2=small, c_batch=shapes, dt_shape=shapes, L=st.integers(1, 5))
def test_kernel_diag_follows_the_rule(lam, n2, c_batch, dt_shape, L):
    Lambda, B, C = _data(4, lam + (n2,)), _data(5, (n2,)), _data(6, c_batch + (n2,))
    dt = np.random.default_rng(7).uniform(0.01, 0.5, dt_shape)
    batch = _rule_batch(lam, c_batch, dt_shape)
    if batch is None:
        with pytest.raises(ValueError):
            ss.kernel_diag(Lambda, B, C, dt, L)
        return
    K = ss.kernel_diag(Lambda, B, C, dt, L)
    assert K.shape == batch + (L,)
    z = dt[..., None] * Lambda
    coefficient = C * np.expm1(z) / Lambda * B
    l = np.arange(L)
    want = 2 * np.real(np.sum(coefficient[..., None] * np.exp(z[..., None] * l), axis=-2))
    assert_close(K, np.broadcast_to(want, batch + (L,)), kind="kernel")


@SETTINGS
@given(a_batch=shapes, b_batch=shapes, dt_shape=shapes, column=st.booleans())
def test_discretize_dense_follows_the_rule(a_batch, b_batch, dt_shape, column):
    N = 2
    rng = np.random.default_rng(8)
    A = rng.standard_normal(a_batch + (N, N)) - 2 * np.eye(N)
    B = rng.standard_normal(N) if column else rng.standard_normal(b_batch + (N, 1))
    dt = rng.uniform(0.01, 0.5, dt_shape)
    batch = _rule_batch(a_batch, dt_shape, () if column else b_batch)
    if batch is None:
        with pytest.raises(ValueError):
            ss.discretize(A, B, dt, "zoh")
        return
    Ab, Bb = ss.discretize(A, B, dt, "zoh")
    assert Ab.shape == batch + (N, N) and Bb.shape == batch + ((N,) if column else (N, 1))
    A_b = np.broadcast_to(A, batch + (N, N))
    B_b = np.broadcast_to(B[:, None] if column else B, batch + (N, 1))
    dt_b = np.broadcast_to(dt, batch)
    for index in np.ndindex(*batch):
        block = np.zeros((N + 1, N + 1))
        block[:N, :N], block[:N, N:] = A_b[index], B_b[index]
        E = scipy.linalg.expm(dt_b[index] * block)
        assert_close(Ab[index], E[:N, :N])
        assert_close(Bb[index], E[:N, N] if column else E[:N, N:])


@SETTINGS
@given(lam=shapes, n2=small, dt_shape=shapes)
def test_discretize_dplr_follows_the_rule(lam, n2, dt_shape):
    Lambda, P, B = _data(9, lam + (n2,)), _data(10, (1, n2)) * 0.3, _data(11, (n2,))
    dt = np.random.default_rng(12).uniform(0.01, 0.5, dt_shape)
    batch = _rule_batch(lam, dt_shape)
    if batch is None:
        with pytest.raises(ValueError):
            ss.discretize_dplr(Lambda, P, B, dt, "bilinear")
        return
    Ab, Bb = ss.discretize_dplr(Lambda, P, B, dt, "bilinear", dense=True)
    assert Ab.shape == batch + (2 * n2, 2 * n2) and Bb.shape == batch + (2 * n2,)
    L_b, dt_b = np.broadcast_to(Lambda, batch + (n2,)), np.broadcast_to(dt, batch)
    pf = np.concatenate([P[0], P[0].conj()])
    for index in np.ndindex(*batch):
        A = np.diag(np.concatenate([L_b[index], L_b[index].conj()])) - np.outer(pf, pf.conj())
        M = np.eye(2 * n2) - dt_b[index] / 2 * A
        assert_close(Ab[index], np.linalg.solve(M, np.eye(2 * n2) + dt_b[index] / 2 * A))
        assert_close(Bb[index], np.linalg.solve(M, dt_b[index] * np.concatenate([B, B.conj()])))


@SETTINGS
@given(sys_batch=shapes, dt_shape=shapes)
def test_cont2discrete_follows_the_rule(sys_batch, dt_shape):
    rng = np.random.default_rng(13)
    A = rng.standard_normal(sys_batch + (2, 2)) - 2 * np.eye(2)
    B, C, D = rng.standard_normal((2, 1)), rng.standard_normal((1, 2)), np.zeros((1, 1))
    dt = rng.uniform(0.01, 0.5, dt_shape)
    batch = _rule_batch(sys_batch, dt_shape)
    if batch is None:
        with pytest.raises(ValueError):
            ss.cont2discrete((A, B, C, D), dt, "bilinear")
        return
    Ad, Bd, Cd, Dd, _ = ss.cont2discrete((A, B, C, D), dt, "bilinear")
    assert Ad.shape == batch + (2, 2) and Cd.shape == batch + (1, 2)
    A_b, dt_b = np.broadcast_to(A, batch + (2, 2)), np.broadcast_to(dt, batch)
    import scipy.signal

    for index in np.ndindex(*batch):
        want = scipy.signal.cont2discrete((A_b[index], B, C, D), float(dt_b[index]), method="bilinear")
        for got, ref in zip((Ad, Bd, Cd, Dd), want[:4], strict=True):
            assert_close(got[index], ref)
