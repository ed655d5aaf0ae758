"""Vectorisable ``exp`` and softplus for numba kernels (pip's numba has no SVML: ``math.exp`` is a libm call).

:func:`vexp` works on float32 and float64 scalars inside jitted code and is
written in plain arithmetic, so LLVM inlines it and vectorises the loop around
it (AVX2 / AVX-512 lanes) — the reason the selective scan's 33.5M gate
exponentials cost ~1 ns each instead of a libm call apiece.

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
vector registers; the polynomial alone has 6 constants). Both exponentials share one argument
reduction and polynomial per precision (:func:`_reduce_f32`, :func:`_reduce_f64`).

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
from numba.extending import intrinsic, overload, register_jitable

__all__ = ["EXP_BOUNDED_LIMIT", "exp_constants", "vexp", "vexp_bounded", "vsoftplus"]

_F32, _F64 = np.float32, np.float64

# float32 constants (kept float32 so that float32 code is not promoted to float64)
_LOG2E_32 = _F32(1.44269504088896341)
_SHIFT_32 = _F32(12582912.0 + 127)  # 1.5·2^23 (adding and subtracting it rounds to an integer) + the bias
_LN2_HI_32 = _F32(0.693359375)  # 8 significant bits: k·hi is exact for |k| ≤ 2^16
_LN2_LO_32 = _F32(-2.12194440e-4)
_LO_32, _HI_32 = _F32(-104.0), _F32(89.0)  # exp(-104) < 2^-150 rounds to 0, exp(89) > FLT_MAX
_P32 = tuple(_F32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                               1.6666665459e-1, 5.0000001201e-1))  # fmt: skip
_ONE_32, _ZERO_32 = _F32(1.0), _F32(0.0)


# float64 constants (fdlibm's split of ln 2: the high part has 32 significant bits)
_LOG2E_64 = 1.4426950408889634
_SHIFT_64 = 6755399441055744.0 + 1023  # 1.5·2^52 + the exponent bias
_LN2_HI_64 = 6.93147180369123816490e-01
_LN2_LO_64 = 1.90821492927058770002e-10
_LO_64, _HI_64 = -746.0, 710.0  # exp(-746) < 2^-1075 rounds to 0, exp(710) > DBL_MAX
_TAYLOR_64 = tuple(1.0 / math.factorial(k) for k in range(13, 1, -1))  # 1/13!, ..., 1/2!

# the exponential's constants in the order _reduce_f32/_reduce_f64 read them
_EXP_32 = (_LOG2E_32, _SHIFT_32, _LN2_HI_32, _LN2_LO_32, *_P32)
_EXP_64 = (_LOG2E_64, _SHIFT_64, _LN2_HI_64, _LN2_LO_64, *_TAYLOR_64)

# atanh series of log1p on (0, 1]: 1/(2k+1), highest term first
_ATANH_32 = tuple(_F32(1.0 / (2 * k + 1)) for k in range(7, 0, -1))
_ATANH_64 = tuple(1.0 / (2 * k + 1) for k in range(17, 0, -1))
_SOFTPLUS_THRESHOLD = 20.0  # Mamba's: above it softplus(v) is v


@intrinsic
def _scale_f32(typingctx, p, shifted):
    """``p·2^k`` for float32, ``k`` an integer in ``[-152, 128]`` held as ``shifted = k + 127 + 1.5·2^23``.

    ``k`` is read from the bits of ``shifted`` and ``2^k`` built in two exact factors, all in 32-bit integer
    lanes: no float→int conversion, which AVX2 cannot vectorise for 64-bit integers.
    """
    sig = types.float32(types.float32, types.float32)

    def codegen(context, builder, signature, args):
        i32, f32 = ir.IntType(32), ir.FloatType()
        k = builder.sub(builder.bitcast(args[1], i32), ir.Constant(i32, 0x4B400000 + 127))
        half = builder.ashr(k, ir.Constant(i32, 1))
        factors = [
            builder.bitcast(builder.shl(builder.add(e, ir.Constant(i32, 127)), ir.Constant(i32, 23)), f32)
            for e in (half, builder.sub(k, half))
        ]
        return builder.fmul(builder.fmul(args[0], factors[0]), factors[1])

    return sig, codegen


@intrinsic
def _scale_f64(typingctx, p, shifted):
    """``p·2^k`` for float64, ``k`` an integer in ``[-1076, 1025]`` held as ``shifted = k + 1023 + 1.5·2^52``.

    As :func:`_scale_f32`, in 64-bit lanes; ``⌊k/2⌋`` is a logical shift of ``k + 2048`` (AVX2 has no 64-bit
    arithmetic shift).
    """
    sig = types.float64(types.float64, types.float64)

    def codegen(context, builder, signature, args):
        i64, f64 = ir.IntType(64), ir.DoubleType()
        k = builder.sub(builder.bitcast(args[1], i64), ir.Constant(i64, 0x4338000000000000 + 1023))
        half = builder.sub(
            builder.lshr(builder.add(k, ir.Constant(i64, 2048)), ir.Constant(i64, 1)), ir.Constant(i64, 1024)
        )
        factors = [
            builder.bitcast(builder.shl(builder.add(e, ir.Constant(i64, 1023)), ir.Constant(i64, 52)), f64)
            for e in (half, builder.sub(k, half))
        ]
        return builder.fmul(builder.fmul(args[0], factors[0]), factors[1])

    return sig, codegen


@intrinsic
def _pow2(typingctx, shifted):
    """``2^k`` from ``shifted = k + BIAS + 1.5·2^m`` (``m`` the significand bits, ``BIAS`` the exponent bias).

    The bits of ``shifted`` end in those of ``k + BIAS`` (``1.5·2^m``'s bits all lie above them), so one shift
    by ``m`` moves ``k + BIAS`` into the exponent field: the IEEE bits of ``2^k``, for ``k`` where that
    number is normal.
    """
    if shifted not in (types.float32, types.float64):
        return None
    width, mantissa, real = (32, 23, ir.FloatType()) if shifted == types.float32 else (64, 52, ir.DoubleType())

    def codegen(context, builder, signature, args):
        integer = ir.IntType(width)
        bits = builder.shl(builder.bitcast(args[0], integer), ir.Constant(integer, mantissa))
        return builder.bitcast(bits, real)

    return shifted(shifted), codegen


@intrinsic
def _opaque(typingctx, values):
    """The tuple of floats ``values`` itself, each element passed through an empty inline-assembly statement:
    the same numbers, which the optimiser can no longer fold as constants."""
    if not (isinstance(values, types.UniTuple) and values.dtype in (types.float32, types.float64)):
        return None

    def codegen(context, builder, signature, args):
        out = args[0]
        for i in range(values.count):
            element = builder.extract_value(args[0], i)
            kind = element.type
            element = builder.asm(ir.FunctionType(kind, [kind]), "", "=x,0", [element], False)
            out = builder.insert_value(out, element, i)
        return out

    return values(values), codegen


@register_jitable
def _reduce_f32(x, k):
    """``(e^r, shifted)`` with ``exp(x) = e^r 2^n``, ``shifted = n + 127 + 1.5·2^23``; ``k``: :data:`_EXP_32`."""
    shifted = x * k[0] + k[1]
    kf = shifted - k[1]
    r = (x - kf * k[2]) - kf * k[3]
    p = k[4]
    p = p * r + k[5]
    p = p * r + k[6]
    p = p * r + k[7]
    p = p * r + k[8]
    p = p * r + k[9]
    return p * (r * r) + r, shifted


@register_jitable
def _reduce_f64(x, k):
    """As :func:`_reduce_f32` in float64 (``shifted = n + 1023 + 1.5·2^52``); ``k``: :data:`_EXP_64`."""
    shifted = x * k[0] + k[1]
    kf = shifted - k[1]
    r = (x - kf * k[2]) - kf * k[3]
    # Horner, written out: a loop over the tuple (or literal_unroll) is left as a loop and blocks vectorisation
    p = k[4]
    p = p * r + k[5]
    p = p * r + k[6]
    p = p * r + k[7]
    p = p * r + k[8]
    p = p * r + k[9]
    p = p * r + k[10]
    p = p * r + k[11]
    p = p * r + k[12]
    p = p * r + k[13]
    p = p * r + k[14]
    p = p * r + k[15]
    return p * (r * r) + r, shifted


def _exp_bounded_f32(x, constants):
    q, shifted = _reduce_f32(x, constants)
    scale = _pow2(shifted)
    return q * scale + scale  # one multiply-add: (1 + q)·2^n rounded once, which is round(1 + q)·2^n (2^n normal)


def _exp_bounded_f64(x, constants):
    q, shifted = _reduce_f64(x, constants)
    scale = _pow2(shifted)
    return q * scale + scale


def _exp_f32(x):
    xc = _HI_32 if x > _HI_32 else x
    xc = _LO_32 if xc < _LO_32 else xc
    xc = xc if xc == xc else _ZERO_32  # NaN: compute on 0, return x below
    q, shifted = _reduce_f32(xc, _EXP_32)
    result = _scale_f32(q + _ONE_32, shifted)
    return result if x == x else x


def _exp_f64(x):
    xc = _HI_64 if x > _HI_64 else x
    xc = _LO_64 if xc < _LO_64 else xc
    xc = xc if xc == xc else 0.0
    q, shifted = _reduce_f64(xc, _EXP_64)
    result = _scale_f64(q + 1.0, shifted)
    return result if x == x else x


def vexp(x):
    """``exp(x)`` for a float32/float64 scalar in jitted code, vectorisable (see the module docstring)."""
    return np.exp(x)


@overload(vexp)
def _vexp_overload(x):
    if x == types.float32:
        return _exp_f32
    if x == types.float64:
        return _exp_f64
    return None


#: Largest ``|x|`` for which :func:`vexp_bounded` gives :func:`vexp`'s result, per precision: there
#: ``k = round(x log2 e)`` keeps ``2^k`` a normal number, so one scale factor suffices.
EXP_BOUNDED_LIMIT = {np.dtype(np.float32): 87.0, np.dtype(np.float64): 708.0}


def exp_constants(x):
    """The constants of :func:`vexp_bounded` in ``x``'s precision, as values the optimiser cannot fold.

    Called once before a kernel's loops: the constants are then loop-invariant registers (or stack slots
    read by the multiply-adds) instead of being reloaded from the constant pool in every iteration, which
    LLVM otherwise does under AVX2's register pressure (measured: the bounded exp's loop 30% faster).
    """
    return x


@overload(exp_constants)
def _exp_constants_overload(x):
    if x == types.float32:
        return lambda x: _opaque(_EXP_32)
    if x == types.float64:
        return lambda x: _opaque(_EXP_64)
    return None


def vexp_bounded(x, constants):
    """``exp(x)`` for ``|x| ≤ EXP_BOUNDED_LIMIT`` (or NaN) in jitted code, with ``constants`` from
    :func:`exp_constants`: :func:`vexp` without its range handling (no clamps, one scale factor), bitwise the
    same result there with half the instructions. Outside that range the result is meaningless: callers
    check the bound first (see the selective scan's kernel).
    """
    return np.exp(x)


@overload(vexp_bounded)
def _vexp_bounded_overload(x, constants):
    if x == types.float32:
        return _exp_bounded_f32
    if x == types.float64:
        return _exp_bounded_f64
    return None


def _softplus_f32(v, x):
    sq = x / (_F32(2.0) + x)
    w = sq * sq
    p = _ATANH_32[0]
    p = p * w + _ATANH_32[1]
    p = p * w + _ATANH_32[2]
    p = p * w + _ATANH_32[3]
    p = p * w + _ATANH_32[4]
    p = p * w + _ATANH_32[5]
    p = p * w + _ATANH_32[6]
    soft = max(v, _ZERO_32) + _F32(2.0) * sq * (p * w + _ONE_32)  # NaN: x, and so soft, is NaN
    return v if v > _F32(_SOFTPLUS_THRESHOLD) else soft


def _softplus_f64(v, x):
    sq = x / (2.0 + x)
    w = sq * sq
    p = _ATANH_64[0]
    p = p * w + _ATANH_64[1]
    p = p * w + _ATANH_64[2]
    p = p * w + _ATANH_64[3]
    p = p * w + _ATANH_64[4]
    p = p * w + _ATANH_64[5]
    p = p * w + _ATANH_64[6]
    p = p * w + _ATANH_64[7]
    p = p * w + _ATANH_64[8]
    p = p * w + _ATANH_64[9]
    p = p * w + _ATANH_64[10]
    p = p * w + _ATANH_64[11]
    p = p * w + _ATANH_64[12]
    p = p * w + _ATANH_64[13]
    p = p * w + _ATANH_64[14]
    p = p * w + _ATANH_64[15]
    p = p * w + _ATANH_64[16]
    soft = max(v, 0.0) + 2.0 * sq * (p * w + 1.0)
    return v if v > _SOFTPLUS_THRESHOLD else soft


def vsoftplus(v, x):
    """``log(1 + exp(v))`` (``v`` above 20) for a float32/float64 scalar in jitted code, vectorisable.

    ``x`` is ``vexp(-abs(v))``, computed by the caller: an exponential evaluated in here would be a nested
    call that LLVM leaves un-inlined, and the caller's loop would stay scalar.
    """
    return np.where(v > _SOFTPLUS_THRESHOLD, v, np.log1p(np.exp(np.minimum(v, _SOFTPLUS_THRESHOLD))))


@overload(vsoftplus)
def _vsoftplus_overload(v, x):
    if v == types.float32 and x == types.float32:
        return _softplus_f32
    if v == types.float64 and x == types.float64:
        return _softplus_f64
    return None
