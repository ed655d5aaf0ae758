r"""The exponentials :math:`e^{t_k M}` of one matrix at many step sizes, by interpolation in :math:`t`.

Discretizing one dense system at ``K`` step sizes (S4's per-channel steps, a step-size sweep) needs
:math:`e^{t_k M}` for one :math:`M` (the ZOH block :math:`\begin{bmatrix}A & B\\ 0 & 0\end{bmatrix}`).
:math:`t \mapsto e^{tM}` is entire, so on :math:`[t_{\min}, t_{\max}]` it is interpolated to full
precision by a Chebyshev series whose coefficients are matrices:

.. math::

    e^{tM} \approx \sum_{j=0}^{n} C_j\, T_j(x), \qquad x = \frac{2t - t_{\min} - t_{\max}}{t_{\max} - t_{\min}},

with :math:`C_j` from the exponentials at the :math:`n+1` Chebyshev points of the second kind
(the points are nested, so doubling :math:`n` reuses every exponential already computed). Evaluating
all ``K`` steps is then one matrix product ``(K, n+1) @ (n+1, P²)``. The node exponentials share one
set of powers of :math:`M` (:class:`_SharedPowers`): scaling and squaring with the degree-13 Padé
approximant, whose numerator and denominator at :math:`t M` are combinations of the same
:math:`M^k`, so a node costs a linear solve and its squarings. For 256 steps of LegS (N = 64) that
took the whole call from 25.8 to 15.9 ms against one batched :func:`statespace.expm` of the nodes
(medians of 25 runs interleaved with ``scipy.linalg.expm`` of the 256 stacked blocks, 77.3 ms; one
BLAS thread), at the same accuracy (node exponentials 1.5e-14 from ``scipy.linalg.expm``'s, the
array-API scaling and squaring on each node 1.4e-14).

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
from ._expm import PADE_COEFFICIENTS, PADE_THETA, double_precision, expm, norm1

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
    if not high > low or not bool(xp.all(xp.isfinite(M))):  # one step, or NaN/inf: expm's own handling
        return _direct(M, steps)
    eps = xp.finfo(M.dtype).eps
    device = device_of(M)
    mid, half = (high + low) / 2, (high - low) / 2
    exponentials = _SharedPowers(xp, M)
    n, values, scale = _FIRST_DEGREE, None, 0.0
    while n + 1 <= K // 2:
        j = xp.arange(n + 1, dtype=xp.float64, device=device)
        nodes = mid + half * xp.cos(math.pi * j / n)
        fresh = nodes if values is None else nodes[1::2]  # the nested points: only the odd ones are new
        new = xp.reshape(exponentials(fresh), (fresh.shape[0], -1))
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


class _SharedPowers:
    r""":math:`e^{tM}` at many ``t`` by scaling and squaring with one set of powers of :math:`M`.

    The Padé approximant of degree 13 (Higham 2005) of :math:`A = \rho M`, :math:`\rho = 2^{-s} t`, is
    :math:`r(A) = (V - U)^{-1}(V + U)` with :math:`U = \sum_{k\ \mathrm{odd}} b_k \rho^k M^k` and
    :math:`V = \sum_{k\ \mathrm{even}} b_k \rho^k M^k`, :math:`k \le 13`. The powers :math:`M^k` are the same
    for every ``t``: computed once (twelve products of ``M``, normalised by a power of two ``c`` near
    :math:`\|M\|_1` so that none overflows), every node's ``U`` and ``V`` are one product
    ``(nodes, 7) @ (7, P²)`` each, and a node costs one linear solve and its squarings instead of the
    power products and Padé products of a separate :func:`~statespace.expm` (seven or eight matrix
    products before its squarings). The number of squarings is Al-Mohy and Higham's (2009):
    :math:`s = \max(0, \lceil \log_2(t\eta / \theta_{13}) \rceil)` with
    :math:`\eta = \min(\max(d_6, d_8), \max(d_8, d_{10}))`, :math:`d_k = \|M^k\|_1^{1/k}`, which scales
    exactly with ``t`` (:math:`d_k(tM) = t\, d_k(M)`), as in :func:`~statespace.expm`'s own code.
    Float32 and complex64 are computed in double precision and rounded once.
    """

    def __init__(self, xp, M):
        self.xp, self.dtype = xp, M.dtype
        wide = double_precision(xp, M.dtype)
        device = device_of(M)
        W = xp.astype(M, wide)
        norm = float(norm1(xp, W))
        self.scale = 2.0 ** math.ceil(math.log2(norm)) if norm > 0 else 1.0
        W = W / self.scale
        powers = [xp.eye(W.shape[-1], dtype=wide, device=device), W]
        for _ in range(12):
            powers.append(powers[-1] @ W)
        d = {k: self.scale * float(norm1(xp, powers[k])) ** (1 / k) for k in (6, 8, 10)}
        self.eta = min(max(d[6], d[8]), max(d[8], d[10]))
        self.theta = PADE_THETA[-1][1]
        self.b = PADE_COEFFICIENTS[13]
        flat = [xp.reshape(P, (1, -1)) for P in powers]
        self.odd, self.even = xp.concat(flat[1::2], axis=0), xp.concat(flat[0::2], axis=0)
        self.shape = tuple(W.shape)

    def __call__(self, t):
        """``e^{t_k M}`` ``(K, P, P)`` for real ``t`` ``(K,)``, in ``M``'s dtype."""
        xp = self.xp
        K = t.shape[0]
        times = [float(v) for v in xp.astype(t, xp.float64)]
        squarings = [max(0, math.ceil(math.log2(v * self.eta / self.theta))) if v * self.eta > 0 else 0 for v in times]
        rho = [v * self.scale * 2.0**-s for v, s in zip(times, squarings)]
        odd = [[self.b[k] * r**k for k in range(1, 14, 2)] for r in rho]
        even = [[self.b[k] * r**k for k in range(0, 14, 2)] for r in rho]
        wide = self.odd.dtype
        real = xp.float64
        device = device_of(self.odd)
        U = xp.astype(xp.asarray(odd, dtype=real, device=device), wide) @ self.odd
        V = xp.astype(xp.asarray(even, dtype=real, device=device), wide) @ self.even
        U, V = (xp.reshape(X, (K,) + self.shape) for X in (U, V))
        X = xp.linalg.solve(V - U, V + U)
        # square each exponential its own number of times: the nodes in order of decreasing squarings
        order = sorted(range(K), key=lambda k: -squarings[k])
        if order != list(range(K)):
            X = xp.take(X, xp.asarray(order, device=device), axis=0)
        needed = [squarings[k] for k in order]
        for round_ in range(needed[0] if K else 0):
            count = sum(1 for s in needed if s > round_)
            X = xp.concat([X[:count] @ X[:count], X[count:]], axis=0)
        if order != list(range(K)):
            inverse = sorted(range(K), key=lambda k: order[k])
            X = xp.take(X, xp.asarray(inverse, device=device), axis=0)
        return xp.astype(X, self.dtype, copy=False)


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
