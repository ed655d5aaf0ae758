"""Numba backward of :func:`statespace.linear_scan`: the adjoint recurrence fused with the cotangents.

One reverse pass per channel carries the adjoint state
``λ_t = g_t + conj(a_{t+1}) λ_{t+1}`` in double precision (like the forward's
state) and writes ``∂b_t = λ_t`` and ``∂a_t = λ_t conj(x_{t−1})`` on the fly; a
time-invariant gate's cotangent is summed over time inside the loop, so nothing
of length ``L`` is stored besides the two outputs. The forward states ``x`` are
the forward's output: passed in when the caller kept them, else recomputed by
the forward kernel.
"""

from __future__ import annotations

import numpy as np

from . import kernel, numba
from .scan import linear_scan

__all__ = ["linear_scan_vjp"]


@kernel(cost=2.0, fastmath={"contract"})  # reads a, x, g; writes ga, gb: ~2 forward updates
def _vjp_kernel(a, x, x0, g, gs, ga, gb, gx0, carry, reverse):  # pragma: no cover - compiled
    channels, length = x.shape
    a_const = a.shape[1] == 1
    for c in numba.prange(channels):
        lam = carry[c] * 0 + gs[c]
        acc = carry[c] * 0
        for p in range(length - 1, -1, -1):
            t = length - 1 - p if reverse else p
            if p < length - 1:
                tn = length - 2 - p if reverse else p + 1
                lam = a[c, 0 if a_const else tn].conjugate() * lam
            lam = lam + g[c, t]
            if p == 0:
                prev = x0[c]
            else:
                prev = x[c, length - p if reverse else p - 1]
            contribution = lam * prev.conjugate()
            if a_const:
                acc += contribution
            else:
                ga[c, t] = contribution
            gb[c, t] = lam
        t0 = length - 1 if reverse else 0
        gx0[c] = a[c, 0 if a_const else t0].conjugate() * lam
        if a_const:
            ga[c, 0] = acc


def _channels(x, batch, time):
    return np.ascontiguousarray(np.broadcast_to(x, batch + (time,))).reshape(-1, time)


def linear_scan_vjp(a, b, x0, g, gs, states, shape, reverse):
    """Cotangents ``(ga, gb, gx0)`` for validated time-last NumPy operands (``ga`` keeps ``a``'s time length)."""
    batch, length = tuple(shape[:-1]), shape[-1]
    dtype = np.result_type(a, b, g)
    if states is None:
        states = linear_scan(a, b, x0, shape, reverse)
    a_time = 1 if a.shape[-1] == 1 and length != 1 else length
    a2 = _channels(a, batch, a_time)
    x2 = _channels(states.astype(dtype, copy=False), batch, length)
    g2 = _channels(g.astype(dtype, copy=False), batch, length)
    start = np.zeros(batch, dtype) if x0 is None else x0
    x02 = np.ascontiguousarray(np.broadcast_to(start, batch), dtype=dtype).reshape(-1)
    gs2 = np.ascontiguousarray(np.broadcast_to(gs, batch), dtype=dtype).reshape(-1)
    ga = np.empty((x2.shape[0], a_time), dtype)
    gb = np.empty(x2.shape, dtype)
    gx0 = np.empty(x2.shape[0], dtype)
    carry = np.zeros(x2.shape[0], np.complex128 if np.iscomplexobj(gb) else np.float64)
    _vjp_kernel(a2, x2, x02, g2, gs2, ga, gb, gx0, carry, reverse, work=gb.size, tasks=gb.shape[0])
    return ga.reshape(batch + (a_time,)), gb.reshape(shape), gx0.reshape(batch)
