"""The diagonal recurrence's update pass as LLVM vector code: :func:`modal_steps` and :func:`modal_step`.

A pass advances every mode ``n`` of a block of SIMD lanes (channels, or mode groups of channels) by
``STEPS`` time steps (:func:`modal_steps`) or one (:func:`modal_step`) of input ``v_k``, and sums each
step's outputs over the modes:

.. math::

    x_n \\leftarrow a_n x_n + b_n v_k, \\qquad y_k = \\sum_n w_n x_n,

with complex ``a_n``, ``b_n``, ``x_n`` held as real and imaginary parts and real output weights ``w_n``
(unit weights when the kernel runs in the output basis, see :func:`.recurrence._output_basis`). The input
is real or complex, and the output is ``Re y`` or all of ``y``: a part a call does not use is ``None``, and
the pass is compiled without it.

Written as a loop over the lanes in numba, this was a loop over the modes around a vectorised loop
over the lanes: each output ``y_k`` was loaded, added to and stored again for every mode (four loads and
four stores per lane-vector and mode besides the parameters and the state), and LLVM could keep nothing
in registers across the modes, since a store to the state might alias the outputs. Here the loops are
the other way round, as explicit vectors of the machine's width: for each vector of lanes the inputs
``v_k`` are loaded once, the sums ``y_k`` stay in registers for the whole mode loop and are stored once,
and each mode costs its six loads (``a``, ``b``, ``x``) and two stores (``x``). Measured at H = 16,
N/2 = 32, L = 65536 (complex128, real input and output; the whole call, staging included, with the same
layout, interleaved with the numba loop, minima of 21): one thread 11.3 → 9.5 ms, two 8.2 → 5.2 ms,
bitwise the same output.

Rounding, per lane, mode and step: the input term ``p = b v`` is ``p_r = b_r v_r``, ``p_i = b_i v_r``
(real input) or ``p_r = fma(b_r, v_r, −b_i v_i)``, ``p_i = fma(b_r, v_i, b_i v_r)``; then
``s = fma(a_i, x_i, −p_r)``, ``x_r ← fma(a_r, x_r, −s)``, ``s' = fma(a_i, x_r, p_i)``,
``x_i ← fma(a_r, x_i, s')``: the input is off the dependency chain from one step's state to the next (two
multiply-adds), as in the loops this replaces, which LLVM contracted the same way for real input. The sums
start from ``+0`` and add the modes in order: ``y + x`` (unit weights) or ``fma(w, x, y)``, per part.

The vectors are as wide as the machine's vector registers (64 bytes with AVX-512, else 32), so a
real-input, real-output pass holds ``2 · STEPS`` vectors of inputs and sums plus six of parameters and
state: within AVX2's sixteen registers with ``STEPS = 4`` (eight steps were 1–2% faster with AVX-512's 32
registers and would spill with 16). Lanes past the last whole vector, if any, are done one at a time.
"""

from __future__ import annotations

import functools

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._vecmath import emit_fma

__all__ = ["STEPS", "modal_step", "modal_steps", "vector_lanes"]

#: Time steps per pass of :func:`modal_steps` (and rows of the staging buffers a pass reads and writes).
STEPS = 4


@functools.cache
def _vector_bytes() -> int:
    """Bytes per vector register of the machine numba compiles for: the host's, or, when ``NUMBA_CPU_NAME`` names
    another target (a portable cache), what ``NUMBA_CPU_FEATURES`` grants it (none: 16, SSE2's)."""
    if numba.config.CPU_NAME and numba.config.CPU_NAME != "host":
        features = numba.config.CPU_FEATURES or ""
    else:
        features = numba.config.CPU_FEATURES or llvm.get_host_cpu_features().flatten()
    if "+avx512f" in features:
        return 64
    return 32 if "+avx" in features else 16


def vector_lanes(dtype) -> int:
    """Elements of ``dtype`` per vector register (the width of the passes' vectors)."""
    return max(1, _vector_bytes() // np.dtype(dtype).itemsize)


def _emit_lanes(builder, pointers, counts, lanes, width, align, steps):
    """The pass for lanes ``lanes[0] … lanes[1] − 1``, ``width`` at a time (``width`` 1: scalars).

    ``pointers``: ``(ar, ai, br, bi, w, xr, xi, vr, vi, yr, yi)``, ``None`` for an unused part (``w``: unit
    weights; ``vi``: real input; ``yi``: real output).
    """
    ar, ai, br, bi, weights, xr, xi, vr, vi, yr, yi = pointers
    nmodes, block, first = counts
    element = ar.type.pointee
    kind = element if width == 1 else ir.VectorType(element, width)
    intp = nmodes.type

    def at(base, index):
        return builder.bitcast(builder.gep(base, [index], inbounds=True), kind.as_pointer())

    def load(base, index):
        return builder.load(at(base, index), align=align)

    def accumulate(total, value, weight):
        y = builder.load(total)
        builder.store(builder.fadd(y, value) if weight is None else emit_fma(builder, weight, value, y), total)

    zero = ir.Constant(kind, 0.0 if width == 1 else [0.0] * width)
    start, stop = lanes
    with cgutils.for_range_slice(builder, start, stop, ir.Constant(intp, width), intp) as (j, _):
        rows = [builder.add(builder.mul(builder.add(first, ir.Constant(intp, k)), block), j) for k in range(steps)]
        v_r = [load(vr, row) for row in rows]
        v_i = [None if vi is None else load(vi, row) for row in rows]
        sums_r = [cgutils.alloca_once_value(builder, zero) for _ in range(steps)]  # registers after mem2reg
        sums_i = [None if yi is None else cgutils.alloca_once_value(builder, zero) for _ in range(steps)]
        with cgutils.for_range(builder, nmodes, intp=intp) as mode:
            offset = builder.add(builder.mul(mode.index, block), j)
            a_r, a_i, b_r, b_i = (load(p, offset) for p in (ar, ai, br, bi))
            w = None if weights is None else load(weights, offset)
            x_r, x_i = load(xr, offset), load(xi, offset)
            for k in range(steps):
                if v_i[k] is None:
                    p_r, p_i = builder.fmul(b_r, v_r[k]), builder.fmul(b_i, v_r[k])
                else:
                    p_r = emit_fma(builder, b_r, v_r[k], builder.fneg(builder.fmul(b_i, v_i[k])))
                    p_i = emit_fma(builder, b_r, v_i[k], builder.fmul(b_i, v_r[k]))
                s = emit_fma(builder, a_i, x_i, builder.fneg(p_r))
                s_ = emit_fma(builder, a_i, x_r, p_i)
                x_r, x_i = emit_fma(builder, a_r, x_r, builder.fneg(s)), emit_fma(builder, a_r, x_i, s_)
                accumulate(sums_r[k], x_r, w)
                if sums_i[k] is not None:
                    accumulate(sums_i[k], x_i, w)
            builder.store(x_r, at(xr, offset), align=align)
            builder.store(x_i, at(xi, offset), align=align)
        for k in range(steps):
            builder.store(builder.load(sums_r[k]), at(yr, rows[k]), align=align)
            if yi is not None:
                builder.store(builder.load(sums_i[k]), at(yi, rows[k]), align=align)


_PARTS = ("ar", "ai", "br", "bi", "w", "xr", "xi", "vr", "vi", "yr", "yi")
_OPTIONAL = {"w", "vi", "yi"}


def _pass_function(context, module, dtype, steps, used):
    """The pass as a function of the calling kernel's module (defined at its first use there, never inlined):
    ``(ar, ai, br, bi, w, xr, xi, vr, vi, yr, yi, nmodes, block, first)``, the unused parts null pointers.
    ``used``: which of the optional parts ``w``, ``vi``, ``yi`` the pass reads or writes."""
    element = context.get_data_type(dtype)
    intp = context.get_value_type(types.intp)
    signature = ir.FunctionType(ir.VoidType(), [element.as_pointer()] * len(_PARTS) + [intp] * 3)
    tags = "".join(part for part in ("w", "vi", "yi") if used[part]) or "plain"
    function = cgutils.get_or_insert_function(module, signature, f"statespace.modal.{dtype}.{steps}.{tags}")
    if function.is_declaration:
        function.linkage = "internal"
        function.attributes.add("noinline")
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        *pointers, nmodes, block, first = function.args
        pointers = [None if part in _OPTIONAL and not used[part] else p for part, p in zip(_PARTS, pointers)]
        itemsize = context.get_abi_sizeof(element)
        width = vector_lanes(np.dtype(str(dtype)))
        whole = builder.sub(block, builder.srem(block, ir.Constant(intp, width)))
        counts, zero = (nmodes, block, first), ir.Constant(intp, 0)
        _emit_lanes(builder, pointers, counts, (zero, whole), width, itemsize, steps)
        _emit_lanes(builder, pointers, counts, (whole, block), 1, itemsize, steps)
        builder.ret_void()
    return function


def _typed(steps, ar, ai, br, bi, w, xr, xi, vr, vi, yr, yi, first):
    """Signature and code generator of a pass of ``steps`` steps for these operand types (``None`` if they do not
    type)."""
    operands = dict(zip(_PARTS, (ar, ai, br, bi, w, xr, xi, vr, vi, yr, yi)))
    used = {part: not isinstance(operands[part], types.NoneType) for part in _OPTIONAL}
    arrays = [kind for part, kind in operands.items() if part not in _OPTIONAL or used[part]]
    if not all(isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C" for a in arrays):
        return None
    if len({a.dtype for a in arrays}) != 1 or ar.dtype not in (types.float32, types.float64):
        return None
    if not isinstance(first, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        element = context.get_data_type(ar.dtype)
        data = [
            ir.Constant(element.as_pointer(), None) if isinstance(kind, types.NoneType)
            else context.make_array(kind)(context, builder, value).data
            for kind, value in zip(signature.args[:-1], args[:-1])
        ]  # fmt: skip
        nmodes, block = cgutils.unpack_tuple(builder, context.make_array(ar)(context, builder, args[0]).shape)
        start = context.cast(builder, args[-1], signature.args[-1], types.intp)
        function = _pass_function(context, builder.module, ar.dtype, steps, used)
        builder.call(function, [*data, nmodes, block, start])
        return context.get_dummy_value()

    return types.void(ar, ai, br, bi, w, xr, xi, vr, vi, yr, yi, first), codegen


@intrinsic
def modal_steps(typingctx, ar, ai, br, bi, w, xr, xi, vr, vi, yr, yi, first):
    """Advance the state ``xr + i·xi`` ``(modes, lanes)`` by the ``STEPS`` inputs in rows ``first … first + STEPS − 1``
    of ``vr`` (and ``vi``), and store each step's output sum in the same rows of ``yr`` (and ``yi``); see the
    module docstring for the rounding.

    ``ar``, ``ai``, ``br``, ``bi`` (``a`` and ``b``), ``w`` (the output weights, or ``None`` for unit weights), ``xr``
    and ``xi`` are ``(modes, lanes)``; ``vr``, ``vi`` (``None``: real input), ``yr`` and ``yi`` (``None``: only the
    real part of the output) are ``(rows, lanes)``: C-contiguous 2-D float32 or float64 arrays of one dtype. The
    caller ensures the shapes agree and the rows exist (nothing is checked).
    """
    return _typed(STEPS, ar, ai, br, bi, w, xr, xi, vr, vi, yr, yi, first)


@intrinsic
def modal_step(typingctx, ar, ai, br, bi, w, xr, xi, vr, vi, yr, yi, first):
    """:func:`modal_steps` for the one step in row ``first``."""
    return _typed(1, ar, ai, br, bi, w, xr, xi, vr, vi, yr, yi, first)
