"""The Dask plug-in: lazy, chunked, larger-than-memory inputs of the hot functions.

This module is imported by the dispatch point (:mod:`statespace._dispatch`) the first
time a Dask array reaches a public function whose capability record says
``dask="lazy"``; each function below registers itself, with
:func:`~statespace._dispatch.dask_implementation`, as the Dask implementation of the
public function of the same name.  They build a lazy Dask graph and return Dask
arrays; nothing here calls ``compute``.  No topic module imports this one.

* **Batch / channel chunks** run blockwise (``dask.array.blockwise``): each block goes
  through the public function itself on the block's NumPy (or CuPy) arrays, so the
  best local engine serves it (``engine=None``: numba for NumPy blocks when installed).
* **Time chunks** of the scans carry the state across chunks. For each time chunk
  ``k`` two small per-chunk summaries are formed in parallel: the decay over the
  chunk (``Π a``, ``e^{A ΣΔ}``, ``Ā^{T_k}``) and the final state of the chunk run from
  zero; the carried state is the chain ``c_{k+1} = decay_k · c_k + last_k`` (one small
  elementwise task per chunk and batch block, no all-to-all); each chunk is then
  re-run with ``x0 = c_k``. Two passes over the data, both parallel over chunks.
* **causal_conv** across time chunks is an overlap-add: output chunk ``i`` sums the
  convolutions of the input chunks ``j ≤ i`` with the kernel segment that links
  them; a kernel shorter than a chunk links only neighbouring chunks (O(chunks)
  tasks), a kernel as long as the sequence links all pairs (O(chunks²) tasks).

* **expm** and the batch-only functions run blockwise; the axes a block needs whole
  (matrix, mode, rank axes; time for :func:`~statespace.bidirectional_conv`) must be one
  chunk, and a clear error says which when they are not.

Dask is imported only here, and only when a Dask array arrives.
"""

from __future__ import annotations

import string
from functools import partial

import array_api_compat
import numpy as np

from ._backend import complex_dtype, float_dtype, real_dtype, time_last
from ._dispatch import dask_implementation
from ._validation import (
    broadcast_shapes,
    broadcasts_to,
    check_axis,
    check_choice,
    check_positive_int,
    deprecated_keyword,
    require_modes,
)

_BATCH = string.ascii_lowercase


def _da():
    import dask.array as da

    return da


def _as_dask(x):
    """Arrays become Dask arrays (one chunk); ``None`` and Python scalars pass through."""
    if x is None or isinstance(x, (bool, int, float, complex)):
        return x
    da = _da()
    return x if isinstance(x, da.Array) else da.asarray(x)


def _probe(x):
    """An empty NumPy array of ``x``'s dtype (for the dtype rules of :mod:`statespace._backend`)."""
    if x is None or isinstance(x, (bool, int, float, complex)):
        return x
    return np.empty(0, dtype=x.dtype)


def _tiny(x):
    """A NumPy array of ones with ``x``'s dtype and number of axes, every axis of length 1."""
    return np.ones((1,) * x.ndim, dtype=x.dtype) if hasattr(x, "shape") else x


def _dtype(*arrays):
    return float_dtype(np, *(_probe(x) for x in arrays))


def _block_namespace(*arrays):
    """The array namespace of the blocks (NumPy, CuPy, ...) from the Dask arrays' meta."""
    metas = [x._meta for x in arrays if array_api_compat.is_dask_array(x)]
    return array_api_compat.array_namespace(*metas)


def _check_engine(engine, func: str, *arrays, variant=None):
    """Resolve ``engine`` for the blocks' array library now, so a bad one fails before any task runs."""
    from ._engines import resolve_engine

    resolve_engine(engine, _block_namespace(*arrays), func=func, variant=variant)


def _single_chunk(x, axis: int, name: str, what: str):
    """Require one chunk along ``axis``: the blocks need the whole axis."""
    if array_api_compat.is_dask_array(x) and len(x.chunks[axis]) > 1:
        axis_name = axis if axis >= 0 else axis + x.ndim
        raise ValueError(
            f"{name} is split into {len(x.chunks[axis])} chunks along axis {axis_name} ({what}), which every block "
            f"needs whole; rechunk with {name}.rechunk({{{axis}: -1}})"
        )


def _blockwise(fn, out_tail: str, args, batch_ndim: int, dtype, new_axes=None):
    """``dask.array.blockwise`` with batch axes right-aligned and named ``a, b, ...``.

    ``args`` holds ``(operand, tail)`` pairs: a Dask array whose trailing axes carry the
    upper-case indices of ``tail`` and whose leading axes are (the last of) the batch
    axes; any other operand (``None``, a scalar) is passed to every block as is.
    Indices absent from ``out_tail`` are contracted: the callers make those axes one chunk, so
    the block sees the whole axis.
    """
    da = _da()
    letters = _BATCH[:batch_ndim]
    flat, first = [], None
    for x, tail in args:
        if array_api_compat.is_dask_array(x):
            lead = x.ndim - len(tail)
            flat += [x, letters[batch_ndim - lead :] + tail]
            first = x if first is None else first
        else:
            flat += [x, None]
    out_ind = letters + out_tail
    meta = array_api_compat.array_namespace(first._meta).empty((0,) * len(out_ind), dtype=dtype)
    return da.blockwise(
        partial(_call_on_blocks, fn),
        out_ind,
        *flat,
        new_axes=new_axes or {},
        dtype=dtype,
        meta=meta,
        concatenate=False,
    )


def _call_on_blocks(fn, *args):
    """Call ``fn`` with the blocks: a contracted axis arrives as a list of its (single) block.

    Every contracted axis is one chunk (checked, or rechunked, before the graph is built), so
    unwrapping avoids the copy that ``concatenate=True`` makes of a lone block.
    """
    blocks = []
    for arg in args:
        while isinstance(arg, list):
            if len(arg) != 1:
                raise AssertionError(f"a contracted axis arrived in {len(arg)} chunks")
            arg = arg[0]
        blocks.append(arg)
    return fn(*blocks)


def _time_bounds(x):
    """``(start, stop)`` of the chunks of ``x`` along its last axis."""
    bounds, start = [], 0
    for size in x.chunks[-1]:
        bounds.append((start, start + size))
        start += size
    return bounds or [(0, 0)]


def _time_slice(x, start: int, stop: int):
    """Steps ``start:stop`` of ``x``, one chunk along time; a length-1 axis stays."""
    if x is None or x.shape[-1] == 1:
        return x
    return x[..., start:stop].rechunk({-1: -1})


def _chain(decay, last, carry):
    """Carried state after one chunk: ``decay · carry + last`` (``last`` when nothing is carried)."""
    return last if carry is None else decay * carry + last


# --------------------------------------------------------------------------------------
# linear_scan
# --------------------------------------------------------------------------------------
def _scan_block(a, b, x0, engine):
    from ._scan import linear_scan

    return linear_scan(a, b, x0=x0, engine=engine)


def _scan_last_block(a, b, engine):
    """Final state of the block's scan from a zero state."""
    from ._scan import linear_scan

    return linear_scan(a, b, engine=engine, return_state=True)[1]


def _chunk_decay(a, group: int = 16):
    """``Π_t a_t`` over the block's steps: products of ``group`` gates, then ``exp(Σ log)`` of those.

    A running product of many gates below 1 walks through the subnormal range on its
    way to zero, which costs ~10× in time; summing logarithms goes straight to 0, and
    taking them of products of 16 gates keeps the logarithms few. (A group product
    leaves the floating-point range only if 16 consecutive gates average beyond
    ~1e±19, and then so does the whole product unless huge and tiny gates alternate.)
    """
    xp = array_api_compat.array_namespace(a)
    steps = a.shape[-1]
    whole = steps - steps % group
    grouped = xp.reshape(a[..., :whole], tuple(a.shape[:-1]) + (whole // group, group))
    partial_products = xp.concat([xp.prod(grouped, axis=-1), xp.prod(a[..., whole:], axis=-1, keepdims=True)], axis=-1)
    with np.errstate(divide="ignore"):  # a zero gate: log 0 = -inf, exp(-inf) = 0
        if xp.isdtype(a.dtype, "complex floating"):
            return xp.exp(xp.sum(xp.log(partial_products), axis=-1))
        magnitude = xp.exp(xp.sum(xp.log(xp.abs(partial_products)), axis=-1))
    negatives = xp.sum(xp.astype(partial_products < 0, xp.int64), axis=-1)
    return xp.where(negatives % 2 == 1, -magnitude, magnitude)


@dask_implementation("linear_scan")
def linear_scan(a, b, x0=None, reverse=False, axis=-1, *, return_state=False, engine=None, return_last=None):
    """:func:`statespace.linear_scan` on Dask arrays (see the module docstring)."""
    return_state = deprecated_keyword(
        return_state, return_last, new="return_state", old="return_last", func="linear_scan"
    )
    from ._scan import scan_shape

    da = _da()
    a, b, x0 = (x if x is None else da.asarray(x) for x in (a, b, x0))
    dtype = _dtype(a, b, x0)
    ndim = max(a.ndim, b.ndim, 1)
    axis = check_axis(axis, ndim, f"a (shape {tuple(a.shape)}) and b (shape {tuple(b.shape)})")
    a, b = (time_last(_da(), x.astype(dtype), ndim, axis) for x in (a, b))
    shape = scan_shape(a.shape, b.shape, None if x0 is None else x0.shape)
    if x0 is not None:
        x0 = x0.astype(dtype)
    _check_engine(engine, "linear_scan", a, b)
    if reverse:
        a, b = (x if x.shape[-1] == 1 else da.flip(x, axis=-1) for x in (a, b))
    reference = b if b.shape[-1] == shape[-1] else a
    batch_ndim, carry, pieces = ndim - 1, x0, []
    for start, stop in _time_bounds(reference):
        a_k, b_k = _time_slice(a, start, stop), _time_slice(b, start, stop)
        operands = [(a_k, "T"), (b_k, "T")]
        pieces.append(_blockwise(partial(_scan_block, engine=engine), "T", [*operands, (carry, "")], batch_ndim, dtype))
        if stop < shape[-1]:
            decay = (
                a_k[..., 0] ** (stop - start)
                if a_k.shape[-1] == 1
                else _blockwise(_chunk_decay, "", [(a_k, "T")], batch_ndim, dtype)
            )
            last = _blockwise(partial(_scan_last_block, engine=engine), "", operands, batch_ndim, dtype)
            carry = _chain(decay, last, carry)
    x = pieces[0] if len(pieces) == 1 else da.concatenate(pieces, axis=-1)
    final = x[..., -1] if shape[-1] else (carry if carry is not None else da.zeros(shape[:-1], dtype=dtype))
    if reverse:
        x = da.flip(x, axis=-1)
    if axis != ndim - 1:
        x = da.moveaxis(x, -1, axis)
    if not return_state:
        return x
    return x, da.broadcast_to(final, shape[:-1])


# --------------------------------------------------------------------------------------
# causal_conv
# --------------------------------------------------------------------------------------
def _conv_block(u, K, start, length):
    """Steps ``start : start + length`` of the full linear convolution of ``u`` with ``K``."""
    from ._conv import causal_conv

    total = start + length
    xp = array_api_compat.array_namespace(u)
    if total > u.shape[-1]:
        pad = xp.zeros(tuple(u.shape[:-1]) + (total - u.shape[-1],), dtype=u.dtype, device=array_api_compat.device(u))
        u = xp.concat([u, pad], axis=-1)
    return causal_conv(u[..., :total], K)[..., start:]


@dask_implementation("causal_conv")
def causal_conv(u, K, D=None, axis=-1):
    """:func:`statespace.causal_conv` on Dask arrays: overlap-add across time chunks."""
    from ._conv import conv_batch

    da = _da()
    u, K, D = (_as_dask(x) for x in (u, K, D))
    for name, arr in (("u", u), ("K", K)):
        if arr.ndim < 1:
            raise ValueError(f"{name} must have a time axis (at least 1 dimension), got shape {tuple(arr.shape)}")
    ndim = max(u.ndim, K.ndim)
    axis = check_axis(axis, ndim, f"u (shape {tuple(u.shape)}) and K (shape {tuple(K.shape)})")
    dtype = _dtype(u, K, D)
    u, K = (time_last(_da(), x.astype(dtype), ndim, axis) for x in (u, K))
    length = u.shape[-1]
    if D is not None:
        D = da.asarray(D).astype(dtype)
    batch = conv_batch(u.shape, K.shape, None if D is None else D.shape)
    K = K[..., :length]
    outputs = [_conv_chunk(u, K, start, stop, dtype, len(batch)) for start, stop in _time_bounds(u)]
    y = outputs[0] if len(outputs) == 1 else da.concatenate(outputs, axis=-1)
    if D is not None:
        y = y + D[..., None] * u
    if tuple(y.shape[:-1]) != batch:
        y = da.broadcast_to(y, batch + (length,))
    return da.moveaxis(y, -1, axis) if axis != ndim - 1 else y


def _conv_chunk(u, K, start, stop, dtype, batch_ndim):
    """Output steps ``start:stop``: the sum over the input chunks the kernel reaches from there."""
    da = _da()
    taps = K.shape[-1]
    pieces = []
    for in_start, in_stop in _time_bounds(u):
        if in_start > start:
            break
        in_start = max(in_start, start - taps + 1)  # older input cannot reach this chunk
        lo, hi = max(0, start - in_stop + 1), min(taps, stop - in_start)
        if in_start >= in_stop or lo >= hi:
            continue
        piece = _blockwise(
            partial(_conv_block, start=start - in_start - lo, length=stop - start),
            "O",
            [(u[..., in_start:in_stop].rechunk({-1: -1}), "T"), (K[..., lo:hi].rechunk({-1: -1}), "K")],
            batch_ndim,
            dtype,
            new_axes={"O": stop - start},
        )
        pieces.append(piece)
    if not pieces:
        return da.zeros(tuple(u.shape[:-1]) + (stop - start,), dtype=dtype, chunks=u.chunks[:-1] + ((stop - start,),))
    total = pieces[0]
    for piece in pieces[1:]:
        total = total + piece
    return total


# --------------------------------------------------------------------------------------
# recurrence, diagonal systems
# --------------------------------------------------------------------------------------
def _diag_block(Ab, Bb, C, u, D, x0, conj, engine, want_state):
    from ._recurrence import recurrence

    result = recurrence(Ab, Bb, C, u, D, x0, conj=conj, structure="diag", return_state=want_state, engine=engine)
    return result[1] if want_state else result


@dask_implementation("recurrence")
def recurrence(Ab, Bb, C, u, D=None, x0=None, *, conj=True, structure=None, return_state=False, engine=None):
    """:func:`statespace.recurrence` on Dask arrays: diagonal systems (dense and DPLR are refused)."""
    from . import _recurrence

    kind = _recurrence.system_structure(Ab, Bb, C, structure)
    if kind != "diag":
        raise NotImplementedError(
            f"recurrence of {kind} systems is not supported on Dask arrays yet (diagonal systems are); "
            "compute the inputs first (x.compute()) or diagonalize the system"
        )
    if conj and np.issubdtype(u.dtype, np.complexfloating):  # the public function splits Re/Im, then comes back
        return _recurrence.recurrence.__wrapped__(
            Ab, Bb, C, u, D, x0, conj=conj, structure=kind, return_state=return_state, engine=engine
        )
    return _recurrence_diag(Ab, Bb, C, u, D, x0, conj, return_state, engine)


def _recurrence_diag(Ab, Bb, C, u, D, x0, conj, return_state, engine):
    """The diagonal :func:`statespace.recurrence` on Dask arrays (state carried across time chunks)."""
    from ._recurrence import recurrence

    da = _da()
    Ab, Bb, C, u, D, x0 = (_as_dask(x) for x in (Ab, Bb, C, u, D, x0))
    if u.ndim < 1:
        raise ValueError("u must be (..., L), got a 0-d array")
    for name, arr in (("Ab", Ab), ("Bb", Bb), ("C", C), ("x0", x0)):
        _single_chunk(arr, -1, name, "the mode axis N2")
    try:
        modes = tuple(broadcast_shapes(Ab.shape, Bb.shape, C.shape))
        batch = tuple(broadcast_shapes(modes[:-1], u.shape[:-1]))
    except ValueError:
        raise ValueError(
            f"batch shapes do not broadcast: Ab {tuple(Ab.shape)}, Bb {tuple(Bb.shape)}, C {tuple(C.shape)}, "
            f"u {tuple(u.shape)}"
        ) from None
    if x0 is not None:
        state_shape = batch + modes[-1:]
        if not broadcasts_to(tuple(x0.shape), state_shape):
            raise ValueError(f"x0 must broadcast to the state shape {state_shape} (batch, N2), got {tuple(x0.shape)}")
    _check_engine(engine, "recurrence", Ab, Bb, C, u, variant="diag")
    tiny = [_tiny(x) for x in (Ab, Bb, C, u, D, x0)]  # the output dtype, by the function's own rules
    y_dtype = recurrence(*tiny, conj=conj, structure="diag", engine="xp").dtype
    state_dtype = _dtype(Ab, Bb, C, u, D, x0)
    system = [(Ab, "N"), (Bb, "N"), (C, "N")]
    batch_ndim, carry, pieces = len(batch), x0, []
    for start, stop in _time_bounds(u):
        u_k = _time_slice(u, start, stop)
        run = partial(_diag_block, conj=conj, engine=engine, want_state=False)
        pieces.append(_blockwise(run, "T", [*system, (u_k, "T"), (D, ""), (carry, "N")], batch_ndim, y_dtype))
        if not return_state and stop == u.shape[-1]:
            break
        summary = partial(_diag_block, conj=conj, engine=engine, want_state=True)
        last = _blockwise(summary, "N", [*system, (u_k, "T"), (None, ""), (None, "")], batch_ndim, state_dtype)
        carry = _chain(Ab.astype(state_dtype) ** (stop - start), last, carry)
    y = pieces[0] if len(pieces) == 1 else da.concatenate(pieces, axis=-1)
    if tuple(y.shape[:-1]) != batch:
        y = da.broadcast_to(y, batch + (u.shape[-1],))
    if not return_state:
        return y
    return y, da.broadcast_to(carry, batch + modes[-1:])


# --------------------------------------------------------------------------------------
# selective_scan
# --------------------------------------------------------------------------------------
def _selective_block(u, delta, A, B, C, D, z, bias, x0, softplus, engine, want_state):
    from ._selective import selective_scan

    result = selective_scan(
        u,
        delta,
        A,
        B,
        C,
        D=D,
        z=z,
        delta_bias=bias,
        delta_softplus=softplus,
        x0=x0,
        return_state=want_state,
        engine=engine,
    )
    return result[1] if want_state else result


def _delta_sum(delta, bias, use_softplus, dtype):
    """``Σ_t Δ_t`` over the block's steps, ``Δ`` as :func:`statespace.selective_scan` forms it."""
    from ._selective import softplus

    xp = array_api_compat.array_namespace(delta)
    dt = xp.astype(delta, dtype)
    if bias is not None:
        dt = dt + xp.astype(bias, dtype)[:, None]
    if use_softplus:
        dt = softplus(xp, dt)
    return xp.sum(dt, axis=-1)


def _weight_index(w, name):
    """blockwise tail of a B/C operand in :func:`statespace._selective.selective_weight`'s layout."""
    if w.ndim == 2:
        return "dN"
    _single_chunk(w, -2, name, "the state axis N")
    _single_chunk(w, 1, name, "the group axis G")
    return "GNT"


@dask_implementation("selective_scan")
def selective_scan(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    delta_softplus=False,
    x0=None,
    *,
    return_state=False,
    engine=None,
    return_last_state=None,
):
    """:func:`statespace.selective_scan` on Dask arrays (state carried across time chunks)."""
    return_state = deprecated_keyword(
        return_state, return_last_state, new="return_state", old="return_last_state", func="selective_scan"
    )
    from ._selective import compute_dtype, selective_weight

    da = _da()
    u, delta, A, B, C, D, z, delta_bias, x0 = (_as_dask(x) for x in (u, delta, A, B, C, D, z, delta_bias, x0))
    if u.ndim != 3:
        raise ValueError(f"u must be (batch, D, L), got shape {tuple(u.shape)}")
    batch, dim, length = u.shape
    for name, arr in (("delta", delta), ("z", z)):
        if arr is not None and tuple(arr.shape) != tuple(u.shape):
            raise ValueError(f"{name} must have shape {tuple(u.shape)}, got {tuple(arr.shape)}")
    if A.ndim != 2 or A.shape[0] != dim:
        raise ValueError(f"A must be (D, N) with D = {dim} (u's channels), got shape {tuple(A.shape)}")
    expected = (("D", D, (dim,)), ("delta_bias", delta_bias, (dim,)), ("x0", x0, (batch, dim, A.shape[1])))
    for name, arr, shape in expected:
        if arr is not None and tuple(arr.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(arr.shape)}")
    a_complex = np.issubdtype(A.dtype, np.complexfloating)
    for name, arr in (("A", A), ("x0", x0)):
        _single_chunk(arr, -1, name, "the state axis N")
    _check_engine(engine, "selective_scan", u, delta, A)
    real = compute_dtype(np, *(_probe(x) for x in (u, delta, A, B, C, D, z, delta_bias, x0)))
    xp = array_api_compat.array_namespace(u)  # Dask's namespace: the layout rule runs lazily
    B, C = (selective_weight(xp, w, name, A, batch, length, real, a_complex).value for name, w in (("B", B), ("C", C)))
    tails = {name: _weight_index(w, name) for name, w in (("B", B), ("C", C))}
    grouped = [w for w in (B, C) if w.ndim == 4 and w.shape[1] > 1]
    if grouped:
        for name, arr in (("u", u), ("delta", delta), ("z", z), ("A", A), ("D", D), ("delta_bias", delta_bias)):
            _single_chunk(arr, 1 if name in ("u", "delta", "z") else 0, name, "the channel axis D, with G > 1 groups")
    state_dtype = complex_dtype(np, real) if a_complex else real
    out_dtype = u.dtype if np.issubdtype(u.dtype, np.floating) else real

    def operands(start, stop, carry):
        def cut(w, name):
            return w if w.ndim == 2 else _time_slice(w, start, stop)

        return [
            (_time_slice(u, start, stop), "dT"),
            (_time_slice(delta, start, stop), "dT"),
            (A, "dN"),
            (cut(B, "B"), tails["B"]),
            (cut(C, "C"), tails["C"]),
            (D, "d"),
            (_time_slice(z, start, stop), "dT"),
            (delta_bias, "d"),
            (carry, "dN"),
        ]

    options = dict(softplus=bool(delta_softplus), engine=engine)
    carry, pieces = x0, []
    for start, stop in _time_bounds(u):
        run = partial(_selective_block, want_state=False, **options)
        pieces.append(_blockwise(run, "dT", operands(start, stop, carry), 1, out_dtype))
        if not return_state and stop == length:
            break
        plain = operands(start, stop, None)
        plain[5], plain[6] = (None, "d"), (None, "dT")  # the state ignores D and z
        last = _blockwise(partial(_selective_block, want_state=True, **options), "dN", plain, 1, state_dtype)
        steps = _blockwise(
            partial(_delta_sum, use_softplus=bool(delta_softplus), dtype=real),
            "d",
            [plain[1], (delta_bias, "d")],
            1,
            real,
        )
        decay = da.exp(A.astype(state_dtype)[None] * steps[..., None])
        carry = _chain(decay, last, carry)
    out = pieces[0] if len(pieces) == 1 else da.concatenate(pieces, axis=-1)
    if not return_state:
        return out
    return out, carry


# --------------------------------------------------------------------------------------
# kernels and Cauchy sums over a chunked batch
# --------------------------------------------------------------------------------------
def _kernel_diag_block(Lambda, B, C, dt, L, method, per_mode, engine):
    from ._kernels import kernel_diag

    return kernel_diag(Lambda, B, C, dt, L, method=method, per_mode=per_mode, engine=engine)


def _step_operand(dt, per_mode):
    """``(dt, tail)``: one step per system (its whole shape is batch), or per mode (``per_mode=True``)."""
    if array_api_compat.is_dask_array(dt) and per_mode:
        _single_chunk(dt, -1, "dt", "the mode axis N2")
        return dt, "N"
    return dt, ""


@dask_implementation("kernel_diag")
def kernel_diag(Lambda, B, C, dt, L, method="zoh", *, per_mode=False, engine=None):
    """:func:`statespace.kernel_diag` over a chunked batch (blockwise; the mode axis whole)."""
    from ._kernels import DIAG_KERNEL_METHODS

    Lambda, B, C, dt = (_as_dask(x) for x in (Lambda, B, C, dt))
    check_choice(method, "method", DIAG_KERNEL_METHODS)
    require_modes(Lambda, "Lambda")
    require_modes(C, "C", Lambda.shape[-1])
    L = check_positive_int(L, "L")
    for name, arr in (("Lambda", Lambda), ("B", B), ("C", C)):
        _single_chunk(arr, -1, name, "the mode axis N2")
    _check_engine(engine, "kernel_diag", Lambda, B, C)
    dtype = real_dtype(np, _dtype(Lambda, B, C))
    ndim = max(Lambda.ndim, B.ndim, C.ndim)
    args = [(Lambda, "N"), (B, "N"), (C, "N"), _step_operand(dt, per_mode)]
    fn = partial(_kernel_diag_block, L=L, method=method, per_mode=bool(per_mode), engine=engine)
    return _blockwise(fn, "K", args, ndim - 1, dtype, new_axes={"K": L})


def _kernel_dplr_block(Lambda, P, B, C, dt, x0, L, ctilde, per_mode, engine):
    from ._kernels import kernel_dplr

    result = kernel_dplr(Lambda, P, B, C, dt, L, x0=x0, ctilde=ctilde, per_mode=per_mode, engine=engine)
    if x0 is None:
        return result
    xp = array_api_compat.array_namespace(result[0])
    return xp.stack(result, axis=-2)


@dask_implementation("kernel_dplr")
def kernel_dplr(Lambda, P, B, C, dt, L, *, x0=None, ctilde=True, per_mode=False, engine=None):
    """:func:`statespace.kernel_dplr` over a chunked batch (blockwise; rank and mode axes whole)."""
    from ._kernels import check_dplr_operands

    Lambda, P, B, C, dt, x0 = (_as_dask(x) for x in (Lambda, P, B, C, dt, x0))
    L = check_dplr_operands(Lambda, P, B, C, x0, L)
    for name, arr in (("Lambda", Lambda), ("B", B), ("C", C), ("x0", x0)):
        _single_chunk(arr, -1, name, "the mode axis N2")
    for axis in (-1, -2):
        _single_chunk(P, axis, "P", "the rank and mode axes r, N2")
    _check_engine(engine, "kernel_dplr", Lambda, P, B, C)
    dtype = real_dtype(np, _dtype(Lambda, P, B, C, x0))
    ndim = max(Lambda.ndim, P.ndim - 1, B.ndim, C.ndim, 0 if x0 is None else x0.ndim)
    args = [(Lambda, "N"), (P, "RN"), (B, "N"), (C, "N"), _step_operand(dt, per_mode), (x0, "N")]
    fn = partial(_kernel_dplr_block, L=L, ctilde=bool(ctilde), per_mode=bool(per_mode), engine=engine)
    if x0 is None:
        return _blockwise(fn, "K", args, ndim - 1, dtype, new_axes={"K": L})
    both = _blockwise(fn, "SK", args, ndim - 1, dtype, new_axes={"S": 2, "K": L})
    return both[..., 0, :], both[..., 1, :]


def _cauchy_block(v, z, w, conj, engine):
    from ._cauchy import cauchy

    return cauchy(v, z, w, conj=conj, engine=engine)


@dask_implementation("cauchy")
def cauchy(v, z, w, conj=True, *, engine=None):
    """:func:`statespace.cauchy` over a chunked batch and chunked nodes ``z`` (the mode axis whole)."""
    v, z, w = (_as_dask(x) for x in (v, z, w))
    require_modes(v, "v")
    require_modes(w, "w", v.shape[-1])
    require_modes(z, "z")
    broadcast_shapes(v.shape[:-1], z.shape[:-1], w.shape[:-1], names=("v", "z", "w"))
    for name, arr in (("v", v), ("w", w)):
        _single_chunk(arr, -1, name, "the mode axis N2")
    _check_engine(engine, "cauchy", v, z, w)
    dtype = complex_dtype(np, _dtype(v, z, w))
    ndim = max(v.ndim, z.ndim, w.ndim)
    fn = partial(_cauchy_block, conj=bool(conj), engine=engine)
    return _blockwise(fn, "K", [(v, "N"), (z, "K"), (w, "N")], ndim - 1, dtype)


# --------------------------------------------------------------------------------------
# blockwise over the batch: expm, bidirectional_conv
# --------------------------------------------------------------------------------------
@dask_implementation("expm")
def expm(A, *, engine=None):
    """:func:`statespace.expm` over a chunked stack (blockwise; the matrix axes whole)."""
    from ._expm import expm as public

    A = _as_dask(A)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"A must be a stack of square matrices (..., n, n), got shape {tuple(A.shape)}")
    A = A.rechunk({-2: -1, -1: -1})  # each block needs whole matrices (small: n x n)
    _check_engine(engine, "expm", A)
    dtype = _dtype(A)
    return _blockwise(partial(public, engine=engine), "IJ", [(A, "IJ")], A.ndim - 2, dtype)


def _bidirectional_block(u, K_forward, K_backward, D):
    from ._bidirectional import bidirectional_conv

    return bidirectional_conv.__wrapped__(u, K_forward, K_backward, D)


@dask_implementation("bidirectional_conv")
def bidirectional_conv(u, K_forward, K_backward, D=None, axis=-1):
    """:func:`statespace.bidirectional_conv` over a chunked batch (blockwise); time chunks are refused."""
    da = _da()
    u, K_forward, K_backward, D = (_as_dask(x) for x in (u, K_forward, K_backward, D))
    ndim = max(u.ndim, K_forward.ndim, K_backward.ndim, 1)
    axis = check_axis(axis, ndim, f"u (shape {tuple(u.shape)})")
    operands = {"u": u, "K_forward": K_forward, "K_backward": K_backward}
    for name, x in operands.items():
        if x.ndim and len(x.chunks[axis - ndim + x.ndim]) > 1:
            raise NotImplementedError(
                f"bidirectional_conv is not supported on Dask arrays chunked along time yet: {name} has "
                f"{len(x.chunks[axis - ndim + x.ndim])} chunks along the time axis; rechunk it to one chunk there"
            )
    u, K_forward, K_backward = (time_last(da, x, ndim, axis) for x in operands.values())
    tiny = [_tiny(x) for x in (u, K_forward, K_backward, D)]
    dtype = _bidirectional_block(*tiny).dtype
    args = [(u, "T"), (K_forward, "K"), (K_backward, "J"), (D, "")]
    y = _blockwise(_bidirectional_block, "T", args, ndim - 1, dtype)
    return da.moveaxis(y, -1, axis) if axis != ndim - 1 else y
