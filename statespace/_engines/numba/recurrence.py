"""Numba kernel for diagonal (modal) LTI recurrences with a fused output projection.

Split real/imaginary layout, ``prange`` over channels, time outer and modes
inner: per step each channel updates its ``N2`` complex modes from registers
/ L1 and reduces ``Σ_n C_n x_n`` on the fly, so the state over time is never
stored.
"""

from __future__ import annotations

import math

import numpy as np

from . import numba, pjit

__all__ = ["diag"]


@pjit
def _diag_kernel(ar, ai, br, bi, cr, ci, ur, ui, xr0, xi0, yr, yi, scale, want_imag):  # pragma: no cover - compiled
    channels, nmodes = ar.shape
    length = ur.shape[1]
    complex_u = ui.shape[0] > 0
    for h in numba.prange(channels):
        xr = xr0[h].copy()
        xi = xi0[h].copy()
        a_r, a_i, b_r, b_i, c_r, c_i = ar[h], ai[h], br[h], bi[h], cr[h], ci[h]
        for t in range(length):
            u_r = ur[h, t]
            u_i = ui[h, t] if complex_u else 0.0 * u_r
            acc_r = 0.0 * u_r
            acc_i = 0.0 * u_r
            for n in range(nmodes):
                pr = a_r[n] * xr[n] - a_i[n] * xi[n] + (b_r[n] * u_r - b_i[n] * u_i)
                pi = a_r[n] * xi[n] + a_i[n] * xr[n] + (b_r[n] * u_i + b_i[n] * u_r)
                xr[n] = pr
                xi[n] = pi
                acc_r += c_r[n] * pr - c_i[n] * pi
                if want_imag:
                    acc_i += c_r[n] * pi + c_i[n] * pr
            yr[h, t] = scale * acc_r
            if want_imag:
                yi[h, t] = acc_i
        xr0[h] = xr
        xi0[h] = xi


def _flat(x, shape, dtype):
    return np.ascontiguousarray(np.broadcast_to(x, shape), dtype=dtype).reshape(math.prod(shape[:-1]), shape[-1])


def diag(Ab, Bb, C, u, x0, batch, conj):
    """Fused diagonal recurrence for validated NumPy operands; returns ``(y, final_state)``."""
    nmodes, length = Ab.shape[-1], u.shape[-1]
    common = np.result_type(Ab, Bb, C, u, *(() if x0 is None else (x0,)))
    cdtype = np.result_type(common, np.complex64)
    real = np.finfo(cdtype).dtype
    mode_shape = batch + (nmodes,)
    a, b, c = (_flat(m, mode_shape, cdtype) for m in (Ab, Bb, C))
    x = np.zeros(mode_shape, cdtype) if x0 is None else x0
    xc = _flat(x, mode_shape, cdtype)
    xr, xi = np.array(xc.real, dtype=real, order="C"), np.array(xc.imag, dtype=real, order="C")  # written back
    uf = _flat(u, batch + (length,), u.dtype)
    ur = np.ascontiguousarray(uf.real, dtype=real)
    ui = np.ascontiguousarray(uf.imag, dtype=real) if np.iscomplexobj(uf) else np.zeros((0, 0), real)
    system_real = not np.iscomplexobj(np.empty(0, common))
    want_imag = not conj and not system_real
    scale = 2.0 if conj and not system_real else 1.0
    yr = np.empty(ur.shape, real)
    yi = np.empty(ur.shape if want_imag else (0, 0), real)
    if yr.size and nmodes:
        parts = [np.ascontiguousarray(p) for m in (a, b, c) for p in (m.real, m.imag)]
        _diag_kernel(*parts, ur, ui, xr, xi, yr, yi, real.type(scale), want_imag)
    elif yr.size:
        yr[...] = 0
        yi[...] = 0
    y = yr + 1j * yi if want_imag else yr
    state = xr if system_real else (xr + 1j * xi).astype(cdtype, copy=False)
    return y.reshape(batch + (length,)), state.reshape(mode_shape)
