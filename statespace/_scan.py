"""Linear recurrences and the generic parallel prefix (the scan view).

:func:`linear_scan` runs ``x_t = a_t x_{t−1} + b_t`` along the time axis;
:func:`associative_scan` is the generic odd/even parallel prefix of any
associative operator over tuples of arrays (``jax.lax.associative_scan``
semantics), written with slicing and concatenation only so that it runs on
immutable array libraries too.
"""

from __future__ import annotations

from collections.abc import Callable

from ._backend import asarray, device_of, float_dtype, namespace, quiet_floating_point, time_last
from ._dispatch import capabilities
from ._engines import engine_module, resolve_engine
from ._packed import check_initial, final_states, packing, restart_gates
from ._validation import broadcast_shapes, broadcasts_to, check_axis, check_flag, deprecated_keyword

__all__ = ["linear_scan", "associative_scan"]


# --------------------------------------------------------------------------------------
# generic parallel prefix
# --------------------------------------------------------------------------------------
def _index(ndim: int, axis: int, sl: slice) -> tuple:
    return (slice(None),) * axis + (sl, ...)


def _interleave(xp, even, odd, axis: int):
    """Merge ``even`` (positions 0, 2, ...) and ``odd`` (1, 3, ...) along ``axis``."""
    n_odd = odd.shape[axis]
    head = even[_index(even.ndim, axis, slice(0, n_odd))]
    pairs = xp.stack([head, odd], axis=axis + 1)
    shape = tuple(pairs.shape[:axis]) + (2 * n_odd,) + tuple(pairs.shape[axis + 2 :])
    merged = xp.reshape(pairs, shape)
    if even.shape[axis] > n_odd:
        merged = xp.concat([merged, even[_index(even.ndim, axis, slice(n_odd, None))]], axis=axis)
    return merged


def _odd_even_scan(xp, combine, elems: list, axis: int) -> list:
    """Inclusive scan by the odd/even recursion (Blelloch 1990; O(n) work, ~2·log2 n depth)."""
    n = elems[0].shape[axis]
    if n < 2:
        return elems
    ndim = elems[0].ndim

    def sl(e, s):
        return e[_index(ndim, axis, s)]

    reduced = combine([sl(e, slice(0, n - 1, 2)) for e in elems], [sl(e, slice(1, n, 2)) for e in elems])
    odd = _odd_even_scan(xp, combine, list(reduced), axis)
    n_even_rest = (n - 1) // 2
    even_rest = combine([sl(o, slice(0, n_even_rest)) for o in odd], [sl(e, slice(2, n, 2)) for e in elems])
    even = [xp.concat([sl(e, slice(0, 1)), r], axis=axis) for e, r in zip(elems, even_rest, strict=True)]
    return [_interleave(xp, e, o, axis) for e, o in zip(even, odd, strict=True)]


def _flatten(tree, path: str, leaves: list):
    """Append the array leaves of ``tree`` to ``leaves``; return its structure (JAX's pytree nodes)."""
    if tree is None:
        return ("none",)
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):  # namedtuple
        return ("namedtuple", type(tree), [_flatten(v, f"{path}.{k}", leaves) for k, v in zip(tree._fields, tree)])
    if isinstance(tree, (tuple, list)):
        return (type(tree), [_flatten(v, f"{path}[{i}]", leaves) for i, v in enumerate(tree)])
    if isinstance(tree, dict):
        keys = sorted(tree)
        return ("dict", keys, [_flatten(tree[k], f"{path}[{k!r}]", leaves) for k in keys])
    if not (hasattr(tree, "shape") and hasattr(tree, "dtype")):
        raise TypeError(
            f"{path} must be an array (the leaves of elems are arrays; tuples, lists, namedtuples and dicts "
            f"nest them), got {type(tree).__name__}"
        )
    leaves.append(tree)
    return ("leaf",)


def _unflatten(structure, leaves):
    """Rebuild the tree of ``structure`` from an iterator of leaves."""
    kind = structure[0]
    if kind == "leaf":
        return next(leaves)
    if kind == "none":
        return None
    if kind == "namedtuple":
        return structure[1](*(_unflatten(s, leaves) for s in structure[2]))
    if kind == "dict":
        return {k: _unflatten(s, leaves) for k, s in zip(structure[1], structure[2], strict=True)}
    return kind(_unflatten(s, leaves) for s in structure[1])


@capabilities(dask="xp")
def associative_scan(fn: Callable, elems, reverse: bool = False, axis: int = -1):
    """Inclusive prefix of an associative operator, computed in parallel: ``jax.lax.associative_scan``'s semantics.

    Parameters
    ----------
    fn : callable
        ``fn(a, b)`` combines two operands, each with the structure of ``elems``
        (the same tuples, lists, namedtuples and dicts, with arrays as leaves),
        elementwise along ``axis``, and returns that structure. It must be
        associative; it need not be commutative.
    elems : array or pytree of arrays
        An array, or tuples/lists/namedtuples/dicts of arrays nested in any way.
        The leaves may have different ranks and shapes (for example ``(n, 2, 2)``
        matrices with ``(n, 2)`` vectors); they share the length ``n`` of the
        scanned axis.
    reverse : bool
        Scan from the end, as JAX does: the leaves are flipped along ``axis``,
        scanned, and flipped back, so ``fn`` receives the *later* element as its
        first operand: the result is ``[..., fn(fn(z, y), x), fn(z, y), z]`` for
        elements ``[..., x, y, z]``.
    axis : int
        The scanned axis, normalised against the first leaf's rank and then
        the same for every leaf (JAX's rule). **Default -1** (time last): the one
        documented difference from ``jax.lax.associative_scan``, whose default is 0.

    Returns
    -------
    array or pytree of arrays
        Same structure (namedtuples stay namedtuples, lists stay lists) and
        shapes as ``elems``: element ``t`` is ``fn(...fn(fn(e_0, e_1), e_2)..., e_t)``.

    Raises
    ------
    TypeError
        ``fn`` not callable, a leaf that is not an array, ``reverse`` not a bool,
        a non-integer ``axis``, ``fn`` returning another number of leaves.
    ValueError
        ``elems`` without leaves, leaves of different lengths along ``axis``, or
        ``axis`` out of range for a leaf.

    Notes
    -----
    Pairs ``(2k, 2k+1)`` are combined, the half-length sequence is scanned
    recursively, and the even positions are filled with one more combination:
    :math:`O(n)` applications of ``fn`` at depth :math:`\\approx 2\\log_2 n`, any
    length (no power-of-two padding), slicing and concatenation only, so it runs
    on immutable backends. This is the algorithm of ``jax.lax.associative_scan``;
    ``tests/test_associative_scan_jax.py`` runs JAX's own ``testAssociativeScan*``
    cases ported to NumPy.

    References
    ----------
    G. E. Blelloch, "Prefix sums and their applications", CMU-CS-90-190, 1990.

    Examples
    --------
    Running sum and running product at once:

    >>> import numpy as np
    >>> from statespace import associative_scan
    >>> s, p = associative_scan(lambda x, y: (x[0] + y[0], x[1] * y[1]), (np.arange(1.0, 6.0), np.arange(1.0, 6.0)))
    >>> s.tolist(), p.tolist()
    ([1.0, 3.0, 6.0, 10.0, 15.0], [1.0, 2.0, 6.0, 24.0, 120.0])

    Affine maps ``x ↦ M x + v`` of mixed ranks, composed in time order:

    >>> M, v = np.stack([np.eye(2)] * 3), np.ones((3, 2))
    >>> compose = lambda a, b: (b[0] @ a[0], (b[0] @ a[1][..., None])[..., 0] + b[1])
    >>> associative_scan(compose, (M, v), axis=0)[1].tolist()
    [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    check_flag(reverse, "reverse")
    items: list = []
    structure = _flatten(elems, "elems", items)
    if not items:
        raise ValueError("elems must hold at least one array, got none")
    xp = namespace(*items)
    axis = check_axis(axis, items[0].ndim, f"the first leaf of elems (shape {tuple(items[0].shape)})")
    for leaf in items:
        if leaf.ndim <= axis:
            raise ValueError(
                f"axis {axis} is out of range for a leaf of elems of shape {tuple(leaf.shape)} "
                "(the axis is normalised against the first leaf and shared by all)"
            )
    lengths = [e.shape[axis] for e in items]
    if len(set(lengths)) > 1:
        raise ValueError(
            f"the leaves of elems must have one length along axis {axis}, got shapes {[tuple(e.shape) for e in items]}"
        )

    def combine(a, b):
        result: list = []
        _flatten(fn(_unflatten(structure, iter(a)), _unflatten(structure, iter(b))), "fn's result", result)
        if len(result) != len(items):
            raise TypeError(f"fn must return the structure of elems ({len(items)} arrays), got {len(result)} arrays")
        return result

    if reverse:
        items = [xp.flip(e, axis=axis) for e in items]
    out = _odd_even_scan(xp, combine, items, axis)
    if reverse:
        out = [xp.flip(e, axis=axis) for e in out]
    return _unflatten(structure, iter(out))


# --------------------------------------------------------------------------------------
# linear recurrence
# --------------------------------------------------------------------------------------
def _gate_products(xp, a):
    """Gates in the form the tree multiplies them: ``(log|a|, sign(a))`` for real ``a``, ``a`` itself if complex.

    Pair products of real gates are formed as sums of logarithms: repeated squaring of
    a gate near 1 (``a = 0.999``) doubles its relative error at every level, which costs
    float32 a factor ~10 (2e-5 instead of 2e-6 at L = 16384); sums of logs keep the
    products at ~ε·|log Π a| and the signs multiply exactly (a zero gate has sign 0).
    """
    if xp.isdtype(a.dtype, "complex floating"):
        return None
    magnitude = xp.abs(a)
    one = xp.ones((), dtype=a.dtype, device=device_of(a))
    return xp.log(xp.where(magnitude == 0, one, magnitude)), xp.sign(a)


def _linear_tree(xp, a, b, logs=None):
    """States of ``x_t = a_t x_{t−1} + b_t`` (x_{−1} = 0), time last; ``a`` may have time length 1.

    A time-invariant ``a`` stays of length 1 through the recursion (its pair
    products are ``a²``, ``a⁴``, ...), so it is never expanded in memory.
    ``logs`` is ``(log|a|, sign a)`` for real gates (see :func:`_gate_products`).
    """
    n = b.shape[-1]
    if n < 2:
        return b
    const = a.shape[-1] == 1

    def at(x, s):
        return x if const else x[..., s]

    left, right = slice(0, n - 1, 2), slice(1, n, 2)
    if logs is None:
        a_pair, logs_pair = at(a, right) * at(a, left), None
    else:
        log_mag, sign = logs
        logs_pair = (at(log_mag, right) + at(log_mag, left), at(sign, right) * at(sign, left))
        a_pair = xp.exp(logs_pair[0]) * logs_pair[1]
    odd = _linear_tree(xp, a_pair, at(a, right) * b[..., left] + b[..., right], logs_pair)
    even_rest = at(a, slice(2, n, 2)) * odd[..., : (n - 1) // 2] + b[..., 2:n:2]
    even = xp.concat([b[..., 0:1], even_rest], axis=-1)
    return _interleave(xp, even, odd, even.ndim - 1)


def _prepare(a, b, x0, axis):
    """Validate and normalise ``linear_scan`` arguments; time on the last axis."""
    xp = namespace(a, b, x0)
    device = next((device_of(v) for v in (b, a, x0) if hasattr(v, "dtype") and hasattr(v, "shape")), None)
    a, b, x0 = (v if v is None or hasattr(v, "dtype") else xp.asarray(v, device=device) for v in (a, b, x0))
    dtype = float_dtype(xp, a, b, x0, names=("a", "b", "x0"))
    a = asarray(a, xp, dtype=dtype, device=device)
    b = asarray(b, xp, dtype=dtype, device=device)
    if a.ndim == 0 and b.ndim == 0:
        raise ValueError("a and b must have a time axis (at least one of them 1-d or more), got two 0-d arrays")
    ndim = max(a.ndim, b.ndim)
    axis = check_axis(axis, ndim, f"a (shape {tuple(a.shape)}) and b (shape {tuple(b.shape)})")
    given = (tuple(a.shape), tuple(b.shape))
    a, b = time_last(xp, a, ndim, axis), time_last(xp, b, ndim, axis)
    try:
        shape = scan_shape(a.shape, b.shape, None if x0 is None else x0.shape)
    except ValueError as error:
        if axis == ndim - 1:
            raise
        # quote the caller's shapes, not the internal time-last views
        passed = f"a of shape {given[0]}, b of shape {given[1]}"
        raise ValueError(f"{error}; as passed: {passed}, time axis {axis}") from None
    if x0 is not None:
        x0 = xp.broadcast_to(asarray(x0, xp, dtype=dtype, device=device), shape[:-1])
    return xp, a, b, x0, shape, axis, ndim, dtype


def scan_shape(a_shape, b_shape, x0_shape=None) -> tuple:
    """The broadcast shape of gates and inputs (time last), checking that ``x0`` fits its state part."""
    try:
        shape = tuple(broadcast_shapes(tuple(a_shape), tuple(b_shape)))
    except ValueError:
        raise ValueError(
            f"a and b must broadcast against each other, got a of shape {tuple(a_shape)} and b of shape "
            f"{tuple(b_shape)} (time moved last)"
        ) from None
    if x0_shape is not None and not broadcasts_to(x0_shape, shape[:-1]):
        raise ValueError(
            f"x0 must broadcast to the state shape {shape[:-1]} (a/b without the time axis), "
            f"got shape {tuple(x0_shape)}"
        )
    return shape


@capabilities(engines=("xp", "numba", "cupy"), dask="lazy", dask_note="batch and time chunks (state carried)")
def linear_scan(
    a,
    b,
    x0=None,
    reverse: bool = False,
    axis: int = -1,
    *,
    return_state: bool = False,
    engine: str | None = None,
    seq_idx=None,
    cu_seqlens=None,
    return_last: bool | None = None,
):
    """States of the first-order linear recurrence ``x_t = a_t·x_{t−1} + b_t``.

    Parameters
    ----------
    a : array_like
        Gates (decays), real or complex, broadcastable against ``b``. A
        time-invariant gate of length 1 along ``axis`` (or a scalar) is never expanded in memory.
    b : array_like
        Inputs, real or complex, shape ``(..., L)`` (time along ``axis``). ``a`` and ``b``
        may not both be 0-d: a scalar is not a sequence.
    x0 : array_like, optional
        Initial state ``x_{−1}`` (``x_L`` when ``reverse``), shaped like one time
        slice of the result (broadcastable to it). Zero by default.
    reverse : bool
        Run backwards in time: ``x_t = a_t·x_{t+1} + b_t``.
    axis : int
        Time axis of ``a`` and ``b`` (after right-aligned broadcasting).
    return_state : bool, keyword-only
        Also return the final state (``x_{L−1}``, or ``x_0`` when ``reverse``;
        ``x0`` — or zeros — when ``L = 0``).
    engine : {None, "auto", "xp", "numba", "cupy"}, keyword-only
        ``"xp"``: the odd/even tree scan in array-API code (any backend, any length).
        ``"numba"``: sequential in time, parallel over channels (NumPy arrays).
        ``"cupy"``: CUDA kernels (CuPy arrays): a thread per channel, or a chunked
        parallel scan over time when channels are few.
        ``None`` chooses (numba for NumPy arrays when installed, cupy for CuPy arrays).
    seq_idx : array of int, optional, keyword-only
        Packed sequences (see :doc:`/user_guide/sequences`): an integer per position
        (broadcasting against the states, time last) naming its sequence; the state
        restarts from zero wherever it changes. ``x0`` belongs to the first sequence.
    cu_seqlens : sequence of int, optional, keyword-only
        Packed sequences by cumulative lengths ``[0, L_0, L_0 + L_1, ..., L]``. ``x0``, if
        given, is one initial state per sequence ``(S, *state)``, and ``return_state=True``
        returns each sequence's final state ``(S, *state)``. Not with ``reverse``.
    return_last : bool, optional
        Deprecated spelling of ``return_state`` (warns; removed in 0.3).

    Returns
    -------
    x : array
        States, the broadcast shape of ``a`` and ``b``, dtype promoted from ``a``,
        ``b``, ``x0`` (integers count as float64).
    last : array
        Final state, ``x`` without the time axis (only with ``return_state=True``).

    Raises
    ------
    ValueError
        ``a`` and ``b`` do not broadcast, ``x0`` does not fit the state shape,
        ``axis`` out of range, unknown engine.
    TypeError
        An engine that cannot take these arrays (numba with non-NumPy arrays).

    Notes
    -----
    The step ``x ↦ a x + b`` is the affine map ``(a, b)``; composing "first
    ``(a_1, b_1)`` then ``(a_2, b_2)``" gives ``(a_2 a_1, a_2 b_1 + b_2)``, an
    associative operator, so the states are its inclusive prefix. ``x0`` is
    folded into the first input, :math:`b_0 \\leftarrow a_0 x_0 + b_0`. The tree
    and the sequential loop both stay within ~2e-6 relative in float32 for
    ``a ≈ 0.999`` over 16384 steps (tested).

    Examples
    --------
    >>> import numpy as np
    >>> from statespace import linear_scan
    >>> x, last = linear_scan(np.full(4, 0.5), np.ones(4), x0=np.array(8.0), return_state=True)
    >>> x.tolist(), float(last)
    ([5.0, 3.5, 2.75, 2.375], 2.375)
    """
    return_state = deprecated_keyword(
        return_state, return_last, new="return_state", old="return_last", func="linear_scan"
    )
    check_flag(return_state, "return_state")
    check_flag(reverse, "reverse")
    if seq_idx is not None or cu_seqlens is not None:
        if reverse:
            raise ValueError("packed sequences (seq_idx / cu_seqlens) run forward only: reverse must be False")
        return _packed_linear_scan(a, b, x0, axis, return_state, engine, seq_idx, cu_seqlens)
    xp, a, b, x0, shape, axis, ndim, dtype = _prepare(a, b, x0, axis)
    name = resolve_engine(engine, xp, func="linear_scan")
    if name != "xp":  # the engine's kernel takes its own backend's arrays
        x = engine_module(name, "scan").linear_scan(a, b, x0, shape, reverse)
    else:
        with quiet_floating_point(xp):  # as quiet as the numba engine on overflow and inf - inf
            x = _linear_scan_xp(xp, a, b, x0, shape, reverse)
    if return_state:
        if shape[-1] == 0:
            last = x0 if x0 is not None else xp.zeros(shape[:-1], dtype=dtype, device=device_of(x))
        else:
            last = x[..., 0] if reverse else x[..., -1]
    if axis != ndim - 1:
        x = xp.moveaxis(x, -1, axis)
    return (x, last) if return_state else x


def _linear_scan_xp(xp, a, b, x0, shape, reverse):
    b = xp.broadcast_to(b, shape)
    if shape[-1] == 0:
        return xp.asarray(b, copy=True)
    if reverse:
        a = a if a.shape[-1] == 1 else xp.flip(a, axis=-1)
        b = xp.flip(b, axis=-1)
    if x0 is not None:
        b = xp.concat([a[..., 0:1] * x0[..., None] + b[..., 0:1], b[..., 1:]], axis=-1)
    x = _linear_tree(xp, a, b, _gate_products(xp, a))
    if x is b:
        x = xp.asarray(b, copy=True)
    return xp.flip(x, axis=-1) if reverse else x


def _packed_linear_scan(a, b, x0, axis, return_state, engine, seq_idx, cu_seqlens):
    """:func:`statespace.linear_scan` over packed sequences: restarts folded into the gates, any engine."""
    xp = namespace(a, b, x0, seq_idx)
    dtype = float_dtype(xp, a, b, x0)
    device = device_of(b) if device_of(b) is not None else device_of(a)
    a, b = xp.asarray(a, dtype=dtype, device=device), xp.asarray(b, dtype=dtype, device=device)
    ndim = max(a.ndim, b.ndim, 1)
    axis = check_axis(axis, ndim, f"a (shape {tuple(a.shape)}) and b (shape {tuple(b.shape)})")
    a, b = time_last(xp, a, ndim, axis), time_last(xp, b, ndim, axis)
    shape = scan_shape(a.shape, b.shape)
    pack = packing(xp, seq_idx, cu_seqlens, shape[-1], device)
    if not broadcasts_to(tuple(pack.restart.shape), shape):
        raise ValueError(f"seq_idx must broadcast to the scan's shape {shape} (time last), got {seq_idx.shape}")
    if pack.bounds is None:  # seq_idx: restart from zero, x0 is the first sequence's
        gates, inputs = restart_gates(xp, a, b, pack, None)
        out = linear_scan(gates, inputs, x0=x0, return_state=return_state, engine=engine)
        x, last = out if return_state else (out, None)
    else:
        check_initial(x0, pack, shape[:-1])
        x0 = None if x0 is None else xp.asarray(x0, dtype=dtype, device=device)
        gates, inputs = restart_gates(xp, a, b, pack, x0)
        x = linear_scan(gates, inputs, engine=engine)
        last = final_states(xp, x, pack, x0) if return_state else None
    if axis != ndim - 1:
        x = xp.moveaxis(x, -1, axis)
    return (x, last) if return_state else x
