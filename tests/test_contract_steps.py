"""The step-size rule of the Conventions page (#14), one test per user idiom.

Each idiom is written as its users write it and checked against an independent float64 loop
(Python loops over channels, modes and time; dense matrices through NumPy/SciPy), on the xp and
numba engines with NumPy arrays and on the xp engine under array-api-strict.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import statespace as ss
from statespace.testing import assert_close, to_host

WHERE = [
    pytest.param(("numpy", "xp"), id="numpy-xp"),
    pytest.param(("numpy", "numba"), id="numpy-numba", marks=pytest.mark.numba),
    pytest.param(("strict", "xp"), id="strict-xp"),
]


def _lib(name):
    if name == "numpy":
        return np
    import array_api_strict as xps

    return xps


@pytest.fixture(params=WHERE)
def where(request):
    lib, engine = request.param
    return _lib(lib), engine


# ----------------------------------------------------------------------------- references (float64 loops)
def _diag_kernel_loop(Lambda, B, C, dt, L):
    """``K[h, l] = 2 Re Σ_n C[h,n] B̄[h,n] Ā[h,n]^l`` with ZOH, one channel h per step dt[h]."""
    H, n2 = C.shape
    K = np.zeros((H, L))
    for h in range(H):
        lam = Lambda[h] if Lambda.ndim == 2 else Lambda
        for n in range(n2):
            a = np.exp(dt[h] * lam[n])
            b = (a - 1) / lam[n] * B[n]
            p = 1.0 + 0j
            for t in range(L):
                K[h, t] += 2 * (C[h, n] * b * p).real
                p *= a
    return K


def _dplr_kernel_loop(Lambda, P, B, C, dt, L):
    """Bilinear dense conj-extended system per channel, kernel by matrix powers."""
    H = C.shape[0]
    A = np.diag(np.concatenate([Lambda, Lambda.conj()])) - np.outer(
        np.concatenate([P[0], P[0].conj()]), np.concatenate([P[0], P[0].conj()]).conj()
    )
    Bf = np.concatenate([B, B.conj()])
    eye = np.eye(A.shape[0])
    K = np.zeros((H, L))
    for h in range(H):
        M = eye - dt[h] / 2 * A
        Ab = np.linalg.solve(M, eye + dt[h] / 2 * A)
        x = np.linalg.solve(M, dt[h] * Bf)
        Cf = np.concatenate([C[h], C[h].conj()])
        for t in range(L):
            K[h, t] = (Cf @ x).real
            x = Ab @ x
    return K


def _mamba_loop(u, delta, A, B, C):
    batch, dim, length = u.shape
    y = np.zeros(u.shape)
    for b in range(batch):
        for d in range(dim):
            x = np.zeros(A.shape[1])
            for t in range(length):
                x = np.exp(delta[b, d, t] * A[d]) * x + delta[b, d, t] * B[b, :, t] * u[b, d, t]
                y[b, d, t] = C[b, :, t] @ x
    return y


def _modes(rng, shape):
    return -rng.uniform(0.1, 1.0, shape) + 1j * rng.uniform(-5, 5, shape)


# ----------------------------------------------------------------------------- idioms
@pytest.mark.parametrize("H", [3, 4], ids=["H!=N2", "H==N2"])
def test_s4d_shared_modes_one_step_per_channel(where, H, rng):
    """S4D: Lambda (N2,) shared, dt (H,) per channel -> (H, L) kernels and (H, N2) modes, also when H == N2."""
    lib, engine = where
    n2, L = 4, 24
    Lambda, B, C = _modes(rng, n2), rng.standard_normal(n2) + 0j, rng.standard_normal((H, n2)) + 1j
    dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), H))
    K = ss.kernel_diag(lib.asarray(Lambda), lib.asarray(B), lib.asarray(C), lib.asarray(dt), L, engine=engine)
    assert tuple(K.shape) == (H, L)
    assert_close(to_host(K), _diag_kernel_loop(Lambda, B, C, dt, L), kind="kernel")
    Ab, _ = ss.discretize_diag(lib.asarray(Lambda), lib.asarray(B), lib.asarray(dt), "zoh")
    assert tuple(Ab.shape) == (H, n2)
    assert_close(to_host(Ab), np.exp(dt[:, None] * Lambda), kind="elementwise")


def test_s4d_per_channel_modes(where, rng):
    lib, engine = where
    H, n2, L = 3, 5, 20
    Lambda, B, C = _modes(rng, (H, n2)), rng.standard_normal(n2) + 0j, rng.standard_normal((H, n2)) + 0.5j
    dt = rng.uniform(0.01, 0.2, H)
    K = ss.kernel_diag(*(lib.asarray(x) for x in (Lambda, B, C, dt)), L, engine=engine)
    assert_close(to_host(K), _diag_kernel_loop(Lambda, B, C, dt, L), kind="kernel")


def test_s4_dplr_shared_system_one_step_per_channel(where, rng):
    lib, engine = where
    H, n2, L = 4, 4, 16
    Lambda, P = _modes(rng, n2), (rng.standard_normal((1, n2)) + 1j * rng.standard_normal((1, n2))) / 2
    B, C = rng.standard_normal(n2) + 0j, rng.standard_normal((H, n2)) + 1j * rng.standard_normal((H, n2))
    dt = rng.uniform(0.01, 0.2, H)
    K = ss.kernel_dplr(*(lib.asarray(x) for x in (Lambda, P, B, C, dt)), L, ctilde=False, engine=engine)
    assert tuple(K.shape) == (H, L)
    assert_close(to_host(K), _dplr_kernel_loop(Lambda, P, B, C, dt, L), kind="kernel")


def test_s5_one_step_per_state(where, rng):
    """S5: Lambda (P,), dt (P,) per state with per_mode=True; the recurrence against a loop."""
    lib, engine = where
    n2, L = 6, 30
    Lambda, B, C = _modes(rng, n2), rng.standard_normal(n2) + 0j, rng.standard_normal(n2) + 0.3j
    dt, u = rng.uniform(0.01, 0.5, n2), rng.standard_normal(L)
    Ab, Bb = ss.discretize_diag(lib.asarray(Lambda), lib.asarray(B), lib.asarray(dt), "zoh", per_mode=True)
    assert tuple(Ab.shape) == (n2,)
    y = ss.recurrence(Ab, Bb, lib.asarray(C), lib.asarray(u), engine=engine)
    a = np.exp(dt * Lambda)
    b = (a - 1) / Lambda * B
    x, want = np.zeros(n2, complex), np.zeros(L)
    for t in range(L):
        x = a * x + b * u[t]
        want[t] = 2 * (C @ x).real
    assert_close(to_host(y), want, kind="scan")


def test_s5_heads_per_state_steps(where, rng):
    lib, _ = where
    H, n2 = 2, 3
    Lambda, dt = _modes(rng, (H, n2)), rng.uniform(0.01, 0.5, (H, n2))
    Ab, _ = ss.discretize_diag(lib.asarray(Lambda), lib.asarray(np.ones(n2)), lib.asarray(dt), "zoh", per_mode=True)
    assert_close(to_host(Ab), np.exp(dt * Lambda), kind="elementwise")


def test_mamba_shapes(where, rng):
    lib, engine = where
    batch, dim, n, L = 2, 3, 4, 12
    u, delta = rng.standard_normal((batch, dim, L)), rng.uniform(0.01, 0.5, (batch, dim, L))
    A = -rng.uniform(0.5, 2.0, (dim, n))
    B, C = rng.standard_normal((batch, n, L)), rng.standard_normal((batch, n, L))
    out = ss.selective_scan(*(lib.asarray(x) for x in (u, delta, A, B, C)), engine=engine)
    assert tuple(out.shape) == (batch, dim, L)
    assert_close(to_host(out), _mamba_loop(u, delta, A, B, C), kind="scan")


def test_one_dense_system_many_steps(where, rng):
    """One HiPPO matrix, T steps: T discrete systems, A broadcast (never stacked by the caller)."""
    lib, _ = where
    N, T = 5, 4
    A, B = ss.hippo("legs", N, xp=lib)
    dt = np.array([0.01, 0.05, 0.1, 0.3])
    Ab, Bb = ss.discretize(A, B, lib.asarray(dt), "zoh")  # discretize(*hippo(...), dt, "zoh") chains
    assert tuple(Ab.shape) == (T, N, N) and tuple(Bb.shape) == (T, N)
    A_np, B_np = to_host(A), to_host(B)
    for t in range(T):
        block = np.zeros((N + 1, N + 1))
        block[:N, :N], block[:N, N] = A_np, B_np
        E = scipy.linalg.expm(dt[t] * block)
        assert_close(to_host(Ab)[t], E[:N, :N], kind="elementwise")
        assert_close(to_host(Bb)[t], E[:N, N], kind="elementwise")


def test_hippo_chain_unpacks_into_discretize():
    Ab, Bb = ss.discretize(*ss.hippo("legs", 8), 0.1, "zoh")
    assert Ab.shape == (8, 8) and Bb.shape == (8,)
    Ab2, Bb2 = ss.discretize(ss.hippo("legs", 8)[0], ss.hippo("legs", 8)[1][:, None], 0.1, "zoh")
    np.testing.assert_array_equal(Bb, Bb2[:, 0])
    np.testing.assert_array_equal(Ab, Ab2)


def test_nplr_record_feeds_the_dplr_functions():
    rec = ss.nplr("legs", 8)
    dt = np.array([0.01, 0.1])
    K = ss.kernel_dplr(rec.Lambda, rec.P, rec.B, np.ones((2, 4), complex), dt, 16)
    assert K.shape == (2, 16)
    assert ss.discretize_dplr(rec.Lambda, rec.P, rec.B, dt, "bilinear").Bb.shape == (2, 4)


def test_s4d_init_and_log_dt_init_feed_kernel_diag():
    Lambda, dt = ss.s4d_init("lin", 8), np.exp(ss.log_dt_init(4))
    assert ss.kernel_diag(Lambda, np.ones(4), np.ones((4, 4), complex), dt, 8).shape == (4, 8)


def test_per_mode_hint_in_the_error():
    with pytest.raises(ValueError, match=r"dt of shape \(2, 3\) does not broadcast .*\(2,\).*per_mode=True"):
        ss.discretize_diag(np.ones((2, 3), complex), np.ones(3), np.full((2, 3), 0.1), "zoh")
    with pytest.raises(ValueError, match="per_mode=True needs a modal"):
        from statespace._validation import check_step

        check_step(0.1, np, batch_shape=(), modes=False, dtype=np.float64, per_mode=True)
    with pytest.raises(TypeError, match="per_mode must be a bool"):
        ss.discretize_diag(np.ones(3, complex), np.ones(3), 0.1, "zoh", per_mode=1)
