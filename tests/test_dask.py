"""Dask arrays through the hot functions: lazy results equal to the in-memory computation.

Chunked batch and chunked time, real and complex, with initial states, on the synchronous
scheduler and on a two-process ``dask.distributed.LocalCluster`` (loopback only); the
reference is the same public function on the whole NumPy arrays, plus a float64 loop for
the carried state of the scan.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("dask.distributed")

import statespace as ss  # noqa: E402
from statespace.testing import assert_close  # noqa: E402


def sync(*arrays):
    """Compute on the synchronous scheduler (explicitly: a module client must not take over)."""
    out = dask.compute(*arrays, scheduler="synchronous")
    return out[0] if len(out) == 1 else out


def _fail_compute(*args, **kwargs):
    raise AssertionError("the library computed a Dask array while building the graph")


@pytest.fixture
def no_compute():
    """Any compute while the graph is built is an error."""
    with dask.config.set(scheduler=_fail_compute):
        yield


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():  # the scheduler's HTTP port (on 127.0.0.1) moves if another cluster holds it
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        cluster = distributed.LocalCluster(
            processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        )
    with distributed.Client(cluster, set_as_default=False) as c:
        yield c
    cluster.close()


def _scan_data(rng, complex_, shape=(6, 97)):
    a = rng.uniform(0.7, 1.0, size=shape)
    b = rng.normal(size=shape)
    x0 = rng.normal(size=shape[:-1])
    if complex_:
        a = a * np.exp(1j * rng.uniform(-0.5, 0.5, size=shape))
        b = b + 1j * rng.normal(size=shape)
        x0 = x0 + 1j * rng.normal(size=shape[:-1])
    return a, b, x0


def _scan_loop(a, b, x0):
    x, out = x0.astype(np.result_type(a, b, x0)), np.empty(np.broadcast_shapes(a.shape, b.shape), np.result_type(a, b))
    for t in range(out.shape[-1]):
        x = a[..., t] * x + b[..., t]
        out[..., t] = x
    return out


# --------------------------------------------------------------------------------------
# linear_scan
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("chunks", [(2, -1), (-1, 20), (3, 25)], ids=["batch", "time", "both"])
def test_linear_scan_chunks_match_in_memory(rng, complex_, chunks, no_compute):
    a, b, x0 = _scan_data(rng, complex_)
    x, last = ss.linear_scan(da.from_array(a, chunks=chunks), da.from_array(b, chunks=chunks), x0=x0, return_state=True)
    assert isinstance(x, da.Array) and isinstance(last, da.Array)
    assert x.chunks[:-1] == da.from_array(a, chunks=chunks).chunks[:-1]
    with dask.config.set(scheduler="synchronous"):
        x, last = dask.compute(x, last)
    ref = _scan_loop(a, b, x0)
    assert_close(x, ss.linear_scan(a, b, x0=x0), kind="scan")
    assert_close(x, ref, kind="scan")
    assert_close(last, ref[..., -1], kind="scan")


@pytest.mark.parametrize("reverse", [False, True])
def test_linear_scan_time_invariant_gate_reverse_and_axis(rng, reverse):
    a, b, x0 = _scan_data(rng, True, shape=(5, 80))
    gate = a[:, :1]
    x = ss.linear_scan(gate, da.from_array(b, chunks=(2, 30)), x0=x0, reverse=reverse)
    assert_close(sync(x), ss.linear_scan(gate, b, x0=x0, reverse=reverse), kind="scan")
    # time on axis 0, chunked
    xt, lt = ss.linear_scan(da.from_array(a.T, chunks=(17, 5)), b.T, x0=x0, axis=0, reverse=reverse, return_state=True)
    ref, ref_last = ss.linear_scan(a.T, b.T, x0=x0, axis=0, reverse=reverse, return_state=True)
    assert_close(sync(xt), ref, kind="scan")
    assert_close(sync(lt), ref_last, kind="scan")


def test_linear_scan_time_chunks_signed_and_zero_gates(rng):
    # the chunk decay is formed from logarithms: negative gates flip its sign, a zero gate zeroes it
    a = rng.uniform(-1.05, 1.05, size=(4, 90))
    a[1, 40] = 0.0
    b = rng.normal(size=(4, 90))
    x0 = rng.normal(size=4)
    x, last = ss.linear_scan(da.from_array(a, chunks=(2, 15)), b, x0=x0, return_state=True)
    ref = _scan_loop(a, b, x0)
    x, last = sync(x, last)
    assert_close(x, ref, kind="scan")
    assert_close(last, ref[..., -1], kind="scan")


def test_linear_scan_float32_stays_float32(rng):
    a, b, x0 = (v.astype(np.float32) for v in _scan_data(rng, False))
    x = ss.linear_scan(da.from_array(a, chunks=(3, 40)), da.from_array(b, chunks=(3, 40)), x0=x0)
    assert x.dtype == np.float32
    assert_close(sync(x), ss.linear_scan(a, b, x0=x0), kind="scan")


def test_linear_scan_xp_engine_on_blocks(rng):
    a, b, x0 = _scan_data(rng, False)
    x = ss.linear_scan(da.from_array(a, chunks=(3, 30)), b, x0=x0, engine="xp")
    assert_close(sync(x), _scan_loop(a, b, x0), kind="scan")


def test_linear_scan_errors():
    a = da.ones((4, 10), chunks=(2, 5))
    with pytest.raises(ValueError, match="a and b must broadcast"):
        ss.linear_scan(a, da.ones((3, 10)))
    with pytest.raises(ValueError, match="x0 must broadcast to the state shape"):
        ss.linear_scan(a, a, x0=np.ones(3))
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        ss.linear_scan(a, a, axis=2)
    with pytest.raises(ValueError, match="engine"):
        ss.linear_scan(a, a, engine="nope")


# --------------------------------------------------------------------------------------
# causal_conv
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("taps", [7, 120, 200], ids=["short", "as-long", "longer"])
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_causal_conv_overlap_add_matches_in_memory(rng, taps, complex_, no_compute):
    u = rng.normal(size=(3, 4, 120))
    K = rng.normal(size=(4, taps))
    if complex_:
        K = K + 1j * rng.normal(size=K.shape)
    D = rng.normal(size=4)
    y = ss.causal_conv(da.from_array(u, chunks=(2, 2, 32)), da.from_array(K, chunks=(3, 50)), D=D)
    assert y.chunks[-1] == (32, 32, 32, 24) and y.dtype == ss.causal_conv(u[..., :1], K[..., :1]).dtype
    assert_close(sync(y), ss.causal_conv(u, K, D=D), kind="kernel")


def test_causal_conv_batch_chunks_and_axis(rng):
    u = rng.normal(size=(50, 6))
    K = rng.normal(size=(50, 1))
    y = ss.causal_conv(da.from_array(u, chunks=(50, 2)), K, D=2.0, axis=0)
    assert_close(sync(y), ss.causal_conv(u, K, D=2.0, axis=0), kind="kernel")


def test_causal_conv_errors():
    u = da.ones((4, 10), chunks=(2, 5))
    with pytest.raises(ValueError, match="do not broadcast"):
        ss.causal_conv(u, np.ones((3, 4)))
    with pytest.raises(ValueError, match="D must broadcast"):
        ss.causal_conv(u, np.ones(3), D=np.ones(5))
    with pytest.raises(ValueError, match="time axis"):
        ss.causal_conv(u, da.ones(()))


# --------------------------------------------------------------------------------------
# recurrence (diagonal)
# --------------------------------------------------------------------------------------
def _diag_system(rng, H=5, N2=4):
    Ab = rng.uniform(0.8, 0.97, size=(H, N2)) * np.exp(1j * rng.uniform(0, 1, size=(H, N2)))
    Bb = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    C = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    return Ab, Bb, C


@pytest.mark.parametrize("conj", [True, False])
@pytest.mark.parametrize("chunks", [(1, 2, -1), (-1, -1, 25), (1, 3, 30)], ids=["batch", "time", "both"])
def test_recurrence_diag_matches_in_memory(rng, conj, chunks, no_compute):
    Ab, Bb, C = _diag_system(rng)
    u = rng.normal(size=(2, 5, 90))
    x0 = rng.normal(size=(2, 5, 4)) + 1j * rng.normal(size=(2, 5, 4))
    y, state = ss.recurrence(
        da.from_array(Ab, chunks=(2, -1)),
        Bb,
        C,
        da.from_array(u, chunks=chunks),
        D=0.5,
        x0=x0,
        conj=conj,
        return_state=True,
    )
    ref, ref_state = ss.recurrence(Ab, Bb, C, u, D=0.5, x0=x0, conj=conj, return_state=True)
    assert y.dtype == ref.dtype
    y, state = sync(y, state)
    assert_close(y, ref, kind="scan")
    assert_close(state, ref_state, kind="scan")


def test_recurrence_diag_complex_input_and_mode_chunk_error(rng):
    Ab, Bb, C = _diag_system(rng)
    u = rng.normal(size=(5, 60)) + 1j * rng.normal(size=(5, 60))
    y = ss.recurrence(Ab, Bb, C, da.from_array(u, chunks=(2, 25)))
    assert_close(sync(y), ss.recurrence(Ab, Bb, C, u), kind="scan")
    with pytest.raises(ValueError, match=r"mode axis N2.*Ab.rechunk\(\{-1: -1\}\)"):
        ss.recurrence(da.from_array(Ab, chunks=(5, 2)), Bb, C, u.real)
    with pytest.raises(ValueError, match="x0 must broadcast"):
        ss.recurrence(Ab, Bb, C, da.from_array(u.real), x0=np.ones((3, 4)))


# --------------------------------------------------------------------------------------
# selective_scan
# --------------------------------------------------------------------------------------
def _selective_data(rng, complex_, batch=2, dim=4, N=3, L=64):
    u = rng.normal(size=(batch, dim, L))
    delta = rng.uniform(-1.0, 1.0, size=(batch, dim, L))
    A = -rng.uniform(0.5, 1.0, size=(dim, N))
    B = rng.normal(size=(batch, 2, N, L))  # two groups
    C = rng.normal(size=(batch, N, L))
    x0 = rng.normal(size=(batch, dim, N))
    if complex_:
        A = A + 1j * rng.normal(size=A.shape)
        B = rng.normal(size=(batch, 2, N, 2 * L))  # Mamba's interleaved (re, im) layout
        C = C + 1j * rng.normal(size=C.shape)
        x0 = x0 + 1j * rng.normal(size=x0.shape)
    extra = dict(D=rng.normal(size=dim), z=rng.normal(size=(batch, dim, L)), delta_bias=rng.normal(size=dim))
    return (u, delta, A, B, C), x0, extra


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("time_chunk", [-1, 20], ids=["batch", "time"])
def test_selective_scan_matches_in_memory(rng, complex_, time_chunk, no_compute):
    (u, delta, A, B, C), x0, extra = _selective_data(rng, complex_)
    lazy = [da.from_array(v, chunks=(1, -1, time_chunk)) for v in (u, delta)]
    Cd = da.from_array(C, chunks=(1, -1, 16))
    out, last = ss.selective_scan(*lazy, A, B, Cd, **extra, delta_softplus=True, x0=x0, return_state=True)
    ref, ref_last = ss.selective_scan(u, delta, A, B, C, **extra, delta_softplus=True, x0=x0, return_state=True)
    assert out.dtype == ref.dtype and last.dtype == ref_last.dtype
    out, last = sync(out, last)
    assert_close(out, ref, kind="scan")
    assert_close(last, ref_last, kind="scan")


def test_selective_scan_channel_chunks_one_group(rng):
    (u, delta, A, _, C), x0, _ = _selective_data(rng, False)
    B = rng.normal(size=(2, 3, 64))
    out = ss.selective_scan(da.from_array(u, chunks=(2, 2, 32)), delta, A, B, C, x0=x0)
    assert_close(sync(out), ss.selective_scan(u, delta, A, B, C, x0=x0), kind="scan")


def test_selective_scan_chunk_errors(rng):
    (u, delta, A, B, C), _, _ = _selective_data(rng, False)
    with pytest.raises(ValueError, match=r"state axis N.*A.rechunk\(\{-1: -1\}\)"):
        ss.selective_scan(u, delta, da.from_array(A, chunks=(4, 2)), B, C)
    with pytest.raises(ValueError, match=r"state axis N.*C.rechunk\(\{-2: -1\}\)"):
        ss.selective_scan(u, delta, A, B, da.from_array(C, chunks=(2, 1, 64)))
    with pytest.raises(ValueError, match=r"channel axis D, with G > 1 groups.*u.rechunk\(\{1: -1\}\)"):
        ss.selective_scan(da.from_array(u, chunks=(2, 2, 64)), delta, A, B, C)
    with pytest.raises(ValueError, match="u must be"):
        ss.selective_scan(da.ones((2, 4)), delta, A, B, C)
    with pytest.raises(ValueError, match="delta must have shape"):
        ss.selective_scan(da.from_array(u), delta[..., :10], A, B, C)
    with pytest.raises(ValueError, match=r"x0 must have shape \(2, 4, 3\)"):
        ss.selective_scan(da.from_array(u), delta, A, B, C, x0=np.ones((2, 4, 2)))


# --------------------------------------------------------------------------------------
# kernels and Cauchy sums over a chunked batch
# --------------------------------------------------------------------------------------
def _modal(rng, H=6, N2=4):
    Lambda = -rng.uniform(0.1, 1.0, size=(H, N2)) + 1j * rng.uniform(0, 5, size=(H, N2))
    B = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    C = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    return Lambda, B, C


@pytest.mark.parametrize("per_mode", [False, True])
def test_kernel_diag_chunked_batch(rng, per_mode, no_compute):
    Lambda, B, C = _modal(rng)
    dt = rng.uniform(0.01, 0.1, size=(6, 4) if per_mode else 6)
    K = ss.kernel_diag(da.from_array(Lambda, chunks=(2, -1)), B, C, da.from_array(dt), 40, per_mode=per_mode)
    assert K.chunks == ((2, 2, 2), (40,))
    assert_close(sync(K), ss.kernel_diag(Lambda, B, C, dt, 40, per_mode=per_mode), kind="kernel")


def test_kernel_dplr_chunked_batch_with_state(rng):
    Lambda, B, C = _modal(rng)
    P = 0.3 * (rng.normal(size=(6, 1, 4)) + 1j * rng.normal(size=(6, 1, 4)))
    x0 = rng.normal(size=(6, 4)) + 1j * rng.normal(size=(6, 4))
    K, K_state = ss.kernel_dplr(da.from_array(Lambda, chunks=(4, -1)), P, B, C, 0.05, 32, x0=x0)
    ref, ref_state = ss.kernel_dplr(Lambda, P, B, C, 0.05, 32, x0=x0)
    K, K_state = sync(K, K_state)
    assert_close(K, ref, kind="kernel")
    assert_close(K_state, ref_state, kind="kernel")
    assert_close(sync(ss.kernel_dplr(Lambda, da.from_array(P, chunks=(3, 1, 4)), B, C, 0.05, 32)), ref, kind="kernel")


def test_cauchy_chunked_batch_and_nodes(rng):
    Lambda, B, _ = _modal(rng)
    z = np.exp(1j * rng.uniform(0, 6, size=(6, 50)))
    out = ss.cauchy(da.from_array(B, chunks=(3, -1)), da.from_array(z, chunks=(2, 20)), Lambda)
    assert out.chunks[-1] == (20, 20, 10)
    assert_close(sync(out), ss.cauchy(B, z, Lambda), kind="kernel")


def test_kernel_mode_axis_chunk_errors(rng):
    Lambda, B, C = _modal(rng)
    with pytest.raises(ValueError, match=r"Lambda is split into 2 chunks along axis 1 \(the mode axis N2\)"):
        ss.kernel_diag(da.from_array(Lambda, chunks=(6, 2)), B, C, 0.1, 8)
    with pytest.raises(ValueError, match=r"P.rechunk\(\{-2: -1\}\)"):
        ss.kernel_dplr(Lambda, da.ones((6, 2, 4), chunks=(6, 1, 4)), B, C, 0.1, 8)
    with pytest.raises(ValueError, match=r"w.rechunk\(\{-1: -1\}\)"):
        ss.cauchy(B, np.ones((6, 3), complex), da.from_array(Lambda, chunks=(3, 2)))
    with pytest.raises(ValueError, match="method"):
        ss.kernel_diag(da.from_array(Lambda), B, C, 0.1, 8, method="nope")
    with pytest.raises(ValueError, match="engine"):
        ss.cauchy(da.from_array(B), np.ones((6, 3), complex), Lambda, engine="nope")


# --------------------------------------------------------------------------------------
# on a two-process LocalCluster
# --------------------------------------------------------------------------------------
def test_on_local_cluster(client, rng):
    a, b, x0 = _scan_data(rng, True, shape=(6, 200))
    x, last = ss.linear_scan(
        da.from_array(a, chunks=(3, 50)), da.from_array(b, chunks=(3, 50)), x0=x0, return_state=True
    )
    (u, delta, A, B, C), sx0, extra = _selective_data(rng, True)
    out, state = ss.selective_scan(
        da.from_array(u, chunks=(1, -1, 16)), delta, A, B, C, **extra, x0=sx0, return_state=True
    )
    uc = rng.normal(size=(4, 150))
    K = rng.normal(size=(4, 150))
    y = ss.causal_conv(da.from_array(uc, chunks=(2, 40)), K)
    x, last, out, state, y = client.gather(client.compute([x, last, out, state, y]))
    ref = _scan_loop(a, b, x0)
    assert_close(x, ref, kind="scan")
    assert_close(last, ref[..., -1], kind="scan")
    ref_out, ref_state = ss.selective_scan(u, delta, A, B, C, **extra, x0=sx0, return_state=True)
    assert_close(out, ref_out, kind="scan")
    assert_close(state, ref_state, kind="scan")
    assert_close(y, ss.causal_conv(uc, K), kind="kernel")
