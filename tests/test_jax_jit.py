"""``expm`` and ``kernel_diag`` under ``jax.jit``: traced values, no Python branching on data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg

import statespace
from statespace.testing import assert_close

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
def test_expm_jit_matches_scipy(rng, dtype):
    # norms from 0.01 to ~30: every Padé degree and up to a few squarings
    A = rng.normal(size=(4, 5, 5)) * np.array([0.01, 0.5, 3.0, 10.0])[:, None, None]
    if dtype == "complex128":
        A = A + 1j * rng.normal(size=A.shape)
    A = A.astype(dtype)
    got = jax.jit(statespace.expm)(jnp.asarray(A))
    assert got.dtype == jnp.dtype(dtype)
    assert_close(got, scipy.linalg.expm(A.astype(np.result_type(A.dtype, np.float64))), kind="elementwise")


def test_expm_xp_engine_refuses_traced_values():
    with pytest.raises(TypeError, match=r"engine .xp. .* traced by jax.jit"):
        jax.jit(lambda A: statespace.expm(A, engine="xp"))(jnp.eye(3))


@pytest.mark.parametrize("method", ["zoh", "bilinear", "zoh_simplified", "dss"])
def test_kernel_diag_jit_matches_numpy(rng, method):
    Lambda = -rng.uniform(0.1, 1.0, (2, 6)) + 1j * rng.uniform(-20, 20, (2, 6))
    Lambda[0, 2] = 0.2 + 3j  # one unstable mode: dss takes its time-reversed path, the others warn
    B = rng.normal(size=6) + 1j * rng.normal(size=6)
    C = rng.normal(size=(2, 6)) + 1j * rng.normal(size=(2, 6))
    dt = 0.05  # a Python float: array-valued steps are refused under jit (below)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if method != "dss" else "error", RuntimeWarning)
        want = statespace.kernel_diag(Lambda, B, C, dt, 40, method=method, engine="xp")
    kernel = jax.jit(lambda Lam, B, C: statespace.kernel_diag(Lam, B, C, dt, 40, method=method))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # traced: the instability warning cannot be decided, so none is raised
        got = kernel(jnp.asarray(Lambda), jnp.asarray(B), jnp.asarray(C))
    assert got.shape == (2, 40) and got.dtype == jnp.float64
    assert_close(got, want, kind="kernel")


def test_kernel_diag_jit_refuses_array_dt():
    Lambda, B, C = jnp.asarray([-0.5 + 1j]), jnp.ones(1, complex), jnp.ones(1, complex)
    with pytest.raises(TypeError, match=r"dt must be a Python float, got .*Tracer"):
        jax.jit(lambda dt: statespace.kernel_diag(Lambda, B, C, dt, 8))(0.1)
    with pytest.raises(TypeError, match=r"dt must be a Python float"):
        jax.jit(lambda Lam: statespace.kernel_diag(Lam, B, C, jnp.asarray([0.1]), 8))(Lambda)
