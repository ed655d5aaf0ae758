r"""VJP of the S4 kernel :func:`statespace.kernel_dplr`, stage by stage in reverse."""

from __future__ import annotations

import math

from .._backend import complex_dtype, device_of, float_dtype, namespace, real_dtype
from .._cauchy import BLOCK_ELEMENTS, cauchy_affine
from .._kernels import _as_arrays, _unit_roots, check_dplr_operands
from .._validation import broadcast_shapes, check_flag, check_modal_step
from ._common import like, unbroadcast, zeros_or

__all__ = ["kernel_dplr"]


def kernel_dplr(Lambda, P, B, C, dt, L, *, x0=None, ctilde=True, per_mode=False, grad_y, grad_state=None, engine=None):
    r"""Cotangents of ``Lambda``, ``P``, ``B``, ``C``, ``dt`` (and ``x0``) for :func:`statespace.kernel_dplr`.

    Parameters
    ----------
    Lambda, P, B, C, dt, L, x0, ctilde, per_mode
        The forward's arguments (``ctilde=True``: ``C`` holds :math:`\tilde C`, the only
        form differentiated so far).
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
    ValueError
        ``ctilde=False`` (the VJP of the dense :math:`(I - \bar A^L)^T` transform is not
        supported yet), and the forward's errors.

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
    Lambda, P, B, C, x0 = _as_arrays(xp, (Lambda, P, B, C, x0), dt)
    check_flag(ctilde, "ctilde")
    if not ctilde:
        raise ValueError(
            "vjp.kernel_dplr: ctilde=False (the raw C, through the dense (I - Ab^L)^T transform) is not supported "
            "yet; pass C̃ (statespace.dplr_ctilde) with ctilde=True"
        )
    L = check_dplr_operands(Lambda, P, B, C, x0, L)
    dtype = complex_dtype(xp, float_dtype(xp, Lambda, P, B, C, x0, names=("Lambda", "P", "B", "C", "x0")))
    Lc, Pc, Bc, Cc = (xp.astype(x, dtype) for x in (Lambda, P, B, C))
    operands = {"P": tuple(P.shape[:-2]), "B": Bc, "C": Cc, "x0": x0}
    step = check_modal_step(dt, xp, Lc, dtype=real_dtype(xp, dtype), per_mode=per_mode, operands=operands)
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
    batch = tuple(
        broadcast_shapes(
            Lambda.shape[:-1],
            P.shape[:-2],
            B.shape[:-1],
            C.shape[:-1],
            step.shape[:-1],
            names=("Lambda", "P", "B", "C", "dt"),
        )
    )
    delta = xp.astype(step, dtype)
    inputs = xp.concat(
        [
            xp.broadcast_to((delta * B)[..., None, :], batch + (1, n2)),
            xp.broadcast_to(delta[..., None, :] * P, batch + (rank, n2)),
        ],
        axis=-2,
    )
    outputs = xp.concat(
        [xp.broadcast_to(C[..., None, :], batch + (1, n2)), xp.broadcast_to(xp.conj(P), batch + (rank, n2))], axis=-2
    )
    pairs = outputs[..., :, None, :] * inputs[..., None, :, :]  # (..., r+1, r+1, N2)
    omega = _unit_roots(xp, L, dtype, device)
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
