"""Mamba's selective scan (``selective_scan_ref`` semantics of Gu & Dao 2023), plus an initial state."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ._backend import (
    asarray,
    complex_dtype,
    device_of,
    float_dtype,
    is_complex,
    isdtype,
    namespace,
    quiet_floating_point,
)
from ._dispatch import capabilities
from ._engines import engine_module, resolve_engine
from ._packed import check_initial, packing
from ._scan import linear_scan
from ._validation import check_flag, deprecated_keyword

__all__ = ["selective_scan"]

#: Elements of one ``(batch, D, N, chunk)`` intermediate in the xp engine (bounds its memory).
_XP_CHUNK_ELEMENTS = 1 << 21


@dataclass(frozen=True)
class _Weight:
    """A B or C operand normalised to ``(batch or 1, G, N, L)`` (variable) or ``(D, N)`` (invariant)."""

    value: object  # complex when A is complex and the weight is variable; else as given
    variable: bool
    groups: int


_NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias", "x0")


def compute_dtype(xp, *arrays, names=_NAMES):
    """The real working precision of the inputs: THE dtype rule of the Conventions page (ints count as float64)."""
    return float_dtype(xp, *arrays, complex_ok=False, names=names)


def _deinterleave(xp, w, cdtype, name, length):
    """Real ``(..., 2L)`` with (re, im) pairs along time → complex ``(..., L)`` (Mamba's layout)."""
    if is_complex(xp, w):
        if w.shape[-1] != length:
            raise ValueError(f"complex {name} must have L = {length} time steps on its last axis, got {w.shape[-1]}")
        return xp.asarray(w, dtype=cdtype)
    if w.shape[-1] != 2 * length:
        raise ValueError(
            f"with complex A, a real variable {name} holds interleaved (re, im) pairs along time: its last axis "
            f"must be 2L = {2 * length}, got {w.shape[-1]} (or pass a complex {name} with L steps)"
        )
    re, im = xp.asarray(w[..., 0::2], dtype=cdtype), xp.asarray(w[..., 1::2], dtype=cdtype)
    return re + im * xp.asarray(1j, dtype=cdtype, device=device_of(w))


def selective_weight(xp, w, name, A, batch, length, real, a_complex):
    """The one home of Mamba's B/C layouts: any accepted layout → a :class:`_Weight` record.

    ``(D, N)`` stays time-invariant; ``(batch, N, L)`` and ``(batch, G, N, L)`` become variable
    ``(batch or 1, G, N, L)``; with complex ``A`` a real variable weight holds interleaved (re, im)
    pairs along a ``2L`` time axis and becomes complex. The xp path, the engines and the Dask
    plug-in all read the record, never the caller's layout.
    """
    dim, nstate = A.shape
    given = tuple(w.shape)  # error messages quote the caller's shape, never the internal (batch, 1, N, L) view
    if is_complex(xp, w) and not a_complex:
        raise TypeError(f"{name} is complex but A is real; pass a complex A for a complex state")
    if w.ndim == 2:
        if tuple(w.shape) != (dim, nstate):
            raise ValueError(
                f"a time-invariant {name} must have A's shape (D, N) = {(dim, nstate)}, got {tuple(w.shape)}"
            )
        dtype = complex_dtype(xp, real) if is_complex(xp, w) else real
        return _Weight(asarray(w, xp, dtype=dtype), False, dim)
    if w.ndim == 3:
        w = w[:, None, ...]  # one group: (batch, 1, N, L)
    elif w.ndim != 4:
        raise ValueError(
            f"{name} must be (D, N), (batch, N, L) or (batch, G, N, L) (Mamba's layouts), got shape {tuple(w.shape)}"
        )
    if w.shape[0] not in (1, batch) or w.shape[2] != nstate:
        raise ValueError(
            f"a variable {name} must be (batch, N, L) or (batch, G, N, L) with batch = {batch} (or 1) and "
            f"N = {nstate}, got shape {given}"
        )
    groups = w.shape[1]
    if groups < 1 or dim % groups:
        raise ValueError(f"the channel count D = {dim} must be divisible by {name}'s group count G = {groups}")
    if a_complex:
        w = _deinterleave(xp, w, complex_dtype(xp, real), name, length)
    else:
        if w.shape[-1] != length:
            raise ValueError(f"a variable {name} must have L = {length} time steps on its last axis, got shape {given}")
        w = asarray(w, xp, dtype=real)
    return _Weight(w, True, groups)


def check_same(x, name, shape):
    if x is not None and tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(x.shape)}")


@capabilities(engines=("xp", "numba", "cupy"), dask="lazy", dask_note="batch and time chunks (state carried)")
def selective_scan(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    delta_softplus: bool = False,
    x0=None,
    *,
    return_state: bool = False,
    engine: str | None = None,
    seq_idx=None,
    cu_seqlens=None,
    return_last_state: bool | None = None,
):
    """Mamba's selective scan: an input-dependent diagonal SSM run over a sequence.

    Parameters
    ----------
    u : array_like
        Input ``(batch, D, L)``, real.
    delta : array_like
        Step sizes ``(batch, D, L)``, real: one per channel and time step, broadcast
        over the ``N`` states of ``A`` (Mamba's layout; the :ref:`step-size rule <conventions-steps>`).
        Without ``delta_softplus`` any real value is used as given (see Notes).
    A : array_like
        Diagonal state matrices ``(D, N)``, real or complex (typically negative real parts).
    B, C : array_like
        Each one of Mamba's layouts: ``(D, N)`` time-invariant (real, or complex with
        complex ``A``); ``(batch, N, L)`` variable and shared by all channels;
        ``(batch, G, N, L)`` variable in ``G`` groups, channel ``d`` using group
        ``d // (D/G)``. With complex ``A`` a variable B/C is either real with last axis
        ``2L`` holding interleaved (re, im) pairs (Mamba's layout) or complex with ``L``.
        A leading batch of 1 broadcasts.
    D : array_like, optional
        Skip term ``(D,)`` (a scalar is shared by all channels): adds ``D·u``.
    z : array_like, optional
        Gate ``(batch, D, L)``: the output is multiplied by ``SiLU(z) = z·σ(z)``.
    delta_bias : array_like, optional
        ``(D,)`` (or a scalar), added to ``delta`` before the softplus.
    delta_softplus : bool
        Apply ``softplus(x) = log1p(exp(x))`` (``x`` itself for ``x > 20``) to ``delta``.
    x0 : array_like, optional
        Initial state ``(batch, D, N)`` (complex when ``A`` is); zero by default.
    return_state : bool, keyword-only
        Also return the state after the last step.
    engine : {None, "auto", "xp", "numba", "cupy"}, keyword-only
        ``"numba"`` fuses discretization, scan and output in one pass per channel
        (never materialises ``(batch, D, L, N)``); ``"xp"`` runs the tree scan of
        :func:`linear_scan` over chunks of time; ``"cupy"`` is the fused pass as a
        CUDA kernel (CuPy arrays). ``None`` chooses.
    seq_idx : array of int, optional, keyword-only
        Packed sequences (see :doc:`/user_guide/sequences`): ``(batch, L)`` (or ``(L,)``),
        the sequence of each position; the state restarts from zero wherever it changes
        (Mamba-2's ``seq_idx``). ``x0`` belongs to each row's first sequence.
    cu_seqlens : sequence of int, optional, keyword-only
        Packed sequences by cumulative lengths ``[0, L_0, ..., L]``, the same for every row.
        ``x0``, if given, is one initial state per sequence ``(S, batch, D, N)``, and
        ``return_state=True`` returns each sequence's final state ``(S, batch, D, N)``.
    return_last_state : bool, optional
        Deprecated spelling of ``return_state`` (warns; removed in 0.3).

    Returns
    -------
    out : array
        ``(batch, D, L)`` in ``u``'s dtype.
    last_state : array
        ``(batch, D, N)`` in the computation dtype (complex when ``A`` is); only with
        ``return_state=True``.

    Raises
    ------
    ValueError
        Shapes that match none of Mamba's layouts, ``D`` not divisible by the group
        count, time lengths that differ, mis-shaped ``D``/``z``/``delta_bias``/``x0``.
    TypeError
        Complex ``u``/``delta``, complex B/C/x0 with real ``A``, an engine that
        cannot take these arrays.

    Notes
    -----
    With :math:`\\Delta = \\mathrm{softplus}(\\delta + \\text{bias})` (or without the
    softplus), per channel ``d`` and state ``n``:

    .. math::

        x_t = e^{\\Delta_t A_{dn}} x_{t-1} + \\Delta_t B_{n,t} u_t, \\qquad
        y_t = \\sum_n C_{n,t} x_t \\;(2\\,\\mathrm{Re}(\\cdot) \\text{ if complex}) + D_d u_t,

    then ``out = y·SiLU(z)``. The working precision follows the
    :ref:`dtype rule <conventions-dtypes>` of every function (float32 stays float32,
    float64 and integer inputs compute in float64, half precision is refused); ``out``
    comes back in ``u``'s dtype when ``u`` is floating (as in Mamba's ``selective_scan_ref``),
    in the working precision otherwise; ``x0`` is the state before ``t = 0`` (Mamba starts at 0).

    **Negative steps.** Without ``delta_softplus`` the step
    :math:`\\Delta = \\delta + \\text{bias}` is used as given, whatever its sign: a negative
    step runs the continuous system backwards, its gate :math:`e^{\\Delta A}` exceeds 1
    for a stable ``A``, and long runs overflow. Every engine computes the same formula
    (Mamba's reference does too) and none warns: finite outputs agree to rounding, and
    the outputs are non-finite from the same step on (inf or NaN: which of the two may
    differ between the xp tree scan and the sequential numba loop).

    References
    ----------
    A. Gu, T. Dao, "Mamba: linear-time sequence modeling with selective state spaces", 2023
    (``selective_scan_ref`` in state-spaces/mamba).

    Examples
    --------
    >>> import numpy as np
    >>> from statespace import selective_scan
    >>> rng = np.random.default_rng(0)
    >>> u, delta = rng.normal(size=(2, 4, 16)), rng.uniform(0.1, 1.0, size=(2, 4, 16))
    >>> A, B, C = -rng.uniform(0.5, 1.0, size=(4, 8)), rng.normal(size=(2, 8, 16)), rng.normal(size=(2, 8, 16))
    >>> out, last = selective_scan(u, delta, A, B, C, D=np.ones(4), return_state=True)
    >>> out.shape, last.shape, out.dtype
    ((2, 4, 16), (2, 4, 8), dtype('float64'))
    """
    return_state = deprecated_keyword(
        return_state, return_last_state, new="return_state", old="return_last_state", func="selective_scan"
    )
    check_flag(return_state, "return_state")
    xp = namespace(u, delta, A, B, C, D, z, delta_bias, x0)
    u, delta, A, B, C, D, z, delta_bias, x0 = _as_arrays(xp, u, delta, A, B, C, D, z, delta_bias, x0)
    check_flag(delta_softplus, "delta_softplus")
    if u.ndim != 3:
        raise ValueError(f"u must be (batch, D, L), got shape {tuple(u.shape)}")
    batch, dim, length = u.shape
    check_same(delta, "delta", u.shape)
    if A.ndim != 2 or A.shape[0] != dim:
        raise ValueError(f"A must be (D, N) with D = {dim} (u's channels), got shape {tuple(A.shape)}")
    for name, arr in (("u", u), ("delta", delta), ("D", D), ("z", z), ("delta_bias", delta_bias)):
        if arr is not None and is_complex(xp, arr):
            raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    D, delta_bias = (w if w is None or w.ndim else xp.broadcast_to(w, (dim,)) for w in (D, delta_bias))
    check_same(D, "D", (dim,))
    check_same(delta_bias, "delta_bias", (dim,))
    check_same(z, "z", u.shape)
    if cu_seqlens is None:  # per-sequence initial states are checked with the packing
        check_same(x0, "x0", (batch, dim, A.shape[1]))
    a_complex = is_complex(xp, A)
    if x0 is not None and is_complex(xp, x0) and not a_complex:
        raise TypeError("x0 is complex but A is real; the state of a real system is real")
    real = compute_dtype(xp, u, delta, A, B, C, D, z, delta_bias, x0)
    state = complex_dtype(xp, real) if a_complex else real
    Bw = selective_weight(xp, B, "B", A, batch, length, real, a_complex)
    Cw = selective_weight(xp, C, "C", A, batch, length, real, a_complex)
    args = dict(
        u=asarray(u, xp, dtype=real),
        delta=asarray(delta, xp, dtype=real),
        A=asarray(A, xp, dtype=state),
        B=Bw,
        C=Cw,
        D=asarray(D, xp, dtype=real),
        z=asarray(z, xp, dtype=real),
        bias=asarray(delta_bias, xp, dtype=real),
        use_softplus=bool(delta_softplus),
        x0=asarray(x0, xp, dtype=state),
    )
    pack = packing(xp, seq_idx, cu_seqlens, length, device_of(u))
    if pack is not None and pack.bounds is not None and (x0 is not None or return_state):
        check_initial(x0, pack, (batch, dim, A.shape[1]))
        return _per_sequence(xp, pack, u, delta, A, B, C, D, z, delta_bias, delta_softplus, x0, return_state, engine)
    if pack is not None:
        restart = pack.restart if pack.restart.ndim == 2 else pack.restart[None, :]
        if restart.ndim != 2 or restart.shape[0] not in (1, batch):
            raise ValueError(f"seq_idx must be (batch, L) or (L,) with batch = {batch}, got shape {seq_idx.shape}")
        args["restart"] = restart
    name = resolve_engine(engine, xp, func="selective_scan")
    if name != "xp":  # the engine's kernel takes its own backend's arrays and the _Weight records
        out, last = engine_module(name, "selective").selective_scan(**args)
    else:
        with quiet_floating_point(xp):  # as quiet as numba: overflow (e.g. delta < 0) gives inf/NaN on both
            out, last = _selective_scan_xp(xp, **args)
    out = asarray(out, xp, dtype=u.dtype) if isdtype(xp, u.dtype, "real floating") else out
    return (out, last) if return_state else out


def _as_arrays(xp, *values):
    """array_like arguments (scalars, lists) as arrays of ``xp``, converted once on the arrays' device."""
    if all(v is None or hasattr(v, "dtype") for v in values):  # nothing to convert (the common case)
        return values
    device = next((device_of(v) for v in values if hasattr(v, "dtype") and hasattr(v, "shape")), None)
    return tuple(v if v is None or hasattr(v, "dtype") else xp.asarray(v, device=device) for v in values)


# --------------------------------------------------------------------------------------
# xp engine
# --------------------------------------------------------------------------------------
def softplus(xp, x):
    """``log1p(exp(x))``, and ``x`` itself above 20 (PyTorch's / Mamba's threshold)."""
    return xp.where(x > 20, x, xp.log1p(xp.exp(xp.minimum(x, xp.asarray(20, dtype=x.dtype, device=device_of(x))))))


def _grouped(w: _Weight, xp, x, t0, t1):
    """``x (batch, D, N, T)`` times weight ``w`` on steps ``t0:t1``, per Mamba's group rule."""
    if not w.variable:
        return x * w.value[..., None]
    dim, steps = x.shape[1], x.shape[3]
    groups = w.groups
    xg = xp.reshape(x, (x.shape[0], groups, dim // groups, x.shape[2], steps))
    prod = xg * w.value[:, :, None, :, t0:t1]
    return xp.reshape(prod, (prod.shape[0], dim, prod.shape[3], steps))


def _per_sequence(xp, pack, u, delta, A, B, C, D, z, bias, softplus, x0, return_state, engine):
    """``cu_seqlens`` with per-sequence initial or final states: each sequence is one call on its slice."""
    length, outs, lasts = u.shape[-1], [], []
    for s, (t0, t1) in enumerate(itertools.pairwise(pack.bounds)):

        def cut(v, t0=t0, t1=t1):
            if v is None or v.ndim < 3:
                return v  # time-invariant (D, N) weights, D, delta_bias
            step = 2 if v.shape[-1] == 2 * length and length else 1  # interleaved (re, im) pairs of complex A
            return v[..., step * t0 : step * t1]

        y, last = selective_scan(
            cut(u), cut(delta), A, cut(B), cut(C), D, cut(z), bias, softplus, None if x0 is None else x0[s, ...],
            return_state=True, engine=engine,
        )  # fmt: skip
        outs.append(y)
        lasts.append(last)
    y = xp.concat(outs, axis=-1)
    return (y, xp.stack(lasts, axis=0)) if return_state else y


def _selective_scan_xp(xp, u, delta, A, B, C, D, z, bias, use_softplus, x0, restart=None):
    batch, dim, length = u.shape
    nstate = A.shape[1]
    dt = delta if bias is None else delta + bias[:, None]
    if use_softplus:
        dt = softplus(xp, dt)
    state = A.dtype
    dev = device_of(u)
    x = xp.zeros((batch, dim, nstate), dtype=state, device=dev) if x0 is None else x0
    chunk = max(1, _XP_CHUNK_ELEMENTS // max(1, batch * dim * nstate))
    ys = []
    for t0 in range(0, length, chunk):
        t1 = min(length, t0 + chunk)
        dt_c = dt[:, :, None, t0:t1]  # (batch, D, 1, T)
        gate = xp.exp(xp.asarray(dt_c, dtype=state) * A[:, :, None])  # (batch, D, N, T)
        if restart is not None:  # a packed sequence starts: the carried state is dropped (gate 0)
            gate = xp.where(restart[:, None, None, t0:t1], xp.zeros((), dtype=state, device=dev), gate)
        drive = _grouped(B, xp, xp.asarray(dt_c * u[:, :, None, t0:t1], dtype=state), t0, t1)
        drive = xp.broadcast_to(drive, gate.shape)
        states, x = linear_scan(gate, drive, x0=x, engine="xp", return_state=True)
        y = xp.sum(_grouped(C, xp, states, t0, t1), axis=2)
        ys.append(2 * xp.real(y) if xp.isdtype(y.dtype, "complex floating") else y)
    y = xp.concat(ys, axis=-1) if ys else xp.zeros((batch, dim, 0), dtype=u.dtype, device=dev)
    if D is not None:
        y = y + D[:, None] * u
    if z is not None:
        y = y * (z / (1 + xp.exp(-z)))
    return y, x
