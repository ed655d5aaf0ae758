"""Numba engine for the kernel sums: fused Cauchy and log-Vandermonde reductions.

The public functions :func:`statespace.cauchy` and :func:`statespace.vandermonde`
validate and broadcast their arguments, then call :func:`cauchy` /
:func:`vandermonde` here with NumPy arrays whose leading (batch) axis has
either size 1 (shared by every batch entry) or the full batch size ``B``.

Layout of the jitted loops
--------------------------
* ``prange`` over ``B × ceil(L / BLOCK_L)`` tasks: every task owns one batch
  entry and one block of ``BLOCK_L`` consecutive output positions, so the
  tasks write disjoint parts of the output and need no reduction.
* Inside a task the mode loop (``n``) is outermost and the block loop
  (``j``) innermost.  The inner loop has independent iterations over
  contiguous, split real/imaginary float64 scratch arrays (``2 × BLOCK_L`` or
  ``4 × BLOCK_L`` doubles per task, the only memory besides the output), so
  LLVM vectorizes it without reassociating the sum over modes: each output is
  summed over ``n`` in order, exactly like a sequential loop.
* Complex arithmetic is written out in real and imaginary parts
  (``1/(z − w) = conj(z − w)/|z − w|²``); the conjugate-mode term of
  ``conj=True`` is a separate fraction (S4's CUDA kernel does the same: one
  combined fraction loses accuracy).
* Everything is computed in float64 (complex64 inputs are widened when they
  are split), the output keeps the caller's precision.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from . import pjit

__all__ = ["BLOCK_L", "cauchy", "cauchy_affine", "vandermonde"]

#: Output positions per parallel task (inner, vectorized loop length).
BLOCK_L = 256


def _rows(x: np.ndarray, batch: tuple, size: int) -> np.ndarray:
    """View ``x (..., K)`` as ``(1 | B, K)`` against ``batch`` (copy only for partial broadcasts)."""
    lead = x.shape[:-1]
    if math.prod(lead) == 1:
        return x.reshape(1, x.shape[-1])
    if (1,) * (len(batch) - len(lead)) + lead == batch:
        return x.reshape(size, x.shape[-1])
    return np.broadcast_to(x, batch + x.shape[-1:]).reshape(size, x.shape[-1])


def _split(x: np.ndarray, batch: tuple, size: int):
    """Contiguous float64 real and imaginary parts of ``x`` as ``(1 | B, K)`` rows."""
    rows = _rows(x, batch, size)
    return np.ascontiguousarray(rows.real, dtype=np.float64), np.ascontiguousarray(rows.imag, dtype=np.float64)


def cauchy(v, z, w, conj: bool, batch: tuple, out_dtype) -> np.ndarray:
    """``Σ_n v_n / (z_l − w_n)`` (+ the conjugate-mode term), output ``batch + (L,)``."""
    size = math.prod(batch)
    vr, vi = _split(v, batch, size)
    wr, wi = _split(w, batch, size)
    zr, zi = _split(z, batch, size)
    out = np.empty((size, z.shape[-1]), dtype=out_dtype)
    if size and z.shape[-1]:
        _cauchy_kernel(vr, vi, wr, wi, zr, zi, out, conj)
    return out.reshape(batch + (z.shape[-1],))


def cauchy_affine(v, a, b, w, conj: bool, batch: tuple, out_dtype) -> np.ndarray:
    """``Σ_n v_n / (a_l − b_l w_n)`` (+ the conjugate-mode term), output ``batch + (L,)``."""
    size = math.prod(batch)
    vr, vi = _split(v, batch, size)
    wr, wi = _split(w, batch, size)
    ar, ai = _split(a, batch, size)
    br, bi = _split(b, batch, size)
    out = np.empty((size, a.shape[-1]), dtype=out_dtype)
    if size and a.shape[-1]:
        _cauchy_affine_kernel(vr, vi, wr, wi, ar, ai, br, bi, out, conj)
    return out.reshape(batch + (a.shape[-1],))


def vandermonde(v, x, L: int, conj: bool, batch: tuple, out_dtype) -> np.ndarray:
    """``Σ_n v_n exp(x_n l)``; ``2·Re`` of it (real output) when ``conj``."""
    size = math.prod(batch)
    vr, vi = _split(v, batch, size)
    xr, xi = _split(x, batch, size)
    out = np.empty((size, L), dtype=out_dtype)
    if size:
        if conj:
            _vandermonde_real_kernel(vr, vi, xr, xi, out)
        else:
            _vandermonde_complex_kernel(vr, vi, xr, xi, out)
    return out.reshape(batch + (L,))


@pjit
def _cauchy_kernel(vr, vi, wr, wi, zr, zi, out, conj):  # pragma: no cover - compiled
    size, length = out.shape
    n_modes = vr.shape[1]
    n_blocks = (length + BLOCK_L - 1) // BLOCK_L
    for task in prange(size * n_blocks):
        b = task // n_blocks
        l0 = (task % n_blocks) * BLOCK_L
        m = min(BLOCK_L, length - l0)
        bv = b if vr.shape[0] > 1 else 0
        bw = b if wr.shape[0] > 1 else 0
        bz = b if zr.shape[0] > 1 else 0
        acc_r = np.zeros(BLOCK_L)
        acc_i = np.zeros(BLOCK_L)
        z_r = zr[bz, l0 : l0 + m]
        z_i = zi[bz, l0 : l0 + m]
        for n in range(n_modes):
            v_r = vr[bv, n]
            v_i = vi[bv, n]
            w_r = wr[bw, n]
            w_i = wi[bw, n]
            if conj:
                for j in range(m):
                    d_r = z_r[j] - w_r
                    d_i = z_i[j] - w_i
                    e_i = z_i[j] + w_i
                    inv_d = 1.0 / (d_r * d_r + d_i * d_i)
                    inv_e = 1.0 / (d_r * d_r + e_i * e_i)
                    acc_r[j] += (v_r * d_r + v_i * d_i) * inv_d + (v_r * d_r - v_i * e_i) * inv_e
                    acc_i[j] += (v_i * d_r - v_r * d_i) * inv_d - (v_i * d_r + v_r * e_i) * inv_e
            else:
                for j in range(m):
                    d_r = z_r[j] - w_r
                    d_i = z_i[j] - w_i
                    inv_d = 1.0 / (d_r * d_r + d_i * d_i)
                    acc_r[j] += (v_r * d_r + v_i * d_i) * inv_d
                    acc_i[j] += (v_i * d_r - v_r * d_i) * inv_d
        for j in range(m):
            out[b, l0 + j] = complex(acc_r[j], acc_i[j])


@pjit
def _cauchy_affine_kernel(vr, vi, wr, wi, ar, ai, br, bi, out, conj):  # pragma: no cover - compiled
    size, length = out.shape
    n_modes = vr.shape[1]
    n_blocks = (length + BLOCK_L - 1) // BLOCK_L
    for task in prange(size * n_blocks):
        b = task // n_blocks
        l0 = (task % n_blocks) * BLOCK_L
        m = min(BLOCK_L, length - l0)
        bv = b if vr.shape[0] > 1 else 0
        bw = b if wr.shape[0] > 1 else 0
        ba = b if ar.shape[0] > 1 else 0
        bb = b if br.shape[0] > 1 else 0
        acc_r = np.zeros(BLOCK_L)
        acc_i = np.zeros(BLOCK_L)
        a_r = ar[ba, l0 : l0 + m]
        a_i = ai[ba, l0 : l0 + m]
        b_r = br[bb, l0 : l0 + m]
        b_i = bi[bb, l0 : l0 + m]
        for n in range(n_modes):
            v_r = vr[bv, n]
            v_i = vi[bv, n]
            w_r = wr[bw, n]
            w_i = wi[bw, n]
            for j in range(m):
                # d = a − b·w and e = a − b·conj(w)
                d_r = a_r[j] - (b_r[j] * w_r - b_i[j] * w_i)
                d_i = a_i[j] - (b_r[j] * w_i + b_i[j] * w_r)
                inv_d = 1.0 / (d_r * d_r + d_i * d_i)
                acc_r[j] += (v_r * d_r + v_i * d_i) * inv_d
                acc_i[j] += (v_i * d_r - v_r * d_i) * inv_d
            if conj:
                for j in range(m):
                    e_r = a_r[j] - (b_r[j] * w_r + b_i[j] * w_i)
                    e_i = a_i[j] - (b_i[j] * w_r - b_r[j] * w_i)
                    inv_e = 1.0 / (e_r * e_r + e_i * e_i)
                    acc_r[j] += (v_r * e_r - v_i * e_i) * inv_e
                    acc_i[j] -= (v_i * e_r + v_r * e_i) * inv_e
        for j in range(m):
            out[b, l0 + j] = complex(acc_r[j], acc_i[j])


@pjit
def _vandermonde_real_kernel(vr, vi, xr, xi, out):  # pragma: no cover - compiled
    size, length = out.shape
    n_modes = vr.shape[1]
    n_blocks = (length + BLOCK_L - 1) // BLOCK_L
    for task in prange(size * n_blocks):
        b = task // n_blocks
        l0 = (task % n_blocks) * BLOCK_L
        m = min(BLOCK_L, length - l0)
        bv = b if vr.shape[0] > 1 else 0
        bx = b if xr.shape[0] > 1 else 0
        acc = np.zeros(BLOCK_L)
        for n in range(n_modes):
            v_r = vr[bv, n]
            v_i = vi[bv, n]
            x_r = xr[bx, n]
            x_i = xi[bx, n]
            for j in range(m):
                t = float(l0 + j)
                mag = math.exp(x_r * t)
                acc[j] += mag * (v_r * math.cos(x_i * t) - v_i * math.sin(x_i * t))
        for j in range(m):
            out[b, l0 + j] = 2.0 * acc[j]


@pjit
def _vandermonde_complex_kernel(vr, vi, xr, xi, out):  # pragma: no cover - compiled
    size, length = out.shape
    n_modes = vr.shape[1]
    n_blocks = (length + BLOCK_L - 1) // BLOCK_L
    for task in prange(size * n_blocks):
        b = task // n_blocks
        l0 = (task % n_blocks) * BLOCK_L
        m = min(BLOCK_L, length - l0)
        bv = b if vr.shape[0] > 1 else 0
        bx = b if xr.shape[0] > 1 else 0
        acc_r = np.zeros(BLOCK_L)
        acc_i = np.zeros(BLOCK_L)
        for n in range(n_modes):
            v_r = vr[bv, n]
            v_i = vi[bv, n]
            x_r = xr[bx, n]
            x_i = xi[bx, n]
            for j in range(m):
                t = float(l0 + j)
                mag = math.exp(x_r * t)
                c = mag * math.cos(x_i * t)
                s = mag * math.sin(x_i * t)
                acc_r[j] += v_r * c - v_i * s
                acc_i[j] += v_r * s + v_i * c
        for j in range(m):
            out[b, l0 + j] = complex(acc_r[j], acc_i[j])
