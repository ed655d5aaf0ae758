"""CUDA kernel for diagonal (modal) LTI recurrences with a fused output projection.

:math:`x_{n,t} = \\bar A_n x_{n,t-1} + \\bar B_n u_t`, :math:`y_t = \\sum_n C_n x_{n,t}`
(``2·Re`` of it for conjugate-paired modes), per channel.  One thread per
channel walks time once with its ``N2`` modes' parameters and states in
per-thread arrays; the state over time is never stored.  Blocks are one warp
of consecutive channels; the input and the output go through shared-memory
tiles of :data:`~statespace._engines.cupy.TILE` steps so that global accesses
are coalesced.  Arithmetic is complex, written out in real and imaginary
parts, in the precision of the system (float32 for complex64).  Same entry
point and results as :mod:`statespace._engines.numba.recurrence`.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from . import GROUP, TILE, WARP, array_module, cuda, launch

__all__ = ["diag"]

_TILE_SHAPE = (WARP, TILE + 1)


@functools.cache
def _kernel(real_name: str, capacity: int):
    real = getattr(numba, real_name)

    def kernel(a, b, c, ur, ui, xr0, xi0, yr, yi, scale):  # pragma: no cover - compiled
        """``a``/``b``/``c``: complex ``(channels, N2)``; ``ui`` (0, 0) for real input; ``yi`` (0, 0) for real output.

        ``xr0``/``xi0`` hold the initial state and receive the final one.
        """
        channels, length = ur.shape
        nmodes = capacity  # == a.shape[1]: one kernel per mode count, its loops unrolled
        complex_u = ui.shape[0] > 0
        want_imag = yi.shape[0] > 0
        tid = cuda.threadIdx.x
        r0 = cuda.blockIdx.x * WARP
        h = min(r0 + tid, channels - 1)
        active = r0 + tid < channels
        s_r = cuda.shared.array(_TILE_SHAPE, real)
        s_i = cuda.shared.array(_TILE_SHAPE, real)
        v_r = cuda.local.array(GROUP, real)
        v_i = cuda.local.array(GROUP, real)
        for k in range(GROUP):
            v_i[k] = 0
        ar = cuda.local.array(capacity, real)
        ai = cuda.local.array(capacity, real)
        br = cuda.local.array(capacity, real)
        bi = cuda.local.array(capacity, real)
        cr = cuda.local.array(capacity, real)
        ci = cuda.local.array(capacity, real)
        xr = cuda.local.array(capacity, real)
        xi = cuda.local.array(capacity, real)
        for n in range(capacity):
            if n < nmodes:
                ar[n], ai[n] = a[h, n].real, a[h, n].imag
                br[n], bi[n] = b[h, n].real, b[h, n].imag
                cr[n], ci[n] = c[h, n].real, c[h, n].imag
                xr[n], xi[n] = xr0[h, n], xi0[h, n]
        for t0 in range(0, length, TILE):
            t = t0 + tid
            tt = min(t, length - 1)  # past the end: a valid address whose value is not used
            for i0 in range(0, WARP, GROUP):  # coalesced, GROUP channels' loads in flight together
                for k in range(GROUP):
                    v_r[k] = ur[min(r0 + i0 + k, channels - 1), tt]
                if complex_u:
                    for k in range(GROUP):
                        v_i[k] = ui[min(r0 + i0 + k, channels - 1), tt]
                for k in range(GROUP):
                    s_r[i0 + k, tid] = v_r[k]
                    s_i[i0 + k, tid] = v_i[k]
            cuda.syncthreads()
            if active:
                for j in range(TILE):
                    if t0 + j < length:
                        vr = s_r[tid, j]
                        vi = s_i[tid, j]  # 0 for a real input
                        acc_r = real(0)
                        acc_i = real(0)
                        for n in range(capacity):
                            if n < nmodes:
                                pr = ar[n] * xr[n] - ai[n] * xi[n] + (br[n] * vr - bi[n] * vi)
                                pi = ar[n] * xi[n] + ai[n] * xr[n] + (br[n] * vi + bi[n] * vr)
                                xr[n], xi[n] = pr, pi
                                acc_r += cr[n] * pr - ci[n] * pi
                                acc_i += cr[n] * pi + ci[n] * pr
                        s_r[tid, j] = scale * acc_r
                        s_i[tid, j] = acc_i
            cuda.syncthreads()
            for i in range(WARP):
                if r0 + i < channels and t < length:
                    yr[r0 + i, t] = s_r[i, tid]
                    if want_imag:
                        yi[r0 + i, t] = s_i[i, tid]
            cuda.syncthreads()
        if active:
            for n in range(capacity):
                if n < nmodes:
                    xr0[h, n], xi0[h, n] = xr[n], xi[n]

    return cuda.jit(kernel)


def diag(Ab, Bb, C, u, x0, batch, conj, want_state=True):
    """Fused diagonal recurrence for validated device operands; returns ``(y, final_state)``.

    ``want_state`` is accepted for the engines' common signature; the state is always returned here.

    Same contract as :func:`statespace._engines.numba.recurrence.diag`.
    """
    xp = array_module(u)
    nmodes, length = Ab.shape[-1], u.shape[-1]
    common = np.result_type(*(x.dtype for x in (Ab, Bb, C, u, x0) if x is not None))  # dtypes: no host copies
    cdtype = np.result_type(common, np.complex64)
    real = np.finfo(cdtype).dtype
    channels = math.prod(batch)
    mode_shape = batch + (nmodes,)

    def rows(m):
        return xp.ascontiguousarray(xp.broadcast_to(m, mode_shape).astype(cdtype)).reshape(channels, nmodes)

    a, b, c = rows(Ab), rows(Bb), rows(C)
    start = xp.zeros(mode_shape, cdtype) if x0 is None else rows(x0)
    xr = xp.ascontiguousarray(start.real.astype(real)).reshape(channels, nmodes)  # fresh: the kernel writes back
    xi = xp.ascontiguousarray(start.imag.astype(real)).reshape(channels, nmodes)
    uf = xp.broadcast_to(u, batch + (length,)).reshape(channels, length)
    ur = xp.ascontiguousarray(uf.real.astype(real, copy=False))
    ui = xp.ascontiguousarray(uf.imag.astype(real)) if uf.dtype.kind == "c" else xp.zeros((0, 0), real)
    system_real = common.kind != "c"
    want_imag = not conj and not system_real
    scale = 2.0 if conj and not system_real else 1.0
    yr = xp.empty((channels, length), real)
    yi = xp.empty((channels, length) if want_imag else (0, 0), real)
    if yr.size and nmodes:
        launch(_kernel(real.name, nmodes), channels, a, b, c, ur, ui, xr, xi, yr, yi, real.type(scale))
    elif yr.size:
        yr[...] = 0
        yi[...] = 0
    y = yr + 1j * yi if want_imag else yr
    state = xr + 1j * xi
    state = state.real if system_real else state.astype(cdtype, copy=False)
    return y.reshape(batch + (length,)), xp.ascontiguousarray(state).reshape(mode_shape)
