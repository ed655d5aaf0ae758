"""Packed variable-length sequences: packed results equal each sequence run alone."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import statespace as ss
from statespace.testing import assert_close

lengths_strategy = st.lists(st.integers(0, 7), min_size=1, max_size=5).filter(lambda v: sum(v) > 0)


def _bounds(lengths):
    return [0, *np.cumsum(lengths).tolist()]


def _pieces(lengths):
    b = _bounds(lengths)
    return [slice(t0, t1) for t0, t1 in itertools.pairwise(b)]


def _seq_idx_rows(rng, rows, length):
    """A different packing per row: random boundaries, ids that change at each (any integers)."""
    ids = np.zeros((rows, length), np.int64)
    for r in range(rows):
        cuts = rng.uniform(size=length) < 0.2
        ids[r] = np.cumsum(cuts) * 7 - 3
    return ids


def _segments(row_ids):
    """(start, stop) of each run of equal ids in one row."""
    change = np.flatnonzero(np.diff(row_ids)) + 1
    edges = [0, *change.tolist(), len(row_ids)]
    return list(itertools.pairwise(edges))


# --------------------------------------------------------------------------------------
# linear_scan
# --------------------------------------------------------------------------------------
def _check_linear_scan(rng, lengths, engine):
    length, count = sum(lengths), len(lengths)
    a, b = rng.uniform(0.5, 1.0, size=(3, length)), rng.normal(size=(3, length))
    x0 = rng.normal(size=(count, 3))
    x, last = ss.linear_scan(a, b, x0=x0, cu_seqlens=_bounds(lengths), return_state=True, engine=engine)
    assert last.shape == (count, 3)
    for s, part in enumerate(_pieces(lengths)):
        want, want_last = ss.linear_scan(a[:, part], b[:, part], x0=x0[s], return_state=True, engine=engine)
        assert_close(x[:, part], want, kind="scan")
        assert_close(last[s], want_last, kind="scan")


@given(lengths=lengths_strategy)
def test_linear_scan_cu_seqlens_property(engine, lengths):
    _check_linear_scan(np.random.default_rng(len(lengths)), lengths, engine)


def test_linear_scan_seq_idx_per_row(rng, engine):
    a, b = rng.uniform(0.5, 1.0, size=(4, 60)), rng.normal(size=(4, 60))
    ids = _seq_idx_rows(rng, 4, 60)
    x0 = rng.normal(size=4)
    x, last = ss.linear_scan(a, b, x0=x0, seq_idx=ids, return_state=True, engine=engine)
    for r in range(4):
        for k, (t0, t1) in enumerate(_segments(ids[r])):
            want = ss.linear_scan(a[r, t0:t1], b[r, t0:t1], x0=x0[r] if k == 0 else None, engine=engine)
            assert_close(x[r, t0:t1], want, kind="scan")
        assert_close(last[r], want[-1], kind="scan")


def test_linear_scan_time_invariant_gate_and_axis(rng):
    lengths = [4, 1, 0, 6]
    a, b = rng.uniform(0.5, 1.0, size=(3, 1)), rng.normal(size=(11, 3))
    x = ss.linear_scan(a.T, b, cu_seqlens=_bounds(lengths), axis=0)
    for part in _pieces(lengths):
        assert_close(x[part], ss.linear_scan(a.T, b[part], axis=0), kind="scan")


# --------------------------------------------------------------------------------------
# selective_scan
# --------------------------------------------------------------------------------------
def _selective_problem(rng, length, batch=2, dim=4, nstate=3, complex_a=False):
    u = rng.normal(size=(batch, dim, length))
    delta = rng.uniform(0.05, 0.5, size=(batch, dim, length))
    A = -rng.uniform(0.5, 1.5, size=(dim, nstate))
    if complex_a:
        A = A + 1j * rng.uniform(0, 3, size=(dim, nstate))
    B = rng.normal(size=(batch, 2, nstate, 2 * length if complex_a else length))
    C = rng.normal(size=(batch, 2, nstate, length)) + (
        1j * rng.normal(size=(batch, 2, nstate, length)) if complex_a else 0
    )
    return u, delta, A, B, C


def _check_selective(rng, lengths, engine, complex_a=False):
    length, count = sum(lengths), len(lengths)
    u, delta, A, B, C = _selective_problem(rng, length, complex_a=complex_a)
    dtype = complex if complex_a else float
    x0 = rng.normal(size=(count, 2, 4, 3)).astype(dtype)
    kw = dict(D=np.ones(4), delta_softplus=True, engine=engine)
    y, last = ss.selective_scan(u, delta, A, B, C, x0=x0, cu_seqlens=_bounds(lengths), return_state=True, **kw)
    y_zero = ss.selective_scan(u, delta, A, B, C, cu_seqlens=_bounds(lengths), **kw)  # the restart-mask path
    for s, part in enumerate(_pieces(lengths)):
        bpart = slice(2 * part.start, 2 * part.stop) if complex_a else part
        want, want_last = ss.selective_scan(
            u[..., part], delta[..., part], A, B[..., bpart], C[..., part], x0=x0[s], return_state=True, **kw
        )
        alone = ss.selective_scan(u[..., part], delta[..., part], A, B[..., bpart], C[..., part], **kw)
        assert_close(y[..., part], want, kind="scan")
        assert_close(y_zero[..., part], alone, kind="scan")
        assert_close(last[s], want_last, kind="scan")


@given(lengths=lengths_strategy)
def test_selective_scan_cu_seqlens_property(engine, lengths):
    _check_selective(np.random.default_rng(sum(lengths)), lengths, engine)


def test_selective_scan_complex(rng, engine):
    _check_selective(rng, [5, 0, 1, 9], engine, complex_a=True)


@pytest.mark.parametrize("complex_a", [False, True])
def test_selective_scan_seq_idx_per_row(rng, engine, complex_a):
    """Mamba-2's marking: a different packing in each batch row, the kernels' restart mask."""
    u, delta, A, B, C = _selective_problem(rng, 70, complex_a=complex_a)
    ids = _seq_idx_rows(rng, 2, 70)
    x0 = rng.normal(size=(2, 4, 3)).astype(complex if complex_a else float)
    y, last = ss.selective_scan(u, delta, A, B, C, D=np.ones(4), x0=x0, seq_idx=ids, return_state=True, engine=engine)
    for r in range(2):
        for k, (t0, t1) in enumerate(_segments(ids[r])):
            bpart = slice(2 * t0, 2 * t1) if complex_a else slice(t0, t1)
            want, want_last = ss.selective_scan(
                u[r : r + 1, :, t0:t1], delta[r : r + 1, :, t0:t1], A, B[r : r + 1, ..., bpart],
                C[r : r + 1, ..., t0:t1], D=np.ones(4), x0=x0[r : r + 1] if k == 0 else None,
                return_state=True, engine=engine,
            )  # fmt: skip
            assert_close(y[r : r + 1, :, t0:t1], want, kind="scan")
        assert_close(last[r : r + 1], want_last, kind="scan")


def test_selective_scan_lanes_kernel(rng, engine):
    """Many channels in few groups (the channels-innermost numba kernel) with restarts."""
    u, delta, A, B, C = _selective_problem(rng, 50, batch=1, dim=64, nstate=4)
    ids = np.repeat([0, 1, 2], [20, 1, 29])
    y = ss.selective_scan(u, delta, A, B, C, seq_idx=ids, engine=engine)
    for t0, t1 in _segments(ids):
        want = ss.selective_scan(u[..., t0:t1], delta[..., t0:t1], A, B[..., t0:t1], C[..., t0:t1], engine=engine)
        assert_close(y[..., t0:t1], want, kind="scan")


# --------------------------------------------------------------------------------------
# recurrence
# --------------------------------------------------------------------------------------
def _system(rng, structure):
    Lambda = -rng.uniform(0.1, 1.0, size=(3, 4)) + 1j * rng.uniform(0, 3, size=(3, 4))
    B = rng.normal(size=(3, 4)) + 0j
    C = rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4))
    if structure == "diag":
        Ab, Bb = ss.discretize_diag(Lambda, B, 0.1, "zoh")
        return Ab, Bb, C, 4
    P = rng.normal(size=(3, 1, 4)) * 0.3 + 0j
    if structure == "dplr":
        return ss.discretize_dplr(Lambda, P, B, 0.1, "bilinear"), None, C, 4
    Ab, Bb = ss.discretize_dplr(Lambda, P, B, 0.1, "bilinear", dense=True)
    return Ab, Bb, np.concatenate([C, C.conj()], axis=-1), 8


@pytest.mark.parametrize("structure", ["diag", "dense", "dplr"])
@given(lengths=lengths_strategy)
def test_recurrence_cu_seqlens_property(structure, engine, lengths):
    if structure != "diag" and engine != "xp":
        return  # dense and DPLR recurrences have the xp engine only
    rng = np.random.default_rng(sum(lengths))
    Ab, Bb, C, n = _system(rng, structure)
    u = rng.normal(size=(2, 3, sum(lengths)))
    x0 = rng.normal(size=(len(lengths), 2, 3, n)) + 1j * rng.normal(size=(len(lengths), 2, 3, n))
    if structure == "dense":
        x0 = np.concatenate([x0[..., :4], x0[..., :4].conj()], axis=-1)  # a conj-symmetric (real-system) state
    y, last = ss.recurrence(Ab, Bb, C, u, x0=x0, cu_seqlens=_bounds(lengths), return_state=True, engine=engine)
    for s, part in enumerate(_pieces(lengths)):
        want, want_last = ss.recurrence(Ab, Bb, C, u[..., part], x0=x0[s], return_state=True, engine=engine)
        assert_close(y[..., part], want, kind="views")
        assert_close(last[s], want_last, kind="views")


def test_recurrence_seq_idx_per_row(rng, engine):
    Ab, Bb, C, _ = _system(rng, "diag")
    u = rng.normal(size=(2, 3, 50))
    ids = _seq_idx_rows(rng, 2, 50)[:, None, :]  # (batch, 1, L): one packing per batch row
    y, last = ss.recurrence(Ab, Bb, C, u, seq_idx=ids, return_state=True, engine=engine)
    for r in range(2):
        for t0, t1 in _segments(ids[r, 0]):
            want, want_last = ss.recurrence(Ab, Bb, C, u[r, :, t0:t1], return_state=True, engine=engine)
            assert_close(y[r, :, t0:t1], want, kind="views")
        assert_close(last[r], want_last, kind="views")


# --------------------------------------------------------------------------------------
# backends and errors
# --------------------------------------------------------------------------------------
def test_backends(backend, rng):
    lengths = [3, 0, 1, 6]
    a, b = rng.uniform(0.5, 1.0, size=(2, 10)), rng.normal(size=(2, 10))
    x0 = rng.normal(size=(4, 2))
    want, want_last = ss.linear_scan(a, b, x0=x0, cu_seqlens=_bounds(lengths), return_state=True, engine="xp")
    on = backend.asarray
    x, last = ss.linear_scan(on(a), on(b), x0=on(x0), cu_seqlens=_bounds(lengths), return_state=True, engine="xp")
    assert_close(x, want, kind="scan")
    assert_close(last, want_last, kind="scan")
    ids = np.repeat([0, 1, 2], [3, 1, 6])
    want = ss.selective_scan(*_selective_problem(np.random.default_rng(1), 10), seq_idx=ids, engine="xp")
    got = ss.selective_scan(
        *(on(v) for v in _selective_problem(np.random.default_rng(1), 10)), seq_idx=on(ids), engine="xp"
    )
    assert_close(got, want, kind="scan")


def test_errors(rng):
    a, b = rng.uniform(size=(2, 10)), rng.normal(size=(2, 10))
    with pytest.raises(ValueError, match="either seq_idx or cu_seqlens"):
        ss.linear_scan(a, b, seq_idx=np.zeros(10, int), cu_seqlens=[0, 10])
    with pytest.raises(ValueError, match="cu_seqlens must run from 0"):
        ss.linear_scan(a, b, cu_seqlens=[0, 9])
    with pytest.raises(ValueError, match="nondecreasing"):
        ss.linear_scan(a, b, cu_seqlens=[0, 6, 4, 10])
    with pytest.raises(TypeError, match="seq_idx must be an integer array"):
        ss.linear_scan(a, b, seq_idx=np.zeros(10))
    with pytest.raises(ValueError, match="seq_idx must have the time length"):
        ss.linear_scan(a, b, seq_idx=np.zeros(9, int))
    with pytest.raises(ValueError, match="one initial state per sequence"):
        ss.linear_scan(a, b, x0=np.zeros(2), cu_seqlens=[0, 4, 10])
    with pytest.raises(ValueError, match="reverse"):
        ss.linear_scan(a, b, cu_seqlens=[0, 4, 10], reverse=True)
    with pytest.raises(ValueError, match="seq_idx must broadcast"):
        ss.linear_scan(a, b, seq_idx=np.zeros((3, 10), int))
    u, delta, A, B, C = _selective_problem(rng, 10)
    with pytest.raises(ValueError, match="one initial state per sequence"):
        ss.selective_scan(u, delta, A, B, C, x0=np.zeros((2, 4, 3)), cu_seqlens=[0, 4, 10])
    Ab, Bb, Cs, _ = _system(rng, "diag")
    with pytest.raises(ValueError, match="one initial state per sequence"):
        ss.recurrence(Ab, Bb, Cs, rng.normal(size=(3, 10)), x0=np.zeros((3, 3, 4)), cu_seqlens=[0, 4, 10])
