"""The selective scan's time step as LLVM vector code: :func:`selective_step`.

One call advances a block of SIMD lanes (channels) by one step ``t`` of Mamba's selective scan,
from the staged raw step ``δ_t`` and input ``u_t`` of each lane to its output before the gate:

.. math::

    Δ = \\operatorname{softplus}(δ_t + \\mathrm{bias}), \\qquad
    x_n \\leftarrow e^{Δ A_n} x_n + (Δ u_t) B_{n,t}, \\qquad
    y = \\sum_n C_{n,t} x_n + D u_t,

with the softplus optional (Mamba's output gate ``y z σ(z)`` is applied as the outputs are written back,
:func:`~._tiles.transpose_gated`). For each vector of lanes the per-channel work (softplus, ``Δ u``, the skip
term) is done in registers, and the loop over the ``N`` states keeps ``Δ``, ``Δ u`` and the output sum in
registers: each state costs the loads of ``A`` (two parts) and ``x``, one store of ``x``, and ``B_{n,t}``,
``C_{n,t}`` broadcast from the step's staged row.

Written as numba loops, the same work was a loop over the states around a vectorised loop over the lanes,
which loaded, added to and stored the output row once per state (LLVM cannot keep it in registers across the
states: a store to the state might alias it), paid the inner loop's set-up (pointers, constants) once per
state and step for eight vectors of work, and did the per-channel work in passes of their own over the whole
staged chunk, each reading and writing ``(time, lane)`` buffers in the cache: seven passes besides the state
loop. Profiled (``perf``, one thread, the issue-19 call B = 2, D = 512, N = 16, L = 2048 float32), those
passes and the state loop's overheads were about a third of the kernel's time.

The per-channel work runs in loops of its own over the step's lanes, before and after the loop over lanes and
states: in one loop with it, the long dependency chains of softplus (an exponential, a division, a series)
stalled the state loop between vectors of lanes (15.8 ms against 14.5 ms on the call above, one thread).

The exponentials take their bounded forms (:func:`~._vecmath.vexp_bounded`,
:func:`~._vecmath.vexp_product_bounded`) for a vector of lanes whose arguments all lie within
:data:`~._vecmath.EXP_BOUNDED_LIMIT` (the softplus's ``|δ + bias|``, the gates' ``|Δ| ≤ step_limit``; a NaN
fails every check), else the careful forms, which give bitwise the same results where both apply: the checks
choose a speed, never a value. The operations and their rounding are those of the numba loops this replaces
(the fastmath flags of the calling kernel apply here too: the function is part of its module):
``x_n ← fma(Δu, B_n, g x_n)``, ``y ← fma(x_n, C_n, y)`` from ``+0`` in the order of ``n``, then
``fma(D, u, y)``.

Vectors are as wide as the machine's (:func:`~._modal.vector_lanes`); lanes past the last whole vector are done
one at a time by the same code on scalars.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._modal import vector_lanes
from ._vecmath import (
    PRECISIONS,
    emit_choice,
    emit_exp_checked,
    emit_exp_product,
    emit_exp_product_bounded,
    emit_fma,
    emit_intrinsic,
    emit_softplus,
    emit_splat,
    emit_within,
    lanes_precision,
)

__all__ = ["selective_step"]

#: The operands of the step function, in order.
_OPERANDS = ("delta", "u", "bias", "skip", "a_high", "a_low", "x", "b", "c", "out")


def _emit_lanes(builder, pointers, sizes, lanes, precision, softplus):
    """The step for lanes ``lanes[0] … lanes[1] − 1``, ``precision``'s width at a time (see :func:`_step_function`)."""
    delta, u, bias, skip, a_high, a_low, x, b, c, out = pointers
    nstate, block, step_limit = sizes
    kind = precision.real
    width = kind.count if isinstance(kind, ir.VectorType) else 1
    element = kind.element if width > 1 else kind
    align = 4 if element == ir.FloatType() else 8
    intp = nstate.type

    def at(base, index):
        return builder.bitcast(builder.gep(base, [index], inbounds=True), kind.as_pointer())

    def load(base, index):
        return builder.load(at(base, index), align=align)

    limit = emit_splat(builder, step_limit, kind)
    # the gates' constants as values LLVM cannot fold or reload from the constant pool (see exp_constants)
    opaque = ir.FunctionType(kind, [kind])
    gate_constants = [builder.asm(opaque, "", "=x,0", [k], False) for k in precision.product_constants]
    start, stop = lanes

    def each_vector():
        return cgutils.for_range_slice(builder, start, stop, ir.Constant(intp, width), intp)

    # Two loops over the lanes (see the module docstring): the step Δ goes into the raw step's row and Δu into the
    # output row, both read back by the state loop.
    with each_vector() as (j, _):
        raw = builder.fadd(load(delta, j), load(bias, j))
        if softplus:
            negative = builder.fneg(emit_intrinsic(builder, "llvm.fabs", raw))
            raw = emit_softplus(builder, raw, emit_exp_checked(builder, negative, precision), precision)
        builder.store(raw, at(delta, j), align=align)
        builder.store(builder.fmul(raw, load(u, j)), at(out, j), align=align)

    with each_vector() as (j, _):
        step, input_ = load(delta, j), load(out, j)

        def states(exponential, step=step, input_=input_, j=j):
            total = cgutils.alloca_once_value(builder, precision.const(0))  # a register after mem2reg
            with cgutils.for_range(builder, nstate, intp=intp) as loop:
                n = loop.index
                offset = builder.add(builder.mul(n, block), j)
                gate = exponential(step, load(a_high, offset), load(a_low, offset))
                b_n = emit_splat(builder, builder.load(builder.gep(b, [n], inbounds=True)), kind)
                c_n = emit_splat(builder, builder.load(builder.gep(c, [n], inbounds=True)), kind)
                state = emit_fma(builder, input_, b_n, builder.fmul(gate, load(x, offset)))
                builder.store(state, at(x, offset), align=align)
                builder.store(emit_fma(builder, state, c_n, builder.load(total)), total)
            return builder.load(total)

        y = emit_choice(
            builder,
            emit_within(builder, step, limit),
            lambda: states(lambda a, h, l: emit_exp_product_bounded(builder, a, h, l, gate_constants, precision)),
            lambda: states(lambda a, h, l: emit_exp_product(builder, a, h, l, precision)),
        )
        builder.store(emit_fma(builder, load(skip, j), load(u, j), y), at(out, j), align=align)


def _step_function(context, module, dtype, softplus):
    """The step as a function of the calling kernel's module (defined at its first use there, never inlined):
    ``(delta, u, bias, skip, a_high, a_low, x, b, c, out, nstate, block, step_limit)``, pointers to the lane rows
    of the step (``bias`` and ``skip`` to the block's first channel, ``b`` and ``c`` to the step's ``N`` values,
    ``a_high``, ``a_low``, ``x`` to ``(N, block)`` arrays)."""
    element = context.get_data_type(dtype)
    intp = context.get_value_type(types.intp)
    signature = ir.FunctionType(ir.VoidType(), [element.as_pointer()] * len(_OPERANDS) + [intp, intp, element])
    name = f"statespace.selective_step.{dtype}.{'softplus' if softplus else 'raw'}"
    function = cgutils.get_or_insert_function(module, signature, name)
    if function.is_declaration:
        function.linkage = "internal"
        function.attributes.add("noinline")
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        *pointers, nstate, block, step_limit = function.args
        scalar = PRECISIONS[dtype]
        width = vector_lanes(np.dtype(str(dtype)))
        whole = builder.sub(block, builder.srem(block, ir.Constant(intp, width)))
        sizes, zero = (nstate, block, step_limit), ir.Constant(intp, 0)
        _emit_lanes(builder, pointers, sizes, (zero, whole), lanes_precision(scalar, width), softplus)
        _emit_lanes(builder, pointers, sizes, (whole, block), scalar, softplus)
        builder.ret_void()
    return function


def _row_pointer(context, builder, kind, value, row):
    """Pointer to element ``[row, 0]`` of a C-contiguous 2-D array (``[row]`` of a 1-D one)."""
    array = context.make_array(kind)(context, builder, value)
    if kind.ndim == 1:
        return builder.gep(array.data, [row], inbounds=True)
    stride = cgutils.unpack_tuple(builder, array.strides)[0]
    start = builder.gep(builder.bitcast(array.data, cgutils.voidptr_t), [builder.mul(row, stride)], inbounds=True)
    return builder.bitcast(start, array.data.type)


@intrinsic
def selective_step(typingctx, delta, u, bias, skip, first, a_high, a_low, x, b, c, out, row, step_limit, softplus):
    """One time step of the selective scan for a block of lanes (see the module docstring).

    ``delta``, ``u`` and ``out`` are ``(rows, lanes)`` staging buffers, the step in row ``row`` (``delta``'s row holds
    the step ``Δ`` afterwards); ``bias`` and ``skip`` are ``(channels,)`` with the block's first channel at
    ``first``; ``a_high + a_low`` ``(N, lanes)`` is ``A log2 e`` (:func:`~._vecmath.log2e_split`) and ``x``
    ``(N, lanes)`` the state, updated in place; ``b`` and ``c`` are ``(rows, N)``: ``B_{n,t}`` and ``C_{n,t}`` in row
    ``row``; ``step_limit`` bounds the steps whose gates take the bounded exponential (``EXP_BOUNDED_LIMIT /
    max|A|``); ``softplus`` is ``None`` for steps used as given. C-contiguous float32 or float64 arrays of one dtype;
    the caller ensures the shapes agree (nothing is checked).
    """
    arrays = {"delta": delta, "u": u, "bias": bias, "skip": skip, "a_high": a_high, "a_low": a_low, "x": x,
              "b": b, "c": c, "out": out}  # fmt: skip
    if not all(isinstance(a, types.Array) and a.layout == "C" for a in arrays.values()):
        return None
    if len({a.dtype for a in arrays.values()}) != 1 or delta.dtype not in PRECISIONS or step_limit != delta.dtype:
        return None
    rows = [kind for name, kind in arrays.items() if name not in ("bias", "skip")]
    if bias.ndim != 1 or skip.ndim != 1 or any(kind.ndim != 2 for kind in rows):
        return None
    if not (isinstance(first, types.Integer) and isinstance(row, types.Integer)):
        return None
    names = ("delta", "u", "bias", "skip", "first", "a_high", "a_low", "x", "b", "c", "out", "row")

    def codegen(context, builder, signature, args):
        kinds = dict(zip(names, zip(signature.args, args)))
        first_ = context.cast(builder, kinds["first"][1], kinds["first"][0], types.intp)
        row_ = context.cast(builder, kinds["row"][1], kinds["row"][0], types.intp)
        place = {"delta": row_, "u": row_, "out": row_, "b": row_, "c": row_, "bias": first_, "skip": first_}
        pointers = []
        for name in _OPERANDS:
            kind, value = kinds[name]
            if name in place:
                pointers.append(_row_pointer(context, builder, kind, value, place[name]))
            else:
                pointers.append(context.make_array(kind)(context, builder, value).data)
        nstate, block = cgutils.unpack_tuple(builder, context.make_array(a_high)(context, builder, args[5]).shape)
        function = _step_function(context, builder.module, delta.dtype, not isinstance(softplus, types.NoneType))
        builder.call(function, [*pointers, nstate, block, args[12]])  # args[12]: step_limit
        return context.get_dummy_value()

    signature = types.void(delta, u, bias, skip, first, a_high, a_low, x, b, c, out, row, step_limit, softplus)
    return signature, codegen
