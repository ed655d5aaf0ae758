"""Vectorisable ``exp`` and softplus for numba kernels (pip's numba has no SVML: ``math.exp`` is a libm call).

:func:`vexp` works on float32 and float64 scalars inside jitted code. It is plain
arithmetic that LLVM vectorises with the loop around it (AVX2 / AVX-512 lanes) —
the reason the selective scan's 33.5M gate exponentials cost ~1 ns each instead
of a libm call apiece. Every function here is a Numba intrinsic: its arithmetic
is emitted as LLVM IR straight into the calling kernel (and takes the kernel's
``fastmath`` flags), so no Numba function of its own is compiled at first use.
As jitted helpers, the two exponentials and their shared reduction were six
functions compiled in every fresh interpreter, 0.6 s of the cold first call of
every hot function (``asv_bench/cold_start.py``: 10.7 → 9.9 s, medians of seven
and six runs interleaved), with bitwise the same results.

Method (Cody & Waite 1980; Cephes ``expf`` coefficients, Moshier 1989):
:math:`e^x = 2^k e^r` with :math:`k = \\mathrm{round}(x \\log_2 e)` and
:math:`r = x - k\\ln 2` computed with ``ln 2`` split in a high part (exact
products with ``k``) and a low part, so :math:`|r| \\le \\ln 2 / 2` with no
cancellation error. :math:`e^r` is a polynomial (float32: Cephes' degree-7
minimax; float64: the degree-13 Taylor polynomial, truncation < 1e-17 relative
on that interval). :math:`2^k` is built exactly from its IEEE bits, in integer lanes
read off the bits of the rounding sum (no float→int conversion, which AVX2
cannot vectorise), in two factors :math:`2^{\\lfloor k/2 \\rfloor} 2^{k - \\lfloor k/2 \\rfloor}`,
so results that overflow give ``inf`` and results in the subnormal range are
rounded once. Inputs are clamped to the range where the result is neither 0
nor inf after rounding (``-inf`` → 0, ``+inf`` → inf) and NaN propagates.
Accuracy (``tests/test_numba_kernels.py``): ≤ 2 ulp against ``np.exp`` over the
whole input range in both precisions.

:func:`vexp_bounded` is the same computation for ``|x| ≤ EXP_BOUNDED_LIMIT`` (87 in float32,
708 in float64), where ``2^k`` is a normal number: no clamps, and ``2^k`` in one factor read
straight off the bits of the rounding sum (its shift constant carries the exponent bias), so
bitwise :func:`vexp`'s result with about half the instructions. The reduction returns
:math:`q = e^r - 1` and the result is the one multiply-add :math:`q 2^k + 2^k`: rounded once, it is
:math:`\\mathrm{round}(1 + q)\\, 2^k` exactly (scaling by a normal power of two commutes with rounding),
so the ``+ 1`` costs no instruction of its own and no register for the constant (measured on the
selective scan's state loop alone, one core, data in L1: 0.51 → 0.46 ns per gate, bitwise the same
output; within the noise in the whole kernel). Its constants come from
:func:`exp_constants`, called once before a loop: values LLVM cannot fold, so they stay in
registers instead of being re-broadcast from the constant pool in every iteration (AVX2 has 16
vector registers; the polynomial alone has 6 constants). Both exponentials share one emitter of the
argument reduction and polynomial (:func:`_emit_reduction`) for both precisions (:class:`_Precision`).
The emitters themselves (``emit_exp``, ``emit_exp_bounded``, ``emit_exp_product``, ``emit_exp_product_bounded``,
``emit_softplus``, ``emit_silu_factor``) take scalars or vectors: :func:`lanes_precision` gives a precision's
types and constants for vectors, and the selective scan's step (:mod:`._gated`) and gated write-back
(:func:`._tiles.transpose_gated`) emit them on explicit vectors.

:func:`vexp_product` is ``exp(a·b)`` with the product never rounded on its own, for kernels whose
exponent is a product with a factor known ahead (the selective scan's gates ``exp(Δ_t A_n)``). With
:math:`b \\log_2 e = h + l` split once (:func:`log2e_split`), :math:`n = \\mathrm{round}(a h)` and
:math:`f = a h - n + a l` take three multiply-adds in which the product is exact, and
:math:`e^{ab} = 2^n 2^f` with :math:`2^f` the same polynomial as :func:`vexp`'s in :math:`f \\ln 2`
(coefficients scaled by powers of :math:`\\ln 2`, the same degree). So no operation forms the argument
(the multiply ``a·b`` before :func:`vexp` is gone) and the result is within 1 ulp of ``exp`` of the
exact product, where ``exp`` of the rounded product is off by up to ``|a·b|`` half-ulps of its argument.
:func:`vexp_product_bounded` is its form without range handling, bitwise the same within
``EXP_BOUNDED_LIMIT``. The same reduction is Mamba's (its CUDA kernel scales ``A`` by ``log2 e`` and
calls ``exp2f``), without the low part.

:func:`vsoftplus` is Mamba's step-size map :math:`\\log(1 + e^v)` (``v`` itself above 20), in the
overflow-free form :math:`\\max(v, 0) + \\operatorname{log1p}(e^{-|v|})`. Its ``log1p`` needs only the
interval :math:`0 < x \\le 1`, where :math:`\\operatorname{log1p}(x) = 2 \\operatorname{atanh}(s)`,
:math:`s = x / (2 + x) \\in [0, 1/3]`, is the odd series :math:`2 \\sum_k s^{2k+1} / (2k + 1)`, truncated
where the next term is below a tenth of an ulp (float32: 8 terms; float64: 18). Written in arithmetic it
vectorises too: the fused selective scan's ``B·D·L`` softplus evaluations were libm ``log1p`` and ``exp``
calls, 2–3× the cost of its ``B·D·L·N`` gate exponentials. Accuracy: ≤ 4 ulp against ``np.log1p(np.exp(v))``.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "EXP_BOUNDED_LIMIT",
    "PRECISIONS",
    "emit_all",
    "emit_choice",
    "emit_exp",
    "emit_exp_bounded",
    "emit_exp_checked",
    "emit_exp_product",
    "emit_exp_product_bounded",
    "emit_fma",
    "emit_intrinsic",
    "emit_silu_factor",
    "emit_softplus",
    "emit_splat",
    "emit_within",
    "exp_constants",
    "exp_product_constants",
    "lanes_precision",
    "log2e_split",
    "precision_for",
    "vexp",
    "vexp_bounded",
    "vexp_product",
    "vexp_product_bounded",
    "vsoftplus",
]

_F32 = np.float32

# float32 constants (values rounded to float32: they are emitted as float32 constants)
_LOG2E_32 = _F32(1.44269504088896341)
_SHIFT_32 = _F32(12582912.0 + 127)  # 1.5·2^23 (adding and subtracting it rounds to an integer) + the bias
_LN2_HI_32 = _F32(0.693359375)  # 8 significant bits: k·hi is exact for |k| ≤ 2^16
_LN2_LO_32 = _F32(-2.12194440e-4)
_LO_32, _HI_32 = _F32(-104.0), _F32(89.0)  # exp(-104) < 2^-150 rounds to 0, exp(89) > FLT_MAX
_P32 = tuple(_F32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                               1.6666665459e-1, 5.0000001201e-1))  # fmt: skip


# float64 constants (fdlibm's split of ln 2: the high part has 32 significant bits)
_LOG2E_64 = 1.4426950408889634
_SHIFT_64 = 6755399441055744.0 + 1023  # 1.5·2^52 + the exponent bias
_LN2_HI_64 = 6.93147180369123816490e-01
_LN2_LO_64 = 1.90821492927058770002e-10
_LO_64, _HI_64 = -746.0, 710.0  # exp(-746) < 2^-1075 rounds to 0, exp(710) > DBL_MAX
_TAYLOR_64 = tuple(1.0 / math.factorial(k) for k in range(13, 1, -1))  # 1/13!, ..., 1/2!

# the exponential's constants in the order _emit_reduction reads them
_EXP_32 = (_LOG2E_32, _SHIFT_32, _LN2_HI_32, _LN2_LO_32, *_P32)
_EXP_64 = (_LOG2E_64, _SHIFT_64, _LN2_HI_64, _LN2_LO_64, *_TAYLOR_64)

# exp(a·b) in base 2 (see vexp_product): the same polynomials in f = r / ln 2, so q(f) = Σ_k c_k (ln 2)^k f^k
# with c_k the coefficients of e^r − 1 above (float32: 1, then Cephes' P32 lowest degree first; float64: 1/k!),
# highest degree first, and the clamps in log2 units (2^-151 rounds to 0, 2^129 overflows; float64 -1077, 1025)
_LN2 = math.log(2.0)
_POW2_32 = tuple(_F32(c * _LN2**k) for k, c in zip(range(7, 0, -1), (*_P32, 1.0)))
_POW2_64 = tuple(_LN2**k / math.factorial(k) for k in range(13, 0, -1))
_EXP2_32 = (_SHIFT_32, *_POW2_32)
_EXP2_64 = (_SHIFT_64, *_POW2_64)
_LO2_32, _HI2_32 = _F32(-151.0), _F32(129.0)
_LO2_64, _HI2_64 = -1077.0, 1025.0
_LOG2E_LO_64 = 2.0355273740931033e-17  # log2(e) − float64(log2(e))

# atanh series of log1p on (0, 1]: 1/(2k+1), highest term first
_ATANH_32 = tuple(_F32(1.0 / (2 * k + 1)) for k in range(7, 0, -1))
_ATANH_64 = tuple(1.0 / (2 * k + 1) for k in range(17, 0, -1))
_SOFTPLUS_THRESHOLD = 20.0  # Mamba's: above it softplus(v) is v


#: Largest ``|x|`` for which :func:`vexp_bounded` gives :func:`vexp`'s result, per precision: there
#: ``k = round(x log2 e)`` keeps ``2^k`` a normal number, so one scale factor suffices.
EXP_BOUNDED_LIMIT = {np.dtype(np.float32): 87.0, np.dtype(np.float64): 708.0}


class _Precision:
    """What the emitters need to know of one floating type: its LLVM types, significand bits, exponent bias,
    and the exponential's constants (:data:`_EXP_32` / :data:`_EXP_64`) and clamps."""

    def __init__(self, real, width, mantissa, bias, constants, low, high, product_constants, low2, high2, atanh):
        self.real, self.integer = real, ir.IntType(width)
        self.mantissa, self.bias = mantissa, bias
        self.constants = tuple(ir.Constant(real, float(c)) for c in constants)
        self.product_constants = tuple(ir.Constant(real, float(c)) for c in product_constants)
        self.low2, self.high2 = ir.Constant(real, float(low2)), ir.Constant(real, float(high2))
        # the IEEE bits of the rounding shift 1.5·2^m + BIAS: subtracted from a shifted sum's bits, they leave n
        self.shift_bits = int(np.array(constants[1], f"f{width // 8}").view(f"i{width // 8}"))
        self.low, self.high = ir.Constant(real, float(low)), ir.Constant(real, float(high))
        self.atanh = atanh  # the softplus series' coefficients (Python floats, highest first)
        self.exp_limit = ir.Constant(real, EXP_BOUNDED_LIMIT[np.dtype(f"f{width // 8}")])  # the bounded exp's range

    def const(self, value):
        return ir.Constant(self.real, float(value))


#: What the emitters need of each floating type (LLVM types, constants), by Numba type.
PRECISIONS = {
    types.float32: _Precision(
        ir.FloatType(), 32, 23, 127, _EXP_32, _LO_32, _HI_32, _EXP2_32, _LO2_32, _HI2_32, _ATANH_32
    ),
    types.float64: _Precision(
        ir.DoubleType(), 64, 52, 1023, _EXP_64, _LO_64, _HI_64, _EXP2_64, _LO2_64, _HI2_64, _ATANH_64
    ),
}


def emit_intrinsic(builder, name, *operands):
    """A call of the LLVM intrinsic ``name`` (``"llvm.fma"``, ``"llvm.fabs"``) on scalars or vectors of one
    floating type, named with that type's suffix (``.f32``, ``.v16f32``; llvmlite names only scalar ones)."""
    kind = operands[0].type
    element = kind.element if isinstance(kind, ir.VectorType) else kind
    suffix = "f64" if element == ir.DoubleType() else "f32"
    if isinstance(kind, ir.VectorType):
        suffix = f"v{kind.count}{suffix}"
    signature = ir.FunctionType(kind, [kind] * len(operands))
    return builder.call(cgutils.get_or_insert_function(builder.module, signature, f"{name}.{suffix}"), operands)


def emit_fma(builder, a, b, c):
    """``a·b + c`` rounded once (``llvm.fma``), for scalars or vectors."""
    return emit_intrinsic(builder, "llvm.fma", a, b, c)


def emit_splat(builder, scalar, kind):
    """``scalar`` in every lane of the vector type ``kind`` (itself for a scalar ``kind``)."""
    if not isinstance(kind, ir.VectorType):
        return scalar
    undefined, zeros = ir.Constant(kind, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), kind.count), 0)
    return builder.shuffle_vector(
        builder.insert_element(undefined, scalar, ir.Constant(ir.IntType(32), 0)), undefined, zeros
    )


def emit_all(builder, mask):
    """Whether every lane of the comparison ``mask`` is true (``i1``; a scalar comparison is itself)."""
    if not isinstance(mask.type, ir.VectorType):
        return mask
    kind = ir.FunctionType(ir.IntType(1), [mask.type])
    reduce = cgutils.get_or_insert_function(builder.module, kind, f"llvm.vector.reduce.and.v{mask.type.count}i1")
    return builder.call(reduce, [mask])


def emit_choice(builder, condition, fast, careful):
    """``fast()`` where ``condition`` holds, else ``careful()``: a branch, each side emitted once, and their value."""
    with builder.if_else(condition, likely=True) as (then, otherwise):
        with then:
            chosen = fast()
            then_block = builder.block
        with otherwise:
            other = careful()
            other_block = builder.block
    result = builder.phi(chosen.type)
    result.add_incoming(chosen, then_block)
    result.add_incoming(other, other_block)
    return result


def emit_within(builder, values, limit):
    """Whether every ``|values| ≤ limit`` (``i1``; a NaN is not)."""
    return emit_all(builder, builder.fcmp_ordered("<=", emit_intrinsic(builder, "llvm.fabs", values), limit))


def emit_exp_checked(builder, x, precision):
    """``exp(x)`` of scalars or vectors: :func:`emit_exp_bounded` when every ``|x|`` is within the precision's
    ``EXP_BOUNDED_LIMIT``, else :func:`emit_exp`; bitwise the same results, so the check chooses a speed only."""
    return emit_choice(
        builder,
        emit_within(builder, x, precision.exp_limit),
        lambda: emit_exp_bounded(builder, x, precision.constants, precision),
        lambda: emit_exp(builder, x, precision),
    )


def emit_silu_factor(builder, z, precision):
    """``z / (1 + e^{-z})`` of scalars or vectors: Mamba's output gate is ``y`` times it (SiLU, ``z σ(z)``, when
    ``y = 1``); NaN propagated, ``e^{-z}`` by :func:`emit_exp_checked`."""
    tail = emit_exp_checked(builder, builder.fneg(z), precision)
    return builder.fdiv(z, builder.fadd(precision.const(1), tail))


def precision_for(kind):
    """The emitters' precision for values of the LLVM type ``kind``: float or double, scalar or vector."""
    if isinstance(kind, ir.VectorType):
        return lanes_precision(precision_for(kind.element), kind.count)
    return PRECISIONS[types.float32 if kind == ir.FloatType() else types.float64]


def lanes_precision(precision, width):
    """``precision`` for vectors of ``width`` lanes: its types and constants splatted, for the emitters here run on
    explicit vectors (the selective scan's step, :mod:`._gated`, and its gated write-back,
    :func:`._tiles.transpose_gated`)."""
    vector = ir.VectorType(precision.real, width)

    def splat(constant):
        return ir.Constant(vector, constant.constant)

    lanes = _Precision.__new__(_Precision)
    lanes.real, lanes.integer = vector, ir.VectorType(precision.integer, width)
    lanes.mantissa, lanes.bias, lanes.shift_bits = precision.mantissa, precision.bias, precision.shift_bits
    lanes.atanh = precision.atanh
    lanes.exp_limit = splat(precision.exp_limit)
    lanes.constants = tuple(map(splat, precision.constants))
    lanes.product_constants = tuple(map(splat, precision.product_constants))
    lanes.low, lanes.high = splat(precision.low), splat(precision.high)
    lanes.low2, lanes.high2 = splat(precision.low2), splat(precision.high2)
    return lanes


def _emit_reduction(builder, x, k):
    """``(e^r − 1, shifted)`` with ``exp(x) = e^r 2^n`` and ``shifted = n + BIAS + 1.5·2^m``; ``k``: the
    constants in the order of :data:`_EXP_32` (LLVM values). Each product and sum is its own instruction;
    under the kernels' ``contract`` flag LLVM fuses them into multiply-adds."""
    shifted = builder.fadd(builder.fmul(x, k[0]), k[1])
    kf = builder.fsub(shifted, k[1])
    r = builder.fsub(builder.fsub(x, builder.fmul(kf, k[2])), builder.fmul(kf, k[3]))
    p = k[4]
    for coefficient in k[5:]:  # Horner
        p = builder.fadd(builder.fmul(p, r), coefficient)
    return builder.fadd(builder.fmul(p, builder.fmul(r, r)), r), shifted


def _emit_pow2(builder, shifted, precision):
    """``2^n`` from ``shifted = n + BIAS + 1.5·2^m`` (``m`` the significand bits, ``BIAS`` the exponent bias).

    The bits of ``shifted`` end in those of ``n + BIAS`` (``1.5·2^m``'s bits all lie above them), so one shift
    by ``m`` moves ``n + BIAS`` into the exponent field: the IEEE bits of ``2^n``, for ``n`` where that
    number is normal.
    """
    bits = builder.shl(builder.bitcast(shifted, precision.integer), ir.Constant(precision.integer, precision.mantissa))
    return builder.bitcast(bits, precision.real)


def _emit_scale(builder, p, shifted, precision):
    """``p·2^n`` for ``n`` in the whole clamped range (``[-152, 128]`` in float32, ``[-1076, 1025]`` in float64),
    ``n`` read from the bits of ``shifted = n + BIAS + 1.5·2^m``.

    ``2^n`` is built in two exact factors ``2^⌊n/2⌋ 2^(n − ⌊n/2⌋)``, in integer lanes: no float→int conversion,
    which AVX2 cannot vectorise for 64-bit integers. ``⌊n/2⌋`` is an arithmetic shift in 32-bit lanes and a
    logical shift of ``n + 2048`` in 64-bit ones (AVX2 has no 64-bit arithmetic shift).
    """
    integer, real = precision.integer, precision.real
    n = builder.sub(builder.bitcast(shifted, integer), ir.Constant(integer, precision.shift_bits))
    if precision.mantissa == 23:  # 32-bit lanes
        half = builder.ashr(n, ir.Constant(integer, 1))
    else:
        offset = builder.add(n, ir.Constant(integer, 2048))
        half = builder.sub(builder.lshr(offset, ir.Constant(integer, 1)), ir.Constant(integer, 1024))
    factors = [
        builder.bitcast(
            builder.shl(builder.add(e, ir.Constant(integer, precision.bias)), ir.Constant(integer, precision.mantissa)),
            real,
        )
        for e in (half, builder.sub(n, half))
    ]
    return builder.fmul(builder.fmul(p, factors[0]), factors[1])


def emit_exp(builder, x, precision):
    """``exp(x)`` over the whole input range: clamped to where the result is neither 0 nor inf after rounding,
    NaN propagated (computed on 0, then ``x`` itself returned)."""
    clamped = builder.select(builder.fcmp_ordered(">", x, precision.high), precision.high, x)
    clamped = builder.select(builder.fcmp_ordered("<", clamped, precision.low), precision.low, clamped)
    clamped = builder.select(builder.fcmp_ordered("==", clamped, clamped), clamped, precision.const(0))
    q, shifted = _emit_reduction(builder, clamped, precision.constants)
    result = _emit_scale(builder, builder.fadd(q, precision.const(1)), shifted, precision)
    return builder.select(builder.fcmp_ordered("==", x, x), result, x)


def emit_exp_bounded(builder, x, constants, precision):
    """``exp(x)`` for ``|x| ≤ EXP_BOUNDED_LIMIT``: the reduction, then the one multiply-add ``q·2^n + 2^n``.

    Rounded once, it is ``round(1 + q)·2^n`` exactly (scaling by a normal power of two commutes with
    rounding): :func:`vexp`'s result, whose ``1 + q`` is rounded before its exact two-factor scaling.
    """
    q, shifted = _emit_reduction(builder, x, constants)
    scale = _emit_pow2(builder, shifted, precision)
    return builder.fadd(builder.fmul(q, scale), scale)


@intrinsic
def vexp(typingctx, x):
    """``exp(x)`` for a float32/float64 scalar in jitted code, vectorisable (see the module docstring)."""
    if x not in PRECISIONS:
        return None

    def codegen(context, builder, signature, args):
        return emit_exp(builder, args[0], PRECISIONS[x])

    return x(x), codegen


@intrinsic
def exp_constants(typingctx, x):
    """The constants of :func:`vexp_bounded` in ``x``'s precision, as values the optimiser cannot fold.

    Called once before a kernel's loops: the constants are then loop-invariant registers (or stack slots
    read by the multiply-adds) instead of being reloaded from the constant pool in every iteration, which
    LLVM otherwise does under AVX2's register pressure (measured: the bounded exp's loop 30% faster). Each
    is passed through an empty inline-assembly statement: the same number, which LLVM can no longer fold.
    """
    return _opaque_constants(x, "constants")


def _opaque_constants(x, field):
    """Typing and lowering of an intrinsic that returns the constants ``field`` of ``x``'s precision as a tuple,
    each passed through an empty inline-assembly statement (``None``, no match, for other types)."""
    if x not in PRECISIONS:
        return None
    constants = getattr(PRECISIONS[x], field)
    kind = types.UniTuple(x, len(constants))

    def codegen(context, builder, signature, args):
        values = ir.Constant(context.get_value_type(kind), ir.Undefined)
        for i, constant in enumerate(constants):
            opaque = builder.asm(ir.FunctionType(constant.type, [constant.type]), "", "=x,0", [constant], False)
            values = builder.insert_value(values, opaque, i)
        return values

    return kind(x), codegen


@intrinsic
def vexp_bounded(typingctx, x, constants):
    """``exp(x)`` for ``|x| ≤ EXP_BOUNDED_LIMIT`` (or NaN) in jitted code, with ``constants`` from
    :func:`exp_constants`: :func:`vexp` without its range handling (no clamps, one scale factor), bitwise the
    same result there with half the instructions. Outside that range the result is meaningless: callers
    check the bound first (see the selective scan's kernel).
    """
    if x not in PRECISIONS or constants != types.UniTuple(x, len(PRECISIONS[x].constants)):
        return None

    def codegen(context, builder, signature, args):
        k = [builder.extract_value(args[1], i) for i in range(constants.count)]
        return emit_exp_bounded(builder, args[0], k, PRECISIONS[x])

    return x(x, constants), codegen


def _emit_product_reduction(builder, a, high, low, k, one):
    """``(2^f, shifted)`` with ``exp(a·b) = 2^f 2^n`` and ``shifted = n + BIAS + 1.5·2^m``, for ``b log2 e =
    high + low`` (:func:`log2e_split`); ``k``: the constants in the order of :data:`_EXP2_32`.

    ``n`` is ``a·high`` rounded to an integer in one multiply-add (the product exact inside it), and
    ``f = a·high − n + a·low`` in two more: the product is never rounded on its own, so ``f`` is within half an
    ulp of ``|f| ≤ 1/2`` whatever the size of ``a·b``. ``2^f = 1 + f·p(f)`` is Horner's scheme down to that last
    step, rounded once. The three steps of ``f`` and the last one are ``llvm.fma`` calls, not left to contraction:
    the first are exact only fused, and the last is where the two exponentials must round alike (a contracted
    ``1 + f·p`` in one and a rounded ``f·p`` in the other differ in 9% of last bits).
    """
    shifted = emit_fma(builder, a, high, k[0])
    f = emit_fma(builder, a, low, emit_fma(builder, a, high, builder.fsub(k[0], shifted)))  # k[0] − shifted = −n
    p = k[1]
    for coefficient in k[2:]:
        p = builder.fadd(builder.fmul(p, f), coefficient)
    return emit_fma(builder, p, f, one), shifted


def emit_exp_product(builder, a, high, low, precision):
    """``exp(a·b)`` over the whole range: where ``a·high`` is beyond the clamps (in log2 units) the reduction runs
    on the clamp itself (``a = clamp``, ``high = 1``, ``low = 0``: a result that rounds to 0 or overflows); a NaN
    product is returned as it is."""
    t = builder.fmul(a, high)  # only to decide the clamps and NaN: the result never uses it
    one, zero = precision.const(1), precision.const(0)
    over, under = builder.fcmp_ordered(">", t, precision.high2), builder.fcmp_ordered("<", t, precision.low2)
    clamped = builder.or_(over, under)
    a = builder.select(over, precision.high2, builder.select(under, precision.low2, a))
    high, low = builder.select(clamped, one, high), builder.select(clamped, zero, low)
    ordered = builder.fcmp_ordered("==", t, t)
    a, high, low = (builder.select(ordered, v, zero) for v in (a, high, low))
    power, shifted = _emit_product_reduction(builder, a, high, low, precision.product_constants, one)
    return builder.select(ordered, _emit_scale(builder, power, shifted, precision), t)


def emit_exp_product_bounded(builder, a, high, low, constants, precision):
    """``exp(a·b)`` for ``|a·b| ≤ EXP_BOUNDED_LIMIT``: the reduction, then ``2^f·2^n`` with ``2^n`` in one factor
    (a normal number there, so the product is exact: :func:`emit_exp_product`'s result)."""
    power, shifted = _emit_product_reduction(builder, a, high, low, constants, precision.const(1))
    return builder.fmul(power, _emit_pow2(builder, shifted, precision))


def log2e_split(b):
    """``(high, low)`` in ``b``'s dtype (float32 or float64) with ``high + low = b log2 e`` to about twice its
    precision: the operand :func:`vexp_product` takes for ``b``.

    float32 from the float64 product (exact to ``2^-53``); float64 as Dekker's exact product of ``b`` and
    ``float64(log2 e)`` (Veltkamp's splitting) plus ``b`` times the rest of ``log2 e``. For
    ``|b| > finfo.max / log2 e`` (float32: 2.4e38) ``high`` is infinite, and ``exp(a·b)`` is taken as its limit
    (0 or inf, NaN at ``a = 0``), as in Mamba's kernel, which also scales ``A`` by ``log2 e``.
    """
    b = np.asarray(b)
    with np.errstate(invalid="ignore", over="ignore"):  # b = ±inf: high is ±inf, low NaN (the product's is)
        if b.dtype == np.float32:
            wide = b.astype(np.float64) * _LOG2E_64
            high = wide.astype(np.float32)
            return high, (wide - high).astype(np.float32)
        scale = np.where(np.abs(b) > 2.0**960, 2.0**-64, 1.0)  # keeps Veltkamp's 2^27 v finite; exact
        scaled = b * scale
        high = scaled * _LOG2E_64
        (b1, b2), (l1, l2) = _veltkamp(scaled), _veltkamp(np.float64(_LOG2E_64))
        error = ((b1 * l1 - high) + b1 * l2 + b2 * l1) + b2 * l2  # scaled·float64(log2 e) − high, exactly
        return high / scale, (error + scaled * _LOG2E_LO_64) / scale


def _veltkamp(v):
    """``(upper, lower)`` with ``v = upper + lower`` and each with at most 26 significant bits (float64), so that
    products of two parts are exact."""
    scaled = v * 134217729.0  # 2^27 + 1
    upper = scaled - (scaled - v)
    return upper, v - upper


@intrinsic
def exp_product_constants(typingctx, x):
    """The constants of :func:`vexp_product_bounded` in ``x``'s precision, opaque to the optimiser (as
    :func:`exp_constants`)."""
    return _opaque_constants(x, "product_constants")


@intrinsic
def vexp_product(typingctx, a, high, low):
    """``exp(a·b)`` for float32/float64 scalars in jitted code, with ``(high, low) = log2e_split(b)``: ``a·b`` is
    never rounded (see :func:`_emit_product_reduction`). Over the whole range, NaN propagated; vectorisable."""
    if a not in PRECISIONS or high != a or low != a:
        return None

    def codegen(context, builder, signature, args):
        return emit_exp_product(builder, *args, PRECISIONS[a])

    return a(a, a, a), codegen


@intrinsic
def vexp_product_bounded(typingctx, a, high, low, constants):
    """:func:`vexp_product` for ``|a·b| ≤ EXP_BOUNDED_LIMIT`` (or NaN), with ``constants`` from
    :func:`exp_product_constants`: bitwise its result there, without the clamps and with one scale factor."""
    if a not in PRECISIONS or high != a or low != a:
        return None
    if constants != types.UniTuple(a, len(PRECISIONS[a].product_constants)):
        return None

    def codegen(context, builder, signature, args):
        k = [builder.extract_value(args[3], i) for i in range(constants.count)]
        return emit_exp_product_bounded(builder, *args[:3], k, PRECISIONS[a])

    return a(a, a, a, constants), codegen


def emit_softplus(builder, v, x, precision):
    """``log(1 + e^v)`` as ``max(v, 0) + 2 s Σ_k s^{2k} / (2k + 1)`` with ``s = x / (2 + x)`` and ``x = e^{-|v|}``
    (the series' coefficients: ``precision.atanh``, highest first), or ``v`` itself above the threshold.

    ``max(v, 0)`` is Numba's ``max``: ``0 > v ? 0 : v``, so a NaN ``v`` stays NaN (and makes ``x``, and the
    sum, NaN).
    """
    one, two, zero = precision.const(1), precision.const(2), precision.const(0)
    s = builder.fdiv(x, builder.fadd(two, x))
    w = builder.fmul(s, s)
    atanh = precision.atanh
    p = precision.const(atanh[0])
    for coefficient in atanh[1:]:  # Horner in s²
        p = builder.fadd(builder.fmul(p, w), precision.const(coefficient))
    positive = builder.select(builder.fcmp_ordered(">", zero, v), zero, v)
    series = builder.fmul(builder.fmul(two, s), builder.fadd(builder.fmul(p, w), one))
    soft = builder.fadd(positive, series)
    return builder.select(builder.fcmp_ordered(">", v, precision.const(_SOFTPLUS_THRESHOLD)), v, soft)


@intrinsic
def vsoftplus(typingctx, v, x):
    """``log(1 + exp(v))`` (``v`` above 20) for a float32/float64 scalar in jitted code, vectorisable.

    ``x`` is ``exp(-|v|)``, computed by the caller, which picks the exponential: :func:`vexp_bounded` where
    every argument of its loop allows it, :func:`vexp` otherwise.
    """
    if v not in PRECISIONS or x != v:
        return None

    def codegen(context, builder, signature, args):
        return emit_softplus(builder, args[0], args[1], PRECISIONS[v])

    return v(v, x), codegen
