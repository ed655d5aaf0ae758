"""SSD (Mamba-2's chunked scan) against the selective scan and a NumPy port of ``ssd_minimal_discrete``."""

from __future__ import annotations

import numpy as np
import pytest

import statespace
from statespace import selective_scan, ssd
from statespace.testing import assert_close


def _problem(rng, batch=2, heads=4, headdim=3, nstate=5, groups=2, length=37, dtype=np.float64):
    x = rng.normal(size=(batch, heads, headdim, length))
    dt = rng.normal(size=(batch, heads, length)) - 1.0
    A = -np.exp(rng.uniform(size=heads))
    B = rng.normal(size=(batch, groups, nstate, length))
    C = rng.normal(size=(batch, groups, nstate, length))
    return [v.astype(dtype) for v in (x, dt, A, B, C)]


def _as_selective(x, dt, A, B, C, D=None, z=None, dt_bias=None, h0=None, **kw):
    """The same problem as H·P channels of :func:`selective_scan` with ``A[(h, p), n] = A[h]``."""
    batch, heads, headdim, length = x.shape
    nstate = B.shape[2]
    chan = heads * headdim
    rep = lambda v: None if v is None else np.repeat(v, headdim, axis=0)  # noqa: E731
    if D is not None and D.ndim == 2:
        D_ch = D.reshape(chan)
    else:
        D_ch = rep(D)
    return selective_scan(
        x.reshape(batch, chan, length),
        np.repeat(dt, headdim, axis=1),
        np.repeat(A, headdim)[:, None] * np.ones((1, nstate), A.dtype),
        B,
        C,
        D=D_ch,
        z=None if z is None else z.reshape(batch, chan, length),
        delta_bias=rep(dt_bias),
        x0=None if h0 is None else h0.reshape(batch, chan, nstate),
        return_state=True,
        engine="xp",
        **kw,
    )


# --------------------------------------------------------------------------------------
# SSD == selective_scan with a scalar A per head
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [1, 4, 8, 37, 64])
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_equals_selective_scan_float64(rng, chunk, groups):
    x, dt, A, B, C = _problem(rng, groups=groups)
    D, z, bias = rng.normal(size=(4, 3)), rng.normal(size=x.shape), rng.normal(size=4)
    h0 = rng.normal(size=(2, 4, 3, 5))
    y, h = ssd(
        x, dt, A, B, C, D=D, z=z, dt_bias=bias, dt_softplus=True, chunk_size=chunk, initial_states=h0, return_state=True
    )
    y_ref, h_ref = _as_selective(x, dt, A, B, C, D=D, z=z, dt_bias=bias, h0=h0, delta_softplus=True)
    assert y.dtype == np.float64 and h.shape == (2, 4, 3, 5)
    assert_close(y.reshape(y_ref.shape), y_ref, kind="views")
    assert_close(h.reshape(h_ref.shape), h_ref, kind="views")


def test_equals_selective_scan_float32(rng):
    """Mamba-2's sizes in miniature, float32: within the views tolerance of a float64 selective scan."""
    x, dt, A, B, C = _problem(rng, batch=1, heads=4, headdim=8, nstate=16, groups=1, length=300)
    D = rng.normal(size=4)
    y = ssd(*(v.astype(np.float32) for v in (x, dt, A, B, C)), D=D.astype(np.float32), dt_softplus=True, chunk_size=64)
    y_ref, _ = _as_selective(x, dt, A, B, C, D=D, delta_softplus=True)
    assert y.dtype == np.float32
    assert_close(y.reshape(y_ref.shape), y_ref, kind="views", dtype=np.float32)


@pytest.mark.parametrize("scale", [0.01, 5.0])
def test_factored_and_direct_decays(rng, scale):
    """Weak in-chunk decay takes the factored e^{s_l} e^{-s_s} form, strong decay the masked exp: both exact."""
    import array_api_compat.numpy as xpn

    from statespace._ssd import _factorable

    x, dt, A, B, C = _problem(rng, length=128)
    dt = np.abs(dt) * scale
    cum = np.cumsum((dt * A[:, None]).reshape(2, 4, 2, 64), axis=-1)
    assert _factorable(xpn, cum, np.float64) == (scale < 1)
    y, h = ssd(x, dt, A, B, C, chunk_size=64, return_state=True)
    y_ref, h_ref = _as_selective(x, dt, A, B, C)
    assert_close(y.reshape(y_ref.shape), y_ref, kind="views")
    assert_close(h.reshape(h_ref.shape), h_ref, kind="views")


def test_broadcast_batch_of_B_C_and_defaults(rng):
    x, dt, A, B, C = _problem(rng, groups=1)
    y = ssd(x, dt, A, B[:1], C[:1], chunk_size=8)
    y_ref, _ = _as_selective(x, dt, A, np.broadcast_to(B[:1], B.shape), np.broadcast_to(C[:1], C.shape))
    assert_close(y.reshape(y_ref.shape), y_ref, kind="views")


def test_empty_sequence_returns_initial_state(rng):
    x, dt, A, B, C = _problem(rng, length=0)
    h0 = rng.normal(size=(2, 4, 3, 5))
    y, h = ssd(x, dt, A, B, C, initial_states=h0, return_state=True)
    assert y.shape == x.shape
    np.testing.assert_array_equal(h, h0)
    _, h = ssd(x, dt, A, B, C, return_state=True)
    np.testing.assert_array_equal(h, np.zeros((2, 4, 3, 5)))


# --------------------------------------------------------------------------------------
# seq_idx: packed sequences equal each sequence run alone
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [1, 5, 16, 64])
def test_seq_idx_equals_separate_runs(rng, chunk):
    lengths = [7, 1, 12, 0, 17]
    length = sum(lengths)
    x, dt, A, B, C = _problem(rng, length=length)
    h0 = rng.normal(size=(2, 4, 3, 5))
    ids = np.repeat(np.arange(len(lengths)) * 3 + 2, lengths)  # any integers, changing at boundaries
    seq_idx = np.broadcast_to(ids, (2, length)).astype(np.int32)
    y, h = ssd(x, dt, A, B, C, chunk_size=chunk, initial_states=h0, seq_idx=seq_idx, return_state=True)
    start = 0
    for i, n in enumerate(lengths):
        part = slice(start, start + n)
        yi, hi = ssd(
            x[..., part], dt[..., part], A, B[..., part], C[..., part], initial_states=h0 if i == 0 else None,
            chunk_size=chunk, return_state=True,
        )  # fmt: skip
        if n:
            assert_close(y[..., part], yi, kind="views")
        start += n
    assert_close(h, hi, kind="views")


# --------------------------------------------------------------------------------------
# a NumPy port of ssd_minimal_discrete (Dao & Gu 2024, Listing 1; state-spaces/mamba)
# --------------------------------------------------------------------------------------
def _segsum(x):
    """The stable segment sum: ``out[..., i, j] = x[j+1] + ... + x[i]`` for ``j <= i``, −inf above."""
    T = x.shape[-1]
    xx = np.repeat(x[..., None], T, axis=-1)  # "... d -> ... d e"
    xx = np.where(np.tril(np.ones((T, T), bool), -1), xx, 0)
    out = np.cumsum(xx, axis=-2)
    return np.where(np.tril(np.ones((T, T), bool), 0), out, -np.inf)


def _ssd_minimal_discrete(X, A, B, C, block_len, initial_states=None):
    """X (b, l, h, p), A (b, l, h), B/C (b, l, h, n) in Mamba-2's layout; returns Y and the final state (b, h, p, n)."""
    b, length, h, p = X.shape
    c = length // block_len

    def chunks(v):
        return v.reshape((b, c, block_len) + v.shape[2:])

    X, A, B, C = chunks(X), chunks(A), chunks(B), chunks(C)
    A = np.moveaxis(A, -1, 1)  # b h c l
    A_cumsum = np.cumsum(A, axis=-1)
    L = np.exp(_segsum(A))
    Y_diag = np.einsum("bclhn,bcshn,bhcls,bcshp->bclhp", C, B, L, X)
    decay_states = np.exp(A_cumsum[:, :, :, -1:] - A_cumsum)
    states = np.einsum("bclhn,bhcl,bclhp->bchpn", B, decay_states, X)
    if initial_states is None:
        initial_states = np.zeros_like(states[:, :1])
    states = np.concatenate([initial_states, states], axis=1)
    decay_chunk = np.exp(_segsum(np.pad(A_cumsum[:, :, :, -1], ((0, 0), (0, 0), (1, 0)))))
    new_states = np.einsum("bhzc,bchpn->bzhpn", decay_chunk, states)
    states, final_state = new_states[:, :-1], new_states[:, -1]
    Y_off = np.einsum("bclhn,bchpn,bhcl->bclhp", C, states, np.exp(A_cumsum))
    return (Y_diag + Y_off).reshape(b, length, h, p), final_state


def _minimal(x, dt, A, B, C, block, h0=None):
    """Call the port with this package's time-last operands, padding L to a multiple of the block."""
    heads = x.shape[1]
    length = x.shape[-1]
    pad = -length % block
    per = heads // B.shape[1]
    X = np.moveaxis(x * dt[:, :, None, :], -1, 1)
    Ad = np.moveaxis(dt * A[:, None], -1, 1)
    Bh, Ch = (np.moveaxis(np.repeat(w, per, axis=1), -1, 1) for w in (B, C))
    X, Ad, Bh, Ch = (np.pad(v, [(0, 0), (0, pad)] + [(0, 0)] * (v.ndim - 2)) for v in (X, Ad, Bh, Ch))
    Y, final = _ssd_minimal_discrete(X, Ad, Bh, Ch, block, None if h0 is None else h0[:, None])
    return np.moveaxis(Y, 1, -1)[..., :length], final


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("with_state", [False, True])
def test_equals_ssd_minimal_discrete(rng, groups, with_state):
    x, dt, A, B, C = _problem(rng, groups=groups, length=40)
    h0 = rng.normal(size=(2, 4, 3, 5)) if with_state else None
    y, h = ssd(x, dt, A, B, C, chunk_size=8, initial_states=h0, return_state=True)
    y_ref, h_ref = _minimal(x, dt, A, B, C, 8, h0)
    assert_close(y, y_ref, kind="views")
    assert_close(h, h_ref, kind="views")


def test_seq_idx_equals_ssd_minimal_discrete_per_sequence(rng):
    """Packed rows through ``seq_idx`` against the reference run on each sequence, the first from ``h0``."""
    lengths = [9, 1, 14, 16]
    x, dt, A, B, C = _problem(rng, length=sum(lengths))
    h0 = rng.normal(size=(2, 4, 3, 5))
    seq_idx = np.broadcast_to(np.repeat(np.arange(4), lengths), (2, sum(lengths)))
    y, h = ssd(x, dt, A, B, C, chunk_size=8, initial_states=h0, seq_idx=seq_idx, return_state=True)
    start = 0
    for i, n in enumerate(lengths):
        part = slice(start, start + n)
        y_ref, h_ref = _minimal(x[..., part], dt[..., part], A, B[..., part], C[..., part], 4, h0 if i == 0 else None)
        assert_close(y[..., part], y_ref, kind="views")
        start += n
    assert_close(h, h_ref, kind="views")


# --------------------------------------------------------------------------------------
# backends and errors
# --------------------------------------------------------------------------------------
def test_backends(backend, dtype_name, rng):
    x, dt, A, B, C = _problem(rng)
    seq_idx = np.broadcast_to(np.repeat([0, 1], [20, 17]), (2, 37)).astype(np.int64)
    h0 = rng.normal(size=(2, 4, 3, 5))
    want_y, want_h = ssd(x, dt, A, B, C, D=np.ones(4), initial_states=h0, seq_idx=seq_idx, chunk_size=8,
                         return_state=True)  # fmt: skip
    args = [backend.asarray(v, dtype_name) for v in (x, dt, A, B, C)]
    y, h = ssd(
        *args,
        D=backend.asarray(np.ones(4), dtype_name),
        initial_states=backend.asarray(h0, dtype_name),
        seq_idx=backend.asarray(seq_idx),
        chunk_size=8,
        return_state=True,
    )
    assert y.dtype == backend.dtype(dtype_name)
    assert_close(y, want_y, kind="views", dtype=dtype_name)
    assert_close(h, want_h, kind="views", dtype=dtype_name)


def test_errors(rng):
    x, dt, A, B, C = _problem(rng)
    with pytest.raises(ValueError, match="x must be"):
        ssd(x[0], dt, A, B, C)
    with pytest.raises(ValueError, match="dt must have shape"):
        ssd(x, dt[..., 1:], A, B, C)
    with pytest.raises(ValueError, match="A must have shape"):
        ssd(x, dt, A[:2], B, C)
    with pytest.raises(ValueError, match="B must be"):
        ssd(x, dt, A, B[..., 1:], C)
    with pytest.raises(ValueError, match="C must have B's groups"):
        ssd(x, dt, A, B, C[:, :1])
    with pytest.raises(ValueError, match="divisible by the group count"):
        ssd(x, dt, A, B[:, :1].repeat(3, axis=1), C[:, :1].repeat(3, axis=1))
    with pytest.raises(ValueError, match="chunk_size"):
        ssd(x, dt, A, B, C, chunk_size=0)
    with pytest.raises(TypeError, match="seq_idx must hold integers"):
        ssd(x, dt, A, B, C, seq_idx=np.zeros((2, 37)))
    with pytest.raises(ValueError, match="seq_idx must have shape"):
        ssd(x, dt, A, B, C, seq_idx=np.zeros((2, 36), int))
    with pytest.raises(TypeError, match="x must be real"):
        ssd(x + 0j, dt, A, B, C)
    with pytest.raises(ValueError, match="initial_states must have shape"):
        ssd(x, dt, A, B, C, initial_states=np.zeros((2, 4, 5, 3)))
    with pytest.raises(ValueError, match="D must have shape"):
        ssd(x, dt, A, B, C, D=np.ones(3))
    with pytest.raises(ValueError, match="no 'numba' engine"):
        ssd(x, dt, A, B, C, engine="numba")


def test_public():
    assert statespace.ssd is ssd
