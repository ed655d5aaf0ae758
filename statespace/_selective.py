"""Mamba's selective scan (``selective_scan_ref`` semantics of Gu & Dao 2023), plus an initial state."""

from __future__ import annotations

from dataclasses import dataclass

from . import _dask
from ._backend import complex_dtype, device_of, float_dtype, is_complex, namespace, quiet_floating_point, to_numpy
from ._engines import engine_module, resolve_engine
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


def _compute_dtype(xp, arrays: dict):
    """The real working precision of the inputs: THE dtype rule of the Conventions page (ints count as float64)."""
    present = {k: v for k, v in arrays.items() if v is not None}
    return float_dtype(xp, *present.values(), complex_ok=False, names=tuple(present))


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


def _weight(xp, w, name, A, batch, length, real, a_complex):
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
        return _Weight(xp.asarray(w, dtype=dtype), False, dim)
    if w.ndim == 3:
        w = xp.reshape(w, (w.shape[0], 1, w.shape[1], w.shape[2]))
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
        w = xp.asarray(w, dtype=real)
    return _Weight(w, True, groups)


def _check_same(x, name, shape):
    if x is not None and tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(x.shape)}")


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
    return_last_state: bool | None = None,
):
    """Mamba's selective scan: an input-dependent diagonal SSM run over a sequence.

    Parameters
    ----------
    u : array_like
        Input ``(batch, D, L)``, real.
    delta : array_like
        Step sizes ``(batch, D, L)``, real: one per channel and time step, broadcast
        over the ``N`` states of ``A`` (Mamba's layout; see :ref:`conventions-steps`).
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
    engine : {None, "auto", "xp", "numba"}, keyword-only
        ``"numba"`` fuses discretization, scan and output in one pass per channel
        (never materialises ``(batch, D, L, N)``); ``"xp"`` runs the tree scan of
        :func:`linear_scan` over chunks of time. ``None`` chooses.
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
    return_last_state = return_state  # the name the Dask hook reads
    if _dask.is_dask(u, delta, A, B, C, D, z, delta_bias, x0):
        return _dask.selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, x0, return_last_state, engine)
    xp = namespace(u, delta, A, B, C, D, z, delta_bias, x0)
    u, delta, A, B, C, D, z, delta_bias, x0 = _as_arrays(xp, u, delta, A, B, C, D, z, delta_bias, x0)
    check_flag(delta_softplus, "delta_softplus")
    if u.ndim != 3:
        raise ValueError(f"u must be (batch, D, L), got shape {tuple(u.shape)}")
    batch, dim, length = u.shape
    _check_same(delta, "delta", u.shape)
    if A.ndim != 2 or A.shape[0] != dim:
        raise ValueError(f"A must be (D, N) with D = {dim} (u's channels), got shape {tuple(A.shape)}")
    for name, arr in (("u", u), ("delta", delta), ("D", D), ("z", z), ("delta_bias", delta_bias)):
        if arr is not None and is_complex(xp, arr):
            raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    D, delta_bias = (w if w is None or w.ndim else xp.broadcast_to(w, (dim,)) for w in (D, delta_bias))
    _check_same(D, "D", (dim,))
    _check_same(delta_bias, "delta_bias", (dim,))
    _check_same(z, "z", u.shape)
    _check_same(x0, "x0", (batch, dim, A.shape[1]))
    a_complex = is_complex(xp, A)
    if x0 is not None and is_complex(xp, x0) and not a_complex:
        raise TypeError("x0 is complex but A is real; the state of a real system is real")
    real = _compute_dtype(xp, dict(u=u, delta=delta, A=A, B=B, C=C, D=D, z=z, delta_bias=delta_bias, x0=x0))
    state = complex_dtype(xp, real) if a_complex else real
    Bw = _weight(xp, B, "B", A, batch, length, real, a_complex)
    Cw = _weight(xp, C, "C", A, batch, length, real, a_complex)
    args = dict(
        u=xp.asarray(u, dtype=real),
        delta=xp.asarray(delta, dtype=real),
        A=xp.asarray(A, dtype=state),
        B=Bw,
        C=Cw,
        D=None if D is None else xp.asarray(D, dtype=real),
        z=None if z is None else xp.asarray(z, dtype=real),
        bias=None if delta_bias is None else xp.asarray(delta_bias, dtype=real),
        use_softplus=bool(delta_softplus),
        x0=None if x0 is None else xp.asarray(x0, dtype=state),
    )
    name = resolve_engine(engine, xp, func="selective_scan")
    if name == "numba":
        numpy_args = {k: (to_numpy(v) if hasattr(v, "shape") else v) for k, v in args.items()}
        for key in ("B", "C"):
            w = args[key]
            numpy_args[key] = _Weight(to_numpy(w.value), w.variable, w.groups)
        out, last = engine_module("numba", "selective").selective_scan(**numpy_args)
    else:
        with quiet_floating_point(xp):  # as quiet as numba: overflow (e.g. delta < 0) gives inf/NaN on both
            out, last = _selective_scan_xp(xp, **args)
    out = xp.asarray(out, dtype=u.dtype) if xp.isdtype(u.dtype, "real floating") else out
    return (out, last) if return_state else out


def _as_arrays(xp, *values):
    """array_like arguments (scalars, lists) as arrays of ``xp``, converted once on the arrays' device."""
    device = next((device_of(v) for v in values if hasattr(v, "dtype") and hasattr(v, "shape")), None)
    return tuple(v if v is None or hasattr(v, "dtype") else xp.asarray(v, device=device) for v in values)


# --------------------------------------------------------------------------------------
# xp engine
# --------------------------------------------------------------------------------------
def _softplus(xp, x):
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


def _selective_scan_xp(xp, u, delta, A, B, C, D, z, bias, use_softplus, x0):
    batch, dim, length = u.shape
    nstate = A.shape[1]
    dt = delta if bias is None else delta + bias[:, None]
    if use_softplus:
        dt = _softplus(xp, dt)
    state = A.dtype
    dev = device_of(u)
    x = xp.zeros((batch, dim, nstate), dtype=state, device=dev) if x0 is None else x0
    chunk = max(1, _XP_CHUNK_ELEMENTS // max(1, batch * dim * nstate))
    ys = []
    for t0 in range(0, length, chunk):
        t1 = min(length, t0 + chunk)
        dt_c = dt[:, :, None, t0:t1]  # (batch, D, 1, T)
        gate = xp.exp(xp.asarray(dt_c, dtype=state) * A[:, :, None])  # (batch, D, N, T)
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
