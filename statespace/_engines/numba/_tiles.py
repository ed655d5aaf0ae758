"""Transposing copies for numba kernels: 8×8 tiles moved through vector registers.

A kernel that works channels-innermost (SIMD lanes across channels) reads its
inputs and writes its outputs time-innermost, ``(batch, channels, time)``. The
plain copy between the two, ``dst[s, j] = src[j, s]``, is one scalar load and one
scalar store per element, whichever side the loop walks contiguously: LLVM does
not vectorise a transposition. :func:`transpose_block` moves ``8 × 8`` tiles with
eight vector loads, the three-stage shuffle network of the classic SIMD transpose
(interleave pairs of rows within 128-bit halves, combine pairs of pairs, swap
128-bit halves; on AVX2 ``vunpcklps``/``vunpckhps``, ``vshufps``, ``vperm2f128``:
24 shuffles for 64 floats) and eight vector stores. It is written as LLVM vector
IR (``shufflevector``), so LLVM picks the instructions for the machine; float64
tiles are split into register halves the same way.

It copies a whole rectangle: full tiles that way, the ragged edges element by
element. Values are moved, never computed on: the copy is exact (NaN payloads
and signed zeros included). Each copy is an LLVM function defined in the calling
kernel's module at its first use there (never inlined), so a kernel that stages
three inputs and writes one output compiles the tile loops once, not four times:
first use of the selective scan's float32 and float64 kernels together 3.45 → 2.9 s,
of the diagonal recurrence's 1.65 → 1.5 s (compile times of the kernels, three fresh
processes each, alternating with the inline version); the kernels' speed is unchanged.

Two grouped forms serve the diagonal recurrence when a channel's modes are split over
several lanes: :func:`transpose_spread` stores each transposed tile into every lane group
(one transposition, several stores) and :func:`transpose_summed` reads each tile row as the
sum of the groups' rows, added in group order as the loop ``for g: y += row[g]`` would (so the
sum costs the loads and additions, and no pass of its own).

:func:`transpose_gated` is the selective scan's write-back: each transposed row is multiplied by Mamba's output
gate ``z / (1 + e^{-z})`` of a third array laid out as the destination, so ``z`` is read where it lies and never
staged.

:func:`prefetch_block` hints a rectangle of a ``(channels, time)`` operand into the caches ahead of its
transposes: each row's chunk is a few cache lines of its own, which the hardware's stream prefetchers
do not fetch ahead (see the selective scan's kernel, where the hints took 10% off).
"""

from __future__ import annotations

import functools

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._vecmath import emit_silu_factor, precision_for

__all__ = [
    "TILE", "prefetch_block", "transpose_block", "transpose_gated", "transpose_network", "transpose_spread",
    "transpose_summed",
]  # fmt: skip

#: Rows and columns of the tiles :func:`transpose_block` moves through vector registers.
TILE = 8
#: Bytes per cache line: the step of :func:`prefetch_block`'s hints (64 on x86-64 and most ARM cores; a wrong
#: value only makes the hints sparser or denser).
LINE = 64


#: The transpose's three stages: ``(steps, low mask, high mask)``; a step ``(i, k, p, q)`` sets vector ``p``
#: to ``shuffle(v_i, v_k, low)`` and vector ``q`` to ``shuffle(v_i, v_k, high)`` (masks index ``v_i ++ v_k``).
_STAGES = (
    # interleave single elements within each 128-bit half (unpcklps / unpckhps)
    (((0, 1, 0, 1), (2, 3, 2, 3), (4, 5, 4, 5), (6, 7, 6, 7)),
     (0, 8, 1, 9, 4, 12, 5, 13), (2, 10, 3, 11, 6, 14, 7, 15)),
    # interleave pairs within each half (shufps)
    (((0, 2, 0, 1), (1, 3, 2, 3), (4, 6, 4, 5), (5, 7, 6, 7)),
     (0, 1, 8, 9, 4, 5, 12, 13), (2, 3, 10, 11, 6, 7, 14, 15)),
    # join the halves of rows 0-3 and 4-7 (vperm2f128)
    (((0, 4, 0, 4), (1, 5, 1, 5), (2, 6, 2, 6), (3, 7, 3, 7)),
     (0, 1, 2, 3, 8, 9, 10, 11), (4, 5, 6, 7, 12, 13, 14, 15)),
)  # fmt: skip


def transpose_network(rows, shuffle):
    """The columns of the 8×8 matrix whose rows are the vectors ``rows``, with ``shuffle(a, b, mask)`` a
    two-operand vector shuffle (``(a ++ b)[mask]``): returns ``columns`` with ``columns[c][r] = rows[r][c]``.

    After stage one, vector ``2i`` holds elements ``0, 1, 4, 5`` of rows ``2i, 2i + 1`` interleaved and vector
    ``2i + 1`` elements ``2, 3, 6, 7``; after stage two vector ``c < 4`` holds column ``c`` of rows 0–3 in its
    low half and column ``c + 4`` in its high half (vector ``c + 4`` the same of rows 4–7); stage three joins
    the halves. Runs on NumPy arrays too (the tests check it against ``numpy.transpose``).
    """
    vectors = list(rows)
    for steps, low, high in _STAGES:
        combined = list(vectors)
        for i, k, p, q in steps:
            combined[p], combined[q] = shuffle(vectors[i], vectors[k], low), shuffle(vectors[i], vectors[k], high)
        vectors = combined
    return vectors


def _pointer(builder, data, stride, i, j):
    """Pointer to element ``[i, j]`` of a C-contiguous 2-D array at ``data`` with rows ``stride`` bytes apart."""
    row = builder.gep(builder.bitcast(data, cgutils.voidptr_t), [builder.mul(i, stride)], inbounds=True)
    return builder.gep(builder.bitcast(row, data.type), [j], inbounds=True)


def _row_pointers(builder, data, stride, first_row):
    """Pointers to elements ``[first_row + r, 0]``, ``r < 8``: one address computed, then the stride added.

    Computed from each row's index, a tile's addresses cost sixteen integer multiplies (107 instructions per
    float32 tile instead of 72)."""
    first = _pointer(builder, data, stride, first_row, ir.Constant(first_row.type, 0))
    rows = [builder.bitcast(first, cgutils.voidptr_t)]
    for _ in range(1, TILE):
        rows.append(builder.gep(rows[-1], [stride], inbounds=True))
    return [builder.bitcast(row, data.type) for row in rows]


def _emit_tile(builder, arrays, at, grouping, groups, align):
    """``dst[dst_row + c, dst_col + r] = src[row + r, col + c]`` for ``r, c < 8``: eight vector loads, the shuffles
    of :func:`transpose_network`, eight vector stores. ``arrays``: ``((src data, stride), (dst data, stride))``;
    ``at``: ``(row, col, dst_row, dst_col)`` as ``intp``; ``grouping`` and ``groups``: as for
    :func:`_transpose_function`; ``align``: the element size (the vectors' alignment)."""
    ((source, source_stride), (target, target_stride)), (row, col, dst_row, dst_col) = arrays, at
    element = source.type.pointee
    vector = ir.VectorType(element, TILE)
    source_rows = _row_pointers(builder, source, source_stride, row)
    target_rows = _row_pointers(builder, target, target_stride, dst_row)

    def vector_at(rows, r, first_col):
        return builder.bitcast(builder.gep(rows[r], [first_col], inbounds=True), vector.as_pointer())

    def load_row(r, first_col):
        return builder.load(vector_at(source_rows, r, first_col), align=align)

    def store_row(c, column, first_col):
        builder.store(column, vector_at(target_rows, c, first_col), align=align)

    if grouping == "summed":
        rows = [_summed(builder, groups, col, vector, functools.partial(load_row, r)) for r in range(TILE)]
    else:
        rows = [load_row(r, col) for r in range(TILE)]
    masks = {}

    def shuffle(a, b, mask):
        if mask not in masks:
            masks[mask] = ir.Constant(ir.VectorType(ir.IntType(32), TILE), list(mask))
        return builder.shuffle_vector(a, b, masks[mask])

    gates = None
    if grouping == "gated":  # the gate's rows, laid out as the destination's
        gate, gate_stride = groups
        gates = _row_pointers(builder, gate, gate_stride, dst_row)
    for c, column in enumerate(transpose_network(rows, shuffle)):
        if grouping == "spread":
            _spread(builder, groups, dst_col, functools.partial(store_row, c, column))
        else:
            if gates is not None:
                z = builder.load(vector_at(gates, c, dst_col), align=align)
                column = builder.fmul(column, emit_silu_factor(builder, z, precision_for(z.type)))
            store_row(c, column, dst_col)


def _summed(builder, groups, col, kind, load):
    """``load(col) + load(col + spacing) + …`` over the ``count`` groups (``groups = (count, spacing)``), added in
    group order."""
    count, spacing = groups
    total = cgutils.alloca_once(builder, kind)
    builder.store(load(col), total)
    with cgutils.for_range_slice(builder, ir.Constant(count.type, 1), count, ir.Constant(count.type, 1)) as (g, _):
        builder.store(builder.fadd(builder.load(total), load(builder.add(col, builder.mul(g, spacing)))), total)
    return builder.load(total)


def _spread(builder, groups, col, store):
    """``store(col)``, ``store(col + spacing)``, … for the ``count`` groups (``groups = (count, spacing)``)."""
    count, spacing = groups
    with cgutils.for_range(builder, count) as loop:
        store(builder.add(col, builder.mul(loop.index, spacing)))


def _types_ok(src, dst, integers):
    """Whether the operands type: C-contiguous 2-D float32 or float64 arrays of one dtype, integer positions."""
    floats = (types.float32, types.float64)
    return (
        isinstance(src, types.Array) and isinstance(dst, types.Array) and src.ndim == dst.ndim == 2
        and src.layout == dst.layout == "C" and src.dtype == dst.dtype and src.dtype in floats
        and all(isinstance(v, types.Integer) for v in integers)
    )  # fmt: skip


def _transpose_codegen(grouping):
    """Lowering of the transposing copies: a call of the copy's function (:func:`_transpose_function`) with the two
    arrays' data pointers and row strides and the intrinsic's integer arguments."""

    def codegen(context, builder, signature, args):
        kinds = (signature.args[0], signature.args[3])
        arrays = [context.make_array(t)(context, builder, v) for t, v in zip(kinds, (args[0], args[3]))]
        positions = (1, 2, 4, 5, 6, 7) + ((8, 9) if grouping in ("summed", "spread") else ())
        integers = [context.cast(builder, args[k], signature.args[k], types.intp) for k in positions]
        strides = [cgutils.unpack_tuple(builder, array.strides)[0] for array in arrays]
        if grouping == "gated":  # the gate array's data and row stride
            gate = context.make_array(signature.args[8])(context, builder, args[8])
            integers += [gate.data, cgutils.unpack_tuple(builder, gate.strides)[0]]
        function = _transpose_function(context, builder.module, kinds[0].dtype, grouping)
        builder.call(function, [arrays[0].data, strides[0], arrays[1].data, strides[1], *integers])
        return context.get_dummy_value()

    return codegen


def _transpose_function(context, module, dtype, grouping):
    """The copy as a function of the calling kernel's LLVM module, defined at its first use there and never
    inlined: ``(src, src_stride, dst, dst_stride, row, col, dst_row, dst_col, rows, cols[, count, spacing])``, or
    with ``gate, gate_stride`` last for ``"gated"``.

    ``grouping``: ``None`` (a plain copy); ``"summed"``: each source row is read as the sum of ``count`` blocks
    ``spacing`` columns apart; ``"spread"``: each destination row is stored into ``count`` such blocks;
    ``"gated"``: each destination value is multiplied by the output gate of a third array's value at its place
    (the trailing arguments are that array's data and row stride). One
    function serves every call site of a kernel (emitted inline, each site was its own copy of the tile loops for
    LLVM to optimise: about 0.1 s of first-use compile time per site); a call per staged chunk costs nothing
    measurable.
    """
    element = context.get_data_type(dtype)
    intp = context.get_value_type(types.intp)
    count = 8 if grouping in ("summed", "spread") else 6
    extra = [element.as_pointer(), intp] if grouping == "gated" else []
    signature = ir.FunctionType(ir.VoidType(), [element.as_pointer(), intp] * 2 + [intp] * count + extra)
    function = cgutils.get_or_insert_function(module, signature, f"statespace.transpose.{grouping or 'plain'}.{dtype}")
    if function.is_declaration:
        function.linkage = "internal"
        function.attributes.add("noinline")
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        _emit_transpose(builder, function.args, grouping, context.get_abi_sizeof(element))
        builder.ret_void()
    return function


def _emit_transpose(builder, args, grouping, align):
    """The body of :func:`_transpose_function`: full tiles through registers, then the edges element by element."""
    source, source_stride, target, target_stride, r0, c0, q0, p0, nrows, ncols, *grouped = args
    arrays = ((source, source_stride), (target, target_stride))
    groups = tuple(grouped)  # (count, spacing), or () for the plain copy
    intp = r0.type
    tile, zero, one = ir.Constant(intp, TILE), ir.Constant(intp, 0), ir.Constant(intp, 1)
    full_rows = builder.sub(nrows, builder.srem(nrows, tile))
    full_cols = builder.sub(ncols, builder.srem(ncols, tile))
    by_source_rows = builder.icmp_signed(">=", source_stride, target_stride)  # finish eight source rows at a time
    outer = builder.select(by_source_rows, full_rows, full_cols)
    inner = builder.select(by_source_rows, full_cols, full_rows)
    with cgutils.for_range_slice(builder, zero, outer, tile, intp) as (p, _):
        with cgutils.for_range_slice(builder, zero, inner, tile, intp) as (q, _):
            r, c = builder.select(by_source_rows, p, q), builder.select(by_source_rows, q, p)
            at = (builder.add(r0, r), builder.add(c0, c), builder.add(q0, c), builder.add(p0, r))
            _emit_tile(builder, arrays, at, grouping, groups, align)
    # the edges: the last rows % 8 rows whole, and the last cols % 8 columns of the others
    with cgutils.for_range(builder, nrows, intp=intp) as loop:
        r = loop.index
        start = builder.select(builder.icmp_signed("<", r, full_rows), full_cols, zero)
        with cgutils.for_range_slice(builder, start, ncols, one, intp) as (c, _):
            row, dst_row = builder.add(r0, r), builder.add(q0, c)

            def load(k, row=row):
                return builder.load(_pointer(builder, source, source_stride, row, k))

            def store(k, value, dst_row=dst_row):
                builder.store(value, _pointer(builder, target, target_stride, dst_row, k))

            col, dst_col = builder.add(c0, c), builder.add(p0, r)
            if grouping == "summed":
                value = _summed(builder, groups, col, source.type.pointee, load)
            else:
                value = load(col)
            if grouping == "gated":
                gate, gate_stride = groups
                z = builder.load(_pointer(builder, gate, gate_stride, dst_row, dst_col))
                value = builder.fmul(value, emit_silu_factor(builder, z, precision_for(z.type)))
            if grouping == "spread":
                _spread(builder, groups, dst_col, lambda k, value=value: store(k, value))
            else:
                store(dst_col, value)


@intrinsic
def transpose_block(typingctx, src, row, col, dst, dst_row, dst_col, rows, cols):
    """``dst[dst_row + c, dst_col + r] = src[row + r, col + c]`` for ``r < rows``, ``c < cols``: full ``8 × 8``
    tiles through vector registers, the edges element by element.

    ``src`` and ``dst`` are C-contiguous 2-D float32 or float64 arrays of one dtype (other layouts do not type:
    the tiles are loaded as whole rows); the caller ensures that the rectangle lies inside both (nothing is
    checked here). Written as an intrinsic rather than a jitted helper: it has no function of its own for
    Numba to type, lower and optimise at first use (0.15–0.2 s per calling kernel and dtype); its LLVM IR is one
    function in the calling kernel's module, shared by the kernel's call sites (:func:`_transpose_function`).

    Tiles are walked so that the rows of the array with the longer rows (the larger row stride: the
    ``(batch, channels, time)`` operand, not the small staging buffer) are finished eight at a time. Its
    rows lie a multiple of 4 KiB apart when the length is a power of two, so they share cache sets:
    walking the other way leaves every cache line half written (or half read) until the last tile,
    by which time it may have been evicted.
    """
    if not _types_ok(src, dst, (row, col, dst_row, dst_col, rows, cols)):
        return None
    return types.void(src, row, col, dst, dst_row, dst_col, rows, cols), _transpose_codegen(None)


@intrinsic
def transpose_spread(typingctx, src, row, col, dst, dst_row, dst_col, rows, cols, copies, spacing):
    """:func:`transpose_block` into ``copies`` places: ``dst[dst_row + c, dst_col + g·spacing + r] =
    src[row + r, col + c]`` for every ``g < copies`` (each tile is transposed once and stored ``copies`` times).

    The recurrence's staging when each channel's modes are split over ``copies`` lanes, one input per lane.
    """
    if not _types_ok(src, dst, (row, col, dst_row, dst_col, rows, cols, copies, spacing)):
        return None
    signature = types.void(src, row, col, dst, dst_row, dst_col, rows, cols, copies, spacing)
    return signature, _transpose_codegen("spread")


@intrinsic
def transpose_summed(typingctx, src, row, col, dst, dst_row, dst_col, rows, cols, groups, spacing):
    """:func:`transpose_block` of a sum: ``dst[dst_row + c, dst_col + r] = Σ_g src[row + r, col + g·spacing + c]``
    over ``g < groups`` (``groups ≥ 1``), added in the order of ``g``, as a loop over ``g`` would.

    The recurrence's write-back when each channel's modes are split over ``groups`` lanes: the channel's
    output is the sum of its lanes' outputs, added here as each tile row is loaded.
    """
    if not _types_ok(src, dst, (row, col, dst_row, dst_col, rows, cols, groups, spacing)):
        return None
    signature = types.void(src, row, col, dst, dst_row, dst_col, rows, cols, groups, spacing)
    return signature, _transpose_codegen("summed")


@intrinsic
def transpose_gated(typingctx, src, row, col, dst, dst_row, dst_col, rows, cols, z):
    """:func:`transpose_block` with Mamba's output gate: ``dst[dst_row + c, dst_col + r] = src[row + r, col + c] ·
    z_ / (1 + e^{-z_})`` with ``z_ = z[dst_row + c, dst_col + r]`` (``z`` laid out as ``dst``, C-contiguous 2-D, of
    its dtype).

    The selective scan's write-back: the gate reads ``z`` where it lies, in the output's ``(channel, time)``
    layout, so ``z`` is never staged. Each transposed row vector is multiplied by the gate of the matching vector
    of ``z`` as it is stored, with the bounded exponential where every ``|z|`` of the vector allows it (bitwise
    the careful one's result there: :func:`~._vecmath.emit_silu_factor`).
    """
    if not _types_ok(src, dst, (row, col, dst_row, dst_col, rows, cols)):
        return None
    if not (isinstance(z, types.Array) and z.ndim == 2 and z.layout == "C" and z.dtype == dst.dtype):
        return None
    return types.void(src, row, col, dst, dst_row, dst_col, rows, cols, z), _transpose_codegen("gated")


@intrinsic
def prefetch_block(typingctx, src, row, col, rows, cols):
    """Hint the processor to fetch ``src[row : row + rows, col : col + cols]`` into its caches: one prefetch per
    cache line (``llvm.prefetch``, a read with the highest locality: ``prefetcht0`` on x86-64).

    A hint only: it never faults and changes no value, so the rectangle may reach past the array (nothing is
    checked). A kernel that stages a ``(channels, time)`` block chunk by chunk reads each row's chunk, a few
    cache lines, from its own place in memory: too short a run for the hardware's stream prefetchers, so each
    chunk's transposes wait on memory. Hinted ahead of their use, while the kernel computes, they do not.
    ``src`` is a C-contiguous 2-D array; ``rows`` and ``cols`` are counts (≤ 0: nothing).
    """
    if not (isinstance(src, types.Array) and src.ndim == 2 and src.layout == "C"):
        return None
    if not all(isinstance(v, types.Integer) for v in (row, col, rows, cols)):
        return None

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        row, col, rows, cols = (
            context.cast(builder, value, kind, types.intp) for value, kind in zip(args[1:], signature.args[1:])
        )
        stride = cgutils.unpack_tuple(builder, array.strides)[0]
        intp = stride.type
        itemsize = ir.Constant(intp, context.get_abi_sizeof(context.get_data_type(signature.args[0].dtype)))
        address = builder.ptrtoint(array.data, intp)
        hint = ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t] + [ir.IntType(32)] * 3)
        prefetch = cgutils.get_or_insert_function(builder.module, hint, "llvm.prefetch.p0i8")
        hint_arguments = [ir.Constant(ir.IntType(32), v) for v in (0, 3, 1)]  # read, highest locality, data
        line = ir.Constant(intp, LINE)
        span = builder.mul(cols, itemsize)
        with builder.if_then(builder.icmp_signed(">", cols, ir.Constant(intp, 0))):
            with cgutils.for_range(builder, rows, intp=intp) as loop:
                start = builder.add(
                    address, builder.add(builder.mul(builder.add(row, loop.index), stride), builder.mul(col, itemsize))
                )
                first = builder.and_(start, ir.Constant(intp, -LINE))  # the line holding the first element
                stop = builder.add(start, span)
                with cgutils.for_range_slice(builder, first, stop, line, intp) as (at, _):
                    builder.call(prefetch, [builder.inttoptr(at, cgutils.voidptr_t), *hint_arguments])
        return context.get_dummy_value()

    return types.void(src, row, col, rows, cols), codegen
