"""CUDA kernels for :func:`statespace.selective_scan`: discretization, scan and output fused.

One thread per (batch, channel) pair walks time once with its ``N`` states in
a per-thread array (registers: ``N`` is a compile-time constant of the kernel): per step it forms
:math:`\\Delta_t` (bias, softplus), the gates :math:`e^{\\Delta_t A_{dn}}`,
updates the states with :math:`\\Delta_t B_{n,t} u_t`, reduces
:math:`y_t = \\sum_n C_{n,t} x_{n,t}` (``2·Re`` for complex ``A``), adds
:math:`D_d u_t` and the SiLU gate, exactly as the numba engine
(:mod:`statespace._engines.numba.selective`).  ``(batch, D, L, N)`` is never
formed: the traffic is one read of ``u``, ``delta`` (and ``z``), one write of
the output, and ``B``/``C`` rows that every thread of a group shares (one
broadcast load per warp).  Blocks are one warp of consecutive (batch, channel)
rows; ``u``/``delta``/``z`` and the output go through shared-memory tiles of
:data:`~statespace._engines.cupy.TILE` steps so global accesses are coalesced.
The state and arithmetic are in the computation precision (float32 for
float32 inputs, as Mamba's kernel).
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from . import GROUP, TILE, WARP, array_module, cuda, launch

__all__ = ["selective_scan"]

_TILE_SHAPE = (WARP, TILE + 1)


@functools.cache
def _kernels(real_name: str, capacity: int):
    """The real-``A`` and complex-``A`` kernels in precision ``real_name`` for ``N = capacity`` states.

    ``N`` is a compile-time constant: the loops over states unroll, the states
    stay in registers and their guards fold away (one compilation per ``N``).
    The two kernels repeat their staging, step size and write-back instead of
    calling shared device functions: numba-cuda compiles a call of a device
    function (``cuda.jit(device=True)`` or ``register_jitable``) for the current
    device, so :func:`numba.cuda.compile_ptx` of a kernel that makes one needs a
    CUDA driver, and the PTX checks of ``tests/gpu/test_ptx.py`` run without one.
    """
    real = getattr(numba, real_name)

    def real_kernel(u, delta, bias, softplus, A, B, C, Dskip, z, x0, out, last, dim):  # pragma: no cover - compiled
        rows, length = u.shape
        nstate = capacity  # == A.shape[1]: the entry point compiles one kernel per N
        b_per, c_per = dim // B.shape[1], dim // C.shape[1]
        gated = z.shape[0] > 0
        vu = cuda.local.array(GROUP, real)
        vd = cuda.local.array(GROUP, real)
        vz = cuda.local.array(GROUP, real)
        for k in range(GROUP):
            vz[k] = 0
        tid = cuda.threadIdx.x
        r0 = cuda.blockIdx.x * WARP
        row = min(r0 + tid, rows - 1)
        active = r0 + tid < rows
        b, d = row // dim, row % dim
        bb, bg, b_var = (b if B.shape[0] > 1 else 0), d // b_per, B.shape[2] > 1
        cb, cg, c_var = (b if C.shape[0] > 1 else 0), d // c_per, C.shape[2] > 1
        su = cuda.shared.array(_TILE_SHAPE, real)
        sd = cuda.shared.array(_TILE_SHAPE, real)
        sz = cuda.shared.array(_TILE_SHAPE, real)
        x = cuda.local.array(capacity, real)
        a = cuda.local.array(capacity, real)
        for n in range(capacity):
            if n < nstate:
                x[n] = x0[row, n]
                a[n] = A[d, n]
        threshold = real(20)
        for t0 in range(0, length, TILE):
            tt = min(t0 + tid, length - 1)  # past the end: a valid address whose value is not used
            for i0 in range(0, WARP, GROUP):  # coalesced, GROUP rows' loads in flight together
                for k in range(GROUP):
                    r = min(r0 + i0 + k, rows - 1)
                    vu[k] = u[r, tt]
                    vd[k] = delta[r, tt]
                if gated:
                    for k in range(GROUP):
                        vz[k] = z[min(r0 + i0 + k, rows - 1), tt]
                for k in range(GROUP):
                    su[i0 + k, tid] = vu[k]
                    sd[i0 + k, tid] = vd[k]
                    sz[i0 + k, tid] = vz[k]
            cuda.syncthreads()
            if active:
                for j in range(TILE):
                    t = t0 + j
                    if t < length:
                        dt = sd[tid, j] + bias[d]
                        if softplus and dt <= threshold:
                            dt = math.log1p(math.exp(dt))
                        ut = su[tid, j]
                        du = dt * ut
                        tb, tc = (t if b_var else 0), (t if c_var else 0)
                        acc = real(0)
                        for n in range(capacity):
                            if n < nstate:
                                xn = math.exp(dt * a[n]) * x[n] + du * B[bb, bg, tb, n]
                                x[n] = xn
                                acc += xn * C[cb, cg, tc, n]
                        y = acc + Dskip[d] * ut
                        if gated:
                            y = y * (sz[tid, j] / (1 + math.exp(-sz[tid, j])))
                        su[tid, j] = y
            cuda.syncthreads()
            if t0 + tid < length:
                for i in range(WARP):
                    if r0 + i < rows:
                        out[r0 + i, t0 + tid] = su[i, tid]
            cuda.syncthreads()
        if active:
            for n in range(capacity):
                if n < nstate:
                    last[row, n] = x[n]

    def complex_kernel(
        u, delta, bias, softplus, Ar, Ai, Br, Bi, Cr, Ci, Dskip, z, x0r, x0i, out, lastr, lasti, dim
    ):  # pragma: no cover - compiled
        rows, length = u.shape
        nstate = capacity  # == Ar.shape[1]
        b_per, c_per = dim // Br.shape[1], dim // Cr.shape[1]
        gated = z.shape[0] > 0
        vu = cuda.local.array(GROUP, real)
        vd = cuda.local.array(GROUP, real)
        vz = cuda.local.array(GROUP, real)
        for k in range(GROUP):
            vz[k] = 0
        tid = cuda.threadIdx.x
        r0 = cuda.blockIdx.x * WARP
        row = min(r0 + tid, rows - 1)
        active = r0 + tid < rows
        b, d = row // dim, row % dim
        bb, bg, b_var = (b if Br.shape[0] > 1 else 0), d // b_per, Br.shape[2] > 1
        cb, cg, c_var = (b if Cr.shape[0] > 1 else 0), d // c_per, Cr.shape[2] > 1
        su = cuda.shared.array(_TILE_SHAPE, real)
        sd = cuda.shared.array(_TILE_SHAPE, real)
        sz = cuda.shared.array(_TILE_SHAPE, real)
        xr = cuda.local.array(capacity, real)
        xi = cuda.local.array(capacity, real)
        ar = cuda.local.array(capacity, real)
        ai = cuda.local.array(capacity, real)
        for n in range(capacity):
            if n < nstate:
                xr[n], xi[n] = x0r[row, n], x0i[row, n]
                ar[n], ai[n] = Ar[d, n], Ai[d, n]
        threshold = real(20)
        for t0 in range(0, length, TILE):
            tt = min(t0 + tid, length - 1)  # past the end: a valid address whose value is not used
            for i0 in range(0, WARP, GROUP):  # coalesced, GROUP rows' loads in flight together
                for k in range(GROUP):
                    r = min(r0 + i0 + k, rows - 1)
                    vu[k] = u[r, tt]
                    vd[k] = delta[r, tt]
                if gated:
                    for k in range(GROUP):
                        vz[k] = z[min(r0 + i0 + k, rows - 1), tt]
                for k in range(GROUP):
                    su[i0 + k, tid] = vu[k]
                    sd[i0 + k, tid] = vd[k]
                    sz[i0 + k, tid] = vz[k]
            cuda.syncthreads()
            if active:
                for j in range(TILE):
                    t = t0 + j
                    if t < length:
                        dt = sd[tid, j] + bias[d]
                        if softplus and dt <= threshold:
                            dt = math.log1p(math.exp(dt))
                        ut = su[tid, j]
                        du = dt * ut
                        tb, tc = (t if b_var else 0), (t if c_var else 0)
                        acc = real(0)
                        for n in range(capacity):
                            if n < nstate:
                                mag = math.exp(dt * ar[n])
                                phase = dt * ai[n]
                                gr, gi = mag * math.cos(phase), mag * math.sin(phase)
                                nr = gr * xr[n] - gi * xi[n] + du * Br[bb, bg, tb, n]
                                ni = gr * xi[n] + gi * xr[n] + du * Bi[bb, bg, tb, n]
                                xr[n], xi[n] = nr, ni
                                acc += nr * Cr[cb, cg, tc, n] - ni * Ci[cb, cg, tc, n]
                        y = 2 * acc + Dskip[d] * ut
                        if gated:
                            y = y * (sz[tid, j] / (1 + math.exp(-sz[tid, j])))
                        su[tid, j] = y
            cuda.syncthreads()
            if t0 + tid < length:
                for i in range(WARP):
                    if r0 + i < rows:
                        out[r0 + i, t0 + tid] = su[i, tid]
            cuda.syncthreads()
        if active:
            for n in range(capacity):
                if n < nstate:
                    lastr[row, n], lasti[row, n] = xr[n], xi[n]

    return cuda.jit(real_kernel), cuda.jit(complex_kernel)


def _layout(xp, w, dtype):
    """Weight as ``(batch or 1, groups, L or 1, N)`` contiguous (as the numba engine's ``layout``)."""
    value = w.value
    if not w.variable:  # (D, N): one "group" per channel, constant in time
        value = value[None, :, None, :]
    else:
        value = xp.swapaxes(value, -1, -2)
    return xp.ascontiguousarray(value.astype(dtype, copy=False))


def _parts(xp, x, real):
    """Contiguous real and imaginary parts of ``x`` in ``real`` (zeros for a real ``x``)."""
    re = xp.ascontiguousarray(x.real.astype(real, copy=False))
    im = xp.ascontiguousarray(x.imag.astype(real, copy=False)) if x.dtype.kind == "c" else xp.zeros_like(re)
    return re, im


def selective_scan(u, delta, A, B, C, D, z, bias, use_softplus, x0, restart=None):
    """Fused selective scan for validated device operands (see :func:`statespace.selective_scan`)."""
    if restart is not None:
        raise NotImplementedError(
            "selective_scan: packed sequences (seq_idx) have no cupy kernel yet; pass engine='xp' for CuPy arrays"
        )
    xp = array_module(u)
    batch, dim, length = u.shape
    nstate = A.shape[1]
    real = u.dtype
    bias = xp.zeros(dim, real) if bias is None else bias
    Dskip = xp.zeros(dim, real) if D is None else D
    z = xp.zeros((0, 0, 0), real) if z is None else z
    out = xp.empty((batch, dim, length), real)
    a_complex = A.dtype.kind == "c"
    state = A.dtype
    x = xp.zeros((batch, dim, nstate), state) if x0 is None else x0
    if not (out.size and nstate):  # L = 0 or N = 0: no state contribution, the state stays x0
        y = xp.zeros_like(out) if D is None else D[:, None] * u
        out[...] = y * (z / (1 + xp.exp(-z))) if z.size else y
        return out, xp.array(x, dtype=state, copy=True)
    real_kernel, complex_kernel = _kernels(np.dtype(real).name, nstate)
    rows = batch * dim

    def flat(x):  # (batch, D, K) → (batch·D, K) rows, contiguous
        return xp.ascontiguousarray(x).reshape(rows, x.shape[-1])

    head = (flat(u), flat(delta), bias, bool(use_softplus))
    z2, out2 = (flat(z) if z.size else xp.zeros((0, 0), real)), out.reshape(rows, length)
    if not a_complex:
        last = xp.empty((batch, dim, nstate), real)
        Bl, Cl = _layout(xp, B, real), _layout(xp, C, real)
        launch(real_kernel, rows, *head, xp.ascontiguousarray(A), Bl, Cl, Dskip, z2, flat(x), out2,
               last.reshape(rows, nstate), dim)  # fmt: skip
        return out, last
    lastr, lasti = xp.empty((rows, nstate), real), xp.empty((rows, nstate), real)
    Bl, Cl = _layout(xp, B, B.value.dtype), _layout(xp, C, C.value.dtype)
    x0r, x0i = _parts(xp, flat(x), real)
    launch(
        complex_kernel, rows, *head, *_parts(xp, A, real), *_parts(xp, Bl, real), *_parts(xp, Cl, real),
        Dskip, z2, x0r, x0i, out2, lastr, lasti, dim,
    )  # fmt: skip
    return out, (lastr + 1j * lasti).astype(state, copy=False).reshape(batch, dim, nstate)
