"""Streaming in chunks with carried state: every view, chunked, equals the one-shot result."""

from __future__ import annotations

import numpy as np
import pytest

import statespace as ss
from statespace.testing import assert_close

H, N2, L = 3, 4, 96


def _diag_system(rng):
    Lambda = -rng.uniform(0.1, 1.0, size=(H, N2)) + 1j * rng.uniform(0, 5, size=(H, N2))
    B = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    C = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    dt = rng.uniform(0.05, 0.2, size=H)
    return Lambda, B, C, dt


def _dplr_system(rank=1, n=2 * N2):
    rec = ss.nplr("legs", n)
    Lambda = np.broadcast_to(rec.Lambda, (H, n // 2))
    P = np.broadcast_to(rec.P if rank == rec.P.shape[0] else np.resize(rec.P, (rank, n // 2)), (H, rank, n // 2))
    rng = np.random.default_rng(5)
    C = rng.normal(size=(H, n // 2)) + 1j * rng.normal(size=(H, n // 2))
    B = np.broadcast_to(rec.B, (H, n // 2))
    return (*(np.array(v) for v in (Lambda, P, B, C)), np.array([0.02, 0.05, 0.1]))


def _chunking(rng, length, seed_ones=True):
    """Random chunk lengths summing to ``length``, including runs of length-1 chunks."""
    sizes = []
    while sum(sizes) < length:
        sizes.append(1 if (seed_ones and rng.uniform() < 0.3) else int(rng.integers(1, 30)))
    sizes[-1] -= sum(sizes) - length
    return [s for s in sizes if s > 0]


def _chunks(sizes):
    start = 0
    for n in sizes:
        yield slice(start, start + n)
        start += n


# --------------------------------------------------------------------------------------
# (a) the final state in O(N L), against the sequential recurrence (1e-12, float64)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["zoh", "bilinear", "zoh_simplified"])
def test_forward_state_diag_equals_loop(rng, method):
    Lambda, B, _, dt = _diag_system(rng)
    u = rng.normal(size=(2, H, 300))
    x0 = rng.normal(size=(2, H, N2)) + 1j * rng.normal(size=(2, H, N2))
    Ab, Bb = ss.discretize_diag(Lambda, B, dt, method)
    x = x0.copy()
    for t in range(u.shape[-1]):  # the float64 sequential reference
        x = Ab * x + Bb * u[..., t, None]
    got = ss.forward_state_diag(Lambda, B, dt, u, x0=x0, method=method)
    assert_close(got, x)
    assert_close(ss.forward_state_diag(Lambda, B, dt, u[..., :0], x0=x0, method=method), x0, kind="exact")


def test_per_mode_steps(rng):
    """``per_mode=True``: one step per mode, as in kernel_diag; the state and its output follow."""
    Lambda, B, C, _ = _diag_system(rng)
    dt = rng.uniform(0.05, 0.2, size=(H, N2))
    u = rng.normal(size=(H, 50))
    Ab, Bb = ss.discretize_diag(Lambda, B, dt, "zoh", per_mode=True)
    x = np.zeros((H, N2), complex)
    for t in range(50):
        x = Ab * x + Bb * u[:, t, None]
    assert_close(ss.forward_state_diag(Lambda, B, dt, u, per_mode=True), x)
    y = ss.state_kernel_diag(Lambda, C, dt, x, 5, per_mode=True)
    want = np.stack([2 * np.real(np.sum(C * Ab ** (k + 1) * x, axis=-1)) for k in range(5)], axis=-1)
    assert_close(y, want, kind="kernel")


@pytest.mark.parametrize("rank", [0, 1, 2, 3])
@pytest.mark.parametrize("length", [1, 2, 57, 256])
def test_forward_state_dplr_equals_loop(rng, rank, length):
    Lambda, P, B, _, dt = _dplr_system(rank=max(rank, 1))
    P = P[:, :rank]
    u = rng.normal(size=(2, H, length))
    x0 = rng.normal(size=(2, H, N2)) + 1j * rng.normal(size=(2, H, N2))
    Ab, Bb = ss.discretize_dplr(Lambda, P, B, dt, "bilinear", dense=True)
    x = np.concatenate([x0, x0.conj()], axis=-1)
    for t in range(length):  # the dense float64 sequential reference, conj-extended
        x = (Ab @ x[..., None])[..., 0] + Bb * u[..., t, None]
    got = ss.forward_state_dplr(Lambda, P, B, dt, u, x0=x0)
    assert_close(got, x[..., :N2])


def test_forward_state_dplr_hippo_size(rng):
    """S4's LegS at N = 64 over 1024 steps: still the loop's state to 1e-12."""
    rec = ss.nplr("legs", 64)
    Lambda, P, B = (np.broadcast_to(v, (2,) + v.shape) for v in (rec.Lambda, rec.P, rec.B))
    dt = np.array([0.01, 0.003])
    u = rng.normal(size=(2, 1024))
    record = ss.discretize_dplr(Lambda, P, B, dt, "bilinear")
    Ab, Bb = record.dense()
    x = np.zeros((2, 64), complex)
    for t in range(u.shape[-1]):
        x = (Ab @ x[..., None])[..., 0] + Bb * u[..., t, None]
    got = ss.forward_state_dplr(Lambda, P, B, dt, u)
    assert_close(got, x[..., :32])


# --------------------------------------------------------------------------------------
# (b) chunked == one-shot, for every view
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_causal_conv_diag_streams(seed, dtype):
    rng = np.random.default_rng(seed)
    Lambda, B, C, dt = _diag_system(rng)
    cplx = np.complex64 if dtype == "float32" else np.complex128
    Lambda, B, C = (v.astype(cplx) for v in (Lambda, B, C))
    dt = dt.astype(dtype)
    u = rng.normal(size=(2, H, L)).astype(dtype)
    K = ss.kernel_diag(Lambda, B, C, dt, L)
    want = ss.causal_conv(u, K, D=np.ones(H, dtype))
    pieces, x = [], None
    for part in _chunks(_chunking(rng, L)):
        n = part.stop - part.start
        y = ss.causal_conv(u[..., part], K[..., :n], D=np.ones(H, dtype))
        if x is not None:
            y = y + ss.state_kernel_diag(Lambda, C, dt, x, n)
        pieces.append(y)
        x = ss.forward_state_diag(Lambda, B, dt, u[..., part], x0=x)
    got = np.concatenate(pieces, axis=-1)
    assert got.dtype == np.dtype(dtype)
    assert_close(got, want, kind="views")


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernel_dplr_streams(seed, dtype):
    rng = np.random.default_rng(seed)
    Lambda, P, B, C, dt = _dplr_system()
    cplx = np.complex64 if dtype == "float32" else np.complex128
    Lambda, P, B, C = (np.ascontiguousarray(v, dtype=cplx) for v in (Lambda, P, B, C))
    dt = dt.astype(dtype)
    u = rng.normal(size=(2, H, L)).astype(dtype)
    want = ss.causal_conv(u, ss.kernel_dplr(Lambda, P, B, C, dt, L, ctilde=False))
    pieces, x = [], np.zeros((2, H, N2), cplx)
    for part in _chunks(_chunking(rng, L)):
        n = part.stop - part.start
        K, K_state = ss.kernel_dplr(Lambda, P, B, C, dt, n, x0=x, ctilde=False)
        pieces.append(ss.causal_conv(u[..., part], K) + K_state)
        x = ss.forward_state_dplr(Lambda, P, B, dt, u[..., part], x0=x)
    assert_close(np.concatenate(pieces, axis=-1), want, kind="views", dtype=dtype)


@pytest.mark.parametrize("structure", ["diag", "dplr"])
def test_recurrence_streams(rng, structure, engine):
    if structure == "diag":
        Lambda, B, C, dt = _diag_system(rng)
        Ab, Bb = ss.discretize_diag(Lambda, B, dt, "zoh")
    else:
        if engine != "xp":
            pytest.skip("recurrence runs DPLR records on the xp engine only")
        Lambda, P, B, C, dt = _dplr_system()
        Ab, Bb = ss.discretize_dplr(Lambda, P, B, dt, "bilinear"), None
    u = rng.normal(size=(2, H, L))
    want, x_want = ss.recurrence(Ab, Bb, C, u, engine=engine, return_state=True)
    pieces, x = [], None
    for part in _chunks(_chunking(rng, L)):
        y, x = ss.recurrence(Ab, Bb, C, u[..., part], x0=x, engine=engine, return_state=True)
        pieces.append(y)
    assert_close(np.concatenate(pieces, axis=-1), want, kind="views")
    assert_close(x, x_want, kind="views")


def test_linear_scan_streams(rng, engine):
    a, b = rng.uniform(0.8, 1.0, size=(4, L)), rng.normal(size=(4, L))
    want = ss.linear_scan(a, b, engine=engine)
    pieces, x = [], None
    for part in _chunks(_chunking(rng, L)):
        xs, x = ss.linear_scan(a[..., part], b[..., part], x0=x, engine=engine, return_state=True)
        pieces.append(xs)
    assert_close(np.concatenate(pieces, axis=-1), want, kind="scan")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_selective_scan_streams(rng, engine, dtype):
    u = rng.normal(size=(2, 4, L)).astype(dtype)
    delta = rng.uniform(0.05, 0.3, size=(2, 4, L)).astype(dtype)
    A = -rng.uniform(0.5, 2.0, size=(4, 6)).astype(dtype)
    B, C = rng.normal(size=(2, 2, 6, L)).astype(dtype), rng.normal(size=(2, 2, 6, L)).astype(dtype)
    want, _ = ss.selective_scan(u, delta, A, B, C, D=np.ones(4, dtype), engine=engine, return_state=True)
    pieces, x = [], None
    for part in _chunks(_chunking(rng, L)):
        y, x = ss.selective_scan(
            u[..., part], delta[..., part], A, B[..., part], C[..., part], D=np.ones(4, dtype), x0=x, engine=engine,
            return_state=True,
        )  # fmt: skip
        pieces.append(y)
    assert_close(np.concatenate(pieces, axis=-1), want, kind="views")


def test_views_switch_midstream(rng):
    """Convolution for a chunk, recurrence for the next, convolution again: one state carried throughout."""
    Lambda, B, C, dt = _diag_system(rng)
    Ab, Bb = ss.discretize_diag(Lambda, B, dt, "zoh")
    u = rng.normal(size=(H, L))
    want = ss.causal_conv(u, ss.kernel_diag(Lambda, B, C, dt, L))
    y1 = ss.causal_conv(u[:, :30], ss.kernel_diag(Lambda, B, C, dt, 30))
    x = ss.forward_state_diag(Lambda, B, dt, u[:, :30])
    y2, x = ss.recurrence(Ab, Bb, C, u[:, 30:61], x0=x, return_state=True)
    y3 = ss.causal_conv(u[:, 61:], ss.kernel_diag(Lambda, B, C, dt, L - 61)) + ss.state_kernel_diag(
        Lambda, C, dt, x, L - 61
    )
    assert_close(np.concatenate([y1, y2, y3], axis=-1), want, kind="views")


# --------------------------------------------------------------------------------------
# backends and errors
# --------------------------------------------------------------------------------------
def test_backends(backend, dtype_name, rng):
    Lambda, B, C, dt = _diag_system(rng)
    cplx = "complex64" if dtype_name == "float32" else "complex128"
    u = rng.normal(size=(2, H, 40))
    x0 = rng.normal(size=(2, H, N2)) + 0j
    on = backend.asarray
    got = ss.forward_state_diag(on(Lambda, cplx), on(B, cplx), on(dt, dtype_name), on(u, dtype_name), x0=on(x0, cplx))
    assert got.dtype == backend.dtype(cplx)
    assert_close(got, ss.forward_state_diag(Lambda, B, dt, u, x0=x0), kind="kernel", dtype=dtype_name)
    got = ss.state_kernel_diag(on(Lambda, cplx), on(C, cplx), on(dt, dtype_name), on(x0, cplx), 40)
    assert_close(got, ss.state_kernel_diag(Lambda, C, dt, x0, 40), kind="kernel", dtype=dtype_name)
    Lambda, P, B, _, dt = _dplr_system()
    got = ss.forward_state_dplr(
        on(Lambda, cplx), on(P, cplx), on(B, cplx), on(dt, dtype_name), on(u, dtype_name), x0=on(x0, cplx), engine="xp"
    )
    assert_close(got, ss.forward_state_dplr(Lambda, P, B, dt, u, x0=x0), kind="views", dtype=dtype_name)


def test_errors(rng):
    Lambda, B, C, dt = _diag_system(rng)
    u = rng.normal(size=(H, 10))
    with pytest.raises(ValueError, match="method"):
        ss.forward_state_diag(Lambda, B, dt, u, method="dss")
    with pytest.raises(ValueError, match="B"):
        ss.forward_state_diag(Lambda, B[:, :2], dt, u)
    with pytest.raises(ValueError, match="u"):
        ss.forward_state_diag(Lambda, B, dt, rng.normal(size=(4, 10)))
    with pytest.raises(ValueError, match="L"):
        ss.state_kernel_diag(Lambda, C, dt, B, 0)
    with pytest.raises(ValueError, match="x0"):
        ss.state_kernel_diag(Lambda, C, dt, B[:, :2], 5)
    Lambda, P, B, _, dt = _dplr_system()
    with pytest.raises(TypeError, match="u must be real"):
        ss.forward_state_dplr(Lambda, P, B, dt, u + 0j)
    with pytest.raises(ValueError, match="L"):
        ss.forward_state_dplr(Lambda, P, B, dt, u[:, :0])
    with pytest.raises(ValueError, match="dt"):
        ss.forward_state_dplr(Lambda, P, B, np.full((H, N2), 0.1), u)
