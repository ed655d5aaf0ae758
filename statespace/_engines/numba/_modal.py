"""The diagonal recurrence's update pass as LLVM vector code: :func:`modal_steps`.

One pass advances every mode ``n`` of a block of SIMD lanes (channels, or mode groups of channels)
by ``STEPS`` time steps of real input ``v_k``, and sums each step's outputs over the modes:

.. math::

    x_n \\leftarrow a_n x_n + b_n v_k, \\qquad y_k = \\sum_n w_n \\operatorname{Re} x_n
    \\qquad (k = 0, \\dots, \\mathrm{STEPS} - 1),

with complex ``a_n``, ``b_n``, ``x_n`` held as real and imaginary parts, and real output weights
``w_n`` (unit weights when the kernel runs in the output basis, see :func:`.recurrence._output_basis`).

Written as a loop over the lanes in numba, this was a loop over the modes around a vectorised loop
over the lanes: each output ``y_k`` was loaded, added to and stored again for every mode (four loads and
four stores per lane-vector and mode besides the parameters and the state), and LLVM could keep nothing
in registers across the modes, since a store to the state might alias the outputs. Here the loops are
the other way round, as explicit vectors of the machine's width: for each vector of lanes the inputs
``v_k`` are loaded once, the sums ``y_k`` stay in registers for the whole mode loop and are stored once,
and each mode costs its six loads (``a``, ``b``, ``x``) and two stores (``x``). Measured at H = 16,
N/2 = 32, L = 65536 (complex128; the whole call, staging included, with the same layout, interleaved with
the numba loop, minima of 21): one thread 11.3 → 9.5 ms, two 8.2 → 5.2 ms, bitwise the same output.

Rounding, per lane, mode and step: ``t = b_r v``, ``s = fma(a_i, x_i, −t)``, ``x_r ← fma(a_r, x_r, −s)``,
``t' = b_i v``, ``s' = fma(a_i, x_r, t')``, ``x_i ← fma(a_r, x_i, s')``: the input product is off the
dependency chain from one step's state to the next (two multiply-adds), as in the loop it replaces,
which LLVM contracted the same way. The sums start from ``+0`` and add the modes in order: ``y + x_r``
(unit weights) or ``fma(w, x_r, y)``.

The vectors are as wide as the machine's vector registers (64 bytes with AVX-512, else 32), so the
pass holds ``2 · STEPS`` vectors of inputs and sums plus six of parameters and state: within AVX2's
sixteen registers with ``STEPS = 4`` (eight steps were 1–2% faster with AVX-512's 32 registers and
would spill with 16). Lanes past the last whole vector, if any, are done one at a time.
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

__all__ = ["STEPS", "modal_steps", "vector_lanes"]

#: Time steps per pass (and rows of ``inputs`` / ``outputs`` a pass reads and writes).
STEPS = 4


@functools.cache
def _vector_bytes() -> int:
    """Bytes per vector register of the machine numba compiles for (its ``NUMBA_CPU_FEATURES`` or the host's)."""
    features = numba.config.CPU_FEATURES or llvm.get_host_cpu_features().flatten()
    if "+avx512f" in features:
        return 64
    return 32 if "+avx" in features else 16


def vector_lanes(dtype) -> int:
    """Elements of ``dtype`` per vector register (the width of :func:`modal_steps`'s vectors)."""
    return max(1, _vector_bytes() // np.dtype(dtype).itemsize)


def _fma(builder, a, b, c):
    """``a·b + c`` rounded once (``llvm.fma``) for scalars or vectors."""
    kind = a.type
    element = kind.element if isinstance(kind, ir.VectorType) else kind
    suffix = "f64" if element == ir.DoubleType() else "f32"
    name = f"llvm.fma.v{kind.count}{suffix}" if isinstance(kind, ir.VectorType) else f"llvm.fma.{suffix}"
    function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(kind, [kind] * 3), name)
    return builder.call(function, [a, b, c])


def _emit_lanes(builder, pointers, counts, lanes, width, align):
    """The pass for lanes ``lanes[0] … lanes[1] − 1``, ``width`` at a time (``width`` 1: scalars)."""
    ar, ai, br, bi, weights, xr, xi, inputs, outputs = pointers
    nmodes, block, first = counts
    element = ar.type.pointee
    kind = element if width == 1 else ir.VectorType(element, width)
    intp = nmodes.type

    def at(base, index):
        return builder.bitcast(builder.gep(base, [index], inbounds=True), kind.as_pointer())

    def load(base, index):
        return builder.load(at(base, index), align=align)

    zero = ir.Constant(kind, 0.0 if width == 1 else [0.0] * width)
    start, stop = lanes
    with cgutils.for_range_slice(builder, start, stop, ir.Constant(intp, width), intp) as (j, _):
        rows = [builder.add(builder.mul(builder.add(first, ir.Constant(intp, k)), block), j) for k in range(STEPS)]
        v = [load(inputs, row) for row in rows]
        sums = [cgutils.alloca_once_value(builder, zero) for _ in range(STEPS)]  # registers after mem2reg
        with cgutils.for_range(builder, nmodes, intp=intp) as mode:
            offset = builder.add(builder.mul(mode.index, block), j)
            a_r, a_i, b_r, b_i = (load(p, offset) for p in (ar, ai, br, bi))
            w = None if weights is None else load(weights, offset)
            x_r, x_i = load(xr, offset), load(xi, offset)
            for k in range(STEPS):
                s = _fma(builder, a_i, x_i, builder.fneg(builder.fmul(b_r, v[k])))
                s_ = _fma(builder, a_i, x_r, builder.fmul(b_i, v[k]))
                x_r, x_i = _fma(builder, a_r, x_r, builder.fneg(s)), _fma(builder, a_r, x_i, s_)
                y = builder.load(sums[k])
                builder.store(builder.fadd(y, x_r) if w is None else _fma(builder, w, x_r, y), sums[k])
            builder.store(x_r, at(xr, offset), align=align)
            builder.store(x_i, at(xi, offset), align=align)
        for k in range(STEPS):
            builder.store(builder.load(sums[k]), at(outputs, rows[k]), align=align)


def _steps_function(context, module, dtype, weighted):
    """The pass as a function of the calling kernel's module (defined at its first use there, never inlined):
    ``(ar, ai, br, bi, weights, xr, xi, inputs, outputs, nmodes, block, first)``."""
    element = context.get_data_type(dtype)
    intp = context.get_value_type(types.intp)
    signature = ir.FunctionType(ir.VoidType(), [element.as_pointer()] * 9 + [intp] * 3)
    name = f"statespace.modal_steps.{dtype}.{'weighted' if weighted else 'unit'}"
    function = cgutils.get_or_insert_function(module, signature, name)
    if function.is_declaration:
        function.linkage = "internal"
        function.attributes.add("noinline")
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        *pointers, nmodes, block, first = function.args
        if not weighted:
            pointers[4] = None
        itemsize = context.get_abi_sizeof(element)
        width = vector_lanes(np.dtype(str(dtype)))
        whole = builder.sub(block, builder.srem(block, ir.Constant(intp, width)))
        counts, zero = (nmodes, block, first), ir.Constant(intp, 0)
        _emit_lanes(builder, pointers, counts, (zero, whole), width, itemsize)
        _emit_lanes(builder, pointers, counts, (whole, block), 1, itemsize)
        builder.ret_void()
    return function


@intrinsic
def modal_steps(typingctx, ar, ai, br, bi, weights, xr, xi, inputs, outputs, first):
    """Advance the state ``xr + i·xi`` ``(modes, lanes)`` by the ``STEPS`` inputs ``inputs[first + k]`` and store
    each step's output ``Σ_n w_n Re x_n`` in ``outputs[first + k]`` (see the module docstring for the rounding).

    ``ar``, ``ai``, ``br``, ``bi`` (``a`` and ``b``), ``weights`` (``w``, or ``None`` for unit weights), ``xr`` and
    ``xi`` are ``(modes, lanes)``; ``inputs`` and ``outputs`` ``(rows, lanes)``: C-contiguous 2-D float32 or float64
    arrays of one dtype. The caller ensures the shapes agree and ``first + STEPS ≤ rows`` (nothing is checked).
    """
    arrays = (ar, ai, br, bi, xr, xi, inputs, outputs) + (() if isinstance(weights, types.NoneType) else (weights,))
    floats = (types.float32, types.float64)
    if not all(isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C" for a in arrays):
        return None
    if len({a.dtype for a in arrays}) != 1 or ar.dtype not in floats or not isinstance(first, types.Integer):
        return None
    weighted = not isinstance(weights, types.NoneType)

    def codegen(context, builder, signature, args):
        kinds = signature.args
        made = [None if k == 4 and not weighted else context.make_array(kinds[k])(context, builder, args[k])
                for k in range(9)]  # fmt: skip
        element = context.get_data_type(kinds[0].dtype)
        data = [m.data if m is not None else ir.Constant(element.as_pointer(), None) for m in made]
        nmodes, block = cgutils.unpack_tuple(builder, made[0].shape)
        start = context.cast(builder, args[9], kinds[9], types.intp)
        function = _steps_function(context, builder.module, kinds[0].dtype, weighted)
        builder.call(function, [*data, nmodes, block, start])
        return context.get_dummy_value()

    return types.void(ar, ai, br, bi, weights, xr, xi, inputs, outputs, first), codegen
