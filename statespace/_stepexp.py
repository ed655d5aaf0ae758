r"""The exponentials :math:`e^{t_k M}` of one matrix at many step sizes, by interpolation in :math:`t`.

Discretizing one dense system at ``K`` step sizes (S4's per-channel steps, a step-size sweep) needs
:math:`e^{t_k M}` for one :math:`M` (the ZOH block :math:`\begin{bmatrix}A & B\\ 0 & 0\end{bmatrix}`).
:math:`t \mapsto e^{tM}` is entire, so on :math:`[t_{\min}, t_{\max}]` it is interpolated to full
precision by a Chebyshev series whose coefficients are matrices:

.. math::

    e^{tM} \approx \sum_{j=0}^{n} C_j\, T_j(x), \qquad x = \frac{2t - t_{\min} - t_{\max}}{t_{\max} - t_{\min}},

with :math:`C_j` from the exponentials at the :math:`n+1` Chebyshev points of the second kind
(one batched :func:`statespace.expm`; the points are nested, so doubling :math:`n` reuses every
exponential already computed). Evaluating all ``K`` steps is then one matrix product
``(K, n+1) @ (n+1, P²)``.

Why not one eigen- or Schur decomposition reused across steps? HiPPO-LegS, the matrix this path
exists for, is far from normal: its eigenvector matrix has condition number ≈ 4e20 at N = 64, and
:math:`V e^{t\Lambda} V^{-1}` is wrong by 1e30; Parlett's recurrence on its (already triangular)
Schur form is wrong by 1e28 (off-diagonal entries up to 126 against eigenvalue gaps of 1). The
Chebyshev interpolant is immune to non-normality: its accuracy depends only on how fast the
coefficients decay, and that is measured.

Accuracy guard: the series is accepted when its last coefficients are below ``64·eps`` of the
largest entry of the node exponentials (the interpolation error is at most about twice that tail:
≈ 1.5e-14 relative for 256 steps of LegS N = 64 in [1e-3, 1e-1], measured against
``scipy.linalg.expm``); otherwise :math:`n` doubles, and when :math:`n + 1` would exceed
``K / 2`` (no saving left: a wide range of steps for a large ``‖M‖``, or few steps) every
:math:`e^{t_k M}` is computed directly by :func:`statespace.expm`.
"""

from __future__ import annotations

import math

from ._backend import device_of
from ._expm import expm

__all__ = ["expm_steps", "MIN_STEPS"]

#: Fewer steps than this are exponentiated directly (interpolation needs at least 17 node exponentials).
MIN_STEPS = 64
#: Degree of the first interpolant (then 48, 96, ...: nested points, every exponential reused).
_FIRST_DEGREE = 24


def expm_steps(xp, M, steps):
    """``(e^{t_k M} (K, P, P), degree)`` for one ``M (P, P)`` and real ``steps (K,)``; degree 0: computed directly."""
    K = steps.shape[0]
    if K < MIN_STEPS:
        return _direct(M, steps)
    low, high = float(xp.min(steps)), float(xp.max(steps))
    if not high > low:
        return _direct(M, steps)
    eps = xp.finfo(M.dtype).eps
    device = device_of(M)
    mid, half = (high + low) / 2, (high - low) / 2
    n, values, scale = _FIRST_DEGREE, None, 0.0
    while n + 1 <= K // 2:
        j = xp.arange(n + 1, dtype=xp.float64, device=device)
        nodes = mid + half * xp.cos(math.pi * j / n)
        fresh = nodes if values is None else nodes[1::2]  # the nested points: only the odd ones are new
        new = xp.reshape(expm(xp.astype(fresh, steps.dtype)[:, None, None] * M[None, ...]), (fresh.shape[0], -1))
        if values is None:
            values = new
        else:  # interleave: even nodes are the previous ones
            merged = xp.zeros((n + 1, new.shape[1]), dtype=new.dtype, device=device)
            merged[0::2, :] = values
            merged[1::2, :] = new
            values = merged
        scale = max(scale, float(xp.max(xp.abs(new))))
        coeffs = _chebyshev_coefficients(xp, values, n)
        tail = float(xp.max(xp.abs(coeffs[-3:, :])))
        if tail <= 64 * eps * scale:
            significant = xp.nonzero(xp.max(xp.abs(coeffs), axis=1) > 8 * eps * scale)[0]  # above the rounding floor
            keep = int(xp.max(significant)) + 1 if significant.shape[0] else 1
            basis = _chebyshev_basis(xp, (xp.astype(steps, xp.float64) - mid) / half, keep)
            out = xp.astype(basis, coeffs.dtype) @ coeffs[:keep, :]
            return xp.reshape(xp.astype(out, M.dtype, copy=False), (K,) + tuple(M.shape)), keep - 1
        n *= 2
    return _direct(M, steps)


def _direct(M, steps):
    return expm(steps[:, None, None] * M[None, ...]), 0


def _chebyshev_coefficients(xp, values, n):
    """Coefficients of the degree-``n`` interpolant through the values at ``cos(πj/n)`` (a DCT-I as a product)."""
    j = xp.arange(n + 1, dtype=xp.float64, device=device_of(values))
    cosines = xp.cos(math.pi * (j[:, None] * j[None, :]) / n)  # (k, j)
    ends = xp.ones(n + 1, dtype=xp.float64, device=device_of(values))
    ends[0] = ends[n] = 0.5
    weights = cosines * ends[None, :] * ends[:, None] * (2.0 / n)
    wide = xp.complex128 if xp.isdtype(values.dtype, "complex floating") else xp.float64
    return xp.astype(weights, wide) @ xp.astype(values, wide, copy=False)


def _chebyshev_basis(xp, x, count):
    """``T_j(x)`` for ``j < count`` as ``(K, count)``, by the three-term recurrence (stable on [-1, 1])."""
    columns = [xp.ones_like(x), x]
    for _ in range(2, count):
        columns.append(2 * x * columns[-1] - columns[-2])
    return xp.stack(columns[:count], axis=1)
