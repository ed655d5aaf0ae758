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
* The log-Vandermonde loop tabulates :math:`e^{x_n j}` for one block once per
  task and rebuilds :math:`e^{x_n (l_0 + j)} = e^{x_n l_0} e^{x_n j}` with one
  complex multiply-add per term (no ``exp``/``cos``/``sin`` in the inner loop,
  no cumulative products); tasks are ``GROUP_BLOCKS`` blocks of one batch row.
* Everything is computed in float64 (complex64 inputs are widened when they
  are split), the output keeps the caller's precision.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernel, numba, per_thread

__all__ = ["BLOCK_L", "cauchy", "cauchy_affine", "vandermonde"]

#: Output positions per parallel task (inner, vectorized loop length).
BLOCK_L = 256
#: Blocks of one batch row that share a Vandermonde table of ``e^{x_n j}, j < BLOCK_L`` (one parallel task).
GROUP_BLOCKS = 16


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


def _tasks(shape, span):
    """Parallel tasks of a ``(rows, L)`` output cut into ``span``-long pieces."""
    return shape[0] * -(-shape[1] // span)


def cauchy(v, z, w, conj: bool, batch: tuple, out_dtype) -> np.ndarray:
    """``Σ_n v_n / (z_l − w_n)`` (+ the conjugate-mode term), output ``batch + (L,)``."""
    size = math.prod(batch)
    vr, vi = _split(v, batch, size)
    wr, wi = _split(w, batch, size)
    zr, zi = _split(z, batch, size)
    out = np.empty((size, z.shape[-1]), dtype=out_dtype)
    if size and z.shape[-1]:
        _cauchy_kernel(
            vr, vi, wr, wi, zr, zi, out, conj, per_thread((2, BLOCK_L)),
            work=out.size * vr.shape[1], tasks=_tasks(out.shape, BLOCK_L),
        )  # fmt: skip
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
        _cauchy_affine_kernel(
            vr, vi, wr, wi, ar, ai, br, bi, out, conj, per_thread((2, BLOCK_L)),
            work=out.size * vr.shape[1], tasks=_tasks(out.shape, BLOCK_L),
        )  # fmt: skip
    return out.reshape(batch + (a.shape[-1],))


def vandermonde(v, x, L: int, conj: bool, batch: tuple, out_dtype) -> np.ndarray:
    """``Σ_n v_n exp(x_n l)``; ``2·Re`` of it (real output) when ``conj``."""
    size = math.prod(batch)
    vr, vi = _split(v, batch, size)
    xr, xi = _split(x, batch, size)
    out_r = np.empty((size, L))
    out_i = np.empty((0, 0) if conj else (size, L))
    if size:
        tasks = _tasks(out_r.shape, BLOCK_L * GROUP_BLOCKS)
        span = min(BLOCK_L, L)
        tables, rows = per_thread((2, vr.shape[1], span)), per_thread((4, max(span, 16)))
        _vandermonde_kernel(vr, vi, xr, xi, out_r, out_i, tables, rows, work=out_r.size * vr.shape[1], tasks=tasks)
    out = out_r if conj else out_r + 1j * out_i
    return out.astype(out_dtype, copy=False).reshape(batch + (L,))


@kernel(cost=64.0)
def _cauchy_kernel(vr, vi, wr, wi, zr, zi, out, conj, scratch):  # pragma: no cover - compiled
    size, length = out.shape
    n_modes = vr.shape[1]
    n_blocks = (length + BLOCK_L - 1) // BLOCK_L
    for task in numba.prange(size * n_blocks):
        b = task // n_blocks
        l0 = (task % n_blocks) * BLOCK_L
        m = min(BLOCK_L, length - l0)
        bv = b if vr.shape[0] > 1 else 0
        bw = b if wr.shape[0] > 1 else 0
        bz = b if zr.shape[0] > 1 else 0
        acc_r, acc_i = scratch[numba.get_thread_id(), 0], scratch[numba.get_thread_id(), 1]
        for j in range(m):
            acc_r[j] = 0.0
            acc_i[j] = 0.0
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


@kernel(cost=128.0)
def _cauchy_affine_kernel(vr, vi, wr, wi, ar, ai, br, bi, out, conj, scratch):  # pragma: no cover - compiled
    size, length = out.shape
    n_modes = vr.shape[1]
    n_blocks = (length + BLOCK_L - 1) // BLOCK_L
    for task in numba.prange(size * n_blocks):
        b = task // n_blocks
        l0 = (task % n_blocks) * BLOCK_L
        m = min(BLOCK_L, length - l0)
        bv = b if vr.shape[0] > 1 else 0
        bw = b if wr.shape[0] > 1 else 0
        ba = b if ar.shape[0] > 1 else 0
        bb = b if br.shape[0] > 1 else 0
        acc_r, acc_i = scratch[numba.get_thread_id(), 0], scratch[numba.get_thread_id(), 1]
        for j in range(m):
            acc_r[j] = 0.0
            acc_i[j] = 0.0
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


@kernel(cost=0.5)
def _vandermonde_kernel(vr, vi, xr, xi, out_r, out_i, tables, rows):  # pragma: no cover - compiled
    """Σ_n v_n e^{x_n l} into ``out_r`` (real part; 2·Re when ``out_i`` is empty) and ``out_i``.

    ``e^{x_n (l_0 + j)} = e^{x_n l_0} · e^{x_n j}``: each task tabulates ``e^{x_n j}``
    for ``j < BLOCK_L`` once (as ``e^{16 x_n hi} e^{x_n lo}``, every factor
    evaluated directly, no cumulative products), then per block and mode only
    the scalar ``v_n e^{x_n l_0}`` is evaluated and the inner loop is a complex
    multiply-add over ``j`` that LLVM vectorizes.  Each term is a product of
    three factors accurate to an ulp or two, so it keeps the accuracy of
    evaluating ``exp(x_n l)`` directly (the engines agree to ≤ 1e-12).

    Scratch, per thread: ``tables`` ``(threads, 2, N, min(BLOCK_L, L))`` and ``rows`` ``(threads, 4, ≥ 16)``.
    """
    size, length = out_r.shape
    n_modes = vr.shape[1]
    want_imag = out_i.shape[0] > 0
    scale = 1.0 if want_imag else 2.0
    span = min(BLOCK_L, length)
    n_blocks = (length + BLOCK_L - 1) // BLOCK_L
    n_groups = (n_blocks + GROUP_BLOCKS - 1) // GROUP_BLOCKS
    for task in numba.prange(size * n_groups):
        b = task // n_groups
        first = (task % n_groups) * GROUP_BLOCKS
        bv = b if vr.shape[0] > 1 else 0
        bx = b if xr.shape[0] > 1 else 0
        tid = numba.get_thread_id()
        table_r, table_i = tables[tid, 0], tables[tid, 1]
        acc_r, acc_i, low_r, low_i = rows[tid, 0], rows[tid, 1], rows[tid, 2], rows[tid, 3]
        for n in range(n_modes):
            # e^{x j} = e^{16 x hi} e^{x lo} for j = 16 hi + lo: 32 direct evaluations per mode, not 256.
            for lo in range(16):
                mag = math.exp(xr[bx, n] * lo)
                low_r[lo] = mag * math.cos(xi[bx, n] * lo)
                low_i[lo] = mag * math.sin(xi[bx, n] * lo)
            for hi in range((span + 15) // 16):
                mag = math.exp(xr[bx, n] * (16 * hi))
                h_r = mag * math.cos(xi[bx, n] * (16 * hi))
                h_i = mag * math.sin(xi[bx, n] * (16 * hi))
                for lo in range(min(16, span - 16 * hi)):
                    table_r[n, 16 * hi + lo] = h_r * low_r[lo] - h_i * low_i[lo]
                    table_i[n, 16 * hi + lo] = h_r * low_i[lo] + h_i * low_r[lo]
        for block in range(first, min(first + GROUP_BLOCKS, n_blocks)):
            l0 = block * BLOCK_L
            m = min(BLOCK_L, length - l0)
            for j in range(m):
                acc_r[j] = 0.0
                acc_i[j] = 0.0
            for n in range(n_modes):
                mag = math.exp(xr[bx, n] * l0)
                e_r = mag * math.cos(xi[bx, n] * l0)
                e_i = mag * math.sin(xi[bx, n] * l0)
                c_r = vr[bv, n] * e_r - vi[bv, n] * e_i
                c_i = vr[bv, n] * e_i + vi[bv, n] * e_r
                t_r = table_r[n]
                t_i = table_i[n]
                for j in range(m):
                    acc_r[j] += c_r * t_r[j] - c_i * t_i[j]
                if want_imag:
                    for j in range(m):
                        acc_i[j] += c_r * t_i[j] + c_i * t_r[j]
            for j in range(m):
                out_r[b, l0 + j] = scale * acc_r[j]
            if want_imag:
                for j in range(m):
                    out_i[b, l0 + j] = acc_i[j]
