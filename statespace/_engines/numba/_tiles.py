"""Transposing copies for numba kernels: 8×8 tiles moved through vector registers.

A kernel that works channels-innermost (SIMD lanes across channels) reads its
inputs and writes its outputs time-innermost, ``(batch, channels, time)``. The
plain copy between the two, ``dst[s, j] = src[j, s]``, is one scalar load and one
scalar store per element, whichever side the loop walks contiguously: LLVM does
not vectorise a transposition. :func:`transpose_tile` moves an ``8 × 8`` tile with
eight vector loads, the three-stage shuffle network of the classic SIMD transpose
(interleave pairs of rows within 128-bit halves, combine pairs of pairs, swap
128-bit halves; on AVX2 ``vunpcklps``/``vunpckhps``, ``vshufps``, ``vperm2f128``:
24 shuffles for 64 floats) and eight vector stores. It is written as LLVM vector
IR (``shufflevector``), so LLVM picks the instructions for the machine; float64
tiles are split into register halves the same way.

:func:`transpose_block` copies a whole rectangle: full tiles through
:func:`transpose_tile`, the ragged edges element by element. Values are moved,
never computed on: the copy is exact (NaN payloads and signed zeros included).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from . import helper

__all__ = ["TILE", "transpose_block", "transpose_network", "transpose_tile"]

#: Rows and columns of the tile :func:`transpose_tile` moves.
TILE = 8


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
    the halves. Runs on
    NumPy arrays too (the tests check it against ``numpy.transpose``).
    """
    vectors = list(rows)
    for steps, low, high in _STAGES:
        combined = list(vectors)
        for i, k, p, q in steps:
            combined[p], combined[q] = shuffle(vectors[i], vectors[k], low), shuffle(vectors[i], vectors[k], high)
        vectors = combined
    return vectors


@intrinsic
def transpose_tile(typingctx, src, row, col, dst, dst_row, dst_col):
    """``dst[dst_row + c, dst_col + r] = src[row + r, col + c]`` for ``r, c < 8``: eight vector loads, the
    shuffles of :func:`transpose_network` and eight vector stores.

    ``src`` and ``dst`` are 2-D float32 or float64 arrays of one dtype whose rows are contiguous (the caller
    ensures it, and that the tile lies inside both: nothing is checked here).
    """
    floats = (types.float32, types.float64)
    if not (
        isinstance(src, types.Array) and isinstance(dst, types.Array) and src.ndim == dst.ndim == 2
        and src.dtype == dst.dtype and src.dtype in floats
    ):  # fmt: skip
        return None

    def codegen(context, builder, signature, args):
        source, target = (context.make_array(t)(context, builder, v) for t, v in ((src, args[0]), (dst, args[3])))
        index = {k: context.cast(builder, args[k], signature.args[k], types.intp) for k in (1, 2, 4, 5)}
        vector = ir.VectorType(context.get_data_type(src.dtype), TILE)
        align = context.get_abi_sizeof(context.get_data_type(src.dtype))

        def row_pointer(array, kind, i, j, r):
            at = [builder.add(i, ir.Constant(i.type, r)), j]
            shape, strides = cgutils.unpack_tuple(builder, array.shape), cgutils.unpack_tuple(builder, array.strides)
            pointer = cgutils.get_item_pointer2(context, builder, array.data, shape, strides, kind.layout, at)
            return builder.bitcast(pointer, vector.as_pointer())

        rows = [builder.load(row_pointer(source, src, index[1], index[2], r), align=align) for r in range(TILE)]
        masks = {}

        def shuffle(a, b, mask):
            if mask not in masks:
                masks[mask] = ir.Constant(ir.VectorType(ir.IntType(32), TILE), list(mask))
            return builder.shuffle_vector(a, b, masks[mask])

        for c, column in enumerate(transpose_network(rows, shuffle)):
            builder.store(column, row_pointer(target, dst, index[4], index[5], c), align=align)
        return context.get_dummy_value()

    return types.void(src, row, col, dst, dst_row, dst_col), codegen


@helper
def transpose_block(src, row, col, dst, dst_row, dst_col, rows, cols):  # pragma: no cover - compiled
    """``dst[dst_row + c, dst_col + r] = src[row + r, col + c]`` for ``r < rows``, ``c < cols``: full ``8 × 8``
    tiles through :func:`transpose_tile`, the edges element by element (rows contiguous).

    Tiles are walked so that the rows of the array with the longer rows (the larger row stride: the
    ``(batch, channels, time)`` operand, not the small staging buffer) are finished eight at a time. Its
    rows lie a multiple of 4 KiB apart when the length is a power of two, so they share cache sets:
    walking the other way leaves every cache line half written (or half read) until the last tile,
    by which time it has been evicted (measured 10× slower for the selective scan's output).
    """
    full_rows, full_cols = rows - rows % TILE, cols - cols % TILE
    by_source_rows = src.strides[0] >= dst.strides[0]  # finish eight source rows at a time, else eight columns
    outer, inner = (full_rows, full_cols) if by_source_rows else (full_cols, full_rows)
    for p in range(0, outer, TILE):
        for q in range(0, inner, TILE):
            r, c = (p, q) if by_source_rows else (q, p)
            transpose_tile(src, row + r, col + c, dst, dst_row + c, dst_col + r)
    for r in range(rows):  # the edges: the last rows % 8 rows, and the last cols % 8 columns of the others
        for c in range(full_cols if r < full_rows else 0, cols):
            dst[dst_row + c, dst_col + r] = src[row + r, col + c]
