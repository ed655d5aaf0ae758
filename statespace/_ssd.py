r"""Mamba-2's state space duality (SSD): the selective scan with a scalar decay per head, in chunks.

With :math:`A_h` a scalar per head (the state matrix :math:`A_h I`), the selective
scan's state :math:`h_t \in \mathbb{R}^{P\times N}` of head ``h`` obeys

.. math::

    h_t = e^{\Delta_t A_h} h_{t-1} + \Delta_t\, x_t B_t^T, \qquad y_t = h_t C_t + D_h x_t,

and the whole map :math:`x \mapsto y` is one lower-triangular matrix
:math:`M_{ls} = (C_l\cdot B_s)\, e^{a_{s+1} + \dots + a_l}\,\Delta_s`
(:math:`a_t = \Delta_t A_h`), a *semiseparable* matrix. Cut into chunks of ``Q``
steps, its diagonal blocks are small dense products and its off-diagonal blocks
factor through the chunk-boundary states, so the scan becomes matrix products plus
a recurrence over ``L/Q`` chunk states (Dao & Gu 2024, Listing 1).
"""

from __future__ import annotations

from ._backend import device_of, namespace
from ._dispatch import capabilities
from ._engines import resolve_engine
from ._scan import linear_scan
from ._selective import softplus
from ._validation import check_positive_int

__all__ = ["ssd"]

#: Elements of one ``(batch, H, chunks, Q, Q)`` block of the intra-chunk matrices (bounds their memory).
_BLOCK_ELEMENTS = 1 << 22


def _real(xp, name, arr, shape=None):
    if arr is None:
        return
    if not xp.isdtype(arr.dtype, "real floating"):
        raise TypeError(f"{name} must be real floating, got dtype {arr.dtype}")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(arr.shape)}")


def _compute_dtype(xp, *arrays):
    """float32 at least (Mamba-2 computes in fp32), float64 when any input is float64."""
    out = xp.float32
    for a in arrays:
        if a is not None:
            out = xp.result_type(out, a.dtype)
    return out


def _segments(xp, seq_idx, length):
    """Nondecreasing segment counters ``(batch, L)``: +1 wherever ``seq_idx`` changes."""
    change = xp.astype(seq_idx[:, 1:] != seq_idx[:, :-1], xp.int64)
    zero = xp.zeros((seq_idx.shape[0], 1), dtype=xp.int64, device=device_of(seq_idx))
    return xp.cumulative_sum(xp.concat([zero, change], axis=1), axis=1) if length else zero[:, :0]


def _pad_time(xp, v, pad, value=None):
    """Append ``pad`` steps on the last axis: zeros, or repeats of the last step."""
    if not pad:
        return v
    if value == "edge":
        tail = xp.broadcast_to(v[..., -1:], tuple(v.shape[:-1]) + (pad,))
    else:
        tail = xp.zeros(tuple(v.shape[:-1]) + (pad,), dtype=v.dtype, device=device_of(v))
    return xp.concat([v, tail], axis=-1)


@capabilities(engines=("xp",), dask="no", dask_note="chunked matrix products over time")
def ssd(
    x,
    dt,
    A,
    B,
    C,
    *,
    D=None,
    z=None,
    dt_bias=None,
    dt_softplus: bool = False,
    chunk_size: int = 256,
    initial_states=None,
    seq_idx=None,
    return_state: bool = False,
    engine=None,
):
    r"""Mamba-2's selective scan with a scalar decay per head, computed in chunks by matrix products (SSD).

    The argument set of Mamba-2's ``mamba_chunk_scan_combined``, in this package's
    time-last layout (move Mamba-2's length axis ``1`` to the end to convert).

    Parameters
    ----------
    x : array
        Inputs ``(batch, H, P, L)``: ``H`` heads of ``P`` channels (Mamba-2: ``(batch, L, H, P)``).
    dt : array
        Step sizes ``(batch, H, L)`` (Mamba-2: ``(batch, L, H)``): one per head and time step,
        shared by the head's ``P`` channels and ``N`` states (Mamba-2's layout; see the
        :ref:`step-size rule <conventions-steps>`).
    A : array
        One real decay rate per head, ``(H,)`` (negative for a stable scan).
    B, C : array
        ``(batch, G, N, L)`` in ``G`` groups (Mamba-2: ``(batch, L, G, N)``); head ``h``
        uses group ``h // (H/G)``. A leading batch of 1 broadcasts.
    D : array, optional
        Skip term ``(H,)`` or ``(H, P)``: adds ``D·x``.
    z : array, optional
        Gate ``(batch, H, P, L)``: the output is multiplied by ``SiLU(z) = z·σ(z)``.
    dt_bias : array, optional
        ``(H,)``, added to ``dt`` before the softplus.
    dt_softplus : bool
        Apply ``softplus(v) = log1p(exp(v))`` (``v`` itself above 20) to ``dt``.
    chunk_size : int
        Steps per chunk ``Q`` (Mamba-2 uses 256). ``L`` need not be a multiple of it.
    initial_states : array, optional
        State before the first step ``(batch, H, P, N)`` (Mamba-2's layout); zero by default.
        With ``seq_idx`` it belongs to the first sequence of each row.
    seq_idx : array of int, optional
        ``(batch, L)``: the sequence each position belongs to, for several sequences
        packed back to back in one row; the state restarts from zero wherever
        ``seq_idx`` changes (Mamba-2's ``seq_idx``).
    return_state : bool
        Also return the state after the last step, ``(batch, H, P, N)``.
    engine : {None, "auto", "xp"}
        Only ``"xp"`` (array-API matrix products, fast on every backend).

    Returns
    -------
    y : array
        ``(batch, H, P, L)`` in ``x``'s dtype.
    state : array
        ``(batch, H, P, N)`` in the computation dtype (only with ``return_state=True``).

    Raises
    ------
    ValueError
        Shapes that do not fit (each named with the expected shape), ``H`` not
        divisible by ``G``, ``chunk_size`` not positive.
    TypeError
        Complex or integer data, a non-integer ``seq_idx``, an unknown engine.

    Notes
    -----
    With :math:`\Delta = \mathrm{softplus}(dt + \text{bias})` (or without the softplus)
    and :math:`a_t = \Delta_t A_h`, this equals :func:`statespace.selective_scan` of the
    ``H·P`` channels ``x`` with :math:`A_{(h,p), n} = A_h` for every ``n``. Per chunk
    of ``Q`` steps with in-chunk cumulative sums :math:`s_l = a_0 + \dots + a_l`:

    1. diagonal blocks: :math:`Y_l = \sum_{s \le l} (C_l\cdot B_s)\, e^{s_l - s_s}\,\Delta_s x_s`,
       a masked ``Q × Q`` matrix times ``(Q, P)``;
    2. chunk states: :math:`S = \sum_s e^{s_{Q-1} - s_s}\,\Delta_s x_s B_s^T`;
    3. across chunks: :math:`h_c = e^{s_{Q-1}} h_{c-1} + S_c` (a scan of ``L/Q`` steps);
    4. off-diagonal blocks: :math:`Y_l \mathrel{+}= e^{s_l}\, h_{c-1} C_l`.

    The work is :math:`O(L\,Q\,(N + P))` per head in matrix products; the decays are
    differences of in-chunk cumulative sums, as in Mamba-2's kernels. When every in-chunk
    :math:`|s_l|` lies far inside the exponent range (≤ 44 in float32, ≤ 354 in float64),
    :math:`e^{s_l - s_s} = e^{s_l} e^{-s_s}` (as exact: one ``exp`` per factor) and the masked
    :math:`C\cdot B` matrix is shared by the heads of a group, one product per group with its
    heads side by side; otherwise each head gets its own masked :math:`e^{s_l - s_s}`. Computed in at least
    float32 (float64 inputs stay float64), cast back to ``x``'s dtype. With ``seq_idx``,
    every product between positions of different sequences is masked out: the state
    after a boundary holds only that sequence's inputs. Memory is bounded by running
    the ``Q × Q`` blocks a few chunks at a time.

    References
    ----------
    T. Dao, A. Gu, "Transformers are SSMs: generalized models and efficient algorithms
    through structured state space duality", ICML 2024 (``ssd_minimal_discrete`` in
    state-spaces/mamba).

    Examples
    --------
    >>> import numpy as np
    >>> from statespace import ssd
    >>> rng = np.random.default_rng(0)
    >>> x, dt = rng.normal(size=(1, 4, 8, 100)), rng.uniform(0.01, 0.1, size=(1, 4, 100))
    >>> B, C = rng.normal(size=(1, 1, 16, 100)), rng.normal(size=(1, 1, 16, 100))
    >>> y, h = ssd(x, dt, -np.ones(4), B, C, chunk_size=32, return_state=True)
    >>> y.shape, h.shape
    ((1, 4, 8, 100), (1, 4, 8, 16))
    """
    xp = namespace(x, dt, A, B, C, D, z, dt_bias, initial_states, seq_idx)
    resolve_engine(engine, xp, func="ssd")
    chunk = check_positive_int(chunk_size, "chunk_size")
    if x.ndim != 4:
        raise ValueError(f"x must be (batch, H, P, L), got shape {tuple(x.shape)}")
    batch, heads, headdim, length = x.shape
    _real(xp, "x", x)
    _real(xp, "dt", dt, (batch, heads, length))
    _real(xp, "A", A, (heads,))
    for name, w in (("B", B), ("C", C)):
        _real(xp, name, w)
        if w.ndim != 4 or w.shape[0] not in (1, batch) or w.shape[3] != length:
            raise ValueError(
                f"{name} must be (batch, G, N, L) with batch = {batch} (or 1) and L = {length}, "
                f"got shape {tuple(w.shape)}"
            )
    groups, nstate = B.shape[1], B.shape[2]
    if tuple(C.shape[1:3]) != (groups, nstate):
        raise ValueError(f"C must have B's groups and state size (G, N) = {(groups, nstate)}, got {C.shape[1:3]}")
    if heads % groups:
        raise ValueError(f"the head count H = {heads} must be divisible by the group count G = {groups}")
    if D is not None and D.ndim == 1:
        _real(xp, "D", D, (heads,))
    else:
        _real(xp, "D", D, (heads, headdim))
    _real(xp, "z", z, x.shape)
    _real(xp, "dt_bias", dt_bias, (heads,))
    _real(xp, "initial_states", initial_states, (batch, heads, headdim, nstate))
    if seq_idx is not None:
        if not xp.isdtype(seq_idx.dtype, "integral"):
            raise TypeError(f"seq_idx must hold integers, got dtype {seq_idx.dtype}")
        if tuple(seq_idx.shape) != (batch, length):
            raise ValueError(f"seq_idx must have shape (batch, L) = {(batch, length)}, got {tuple(seq_idx.shape)}")

    real = _compute_dtype(xp, x, dt, A, B, C, D, z, dt_bias, initial_states)
    dev = device_of(x)
    delta = xp.asarray(dt, dtype=real)
    if dt_bias is not None:
        delta = delta + xp.asarray(dt_bias, dtype=real)[:, None]
    if dt_softplus:
        delta = softplus(xp, delta)
    xr = xp.asarray(x, dtype=real)
    h0 = None if initial_states is None else xp.asarray(initial_states, dtype=real)
    if length == 0:
        y, state = xp.zeros(x.shape, dtype=real, device=dev), h0
    else:
        segments = None if seq_idx is None else _segments(xp, seq_idx, length)
        y, state = _ssd_xp(xp, xr, delta, xp.asarray(A, dtype=real), B, C, h0, segments, chunk, groups, real)
    if state is None:
        state = xp.zeros((batch, heads, headdim, nstate), dtype=real, device=dev)
    if D is not None:
        Dr = xp.asarray(D, dtype=real)
        y = y + (Dr[:, None, None] if Dr.ndim == 1 else Dr[:, :, None]) * xr
    if z is not None:
        zr = xp.asarray(z, dtype=real)
        y = y * (zr / (1 + xp.exp(-zr)))
    y = xp.asarray(y, dtype=x.dtype)
    return (y, state) if return_state else y


def _factorable(xp, cum, real) -> bool:
    """Whether every in-chunk cumulative log-decay keeps ``e^{±s}`` far inside the dtype's range.

    Then :math:`e^{s_l - s_s} = e^{s_l} e^{-s_s}` loses nothing: each factor is one correctly
    rounded ``exp`` and the rounding bound of the sum is that of the direct form. Half the
    exponent range is kept as margin (|s| ≤ 44 in float32, ≤ 354 in float64).
    """
    limit = 44.0 if real == xp.float32 else 354.0
    return bool(xp.all(xp.abs(cum) <= limit))


def _group_product(xp, scores, xb):
    """``scores (b, G, 1, c, Q, Q) @ xb (b, G, R, c, Q, P)`` as one product per group with the R heads as columns."""
    b, g, r, c, q, p = xb.shape
    cols = xp.reshape(xp.permute_dims(xb, (0, 1, 3, 4, 2, 5)), (b, g, c, q, r * p))
    out = scores[:, :, 0, ...] @ cols  # (b, G, c, Q, R·P)
    return xp.permute_dims(xp.reshape(out, (b, g, c, q, r, p)), (0, 1, 4, 2, 3, 5))


def _ssd_xp(xp, x, delta, A, B, C, h0, segments, chunk, groups, real):
    """The four steps of the chunked form; ``segments`` are nondecreasing sequence counters or None."""
    batch, heads, headdim, length = x.shape
    nstate = B.shape[2]
    per = heads // groups
    nchunks = -(-length // chunk)
    pad = nchunks * chunk - length
    # zero-padding the time axis adds identity steps (a = 0, Δ·x = 0): nothing changes
    a = _pad_time(xp, delta * A[:, None], pad)  # (batch, H, Lp) log-decays
    xdt = _pad_time(xp, x * delta[:, :, None, :], pad)  # (batch, H, P, Lp)
    Bp = _pad_time(xp, xp.asarray(B, dtype=real), pad)
    Cp = _pad_time(xp, xp.asarray(C, dtype=real), pad)
    bb = Bp.shape[0]

    cum = xp.cumulative_sum(xp.reshape(a, (batch, groups, per, nchunks, chunk)), axis=-1)
    xc = xp.reshape(xdt, (batch, groups, per, headdim, nchunks, chunk))
    xc = xp.permute_dims(xc, (0, 1, 2, 4, 5, 3))  # (batch, G, R, c, Q, P)
    Bn = xp.permute_dims(xp.reshape(Bp, (bb, groups, nstate, nchunks, chunk)), (0, 1, 3, 2, 4))  # (b, G, c, N, Q)
    Ct = xp.permute_dims(xp.reshape(Cp, (bb, groups, nstate, nchunks, chunk)), (0, 1, 3, 4, 2))  # (b, G, c, Q, N)
    Bn, Ct = Bn[:, :, None, ...], Ct[:, :, None, ...]

    total = cum[..., -1:]  # (batch, G, R, c, 1)
    to_end = xp.exp(total - cum)  # e^{s_{Q-1} - s_s}
    chunk_gate = xp.exp(total[..., 0])  # (batch, G, R, c)
    into = xp.exp(cum)  # e^{s_l}: the carried state's decay to step l
    if segments is not None:
        seg = xp.reshape(_pad_time(xp, segments, pad, "edge"), (batch, 1, 1, nchunks, chunk))
        last = seg[..., -1]  # segment at each chunk's end
        before = xp.concat([seg[..., 0, 0:1], last[..., :-1]], axis=-1)  # segment of the state entering each chunk
        zero = xp.zeros((), dtype=real, device=device_of(x))
        to_end = xp.where(seg == last[..., None], to_end, zero)
        chunk_gate = xp.where(last == before, chunk_gate, zero)
        into = xp.where(seg == before[..., None], into, zero)

    # 2. chunk states S_c = B (N, Q) @ (e^{s_{Q-1}-s} Δx) (Q, P)
    states = Bn @ (xc * to_end[..., None])  # (batch, G, R, c, N, P)
    # 3. h_c = gate_c h_{c-1} + S_c over chunks (time last for the scan)
    order = (0, 1, 2, 4, 5, 3)
    init = None
    if h0 is not None:
        init = xp.permute_dims(xp.reshape(h0, (batch, groups, per, headdim, nstate)), (0, 1, 2, 4, 3))
    ends, final = linear_scan(
        chunk_gate[..., None, None, :], xp.permute_dims(states, order), x0=init, engine="xp", return_state=True
    )
    if init is None:
        init = xp.zeros(tuple(final.shape), dtype=real, device=device_of(x))
    entering = xp.concat([init[..., None], ends[..., :-1]], axis=-1)
    entering = xp.permute_dims(entering, (0, 1, 2, 5, 3, 4))  # (batch, G, R, c, N, P)

    # 1 and 4, a block of chunks at a time: Y = (CB ∘ decay) Δx + e^{s} C h_{c-1}
    factored = _factorable(xp, cum, real)
    step = max(1, _BLOCK_ELEMENTS // max(1, batch * (groups if factored else heads) * chunk * chunk))
    causal = xp.arange(chunk, device=device_of(x))
    causal = causal[:, None] >= causal[None, :]
    minus_inf = xp.asarray(-float("inf"), dtype=real, device=device_of(x))
    zero = xp.zeros((), dtype=real, device=device_of(x))
    blocks = []
    for c0 in range(0, nchunks, step):
        c1 = min(nchunks, c0 + step)
        cs = cum[..., c0:c1, :]
        keep = causal
        if segments is not None:
            sg = seg[..., c0:c1, :]
            keep = keep & (sg[..., :, None] == sg[..., None, :])
        scores = Ct[:, :, :, c0:c1, ...] @ Bn[:, :, :, c0:c1, ...]  # (b, G, 1, c, Q, Q): C_l · B_s
        xb = xc[..., c0:c1, :, :]
        if factored:  # e^{s_l - s_s} = e^{s_l} e^{-s_s}: one masked Q × Q per group, heads side by side
            yb = _group_product(xp, xp.where(keep, scores, zero), xb * xp.exp(-cs)[..., None]) * xp.exp(cs)[..., None]
        else:
            decay = xp.exp(xp.where(keep, cs[..., :, None] - cs[..., None, :], minus_inf))  # (b, G, R, c, Q, Q)
            yb = (scores * decay) @ xb
        yb = yb + (Ct[:, :, :, c0:c1, ...] @ entering[..., c0:c1, :, :]) * into[..., c0:c1, :, None]
        blocks.append(yb)
    y = blocks[0] if len(blocks) == 1 else xp.concat(blocks, axis=3)  # (batch, G, R, c, Q, P)
    y = xp.reshape(xp.permute_dims(y, (0, 1, 2, 5, 3, 4)), (batch, heads, headdim, nchunks * chunk))[..., :length]
    state = xp.reshape(xp.permute_dims(final, (0, 1, 2, 4, 3)), (batch, heads, headdim, nstate))
    return y, state
