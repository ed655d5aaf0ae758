"""Numba kernels for :func:`statespace.selective_scan`: discretization, scan and output fused per channel.

One ``prange`` iteration owns one (batch, channel) pair and walks time once,
keeping its ``N`` states in a small local buffer: ``(batch, D, L, N)`` is never
materialised. Weights are re-laid out as ``(batch or 1, groups, L or 1, N)``
(contiguous over ``N``) so the inner loop over states reads consecutive memory.
"""

from __future__ import annotations

import math

import numpy as np

from . import numba, pjit

__all__ = ["selective_scan"]


@pjit
def _real_kernel(u, delta, bias, softplus, A, B, C, Dskip, z, x0, out, last):  # pragma: no cover - compiled
    batch, dim, length = u.shape
    nstate = A.shape[1]
    b_per, c_per = dim // B.shape[1], dim // C.shape[1]
    for bd in numba.prange(batch * dim):
        b, d = bd // dim, bd % dim
        bb, bg, b_var = (b if B.shape[0] > 1 else 0), d // b_per, B.shape[2] > 1
        cb, cg, c_var = (b if C.shape[0] > 1 else 0), d // c_per, C.shape[2] > 1
        x = x0[b, d].copy()
        gate = np.empty_like(x)
        for t in range(length):
            dt = delta[b, d, t] + bias[d]
            if softplus and dt <= 20:
                dt = math.log1p(math.exp(dt))
            du = dt * u[b, d, t]
            for n in range(nstate):
                gate[n] = math.exp(dt * A[d, n])
            tb, tc = (t if b_var else 0), (t if c_var else 0)
            acc = x[0] * 0
            for n in range(nstate):
                x[n] = gate[n] * x[n] + du * B[bb, bg, tb, n]
                acc += x[n] * C[cb, cg, tc, n]
            y = acc + Dskip[d] * u[b, d, t]
            if z.shape[0] > 0:
                zt = z[b, d, t]
                y = y * (zt / (1 + math.exp(-zt)))
            out[b, d, t] = y
        last[b, d] = x


@pjit
def _complex_kernel(
    u, delta, bias, softplus, Ar, Ai, Br, Bi, Cr, Ci, Dskip, z, x0r, x0i, out, lastr, lasti
):  # pragma: no cover
    batch, dim, length = u.shape
    nstate = Ar.shape[1]
    b_per, c_per = dim // Br.shape[1], dim // Cr.shape[1]
    for bd in numba.prange(batch * dim):
        b, d = bd // dim, bd % dim
        bb, bg, b_var = (b if Br.shape[0] > 1 else 0), d // b_per, Br.shape[2] > 1
        cb, cg, c_var = (b if Cr.shape[0] > 1 else 0), d // c_per, Cr.shape[2] > 1
        xr, xi = x0r[b, d].copy(), x0i[b, d].copy()
        gr, gi = np.empty_like(xr), np.empty_like(xr)
        for t in range(length):
            dt = delta[b, d, t] + bias[d]
            if softplus and dt <= 20:
                dt = math.log1p(math.exp(dt))
            du = dt * u[b, d, t]
            for n in range(nstate):
                mag = math.exp(dt * Ar[d, n])
                phase = dt * Ai[d, n]
                gr[n] = mag * math.cos(phase)
                gi[n] = mag * math.sin(phase)
            tb, tc = (t if b_var else 0), (t if c_var else 0)
            acc = xr[0] * 0
            for n in range(nstate):
                nr = gr[n] * xr[n] - gi[n] * xi[n] + du * Br[bb, bg, tb, n]
                ni = gr[n] * xi[n] + gi[n] * xr[n] + du * Bi[bb, bg, tb, n]
                xr[n], xi[n] = nr, ni
                acc += nr * Cr[cb, cg, tc, n] - ni * Ci[cb, cg, tc, n]
            y = 2 * acc + Dskip[d] * u[b, d, t]
            if z.shape[0] > 0:
                zt = z[b, d, t]
                y = y * (zt / (1 + math.exp(-zt)))
            out[b, d, t] = y
        lastr[b, d] = xr
        lasti[b, d] = xi


def _layout(w, real):
    """Weight as ``(batch or 1, groups, L or 1, N)`` contiguous, in ``real`` or the matching complex dtype."""
    value = w.value
    if not w.variable:  # (D, N): one "group" per channel, constant in time
        value = value[None, :, None, :]
    else:
        value = np.swapaxes(value, -1, -2)
    return np.ascontiguousarray(value)


def selective_scan(u, delta, A, B, C, D, z, bias, use_softplus, x0):
    """Fused selective scan for validated NumPy operands (see :func:`statespace.selective_scan`)."""
    batch, dim, length = u.shape
    nstate = A.shape[1]
    real = u.dtype
    bias = np.zeros(dim, real) if bias is None else bias
    Dskip = np.zeros(dim, real) if D is None else D
    z = np.zeros((0, 0, 0), real) if z is None else z
    out = np.empty((batch, dim, length), real)
    Bl, Cl = _layout(B, real), _layout(C, real)
    if not np.iscomplexobj(A):
        x = np.zeros((batch, dim, nstate), real) if x0 is None else np.ascontiguousarray(x0)
        last = np.empty((batch, dim, nstate), real)
        if out.size and nstate:
            _real_kernel(u, delta, bias, use_softplus, A, Bl, Cl, Dskip, z, x, out, last)
        else:
            _empty_case(out, last, x, D, u, z)
        return out, last
    x = np.zeros((batch, dim, nstate), A.dtype) if x0 is None else x0
    lastr, lasti = np.empty((batch, dim, nstate), real), np.empty((batch, dim, nstate), real)
    if out.size and nstate:
        _complex_kernel(
            u, delta, bias, use_softplus,
            np.ascontiguousarray(A.real), np.ascontiguousarray(A.imag),
            np.ascontiguousarray(Bl.real), np.ascontiguousarray(Bl.imag) if np.iscomplexobj(Bl) else np.zeros_like(Bl),
            np.ascontiguousarray(Cl.real), np.ascontiguousarray(Cl.imag) if np.iscomplexobj(Cl) else np.zeros_like(Cl),
            Dskip, z, np.ascontiguousarray(x.real), np.ascontiguousarray(x.imag), out, lastr, lasti,
        )  # fmt: skip
        last = lastr + 1j * lasti
    else:
        last = np.array(x, dtype=A.dtype, copy=True)
        _empty_case(out, last, x, D, u, z)
    return out, last.astype(A.dtype, copy=False)


def _empty_case(out, last, x, D, u, z):
    """``L = 0`` or ``N = 0``: no state contribution, the state stays ``x0``."""
    last[...] = x
    y = np.zeros_like(out) if D is None else D[:, None] * u
    if z.size:
        y = y * (z / (1 + np.exp(-z)))
    out[...] = y
