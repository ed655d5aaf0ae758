"""Numba kernels for :func:`statespace.linear_scan`: sequential in time, parallel over channels.

The running state is carried in double precision (float64/complex128) whatever the
data precision, so float32 results are rounded once per output instead of drifting.
"""

from __future__ import annotations

import numpy as np

from . import numba, pjit

__all__ = ["linear_scan"]


@pjit
def _scan_kernel(a, b, x0, out, reverse):  # pragma: no cover - compiled
    channels, length = out.shape
    a_const = a.shape[1] == 1
    b_const = b.shape[1] == 1
    for c in numba.prange(channels):
        x = x0[c] * 1.0  # carried in double precision: float32 data gets one rounding per output
        for step in range(length):
            t = length - 1 - step if reverse else step
            x = a[c, 0 if a_const else t] * x + b[c, 0 if b_const else t]
            out[c, t] = x


def _channels(x, batch, length):
    """``x`` broadcast over the batch and flattened to ``(channels, 1 or L)`` (time never expanded)."""
    time = 1 if x.shape[-1] == 1 and length != 1 else length
    return np.ascontiguousarray(np.broadcast_to(x, batch + (time,))).reshape(-1, time)


def linear_scan(a, b, x0, shape, reverse):
    """States of ``x_t = a_t x_{t−1} + b_t`` for NumPy arrays already validated and promoted.

    ``a``/``b`` have time last and broadcast to ``shape``; ``x0`` is ``None`` or
    broadcast to ``shape[:-1]``.
    """
    batch, length = tuple(shape[:-1]), shape[-1]
    dtype = np.result_type(a, b)
    out = np.empty(shape, dtype=dtype)
    if out.size == 0:
        return out
    a2, b2 = _channels(a, batch, length), _channels(b, batch, length)
    start = np.zeros(batch, dtype=dtype) if x0 is None else x0
    x02 = np.ascontiguousarray(np.broadcast_to(start, batch), dtype=dtype).reshape(-1)
    _scan_kernel(a2, b2, x02, out.reshape(-1, length), reverse)
    return out
