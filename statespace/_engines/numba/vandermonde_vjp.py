"""Numba backward of :func:`statespace.vandermonde`: two polynomial evaluations per mode by Horner's rule.

The cotangents need, per mode, :math:`S_0 = \\sum_l g_l \\overline{z}^{\\,l}` and
:math:`S_1 = \\sum_l l\\,g_l \\overline{z}^{\\,l}` with :math:`z = e^{x}`: the
polynomial :math:`p(w) = \\sum_l g_l w^l` and :math:`w\\,p'(w)` at
:math:`w = \\overline{z}`. Horner's rule gives both in one pass over ``l`` with
two complex multiply-adds per term and no exponential; it runs in complex128
whatever the data precision (its rounding grows like :math:`L\\varepsilon`),
parallel over the batch.
"""

from __future__ import annotations

import cmath

import numpy as np

from . import kernel, numba

__all__ = ["vandermonde_sums"]


@kernel(cost=4.0, fastmath={"contract"})  # one complex exp per mode, Horner per step (as the forward)
def _horner_kernel(x, g, s0, s1):  # pragma: no cover - compiled
    rows, nmodes = x.shape
    length = g.shape[1]
    for r in numba.prange(rows):
        for n in range(nmodes):
            w = cmath.exp(x[r, n]).conjugate()
            p = 0j
            dp = 0j
            for k in range(length - 1, -1, -1):
                dp = dp * w + p
                p = p * w + g[r, k]
            s0[r, n] = p
            s1[r, n] = w * dp


def vandermonde_sums(x, g):
    """``(S0, S1)`` for ``x (rows, N2)`` and cotangents ``g (rows, L)``, in complex128."""
    x = np.ascontiguousarray(x, dtype=np.complex128)
    g = np.ascontiguousarray(g, dtype=np.complex128)
    s0 = np.empty(x.shape, np.complex128)
    s1 = np.empty(x.shape, np.complex128)
    _horner_kernel(x, g, s0, s1, work=x.size * g.shape[1], tasks=x.shape[0])
    return s0, s1
