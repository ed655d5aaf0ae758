"""recurrence/step for dense, diagonal and DPLR systems against float64 loops and each other."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.signal import dlsim

from statespace import recurrence, step
from statespace.testing import assert_close


def diag_system(rng, H=3, N2=4):
    Ab = np.exp(-rng.uniform(0.01, 0.3, (H, N2)) + 1j * rng.uniform(0, np.pi, (H, N2)))
    Bb = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    C = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    return Ab, Bb, C


def diag_loop(Ab, Bb, C, u, D, x0, conj):
    x = x0.astype(complex)
    ys = []
    for t in range(u.shape[-1]):
        x = Ab * x + Bb * u[..., t : t + 1]
        y = np.sum(C * x, axis=-1)
        ys.append((2 * y.real if conj else y) + D * u[..., t])
    return (np.stack(ys, axis=-1) if ys else np.zeros(np.broadcast_shapes(u.shape[:-1], Ab.shape[:-1]) + (0,))), x


def conj_extended(Ab, Bb, C):
    A_full = np.stack([np.diag(np.r_[a, a.conj()]) for a in Ab])
    return A_full, np.concatenate([Bb, Bb.conj()], -1), np.concatenate([C, C.conj()], -1)


@pytest.mark.parametrize("conj", [True, False])
@pytest.mark.parametrize("L", [0, 1, 7, 300])
def test_diag_matches_loop(engine, rng, conj, L):
    Ab, Bb, C = diag_system(rng)
    u = rng.normal(size=(2, 3, L))
    x0 = rng.normal(size=(2, 3, 4)) + 1j * rng.normal(size=(2, 3, 4))
    D = rng.normal(size=3)
    y, x = recurrence(Ab, Bb, C, u, D=D, x0=x0, conj=conj, return_state=True, engine=engine)
    want, want_x = diag_loop(Ab, Bb, C, u, D, x0, conj)
    assert y.dtype == (np.float64 if conj else np.complex128)
    assert y.shape == (2, 3, L)
    assert_close(y, want.reshape(2, 3, L), kind="scan")
    assert_close(x, want_x, kind="scan")


def test_diag_real_system_and_float32(engine, rng):
    Ab, Bb, C = rng.uniform(0.5, 0.99, (5, 3)), rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    u = rng.normal(size=(5, 50))
    y = recurrence(
        Ab.astype(np.float32), Bb.astype(np.float32), C.astype(np.float32), u.astype(np.float32), engine=engine
    )
    assert y.dtype == np.float32
    want, _ = diag_loop(Ab, Bb, C, u, 0.0, np.zeros((5, 3)), conj=False)
    assert_close(y, want.real, kind="views", dtype="float32")


@pytest.mark.numba
def test_engines_agree_float64(rng):
    Ab, Bb, C = diag_system(rng, H=8, N2=6)
    u = rng.normal(size=(8, 500))
    a = recurrence(Ab, Bb, C, u, engine="xp", return_state=True)
    b = recurrence(Ab, Bb, C, u, engine="numba", return_state=True)
    assert_close(b[0], a[0], kind="scan")
    assert_close(b[1], a[1], kind="scan")


def test_dense_matches_diag_in_conj_extended_basis(rng):
    Ab, Bb, C = diag_system(rng)
    u = rng.normal(size=(3, 60))
    A_full, B_full, C_full = conj_extended(Ab, Bb, C)
    x0 = rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4))
    y_dense = recurrence(A_full, B_full, C_full, u, D=1.5, x0=np.concatenate([x0, x0.conj()], -1))
    assert y_dense.dtype == np.float64
    assert_close(y_dense, recurrence(Ab, Bb, C, u, D=1.5, x0=x0), kind="scan")


def test_dense_mimo_matches_dlsim(rng):
    N, M, P, L = 4, 2, 3, 40
    A = rng.normal(size=(N, N))
    A *= 0.9 / np.max(np.abs(np.linalg.eigvals(A)))
    B, C = rng.normal(size=(N, M)), rng.normal(size=(P, N))
    u = rng.normal(size=(M, L))
    y, x = recurrence(A, B, C, u, return_state=True)
    # dlsim uses x_{k+1} = A x_k + B u_k, y_k = C x_k + D u_k: our y_k = C x_k with x_k = A x_{k-1} + B u_k,
    # i.e. dlsim's output with C' = C A, D' = C B.
    _, want, xs = dlsim((A, B, C @ A, C @ B, 1.0), u.T)
    assert_close(y, want.T, kind="scan")
    assert_close(x, A @ xs[-1] + B @ u[:, -1], kind="scan")


@dataclass(frozen=True)
class FakeDPLR:
    """Stand-in for statespace.discretize_dplr's record: Ā applied to a half state through the full matrix."""

    A_full: np.ndarray
    Bb: np.ndarray

    def transition(self, x):
        full = np.concatenate([x, x.conj()], -1)
        return np.einsum("...ij,...j->...i", self.A_full, full)[..., : x.shape[-1]]


def dplr_system(rng, H=2, N2=3):
    Lam = -rng.uniform(0.1, 1, (H, N2)) + 1j * rng.uniform(0, 3, (H, N2))
    p = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    pf = np.concatenate([p, p.conj()], -1)
    A = np.stack([np.diag(np.r_[lam, lam.conj()]) for lam in Lam]) - pf[:, :, None] * pf[:, None, :].conj()
    dt = 0.1
    eye = np.eye(2 * N2)
    A_bar = np.linalg.solve(eye - dt / 2 * A, eye + dt / 2 * A)
    Bh = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    B_bar = np.linalg.solve(eye - dt / 2 * A, dt * np.concatenate([Bh, Bh.conj()], -1)[..., None])[..., 0]
    C = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    return FakeDPLR(A_bar, B_bar[..., :N2]), A_bar, B_bar, C


def test_dplr_record_matches_dense(rng):
    rec, A_bar, B_bar, C = dplr_system(rng)
    u = rng.normal(size=(2, 50))
    y, x = recurrence(rec, None, C, u, D=0.5, return_state=True)
    y_dense, x_dense = recurrence(A_bar, B_bar, np.concatenate([C, C.conj()], -1), u, D=0.5, return_state=True)
    assert y.dtype == np.float64
    assert_close(y, y_dense, kind="scan")
    assert_close(x, x_dense[..., :3], kind="scan")


@pytest.mark.parametrize("kind", ["diag", "dense", "dplr"])
def test_step_repeated_equals_recurrence(rng, kind):
    u = rng.normal(size=(2, 25))
    if kind == "dplr":
        rec, _, _, C = dplr_system(rng)
        system, x = (rec, None, C), np.zeros((2, 3), complex)
    else:
        Ab, Bb, C = diag_system(rng, H=2)
        system, x = ((Ab, Bb, C), np.zeros((2, 4), complex))
        if kind == "dense":
            system = conj_extended(Ab, Bb, C)
            x = np.zeros((2, 8), complex)
    ys = []
    for t in range(u.shape[-1]):
        y_t, x = step(*system, x, u[:, t], D=0.25)
        ys.append(y_t)
    y, x_rec = recurrence(*system, u, D=0.25, return_state=True)
    assert_close(np.stack(ys, -1), y, kind="scan")
    assert_close(x, x_rec, kind="scan")


def test_backends(backend, dtype_name, rng):
    Ab, Bb, C = diag_system(rng)
    u = rng.normal(size=(3, 40))
    cdt = "complex64" if dtype_name == "float32" else "complex128"
    y, _x = recurrence(
        *(backend.asarray(m, cdt) for m in (Ab, Bb, C)),
        backend.asarray(u, dtype_name),
        D=backend.asarray(np.ones(3), dtype_name),
        return_state=True,
    )
    assert y.dtype == backend.dtype(dtype_name)
    if backend.device is not None:
        assert y.device == backend.device
    want, _want_x = diag_loop(Ab, Bb, C, u, 1.0, np.zeros((3, 4)), True)
    assert_close(y, want, kind="views", dtype=dtype_name)
    A_full, B_full, C_full = conj_extended(Ab, Bb, C)
    y_dense = recurrence(*(backend.asarray(m, cdt) for m in (A_full, B_full, C_full)), backend.asarray(u, dtype_name))
    assert y_dense.dtype == backend.dtype(dtype_name)
    assert_close(y_dense, want - u, kind="views", dtype=dtype_name)
    y_t, _x_t = step(
        *(backend.asarray(m, cdt) for m in (Ab, Bb, C)),
        backend.asarray(np.zeros((3, 4)), cdt),
        backend.asarray(u[:, 0], dtype_name),
    )
    assert_close(y_t, want[:, 0] - u[:, 0], kind="views", dtype=dtype_name)


def test_single_channel_state_is_writable(engine):
    # a broadcast (read-only) zero state of one channel once reached the kernel as a read-only view
    y = recurrence(np.array([0.5 + 0.5j]), np.array([1.0 + 0j]), np.array([0.5 + 0j]), np.ones(3), engine=engine)
    assert_close(y, np.array([1.0, 1.5, 1.5]), kind="scan")


def test_errors(rng):
    Ab, Bb, C = diag_system(rng)
    u = rng.normal(size=(3, 10))
    with pytest.raises(ValueError, match="match no system"):
        recurrence(Ab, Bb[:, :2], C, u)
    with pytest.raises(ValueError, match="fit both a dense and a diagonal"):
        recurrence(np.eye(3), np.eye(3), np.eye(3), u)
    assert recurrence(np.eye(3), np.eye(3), np.eye(3), u, structure="dense").shape == (3, 10)
    with pytest.raises(ValueError, match="unknown structure"):
        recurrence(Ab, Bb, C, u, structure="banded")
    with pytest.raises(ValueError, match="x0 must broadcast"):
        recurrence(Ab, Bb, C, u, x0=np.zeros(5))
    with pytest.raises(ValueError, match="do not broadcast"):
        recurrence(Ab, Bb, C, u[:2])
    with pytest.raises(ValueError, match="D must broadcast"):
        recurrence(Ab, Bb, C, u, D=np.ones(4))
    rec, _, _, Cd = dplr_system(rng)
    with pytest.raises(ValueError, match="Bb must be None"):
        recurrence(rec, Bb, Cd, u)
    with pytest.raises(ValueError, match="modes on its last axis"):
        recurrence(rec, None, Cd[:, :2], u[:2])
    with pytest.raises(ValueError, match="u must be"):
        recurrence(np.eye(3)[None], np.ones((1, 3, 2)), np.ones((1, 3)), u)
    with pytest.raises(ValueError, match="x must be"):
        step(Ab, Bb, C, np.zeros((3, 5)), u[:, 0])
    with pytest.raises(ValueError, match="no 'numba' engine"):
        recurrence(np.eye(3)[None], np.ones((1, 3)), np.ones((1, 3)), u, engine="numba")
