"""Numba backward of the diagonal :func:`statespace.recurrence`, with chunked recomputation.

Per channel: a forward pass keeps the state before every ``chunk``-th step,
then the reverse pass recomputes each chunk's states from its stored state and
runs the adjoint recurrence ``λ_k = c·ȳ_k·conj(C) + conj(Ā) λ_{k+1}`` through
it, accumulating the cotangents of ``Ā``, ``B̄``, ``C`` (in double precision) and
writing ``ū_k``. Extra memory per thread: ``N2 × (L/chunk + chunk)`` states.

Each adjoint step is two loops over the modes: the updates, independent across modes (they
vectorise), then ``ū_k = Σ_n λ_n conj(B̄_n)`` in mode order. In one loop the sum's dependency chain
held every update back (N/2 = 32, complex128, two threads, the kernel alone, minima of nine interleaved:
H = 16, L = 65536 83.4 → 64.2 ms; H = 256, L = 4096 81.9 → 65.7 ms; bitwise the same cotangents).
"""

from __future__ import annotations

import numpy as np

from . import copy_into, kernel, numba

__all__ = ["diag_vjp"]


@kernel(cost=1.5, fastmath={"contract"})  # two forward passes (checkpoint, recompute) + the adjoint
def _vjp_kernel(Ab, Bb, C, u, x0, gy, gs, cf, chunk, gAb, gBb, gC, gu, gx0):  # pragma: no cover - compiled
    channels, length = u.shape
    nmodes = Ab.shape[1]
    nck = (length + chunk - 1) // chunk
    for c in numba.prange(channels):
        ck = np.empty((nck, nmodes), x0.dtype)
        xs = np.empty((chunk + 1, nmodes), x0.dtype)
        x = x0[c].copy()
        for t in range((nck - 1) * chunk):  # keep the state before each chunk (the last needs none after)
            if t % chunk == 0:
                copy_into(ck[t // chunk], x)
            for n in range(nmodes):
                x[n] = Ab[c, n] * x[n] + Bb[c, n] * u[c, t]
        copy_into(ck[nck - 1], x)
        lam = gs[c].copy()
        lns = np.empty_like(lam)  # this step's adjoint states, for the sum over the modes
        Ac, Bc, Cc = np.conj(Ab[c]), np.conj(Bb[c]), np.conj(C[c])
        for k in range(nck - 1, -1, -1):
            t0 = k * chunk
            steps = min(chunk, length - t0)
            copy_into(xs[0], ck[k])
            for s in range(steps):
                for n in range(nmodes):
                    xs[s + 1, n] = Ab[c, n] * xs[s, n] + Bb[c, n] * u[c, t0 + s]
            for s in range(steps - 1, -1, -1):
                t = t0 + s
                weight = cf * gy[c, t]
                ut = u[c, t].conjugate()
                for n in range(nmodes):  # independent across modes: vectorises
                    ln = lam[n] + weight * Cc[n]
                    lns[n] = ln
                    gC[c, n] += weight * xs[s + 1, n].conjugate()
                    gBb[c, n] += ln * ut
                    gAb[c, n] += ln * xs[s, n].conjugate()
                    lam[n] = Ac[n] * ln
                acc = lam[0] * 0
                for n in range(nmodes):  # the sum over the modes, in their order
                    acc += lns[n] * Bc[n]
                gu[c, t] = acc
        copy_into(gx0[c], lam)


def _channels(x, shape):
    return np.ascontiguousarray(np.broadcast_to(x, shape)).reshape(-1, shape[-1])


def diag_vjp(Ab, Bb, C, u, x0, gy, gs, batch, cf, chunk):
    """Cotangents ``(gAb, gBb, gC, gu, gx0)`` on the broadcast batch (the caller sums them back)."""
    nmodes, length = Ab.shape[-1], u.shape[-1]
    dtype = np.result_type(Ab, Bb, C, x0)
    acc = np.complex128 if np.iscomplexobj(np.empty(0, dtype)) else np.float64
    state_shape = batch + (nmodes,)
    args = [_channels(v, state_shape) for v in (Ab, Bb, C)]
    u2, gy2 = _channels(u, batch + (length,)), _channels(gy, batch + (length,))
    x02, gs2 = (
        _channels(x0.astype(dtype, copy=False), state_shape),
        _channels(gs.astype(dtype, copy=False), state_shape),
    )
    channels = u2.shape[0]
    gAb, gBb, gC = (np.zeros((channels, nmodes), acc) for _ in range(3))
    gu = np.empty((channels, length), dtype)
    gx0 = np.empty((channels, nmodes), dtype)
    _vjp_kernel(*args, u2, x02, gy2, gs2, cf, chunk, gAb, gBb, gC, gu, gx0, work=gu.size * nmodes, tasks=channels)
    return tuple(v.reshape(batch + v.shape[1:]) for v in (gAb, gBb, gC, gu, gx0))
