"""The selective scan of one channel as LLVM vector code: :func:`selective_channel`.

One call runs Mamba's selective scan over the whole sequence of one (batch, channel) pair, with the
SIMD lanes across its ``N`` states:

.. math::

    Δ_t = \\operatorname{softplus}(δ_t + \\mathrm{bias}), \\qquad
    x_t = e^{Δ_t A} \\odot x_{t-1} + (Δ_t u_t) B_t, \\qquad
    y_t = \\Bigl(\\sum_n C_{t,n} x_{t,n} + D u_t\\Bigr) \\frac{z_t}{1 + e^{-z_t}},

with the softplus and the gate optional. The state ``x`` and the operands ``A log2 e = high + low``
(:func:`~._vecmath.log2e_split`) stay in registers for the whole sequence; ``B_t`` and ``C_t`` are one vector
load each (the wrapper lays them out ``(time, state)``, shared by every channel of a group); ``δ``, ``u``, ``z``
and ``y`` are the channel's own rows, read and written where they lie, time-contiguous, a vector of steps at a
time. Nothing is transposed or staged in memory the way the channels-innermost layout needs (lanes across
channels, each step a row of a ``(time, channel)`` buffer): there, copying the rows between the two layouts
cost about a sixth of the kernel.

The price is the output sum ``Σ_n C_{t,n} x_{t,n}``, a sum across the lanes. It is done for ``G`` steps at once
(``G`` the lanes of a vector): the ``G`` product vectors go through a pairwise tree of vector additions (level
``k`` adds lanes ``h = G/2^k`` apart; :func:`tree_masks`), whose last level leaves step ``j``'s sum in one lane:
``G − 1`` additions and ``2(G − 1)`` shuffles for ``G`` sums, and the sums come out as the vector of ``y`` that
is stored. Every step's sum is added in the same order (the tree's) whichever group and call it falls in. A
state wider than a vector is first folded to ``G`` lanes, its vector-wide slices added in order.

Each group of ``G`` steps: (1) per-channel work on vectors of steps: ``Δ`` (the softplus, with the bounded
exponential where every argument allows it, :func:`~._vecmath.emit_exp_checked`) and ``Δu``, done ahead for 16
groups at once into a small stack buffer, so that the softplus's long dependency chains (an exponential, a division,
a series) overlap instead of stalling the steps (done group by group, the issue-19 call took 14.66 against 13.43 ms
on one thread); (2) the ``G`` steps, unrolled, each ``Δ_t`` and ``Δ_t u_t`` broadcast from that buffer, the gates
``e^{Δ_t A}`` by :func:`~._vecmath.emit_exp_product_bounded` when every ``|Δ_t| ≤ step_limit`` in the group
(``EXP_BOUNDED_LIMIT / max|A|``; a NaN fails) else :func:`~._vecmath.emit_exp_product` (bitwise the same gates: the
check chooses a speed, never a value), ``x ← fma(e^{Δ_t A}, x, (Δ_t u_t) B_t)``, then the tree; (3) ``fma(D, u, y)``
and the store. The gate ``z σ(z)`` (:func:`~._vecmath.emit_silu_factor`) is applied in a pass of its own over the 16
groups' outputs, for the same reason as (1). The last ``L mod G`` steps run the same code on zero-padded copies of
their rows, the steps in a loop.

States are padded with zeros to ``W`` lanes (:func:`state_width`): ``A = 0``, ``B = C = 0`` and ``x_0 = 0`` there
keep those lanes at zero (gate 1, input 0) and add exact zeros to the sums (a NaN or infinite ``Δ_t`` makes them
NaN, at steps whose outputs are not finite anyway).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import NativeValue, intrinsic, models, register_model, typeof_impl, unbox

from ._modal import vector_lanes
from ._vecmath import (
    PRECISIONS,
    emit_exp_checked,
    emit_exp_product,
    emit_exp_product_bounded,
    emit_fma,
    emit_intrinsic,
    emit_silu_factor,
    emit_softplus,
    emit_splat,
    emit_within,
    precision_for,
)

__all__ = ["Lanes", "group_steps", "selective_channel", "state_width", "tree_lanes", "tree_masks"]

#: Groups of steps whose per-channel work (``Δ``, ``Δu``; the output gate) is done in one pass (see the module
#: docstring): 16 groups of 16 float32 steps are 2 KiB of stack.
_GROUPS_PER_PASS = 16


class Lanes:
    """The state's width ``W`` as an argument whose Numba type carries it (``Lanes(16)``): a kernel taking it is
    compiled once per width, and the width is a constant of its code (vector types, unrolled trees). Unlike
    ``numba.literally`` on an int, which makes every call retry the compilation's first passes (13 ms a call
    measured), a call with a width already compiled goes straight to the compiled code."""

    __slots__ = ("width",)

    def __init__(self, width: int):
        self.width = int(width)


class LanesType(types.Dummy):
    """Numba type of :class:`Lanes`: one type per width, no runtime value."""

    def __init__(self, width: int):
        self.width = width
        super().__init__(name=f"Lanes({width})")


@typeof_impl.register(Lanes)
def _typeof_lanes(value, context):
    return LanesType(value.width)


register_model(LanesType)(models.OpaqueModel)


@unbox(LanesType)
def _unbox_lanes(typ, obj, c):
    return NativeValue(c.context.get_dummy_value())


def group_steps(width: int, dtype) -> int:
    """Steps summed per tree, ``G``: the lanes of a vector of ``dtype``, or ``width`` if the state is narrower."""
    return min(width, vector_lanes(dtype))


def state_width(nstate: int, dtype) -> int:
    """Lanes ``W`` of the state vector for ``nstate`` states: the next power of two up to a vector's lanes, above
    that the next multiple of a vector (``N = 16`` float32: 16, one AVX-512 vector; ``N = 20``: 32)."""
    lanes = vector_lanes(dtype)
    if nstate <= lanes:
        return 1 << max(0, nstate - 1).bit_length()
    return -(-nstate // lanes) * lanes


def tree_masks(width: int, per_lane: int) -> list:
    """The shuffle masks of the output sums' tree: per level ``(low, high)``, each indexing ``a ++ b`` (two vectors
    of ``width`` lanes); the level adds ``shuffle(low)`` and ``shuffle(high)``.

    A level with half ``h`` (``width / 2``, then ``/ 4``, …, 1) adds, within each ``2h``-aligned group of lanes,
    the first ``h`` lanes to the last ``h``, for two vectors at once: the result holds ``a``'s ``h``-lane sums and
    ``b``'s. The lanes move as whole blocks while ``h`` spans at least a 128-bit lane (``per_lane`` elements:
    ``vinsertf64x4``, ``vshuff32x4``), then within each 128-bit lane (``unpcklpd``, ``shufps``): shuffles that
    stay inside a lane are the cheap ones (whole blocks at every level: the issue-19 call took 12.61 against
    12.43 ms on one thread, minima of 30, the same sums).
    """
    per_lane = min(per_lane, width)
    levels, half = [], width // 2
    while half >= 1:
        low, high = [], []
        if half >= per_lane:
            for source in (0, width):
                for start in range(0, width, 2 * half):
                    low += [source + start + k for k in range(half)]
                    high += [source + start + half + k for k in range(half)]
        else:
            for lane in range(0, width, per_lane):
                for source in (0, width):
                    for k in range(lane, lane + per_lane):
                        (low if k % (2 * half) < half else high).append(source + k)
        levels.append((low, high))
        half //= 2
    return levels


def tree_lanes(width: int, per_lane: int) -> list:
    """``order[lane]``: which input vector's sum the tree of :func:`tree_masks` leaves in each lane (vector ``j``
    and ``j + n/2`` are combined at each level of ``n`` vectors)."""
    level = [[j] * width for j in range(width)]
    for low, _ in tree_masks(width, per_lane):
        n = len(level) // 2
        level = [[(level[j] + level[j + n])[m] for m in low] for j in range(n)]
    return level[0]


def _shuffle(builder, a, b, mask):
    return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(ir.IntType(32), len(mask)), list(mask)))


def _emit_tree(builder, vectors):
    """The sums of ``G`` vectors of ``G`` lanes, as one vector (lane ``j``: the sum of ``vectors[j]``)."""
    width = len(vectors)
    if width == 1:
        return vectors[0]
    per_lane = 16 // _itemsize(vectors[0].type.element)  # elements per 128 bits
    level = list(vectors)
    for low, high in tree_masks(width, per_lane):
        n = len(level) // 2
        level = [
            builder.fadd(
                _shuffle(builder, level[j], level[j + n], low), _shuffle(builder, level[j], level[j + n], high)
            )
            for j in range(n)
        ]
    order = tree_lanes(width, per_lane)
    return _shuffle(builder, level[0], level[0], [order.index(j) for j in range(width)])


def _itemsize(element):
    """Bytes of the LLVM floating type ``element`` (float or double)."""
    return 4 if element == ir.FloatType() else 8


def _emit_fold(builder, v, lanes):
    """``v`` (a multiple of ``lanes`` lanes) as ``lanes`` lanes: its slices of ``lanes`` added in order."""
    total = _shuffle(builder, v, v, range(lanes))
    for start in range(lanes, v.type.count, lanes):
        total = builder.fadd(total, _shuffle(builder, v, v, range(start, start + lanes)))
    return total


def _emit_channel(builder, args, element, width, group, features):
    """The body of :func:`_channel_function` (see the module docstring); ``features``: ``(softplus, gated,
    restarts)``, each a bool."""
    delta, u, z, out, a_high, a_low, x, b, c, restart, b_stride, c_stride, length, bias, skip, step_limit = args
    softplus, gated, restarts = features
    intp, i32 = length.type, ir.IntType(32)
    state_kind, group_kind = ir.VectorType(element, width), ir.VectorType(element, group)
    align = _itemsize(element)  # rows are read from any step
    state_p, group_p = precision_for(state_kind), precision_for(group_kind)
    zero, size = ir.Constant(intp, 0), ir.Constant(intp, group)

    def vector_at(base, index, kind=group_kind):
        return builder.bitcast(builder.gep(base, [index], inbounds=True), kind.as_pointer())

    def load(base, index, kind=group_kind):
        return builder.load(vector_at(base, index, kind), align=align)

    # the gates' constants as values LLVM cannot fold or reload from the constant pool (see exp_constants), where
    # the state is one vector register (the constraint's class: neither a one-lane vector nor several registers)
    constants = state_p.product_constants
    if 1 < width <= vector_lanes(np.dtype(f"f{align}")):
        opaque = ir.FunctionType(state_kind, [state_kind])
        constants = [builder.asm(opaque, "", "=x,0", [k], False) for k in constants]
    high, low = load(a_high, zero, state_kind), load(a_low, zero, state_kind)
    state = cgutils.alloca_once_value(builder, load(x, zero, state_kind))  # a register after mem2reg
    zero_state = ir.Constant(state_kind, None)
    limit = emit_splat(builder, step_limit, group_kind)
    steps_buffer = cgutils.alloca_once(builder, ir.ArrayType(element, group * _GROUPS_PER_PASS))
    inputs_buffer = cgutils.alloca_once(builder, ir.ArrayType(element, group * _GROUPS_PER_PASS))
    bounded_buffer = cgutils.alloca_once(builder, ir.ArrayType(ir.IntType(1), _GROUPS_PER_PASS))

    def slot(buffer, index):
        return builder.gep(buffer, [ir.Constant(i32, 0), index], inbounds=True)

    def prepare(raw, inputs, at):
        """``Δ`` and ``Δu`` of a group's steps into the buffers at ``at``; whether its gates may take the bounded
        exponential."""
        raw = builder.fadd(raw, emit_splat(builder, bias, group_kind))
        if softplus:
            negative = builder.fneg(emit_intrinsic(builder, "llvm.fabs", raw))
            raw = emit_softplus(builder, raw, emit_exp_checked(builder, negative, group_p), group_p)
        builder.store(raw, builder.bitcast(slot(steps_buffer, at), group_kind.as_pointer()), align=align)
        product = builder.fmul(raw, inputs)
        builder.store(product, builder.bitcast(slot(inputs_buffer, at), group_kind.as_pointer()), align=align)
        return emit_within(builder, raw, limit)

    def step(t, k, exponential):
        """Step ``t`` (its ``Δ`` at ``k`` in the buffers): the state update; the lanes of ``C_t x_t`` folded to
        ``G``."""
        h = builder.load(state)
        if restarts:  # a packed sequence starts here
            flag = builder.load(builder.gep(restart, [t], inbounds=True))
            h = builder.select(builder.icmp_unsigned("!=", flag, ir.Constant(flag.type, 0)), zero_state, h)
        step_ = emit_splat(builder, builder.load(slot(steps_buffer, k)), state_kind)
        input_ = emit_splat(builder, builder.load(slot(inputs_buffer, k)), state_kind)
        b_t, c_t = load(b, builder.mul(t, b_stride), state_kind), load(c, builder.mul(t, c_stride), state_kind)
        h = emit_fma(builder, exponential(step_), h, builder.fmul(input_, b_t))
        builder.store(h, state)
        return _emit_fold(builder, builder.fmul(h, c_t), group)

    def bounded(step_):
        return emit_exp_product_bounded(builder, step_, high, low, constants, state_p)

    def careful(step_):
        return emit_exp_product(builder, step_, high, low, state_p)

    def either(condition, emit):
        """``emit(bounded)`` where ``condition`` holds, else ``emit(careful)``: the value of the branch taken."""
        with builder.if_else(condition, likely=True) as (then, otherwise):
            with then:
                fast, fast_block = emit(bounded), builder.block
            with otherwise:
                slow, slow_block = emit(careful), builder.block
        value = builder.phi(fast.type)
        value.add_incoming(fast, fast_block)
        value.add_incoming(slow, slow_block)
        return value

    def finish(y, inputs):
        return emit_fma(builder, emit_splat(builder, skip, group_kind), inputs, y)

    # whole groups, _GROUPS_PER_PASS at a time
    groups = builder.sdiv(length, size)
    passes = builder.sdiv(
        builder.add(groups, ir.Constant(intp, _GROUPS_PER_PASS - 1)), ir.Constant(intp, _GROUPS_PER_PASS)
    )
    with cgutils.for_range(builder, passes, intp=intp) as outer:
        first = builder.mul(outer.index, ir.Constant(intp, _GROUPS_PER_PASS))
        count = builder.sub(groups, first)
        most = ir.Constant(intp, _GROUPS_PER_PASS)
        count = builder.select(builder.icmp_signed("<", count, most), count, most)
        start = builder.mul(first, size)
        with cgutils.for_range(builder, count, intp=intp) as loop:
            at, t0 = builder.mul(loop.index, size), builder.add(start, builder.mul(loop.index, size))
            builder.store(prepare(load(delta, t0), load(u, t0), at), slot(bounded_buffer, loop.index))
        with cgutils.for_range(builder, count, intp=intp) as loop:
            at, t0 = builder.mul(loop.index, size), builder.add(start, builder.mul(loop.index, size))

            def unrolled(exponential, at=at, t0=t0):
                offsets = [ir.Constant(intp, j) for j in range(group)]
                return _emit_tree(builder, [step(builder.add(t0, j), builder.add(at, j), exponential) for j in offsets])

            y = either(builder.load(slot(bounded_buffer, loop.index)), unrolled)
            builder.store(finish(y, load(u, t0)), vector_at(out, t0), align=align)
        if gated:
            with cgutils.for_range(builder, count, intp=intp) as loop:
                t0 = builder.add(start, builder.mul(loop.index, size))
                gate = emit_silu_factor(builder, load(z, t0), group_p)
                builder.store(builder.fmul(load(out, t0), gate), vector_at(out, t0), align=align)

    # the last L mod G steps: the same operations on zero-padded copies of the rows, the steps in a loop
    t0 = builder.mul(groups, size)
    rest = builder.sub(length, t0)
    with builder.if_then(builder.icmp_signed(">", rest, zero), likely=False):
        rows = {"delta": delta, "u": u, "z": z if gated else None, "out": None}
        padded = {name: cgutils.alloca_once_value(builder, ir.Constant(group_kind, None)) for name in rows}

        def padded_element(name, k):
            return builder.gep(builder.bitcast(padded[name], element.as_pointer()), [k], inbounds=True)

        with cgutils.for_range(builder, rest, intp=intp) as loop:
            for name, row in rows.items():
                if row is not None:
                    value = builder.load(builder.gep(row, [builder.add(t0, loop.index)], inbounds=True))
                    builder.store(value, padded_element(name, loop.index))
        inputs = builder.load(padded["u"])
        within = prepare(builder.load(padded["delta"]), inputs, zero)
        products = cgutils.alloca_once_value(builder, ir.Constant(ir.ArrayType(group_kind, group), None))

        def looped(exponential):
            with cgutils.for_range(builder, rest, intp=intp) as loop:
                j = loop.index
                builder.store(step(builder.add(t0, j), j, exponential), slot(products, builder.trunc(j, i32)))
            return _emit_tree(builder, [builder.load(slot(products, ir.Constant(i32, j))) for j in range(group)])

        y = finish(either(within, looped), inputs)
        if gated:
            y = builder.fmul(y, emit_silu_factor(builder, builder.load(padded["z"]), group_p))
        builder.store(y, padded["out"])
        with cgutils.for_range(builder, rest, intp=intp) as loop:
            value = builder.load(padded_element("out", loop.index))
            builder.store(value, builder.gep(out, [builder.add(t0, loop.index)], inbounds=True))
    builder.store(builder.load(state), vector_at(x, zero, state_kind), align=align)


def _channel_function(context, module, dtype, width, features):
    """The scan of one channel as a function of the calling kernel's module (defined at its first use there, never
    inlined): ``(delta, u, z, out, a_high, a_low, x, b, c, restart, b_stride, c_stride, length, bias, skip,
    step_limit)``: pointers to the channel's rows (``z`` unused without the gate), to its ``W`` lanes of ``A``
    and of the state, to ``B`` and ``C`` ``(time, W)`` rows ``b_stride``/``c_stride`` elements apart (0: fixed in
    time), to the restart flags (unused without them)."""
    element = context.get_data_type(dtype)
    intp = context.get_value_type(types.intp)
    pointer = element.as_pointer()
    signature = ir.FunctionType(
        ir.VoidType(), [pointer] * 9 + [ir.IntType(8).as_pointer()] + [intp] * 3 + [element] * 3
    )
    flags = "".join(str(int(f)) for f in features)
    function = cgutils.get_or_insert_function(
        module, signature, f"statespace.selective_channel.{dtype}.{width}.{flags}"
    )
    if function.is_declaration:
        function.linkage = "internal"
        function.attributes.add("noinline")
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        group = group_steps(width, np.dtype(str(dtype)))
        _emit_channel(builder, function.args, element, width, group, features)
        builder.ret_void()
    return function


@intrinsic
def selective_channel(
    typingctx, delta, u, z, out, a_high, a_low, x, b, c, restart, bias, skip, step_limit, width, softplus, gate,
    restarted,
):  # fmt: skip
    """The selective scan of one channel (see the module docstring).

    ``delta``, ``u``, ``z``, ``out`` ``(L,)`` and ``restart`` ``(L,)`` bool are the channel's rows; ``a_high +
    a_low`` ``(W,)`` is ``A log2 e`` (:func:`~._vecmath.log2e_split`) and ``x`` ``(W,)`` the state, updated in
    place; ``b`` and ``c`` are ``(L or 1, W)``; ``bias``, ``skip`` (``D``) and ``step_limit`` (the largest
    ``|Δ|`` of the bounded gates) are scalars; ``width`` is ``W`` as :class:`Lanes` (:func:`state_width`); ``softplus``,
    ``gate`` (use ``z``) and ``restarted`` (use ``restart``) are ``None`` or ``True``, so each combination compiles
    only its own code. C-contiguous float32 or float64 arrays of one dtype; the caller ensures the shapes agree
    (nothing is checked).
    """
    arrays = (delta, u, z, out, a_high, a_low, x, b, c)
    if not all(isinstance(a, types.Array) and a.layout == "C" for a in (*arrays, restart)):
        return None
    if len({a.dtype for a in arrays}) != 1 or delta.dtype not in PRECISIONS or not isinstance(width, LanesType):
        return None
    if {bias, skip, step_limit} != {delta.dtype}:
        return None
    features = tuple(not isinstance(f, types.NoneType) for f in (softplus, gate, restarted))

    def codegen(context, builder, signature, args):
        made = [context.make_array(kind)(context, builder, value) for kind, value in zip(signature.args[:10], args)]
        intp = context.get_value_type(types.intp)
        lanes = ir.Constant(intp, width.width)

        def time_stride(array):  # elements between steps: 0 for a weight fixed in time
            steps = cgutils.unpack_tuple(builder, array.shape)[0]
            return builder.select(builder.icmp_signed("==", steps, ir.Constant(intp, 1)), ir.Constant(intp, 0), lanes)

        length = cgutils.unpack_tuple(builder, made[3].shape)[0]
        flags = builder.bitcast(made[9].data, ir.IntType(8).as_pointer())
        function = _channel_function(context, builder.module, delta.dtype, width.width, features)
        operands = [array.data for array in made[:9]] + [flags, time_stride(made[7]), time_stride(made[8]), length]
        builder.call(function, operands + list(args[10:13]))
        return context.get_dummy_value()

    signature = types.void(
        delta, u, z, out, a_high, a_low, x, b, c, restart, bias, skip, step_limit, width, softplus, gate, restarted
    )
    return signature, codegen
