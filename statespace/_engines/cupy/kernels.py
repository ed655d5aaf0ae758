"""CUDA kernels for the kernel sums: Cauchy (plain, conjugate-paired, affine) and log-Vandermonde.

Same entry points as :mod:`statespace._engines.numba.kernels`: the public
functions validate and broadcast, then call :func:`cauchy`,
:func:`cauchy_affine` or :func:`vandermonde` with arrays whose leading (batch)
axis has size 1 (shared) or the full batch size ``B``.

One thread per output entry ``(b, l)`` sums over the modes in order (the
same order as a sequential loop, no reassociation); the threads of a block
share their batch row, so every mode's ``v_n``/``w_n`` is one broadcast load
per warp.  Memory beyond the output: none (O(B·L) in all).

* Cauchy sums run in the precision of the inputs, with complex arithmetic
  written out in real and imaginary parts
  (:math:`1/(z-w) = \\overline{(z-w)}/|z-w|^2`); the conjugate mode is a
  separate fraction, as in the numba engine and S4's CUDA kernel.
* Log-Vandermonde sums evaluate every power directly as
  :math:`e^{l\\,\\mathrm{Re}\\,x}(\\cos(l\\,\\mathrm{Im}\\,x) + i\\sin(l\\,\\mathrm{Im}\\,x))`
  in float64 (no cumulative products; single-precision phases ``l·Im x``
  would be off by ``2^{-24}|l x|`` radians), and round once into the output.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from . import array_module, cuda, launch

__all__ = ["cauchy", "cauchy_affine", "vandermonde"]

#: Threads per block of the one-thread-per-output kernels.
THREADS = 128


@functools.cache
def _cauchy_kernels(real_name: str):
    """The plain/conjugate and the affine Cauchy kernels in precision ``real_name``."""
    real = getattr(numba, real_name)

    def plain(v, z, w, out, conj):  # pragma: no cover - compiled
        size, length = out.shape
        i = cuda.grid(1)
        if i >= size * length:
            return
        b, l = i // length, i % length
        bv = b if v.shape[0] > 1 else 0
        bw = b if w.shape[0] > 1 else 0
        bz = b if z.shape[0] > 1 else 0
        z_r, z_i = z[bz, l].real, z[bz, l].imag
        acc_r, acc_i = real(0), real(0)
        one = real(1)
        for n in range(v.shape[1]):
            v_r, v_i = v[bv, n].real, v[bv, n].imag
            w_r, w_i = w[bw, n].real, w[bw, n].imag
            d_r = z_r - w_r
            d_i = z_i - w_i
            inv_d = one / (d_r * d_r + d_i * d_i)
            acc_r += (v_r * d_r + v_i * d_i) * inv_d
            acc_i += (v_i * d_r - v_r * d_i) * inv_d
            if conj:
                e_i = z_i + w_i
                inv_e = one / (d_r * d_r + e_i * e_i)
                acc_r += (v_r * d_r - v_i * e_i) * inv_e
                acc_i -= (v_i * d_r + v_r * e_i) * inv_e
        out[b, l] = complex(acc_r, acc_i)

    def affine(v, a, bb, w, out, conj):  # pragma: no cover - compiled
        size, length = out.shape
        i = cuda.grid(1)
        if i >= size * length:
            return
        b, l = i // length, i % length
        bv = b if v.shape[0] > 1 else 0
        bw = b if w.shape[0] > 1 else 0
        ba = b if a.shape[0] > 1 else 0
        bs = b if bb.shape[0] > 1 else 0
        a_r, a_i = a[ba, l].real, a[ba, l].imag
        b_r, b_i = bb[bs, l].real, bb[bs, l].imag
        acc_r, acc_i = real(0), real(0)
        one = real(1)
        for n in range(v.shape[1]):
            v_r, v_i = v[bv, n].real, v[bv, n].imag
            w_r, w_i = w[bw, n].real, w[bw, n].imag
            d_r = a_r - (b_r * w_r - b_i * w_i)  # d = a − b·w
            d_i = a_i - (b_r * w_i + b_i * w_r)
            inv_d = one / (d_r * d_r + d_i * d_i)
            acc_r += (v_r * d_r + v_i * d_i) * inv_d
            acc_i += (v_i * d_r - v_r * d_i) * inv_d
            if conj:
                e_r = a_r - (b_r * w_r + b_i * w_i)  # e = a − b·conj(w)
                e_i = a_i - (b_i * w_r - b_r * w_i)
                inv_e = one / (e_r * e_r + e_i * e_i)
                acc_r += (v_r * e_r - v_i * e_i) * inv_e
                acc_i -= (v_i * e_r + v_r * e_i) * inv_e
        out[b, l] = complex(acc_r, acc_i)

    return cuda.jit(plain), cuda.jit(affine)


def _vandermonde_real(v, x, out, scale):  # pragma: no cover - compiled
    """``scale·Re Σ_n v_n e^{x_n l}`` (the conjugate-paired sum), summed in float64."""
    size, length = out.shape
    i = cuda.grid(1)
    if i >= size * length:
        return
    b, l = i // length, i % length
    bv = b if v.shape[0] > 1 else 0
    bx = b if x.shape[0] > 1 else 0
    step = numba.float64(l)
    acc = 0.0
    for n in range(v.shape[1]):
        mag = math.exp(x[bx, n].real * step)
        phase = x[bx, n].imag * step
        acc += v[bv, n].real * (mag * math.cos(phase)) - v[bv, n].imag * (mag * math.sin(phase))
    out[b, l] = scale * acc


def _vandermonde_complex(v, x, out):  # pragma: no cover - compiled
    """``Σ_n v_n e^{x_n l}``, summed in float64."""
    size, length = out.shape
    i = cuda.grid(1)
    if i >= size * length:
        return
    b, l = i // length, i % length
    bv = b if v.shape[0] > 1 else 0
    bx = b if x.shape[0] > 1 else 0
    step = numba.float64(l)
    acc_r, acc_i = 0.0, 0.0
    for n in range(v.shape[1]):
        mag = math.exp(x[bx, n].real * step)
        phase = x[bx, n].imag * step
        e_r, e_i = mag * math.cos(phase), mag * math.sin(phase)
        v_r, v_i = v[bv, n].real, v[bv, n].imag
        acc_r += v_r * e_r - v_i * e_i
        acc_i += v_r * e_i + v_i * e_r
    out[b, l] = complex(acc_r, acc_i)


_vandermonde_kernels = {True: cuda.jit(_vandermonde_real), False: cuda.jit(_vandermonde_complex)}


def _rows(xp, x, batch: tuple, size: int, dtype=None):
    """``x (..., K)`` as contiguous ``(1 | B, K)`` rows against ``batch`` (as the numba engine's ``_rows``)."""
    lead = x.shape[:-1]
    if math.prod(lead) == 1:
        rows = x.reshape(1, x.shape[-1])
    elif (1,) * (len(batch) - len(lead)) + lead == batch:
        rows = x.reshape(size, x.shape[-1])
    else:
        rows = xp.broadcast_to(x, batch + x.shape[-1:]).reshape(size, x.shape[-1])
    return xp.ascontiguousarray(rows if dtype is None else rows.astype(dtype, copy=False))


def cauchy(v, z, w, conj: bool, batch: tuple, out_dtype) -> object:
    """``Σ_n v_n / (z_l − w_n)`` (+ the conjugate-mode term), output ``batch + (L,)``."""
    xp = array_module(z)
    size, length = math.prod(batch), z.shape[-1]
    out = xp.empty((size, length), dtype=out_dtype)
    if size and length:
        plain, _ = _cauchy_kernels(np.finfo(out_dtype).dtype.name)
        rows = [_rows(xp, x, batch, size, out_dtype) for x in (v, z, w)]
        launch(plain, size * length, *rows, out, bool(conj), threads=THREADS)
    return out.reshape(batch + (length,))


def cauchy_affine(v, a, b, w, conj: bool, batch: tuple, out_dtype) -> object:
    """``Σ_n v_n / (a_l − b_l w_n)`` (+ the conjugate-mode term), output ``batch + (L,)``."""
    xp = array_module(a)
    size, length = math.prod(batch), a.shape[-1]
    out = xp.empty((size, length), dtype=out_dtype)
    if size and length:
        _, affine = _cauchy_kernels(np.finfo(out_dtype).dtype.name)
        rows = [_rows(xp, x, batch, size, out_dtype) for x in (v, a, b, w)]
        launch(affine, size * length, *rows, out, bool(conj), threads=THREADS)
    return out.reshape(batch + (length,))


def vandermonde(v, x, L: int, conj: bool, batch: tuple, out_dtype) -> object:
    """``Σ_n v_n exp(x_n l)``; ``2·Re`` of it (real output) when ``conj``."""
    xp = array_module(v)
    size = math.prod(batch)
    out = xp.empty((size, L), dtype=out_dtype)
    if size and L:
        rows = [_rows(xp, y, batch, size, np.complex128) for y in (v, x)]
        scale = (2.0,) if conj else ()
        launch(_vandermonde_kernels[bool(conj)], size * L, *rows, out, *scale, threads=THREADS)
    return out.reshape(batch + (L,))
