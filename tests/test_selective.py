"""selective_scan against an independent float64 loop of Mamba's selective_scan_ref semantics."""

from __future__ import annotations

import numpy as np
import pytest

from statespace import selective_scan
from statespace.testing import assert_close


def mamba_loop(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, x0=None):
    """Float64 sequential reference written from the semantics (mamba-minimal style), channel by channel."""
    batch, dim, L = u.shape
    N = A.shape[1]
    cplx = np.iscomplexobj(A)
    dt = delta.astype(np.float64) + (0 if delta_bias is None else delta_bias[:, None])
    if delta_softplus:
        dt = np.where(dt <= 20, np.log1p(np.exp(np.minimum(dt, 20))), dt)

    def weight(W, b, d, t):
        if W.ndim == 2:
            return W[d]
        W4 = W[:, None] if W.ndim == 3 else W
        g = d // (dim // W4.shape[1])
        col = W4[b, g, :, :]
        if cplx and not np.iscomplexobj(W):
            return col[:, 2 * t] + 1j * col[:, 2 * t + 1]
        return col[:, t]

    out = np.zeros((batch, dim, L))
    last = np.zeros((batch, dim, N), complex if cplx else float)
    for b in range(batch):
        for d in range(dim):
            x = np.zeros(N, complex) if x0 is None else x0[b, d].astype(complex)
            for t in range(L):
                x = np.exp(dt[b, d, t] * A[d]) * x + dt[b, d, t] * weight(B, b, d, t) * u[b, d, t]
                y = np.sum(x * weight(C, b, d, t))
                y = 2 * y.real if cplx else y.real
                if D is not None:
                    y += D[d] * u[b, d, t]
                if z is not None:
                    y *= z[b, d, t] / (1 + np.exp(-z[b, d, t]))
                out[b, d, t] = y
            last[b, d] = x if cplx else x.real
    return out, last


def make_case(rng, layout, cplx, batch=2, dim=4, N=3, L=9, groups=2):
    A = -rng.uniform(0.5, 1.5, (dim, N)) + (1j * rng.uniform(-2, 2, (dim, N)) if cplx else 0)
    time = 2 * L if cplx else L
    shapes = {"invariant": (dim, N), "shared": (batch, N, time), "groups": (batch, groups, N, time)}
    B, C = rng.normal(size=shapes[layout]), rng.normal(size=shapes[layout])
    if cplx and layout == "invariant":
        B, C = B + 1j * rng.normal(size=B.shape), C + 1j * rng.normal(size=C.shape)
    kw = dict(
        D=rng.normal(size=dim),
        z=rng.normal(size=(batch, dim, L)),
        delta_bias=0.5 * rng.uniform(size=dim),
        delta_softplus=True,
        x0=rng.normal(size=(batch, dim, N)) + (1j * rng.normal(size=(batch, dim, N)) if cplx else 0),
    )
    u, delta = rng.normal(size=(batch, dim, L)), rng.normal(size=(batch, dim, L))
    return (u, delta, A, B, C), kw


@pytest.mark.parametrize("layout", ["invariant", "shared", "groups"])
@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("options", ["all", "bare"])
def test_matches_float64_loop(engine, rng, layout, cplx, options, dtype_name):
    args, kw = make_case(rng, layout, cplx)
    if options == "bare":
        kw = {}
    want, want_last = mamba_loop(*args, **kw)
    cast = [
        a.astype(dtype_name) if not np.iscomplexobj(a) else a.astype(np.result_type(a.dtype, dtype_name)) for a in args
    ]
    kwc = {
        k: (v.astype(np.result_type(v.dtype, dtype_name)) if isinstance(v, np.ndarray) else v) for k, v in kw.items()
    }
    out, last = selective_scan(*cast, **kwc, return_state=True, engine=engine)
    assert out.dtype == np.dtype(dtype_name)
    assert last.shape == want_last.shape and (np.iscomplexobj(last) == cplx)
    assert_close(out, want, kind="scan", dtype=dtype_name)
    assert_close(last, want_last, kind="scan", dtype=dtype_name)


@pytest.mark.parametrize("N", [1, 5, 8, 16, 17, 40])
@pytest.mark.parametrize("L", [1, 16, 37])
@pytest.mark.parametrize("layout", ["invariant", "shared"])
def test_state_sizes_match_float64_loop(engine, rng, N, L, layout, dtype_name):
    """States from one lane to several vectors wide (the numba engine pads them to its kernel's width, and takes
    lanes across channels for the narrow ones with varying B and C), sequences shorter and longer than its groups
    of steps."""
    args, kw = make_case(rng, layout, False, batch=2, dim=8, N=N, L=L)
    want, want_last = mamba_loop(*args, **kw)
    cast = [a.astype(dtype_name) for a in args]
    kwc = {k: (v.astype(dtype_name) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    out, last = selective_scan(*cast, **kwc, return_state=True, engine=engine)
    assert out.shape == want.shape and last.shape == want_last.shape
    assert_close(out, want, kind="scan", dtype=dtype_name)
    assert_close(last, want_last, kind="scan", dtype=dtype_name)


@pytest.mark.numba
def test_engines_agree_float64(rng):
    args, kw = make_case(rng, "groups", True, batch=2, dim=8, N=5, L=40, groups=4)
    a = selective_scan(*args, **kw, return_state=True, engine="xp")
    b = selective_scan(*args, **kw, return_state=True, engine="numba")
    assert_close(b[0], a[0], kind="scan", dtype="float64")
    assert_close(b[1], a[1], kind="scan", dtype="float64")


def test_half_precision_is_refused_naming_the_argument(rng):
    """The one dtype rule (#14): float16 is refused by every function and engine, with the cast to write."""
    args, _kw = make_case(rng, "shared", False)
    for engine in ("xp", "numba"):
        with pytest.raises(TypeError, match=r"u has dtype float16.*xp.astype\(u, xp.float32\)"):
            selective_scan(*(a.astype(np.float16) for a in args[:2]), *args[2:], engine=engine)


def test_large_delta_skips_softplus(rng):
    args, _ = make_case(rng, "shared", False, L=4)
    u, delta, A, B, C = args
    delta = np.full_like(delta, 25.0)
    want, _ = mamba_loop(u, delta, A, B, C, delta_softplus=True)
    assert_close(selective_scan(u, delta, A, B, C, delta_softplus=True), want, kind="scan")


def test_backends(backend, rng):
    args, kw = make_case(rng, "groups", True)
    want, want_last = mamba_loop(*args, **kw)
    xa = [backend.asarray(a) for a in args]
    kwa = {k: (backend.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    out, last = selective_scan(*xa, **kwa, return_state=True)
    if backend.device is not None:
        assert out.device == backend.device
    assert_close(out, want, kind="scan")
    assert_close(last, want_last, kind="scan")


def test_errors(rng):
    args, _ = make_case(rng, "shared", False)
    u, delta, A, B, C = args
    with pytest.raises(ValueError, match="Mamba's layouts"):
        selective_scan(u, delta, A, B[None, None], C)
    with pytest.raises(ValueError, match="A's shape"):
        selective_scan(u, delta, A, B[0, :, :2], C)
    with pytest.raises(ValueError, match="divisible by B's group count G = 3"):
        selective_scan(u, delta, A, np.ones((2, 3, 3, 9)), C)
    with pytest.raises(ValueError, match="L = 9 time steps"):
        selective_scan(u, delta, A, B[..., :5], C)
    with pytest.raises(ValueError, match="2L = 18"):
        selective_scan(u, delta, A + 1j, B, C)
    with pytest.raises(ValueError, match="delta must have shape"):
        selective_scan(u, delta[..., :3], A, B, C)
    with pytest.raises(ValueError, match="x0 must have shape"):
        selective_scan(u, delta, A, B, C, x0=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="u must be"):
        selective_scan(u[0], delta, A, B, C)
    with pytest.raises(ValueError, match="A must be"):
        selective_scan(u, delta, A[:2], B, C)
    with pytest.raises(TypeError, match="B is complex but A is real"):
        selective_scan(u, delta, A, B + 0j, C)
    with pytest.raises(ValueError, match="z must have shape"):
        selective_scan(u, delta, A, B, C, z=u[:1])
