r"""VJP of the S4 kernel :func:`statespace.kernel_dplr`, stage by stage in reverse."""

from __future__ import annotations

import math

from .._backend import complex_dtype, device_of, float_dtype, namespace, real_dtype
from .._cauchy import BLOCK_ELEMENTS, cauchy_affine
from .._discretize import dplr_dense
from .._dispatch import capabilities
from .._kernels import as_arrays, check_dplr_operands, unit_roots, woodbury_operands
from .._validation import check_flag, check_modal_step
from ._common import like, unbroadcast, zeros_or

__all__ = ["kernel_dplr"]


@capabilities(name="vjp.kernel_dplr", engines=("xp", "numba"))
def kernel_dplr(Lambda, P, B, C, dt, L, *, x0=None, ctilde=True, per_mode=False, grad_y, grad_state=None, engine=None):
    r"""Cotangents of ``Lambda``, ``P``, ``B``, ``C``, ``dt`` (and ``x0``) for :func:`statespace.kernel_dplr`.

    Parameters
    ----------
    Lambda, P, B, C, dt, L, x0, ctilde, per_mode
        The forward's arguments (``ctilde=False``: ``C`` is the raw output vector and the
        dense :math:`\tilde C` transform is differentiated too).
    grad_y : array
        Cotangent of the kernel ``K``, real ``(..., L)``.
    grad_state : array, optional
        Cotangent of the forward's second output ``K_state`` (given ``x0``), real ``(..., L)``;
        zeros when omitted.
    engine : {None, "auto", "xp", "numba"}
        Engine of the forward Cauchy sums recomputed here; the cotangent sums are xp code
        (blocks of nodes).

    Returns
    -------
    dict
        ``{"Lambda", "P", "B", "C", "dt", "x0"}``, each of its input's shape and dtype
        (``dt``'s is a 0-d array when ``dt`` was a Python number; ``x0``'s is ``None``
        when no ``x0`` was given).

    Raises
    ------
    ValueError, TypeError
        The forward's errors.

    Notes
    -----
    The forward, per node :math:`\omega_j = e^{-2\pi i j/L}` (:math:`j \le L/2`), with
    :math:`a_j = 2(1-\omega_j)`, :math:`b_j = 1+\omega_j`, :math:`w_n = \Delta\Lambda_n`, rows
    :math:`x_i \in \{\tilde C, \bar P_1..\bar P_r\}`, :math:`y_k \in \{\Delta B, \Delta P_1..\Delta P_r\}`:

    .. math::

        S_{ik}(\omega_j) = \sum_n \frac{v_{ik,n}}{a_j - b_j w_n}
                         + \frac{\overline{v_{ik,n}}}{a_j - b_j \overline{w_n}},\quad
        v_{ik,n} = x_{i,n} y_{k,n},\qquad
        \hat K = 2\,[S_{00} - b\,u^T M^{-1} s],\quad M = I_r + b\,S_{PP},

    :math:`u = S_{0P}`, :math:`s = S_{P0}`, and :math:`K = \mathrm{irfft}(\hat K, L)`. In reverse
    (cotangents for the real inner product, see :mod:`statespace.vjp`):

    * irfft: :math:`\bar{\hat K}_j = c_j\,\mathrm{rfft}(\bar K)_j / L`, :math:`c_j = 2` except
      :math:`c_j = 1` at :math:`j = 0` and the Nyquist node (whose imaginary parts the forward drops);
    * Woodbury, with :math:`\eta = M^{-1}s`, :math:`\zeta = M^{-T}u` (two :math:`r\times r` solves per node)
      and :math:`\bar W = -2\,\bar b\,\bar{\hat K}`:
      :math:`\bar S_{00} = 2\bar{\hat K}`, :math:`\bar u = \bar\eta\,\bar W`, :math:`\bar s = \bar\zeta\,\bar W`,
      :math:`\bar S_{PP} = -\bar b\,\bar\zeta\,\bar\eta^T\,\bar W`;
    * Cauchy sums, with :math:`\rho_{jn} = 1/(a_j - b_j w_n)`, :math:`\sigma_{jn} = 1/(a_j - b_j\overline{w_n})`
      (the conjugate term is antiholomorphic in :math:`v, w`):
      :math:`\bar v_{ik,n} = \sum_j \bar S_{ik,j}\overline{\rho_{jn}} + \overline{\bar S_{ik,j}}\sigma_{jn}`,
      :math:`\bar w_n = \sum_{ik} \overline{v_{ik,n}} \sum_j \bar S_{ik,j}\,\overline{b_j\rho_{jn}^2}
      + \overline{\bar S_{ik,j}}\,b_j\sigma_{jn}^2`;
    * rows: :math:`\bar x_i = \sum_k \bar v_{ik}\overline{y_k}`, :math:`\bar y_k = \sum_i \bar v_{ik}\overline{x_i}`,
      so :math:`\bar C = \bar x_0`, :math:`\bar P_k = \overline{\bar x_k} + \Delta\bar y_k`,
      :math:`\bar B = \Delta\bar y_0`;
    * bilinear step: :math:`\bar\Lambda = \Delta\bar w`,
      :math:`\bar\Delta = \mathrm{Re}(\overline{\Lambda}\bar w + \overline{B}\bar y_0 + \sum_k\overline{P_k}\bar y_k)`,
      summed over the modes and channels that share a step.

    With ``ctilde=False``, :math:`\tilde C = [(I - \bar A^L)^T C]_{:N_2}` in the conj-extended basis
    is reversed through its dense steps: the powering :math:`\bar A^L` (each product :math:`Y = XZ` sends
    :math:`\bar X = \bar Y Z^*`, :math:`\bar Z = X^*\bar Y`), the solve :math:`\bar A = D^{-1}E`,
    :math:`D, E = I \mp \tfrac{\Delta}{2}A`, and :math:`A = \mathrm{diag}(\Lambda,\overline\Lambda) - pp^*`,
    :math:`p = [P; \overline P]`, in :math:`O(N^3\log L)`.

    With ``x0``, ``K_state`` is the same kernel with input row
    :math:`\beta = x_0/\Delta + (\Lambda x_0 - \sum_k P_k q_k)/2`,
    :math:`q_k = 2\,\mathrm{Re}\sum_n\overline{P_{kn}}x_{0,n}`;
    its row cotangent :math:`\bar\beta` gives :math:`\bar x_0 = \bar\beta/\Delta + \overline{\Lambda}\bar\beta/2
    + 2\sum_k \bar q_k P_k`, :math:`\bar\Lambda \mathrel{+}= \overline{x_0}\bar\beta/2`,
    :math:`\bar P_k \mathrel{+}= -q_k\bar\beta/2 + 2\bar q_k x_0`,
    :math:`\bar\Delta \mathrel{+}= -\mathrm{Re}(\overline{x_0}\bar\beta)/\Delta^2`, with
    :math:`\bar q_k = -\mathrm{Re}\sum_n \overline{P_{kn}}\bar\beta_n/2`.

    Examples
    --------
    >>> import numpy as np
    >>> from statespace import vjp
    >>> Lambda, P = np.array([-0.5 + 1j, -0.3 + 2j]), np.array([[0.3 + 0j, 0.2 + 0.1j]])
    >>> B, C = np.array([1 + 0j, 0.5j]), np.array([0.5 + 0.5j, -1 + 0j])
    >>> g = vjp.kernel_dplr(Lambda, P, B, C, np.array([0.1]), 8, grad_y=np.ones(8))
    >>> sorted(g), g["P"].shape, g["dt"].shape
    (['B', 'C', 'Lambda', 'P', 'dt', 'x0'], (1, 2), (1,))
    """
    xp = namespace(Lambda, P, B, C, dt, x0, grad_y)
    Lambda, P, B, C, x0 = as_arrays(xp, (Lambda, P, B, C, x0), dt)
    check_flag(ctilde, "ctilde")
    L = check_dplr_operands(Lambda, P, B, C, x0, L)
    dtype = complex_dtype(xp, float_dtype(xp, Lambda, P, B, C, x0, names=("Lambda", "P", "B", "C", "x0")))
    Lc, Pc, Bc, Cc = (xp.astype(x, dtype) for x in (Lambda, P, B, C))
    operands = {"P": tuple(P.shape[:-2]), "B": Bc, "C": Cc, "x0": x0}
    step = check_modal_step(dt, xp, Lc, dtype=real_dtype(xp, dtype), per_mode=per_mode, operands=operands)
    if not ctilde:
        transform = _Ctilde(xp, Lc, Pc, step, L)
        Cc = transform.apply(Cc)
    gL, gP, gB, gC, gstep = _kernel_vjp(xp, Lc, Pc, Bc, Cc, step, L, grad_y, engine)
    gx0 = None
    if x0 is not None:
        x0c = xp.astype(x0, dtype)
        delta = xp.astype(step, dtype)
        q = xp.astype(2 * xp.real(xp.sum(xp.conj(Pc) * x0c[..., None, :], axis=-1)), dtype)
        row = x0c / delta + (Lc * x0c - xp.sum(Pc * q[..., None], axis=-2)) / 2
        gL2, gP2, grow, gC2, gstep2 = _kernel_vjp(xp, Lc, Pc, row, Cc, step, L, grad_state, engine)
        gq = xp.astype(-xp.real(xp.sum(xp.conj(Pc) * grow[..., None, :], axis=-1)) / 2, dtype)
        gx0 = grow / delta + xp.conj(Lc) * grow / 2 + 2 * xp.sum(gq[..., None] * Pc, axis=-2)
        gL = gL + gL2 + xp.conj(x0c) * grow / 2
        gP = gP + gP2 - q[..., None] * grow[..., None, :] / 2 + 2 * gq[..., None] * x0c[..., None, :]
        gC = gC + gC2
        gstep = gstep + gstep2 - xp.real(xp.conj(x0c) * grow) / (step * step)
        gx0 = like(xp, gx0, x0)
    if not ctilde:
        gL2, gP2, gC, gstep2 = transform.vjp(xp.astype(C, dtype), gC)
        gL, gP, gstep = gL + gL2, gP + gP2, gstep + gstep2
    gstep = unbroadcast(xp, gstep, step.shape)
    if hasattr(dt, "shape"):
        gdt = xp.asarray(xp.reshape(gstep, dt.shape), dtype=dt.dtype)
    else:
        gdt = xp.sum(gstep)
    return {
        "Lambda": like(xp, gL, Lambda),
        "P": like(xp, gP, P),
        "B": like(xp, gB, B),
        "C": like(xp, gC, C),
        "dt": gdt,
        "x0": gx0,
    }


def _kernel_vjp(xp, Lambda, P, B, C, step, L, grad_k, engine):
    """Reverse of ``_kernels._dplr_kernel`` for one input row ``B``: unreduced cotangents (batch, modes).

    Returns ``(gLambda, gP, gB, gC, gstep)`` of shapes ``batch + (N2,)`` (``gP``: ``batch + (r, N2)``),
    ``gstep`` real.
    """
    dtype, device = Lambda.dtype, device_of(Lambda)
    rank, n2 = P.shape[-2], Lambda.shape[-1]
    batch, delta, inputs, outputs = woodbury_operands(xp, Lambda, P, B, C, step)
    pairs = outputs[..., :, None, :] * inputs[..., None, :, :]  # (..., r+1, r+1, N2)
    omega = unit_roots(xp, L, dtype, device)
    nodes = omega.shape[0]
    a, bw = 2 * (1 - omega), 1 + omega
    w = xp.broadcast_to(delta * Lambda, batch + (n2,))

    # irfft: K = irfft(K̂) is real-linear in K̂; its adjoint is a weighted rfft.
    gk = zeros_or(xp, grad_k, batch + (L,), real_dtype(xp, dtype), device)
    weight = xp.where(
        (xp.arange(nodes, device=device) == 0) | (2 * xp.arange(nodes, device=device) == L),
        xp.asarray(1.0, dtype=real_dtype(xp, dtype), device=device),
        xp.asarray(2.0, dtype=real_dtype(xp, dtype), device=device),
    )
    gkhat = xp.astype(xp.fft.rfft(gk, axis=-1) * xp.astype(weight / L, dtype), dtype)

    # K̂ = 2 (S00 − b uᵀ M⁻¹ s), M = I + b S_PP.
    gsums = xp.zeros(batch + (rank + 1, rank + 1, nodes), dtype=dtype, device=device)
    gsums = _scatter(xp, gsums, 0, 0, 2 * gkhat)
    if rank > 0:
        flat = xp.reshape(pairs, batch + ((rank + 1) ** 2, n2))
        sums = cauchy_affine(flat, a, bw, w[..., None, :], conj=True, engine=engine)
        sums = xp.reshape(sums, batch + (rank + 1, rank + 1, nodes))
        gsums = gsums + _woodbury_vjp(xp, sums, bw, rank, -2 * xp.conj(bw) * gkhat)

    # Cauchy sums, then the rows x_i (outputs) and y_k (inputs).
    gpairs, gw = _cauchy_vjp(xp, pairs, a, bw, w, gsums)
    gout = xp.sum(gpairs * xp.conj(inputs[..., None, :, :]), axis=-2)  # (..., r+1, N2)
    gin = xp.sum(gpairs * xp.conj(outputs[..., :, None, :]), axis=-3)
    gC = gout[..., 0, :]
    gB = delta * gin[..., 0, :]
    gP = xp.conj(gout[..., 1:, :]) + delta[..., None, :] * gin[..., 1:, :]
    gLambda = delta * gw
    gstep = xp.real(xp.conj(Lambda) * gw + xp.conj(B) * gin[..., 0, :] + xp.sum(xp.conj(P) * gin[..., 1:, :], axis=-2))
    return gLambda, gP, gB, gC, gstep


def _scatter(xp, s, i, k, value):
    """``s`` with ``s[..., i, k, :] += value`` (array-API arrays are not assumed mutable)."""
    rows, cols = s.shape[-3], s.shape[-2]
    mask = (xp.arange(rows, device=device_of(s))[:, None] == i) & (xp.arange(cols, device=device_of(s))[None, :] == k)
    return s + xp.where(mask[:, :, None], value[..., None, None, :], xp.zeros_like(s))


def _woodbury_vjp(xp, s, bw, rank, gW):
    r"""Cotangents of ``s[..., i, k, :]`` for :math:`W = u^T M^{-1} s_{P0}`, :math:`M = I + b S_{PP}`, given ``gW``."""
    nd = s.ndim
    lead = tuple(range(nd - 3))
    low = xp.permute_dims(s[..., 1:, 1:, :], lead + (nd - 1, nd - 3, nd - 2))  # (..., nodes, r, r)
    eye = xp.eye(rank, dtype=s.dtype, device=device_of(s))
    system = eye + bw[:, None, None] * low
    u = xp.permute_dims(s[..., 0, 1:, :], lead + (nd - 2, nd - 3))  # (..., nodes, r)
    v = xp.permute_dims(s[..., 1:, 0, :], lead + (nd - 2, nd - 3))
    eta = xp.linalg.solve(system, v[..., None])[..., 0]
    zeta = xp.linalg.solve(xp.matrix_transpose(system), u[..., None])[..., 0]
    g = gW[..., None]  # (..., nodes, 1)
    gu = xp.conj(eta) * g
    gv = xp.conj(zeta) * g
    gM = -xp.conj(zeta)[..., :, None] * xp.conj(eta)[..., None, :] * g[..., None]
    gSPP = xp.conj(bw)[:, None, None] * gM  # (..., nodes, r, r)
    back = (nd - 2, nd - 1, nd - 3)  # (..., nodes, a, b) -> (..., a, b, nodes)
    corner = xp.zeros_like(gW)[..., None, None, :]
    top = xp.concat([corner, xp.permute_dims(gu, lead + (nd - 2, nd - 3))[..., None, :, :]], axis=-2)
    bottom = xp.concat(
        [xp.permute_dims(gv, lead + (nd - 2, nd - 3))[..., :, None, :], xp.permute_dims(gSPP, lead + back)], axis=-2
    )
    return xp.concat([top, bottom], axis=-3)


def _cauchy_vjp(xp, v, a, b, w, g):
    r"""Cotangents of ``v (..., R, R, N2)``, ``w (..., N2)`` for :math:`S = \sum_n v/(a - bw) + \bar v/(a - b\bar w)`.

    ``g`` is the cotangent of ``S (..., R, R, nodes)``; the sums over nodes run in blocks.
    """
    nodes, n2 = a.shape[-1], v.shape[-1]
    gv = xp.zeros_like(v)
    gw_sum = xp.zeros_like(v)
    wcol, wbar = w[..., None, None, None, :], xp.conj(w)[..., None, None, None, :]
    block = max(1, BLOCK_ELEMENTS // max(1, math.prod(v.shape[:-1]) * n2))
    for start in range(0, nodes, block):
        stop = min(start + block, nodes)
        ab, bb = a[start:stop, None], b[start:stop, None]  # (nodes_blk, 1)
        gb = g[..., start:stop, None]  # (..., R, R, nodes_blk, 1)
        rho = 1 / (ab - bb * wcol)
        sigma = 1 / (ab - bb * wbar)
        gv = gv + xp.sum(gb * xp.conj(rho) + xp.conj(gb) * sigma, axis=-2)
        gw_sum = gw_sum + xp.sum(gb * xp.conj(bb * rho * rho) + xp.conj(gb) * bb * sigma * sigma, axis=-2)
    gw = xp.sum(xp.conj(v) * gw_sum, axis=(-3, -2))
    return gv, gw


class _Ctilde:
    r""":math:`\tilde C = [(I - \bar A^L)^T C]_{:N_2}` on the conj-extended basis, and its VJP.

    :math:`\bar A = D^{-1}E`, :math:`D, E = I \mp \tfrac{\Delta}{2}A` (rows scaled by the step),
    :math:`\bar A^L` by binary powering whose squarings and products are kept for the reverse pass
    (:math:`O(N^3\log L)` like the forward).
    """

    def __init__(self, xp, Lambda, P, step, L):
        self.xp, self.Lambda, self.P = xp, Lambda, P
        dtype, device = Lambda.dtype, device_of(Lambda)
        self.A, _ = dplr_dense(Lambda, P, xp.zeros_like(Lambda))
        eye = xp.eye(self.A.shape[-1], dtype=dtype, device=device)
        delta = xp.astype(step, dtype)
        self.row = delta if delta.shape[-1] == 1 else xp.concat([delta, delta], axis=-1)
        half_step = self.row[..., :, None] * self.A / 2
        self.D = eye - half_step
        self.Ab = xp.linalg.solve(self.D, eye + half_step)
        self.power, self.tape = self.Ab, []
        for bit in bin(L)[3:]:
            self.tape.append(("square", self.power))
            self.power = self.power @ self.power
            if bit == "1":
                self.tape.append(("times", self.power))
                self.power = self.power @ self.Ab

    def apply(self, C):
        xp = self.xp
        full = xp.concat([C, xp.conj(C)], axis=-1)
        return (full - (full[..., None, :] @ self.power)[..., 0, :])[..., : C.shape[-1]]

    def vjp(self, C, gCt):
        r"""Cotangents ``(gLambda, gP, gC, gstep)`` (unreduced) for the cotangent ``gCt`` of :math:`\tilde C`.

        :math:`y = x - x\bar A^L` (rows): :math:`\bar x = \bar y - \bar y (\bar A^L)^*`,
        :math:`\overline{\bar A^L} = -\overline{x}^T\bar y`; a product :math:`Y = XZ` sends
        :math:`\bar X = \bar Y Z^*`, :math:`\bar Z = X^*\bar Y`; :math:`\bar A = D^{-1}E` sends
        :math:`\bar E = D^{-*}\bar{\bar A}`, :math:`\bar D = -\bar E\,\bar A^*`; then
        :math:`A = \mathrm{diag}(\Lambda, \overline\Lambda) - p p^*` with :math:`p = [P; \overline P]`.
        """
        xp = self.xp
        n2 = C.shape[-1]
        full = xp.concat([C, xp.conj(C)], axis=-1)
        g = xp.concat([gCt, xp.zeros_like(gCt)], axis=-1)
        gfull = g - (g[..., None, :] @ _adjoint(xp, self.power))[..., 0, :]
        gC = gfull[..., :n2] + xp.conj(gfull[..., n2:])
        gpower = -xp.conj(full)[..., :, None] * g[..., None, :]
        gAb = xp.zeros_like(self.Ab)
        for kind, previous in reversed(self.tape):
            if kind == "times":
                gAb = gAb + _adjoint(xp, previous) @ gpower
                gpower = gpower @ _adjoint(xp, self.Ab)
            else:
                gpower = gpower @ _adjoint(xp, previous) + _adjoint(xp, previous) @ gpower
        gAb = gAb + gpower
        gE = xp.linalg.solve(_adjoint(xp, self.D), gAb)
        ghalf = gE + gE @ _adjoint(xp, self.Ab)  # Ē − D̄, the cotangent of (Δ/2) A
        gA = self.row[..., :, None] * ghalf / 2
        grow = xp.real(xp.sum(xp.conj(self.A) * ghalf, axis=-1)) / 2
        gdiag = xp.linalg.diagonal(gA)
        gLambda = gdiag[..., :n2] + xp.conj(gdiag[..., n2:])
        pf = xp.concat([self.P, xp.conj(self.P)], axis=-1)
        gpf = -pf @ xp.matrix_transpose(gA + _adjoint(xp, gA))
        gP = gpf[..., :n2] + xp.conj(gpf[..., n2:])
        return gLambda, gP, gC, grow[..., :n2] + grow[..., n2:]


def _adjoint(xp, M):
    """Conjugate transpose of a stack of matrices."""
    return xp.conj(xp.matrix_transpose(M))
