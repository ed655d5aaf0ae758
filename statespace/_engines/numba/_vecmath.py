"""A vectorisable ``exp`` for numba kernels (pip's numba has no SVML: ``math.exp`` in a loop is a libm call).

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
on that interval). :math:`2^k` is built exactly from its IEEE bits (an LLVM
``bitcast``) in two factors :math:`2^{\\lfloor k/2 \\rfloor} 2^{k - \\lfloor k/2 \\rfloor}`,
so results that overflow give ``inf`` and results in the subnormal range are
rounded once. Inputs are clamped to the range where the result is neither 0
nor inf after rounding (``-inf`` → 0, ``+inf`` → inf) and NaN propagates.
Accuracy (``tests/test_numba_kernels.py``): ≤ 2 ulp against ``np.exp`` over the
whole input range in both precisions.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

__all__ = ["vexp"]

_F32, _F64 = np.float32, np.float64

# float32 constants (kept float32 so that float32 code is not promoted to float64)
_LOG2E_32 = _F32(1.44269504088896341)
_SHIFT_32 = _F32(12582912.0)  # 1.5·2^23: adding and subtracting it rounds to an integer
_LN2_HI_32 = _F32(0.693359375)  # 8 significant bits: k·hi is exact for |k| ≤ 2^16
_LN2_LO_32 = _F32(-2.12194440e-4)
_LO_32, _HI_32 = _F32(-104.0), _F32(89.0)  # exp(-104) < 2^-150 rounds to 0, exp(89) > FLT_MAX
_P32 = tuple(_F32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                               1.6666665459e-1, 5.0000001201e-1))  # fmt: skip
_ONE_32, _ZERO_32 = _F32(1.0), _F32(0.0)


# float64 constants (fdlibm's split of ln 2: the high part has 32 significant bits)
_LOG2E_64 = 1.4426950408889634
_SHIFT_64 = 6755399441055744.0  # 1.5·2^52
_LN2_HI_64 = 6.93147180369123816490e-01
_LN2_LO_64 = 1.90821492927058770002e-10
_LO_64, _HI_64 = -746.0, 710.0  # exp(-746) < 2^-1075 rounds to 0, exp(710) > DBL_MAX
_TAYLOR_64 = tuple(1.0 / math.factorial(k) for k in range(13, 1, -1))  # 1/13!, ..., 1/2!


@intrinsic
def _pow2_f32(typingctx, k):
    """``2.0**k`` as float32 for integer ``-126 ≤ k ≤ 127``, from the exponent bits."""
    sig = types.float32(types.int64)

    def codegen(context, builder, signature, args):
        biased = builder.add(args[0], ir.Constant(ir.IntType(64), 127))
        bits = builder.trunc(builder.shl(biased, ir.Constant(ir.IntType(64), 23)), ir.IntType(32))
        return builder.bitcast(bits, ir.FloatType())

    return sig, codegen


@intrinsic
def _pow2_f64(typingctx, k):
    """``2.0**k`` as float64 for integer ``-1022 ≤ k ≤ 1023``, from the exponent bits."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        biased = builder.add(args[0], ir.Constant(ir.IntType(64), 1023))
        bits = builder.shl(biased, ir.Constant(ir.IntType(64), 52))
        return builder.bitcast(bits, ir.DoubleType())

    return sig, codegen


def _exp_f32(x):
    xc = _HI_32 if x > _HI_32 else x
    xc = _LO_32 if xc < _LO_32 else xc
    xc = xc if xc == xc else _ZERO_32  # NaN: compute on 0, return x below
    kf = (xc * _LOG2E_32 + _SHIFT_32) - _SHIFT_32
    r = (xc - kf * _LN2_HI_32) - kf * _LN2_LO_32
    p = _P32[0]
    p = p * r + _P32[1]
    p = p * r + _P32[2]
    p = p * r + _P32[3]
    p = p * r + _P32[4]
    p = p * r + _P32[5]
    p = (p * (r * r) + r) + _ONE_32
    k = np.int64(kf)
    half = k >> 1
    result = (p * _pow2_f32(half)) * _pow2_f32(k - half)
    return result if x == x else x


def _exp_f64(x):
    xc = _HI_64 if x > _HI_64 else x
    xc = _LO_64 if xc < _LO_64 else xc
    xc = xc if xc == xc else 0.0
    kf = (xc * _LOG2E_64 + _SHIFT_64) - _SHIFT_64
    r = (xc - kf * _LN2_HI_64) - kf * _LN2_LO_64
    p = _TAYLOR_64[0]
    for c in _TAYLOR_64[1:]:
        p = p * r + c
    p = (p * (r * r) + r) + 1.0
    k = np.int64(kf)
    half = k >> 1
    result = (p * _pow2_f64(half)) * _pow2_f64(k - half)
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
