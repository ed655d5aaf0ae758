"""VJPs of :func:`statespace.causal_conv` and :func:`statespace.cauchy`."""

from __future__ import annotations

import math

from .. import _conv
from .._backend import complex_dtype, float_dtype, namespace, time_last
from .._cauchy import BLOCK_ELEMENTS
from .._dispatch import capabilities
from .._validation import broadcast_shapes, check_axis, require_modes
from ._common import conj, like, unbroadcast, zeros_or

__all__ = ["causal_conv", "cauchy"]


@capabilities(name="vjp.causal_conv", engines=("xp",))
def causal_conv(u, K, D=None, axis=-1, *, grad_y):
    r"""Cotangents of ``u``, ``K`` and ``D`` for :func:`statespace.causal_conv`.

    Parameters
    ----------
    u, K, D, axis
        The forward's arguments.
    grad_y : array
        Cotangent of the output (its shape: the broadcast batch, time along ``axis``).

    Returns
    -------
    dict
        ``{"u": gu, "K": gK, "D": gD}`` of the inputs' shapes and dtypes (``gD`` is ``None``
        without ``D``; taps of ``K`` beyond ``L`` get zero).

    Notes
    -----
    The adjoint of a causal convolution is a correlation, computed by the same FFT
    convolution on time-reversed cotangents :math:`\overleftarrow{g}`:

    .. math::

        \bar u_r = \sum_{s} \overline{K_s}\,\bar y_{r+s}
                 = \mathrm{flip}\big(\overline{K} * \overleftarrow{\bar y}\big)_r, \quad
        \bar K_s = \sum_{t} \bar y_t\,\overline{u_{t-s}}
                 = \mathrm{flip}\big(\overline{u} * \overleftarrow{\bar y}\big)_s, \quad
        \bar D = \sum_t \bar y_t\,\overline{u_t}.

    Examples
    --------
    >>> import numpy as np
    >>> from statespace import vjp
    >>> g = vjp.causal_conv(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.5]), grad_y=np.array([0.0, 0.0, 1.0]))
    >>> np.round(g["u"], 12).tolist(), np.round(g["K"], 12).tolist()
    ([0.0, 0.5, 1.0], [3.0, 2.0])
    """
    xp = namespace(u, K, D, grad_y)
    ndim = max(u.ndim, K.ndim)
    axis = check_axis(axis, ndim, f"u (shape {tuple(u.shape)}) and K (shape {tuple(K.shape)})")
    dtype = float_dtype(xp, u, K, D)
    ut = xp.asarray(time_last(xp, u, ndim, axis), dtype=dtype)
    Kt = xp.asarray(time_last(xp, K, ndim, axis), dtype=dtype)
    length = ut.shape[-1]
    batch = _conv.conv_batch(ut.shape, Kt.shape, None if D is None else tuple(D.shape))
    g = time_last(xp, xp.asarray(grad_y), ndim, axis)
    g = zeros_or(xp, g, batch + (length,), dtype, None)
    back = xp.flip(g, axis=-1)
    gu = xp.flip(_conv.causal_conv(back, conj(xp, Kt[..., :length])), axis=-1)
    gK = xp.flip(_conv.causal_conv(back, conj(xp, ut)), axis=-1)
    taps = Kt.shape[-1]
    if taps > length:
        pad = xp.zeros(gK.shape[:-1] + (taps - length,), dtype=gK.dtype)
        gK = xp.concat([gK, pad], axis=-1)
    gK = gK[..., :taps]
    gD = None
    if D is not None:
        Dc = xp.asarray(D, dtype=dtype)
        gu = gu + xp.expand_dims(conj(xp, Dc), axis=-1) * g
        gD = like(xp, unbroadcast(xp, xp.sum(g * conj(xp, ut), axis=-1), tuple(ut.shape[:-1])), D)
    if axis != ndim - 1:
        gu, gK = xp.moveaxis(gu, -1, axis), xp.moveaxis(gK, -1, axis)
    return {"u": like(xp, gu, u), "K": like(xp, gK, K), "D": gD}


@capabilities(name="vjp.cauchy", engines=("xp",))
def cauchy(v, z, w, conj=True, *, grad_y):
    r"""Cotangents of ``v``, ``z`` and ``w`` for :func:`statespace.cauchy`.

    Parameters
    ----------
    v, z, w, conj
        The forward's arguments.
    grad_y : array
        Cotangent of the (complex) sums, ``broadcast(...) + (L,)``.

    Returns
    -------
    dict
        ``{"v": gv, "z": gz, "w": gw}`` of the inputs' shapes and dtypes.

    Notes
    -----
    With :math:`r_{ln} = 1/(z_l - w_n)` and :math:`\bar g` the output cotangent, the term
    :math:`v_n r_{ln}` (holomorphic) contributes

    .. math::

        \bar v_n = \sum_l \overline{r_{ln}}\,\bar g_l, \quad
        \bar w_n = \sum_l \overline{v_n r_{ln}^2}\,\bar g_l, \quad
        \bar z_l = -\sum_n \overline{v_n r_{ln}^2}\,\bar g_l,

    and with ``conj=True`` the conjugate term :math:`\overline{v_n}/(z_l - \overline{w_n})`
    (antiholomorphic in :math:`v, w`) contributes, with :math:`s_{ln} = 1/(z_l - \overline{w_n})`,
    :math:`\bar v_n \mathrel{+}= \sum_l \overline{\bar g_l}\,s_{ln}`,
    :math:`\bar w_n \mathrel{+}= \sum_l \overline{\bar g_l}\,\overline{v_n} s_{ln}^2`,
    :math:`\bar z_l \mathrel{-}= \sum_n v_n \overline{s_{ln}^2}\,\bar g_l`.
    The sums run in blocks of ``l`` (xp code; there is no numba engine for this VJP).

    Examples
    --------
    >>> import numpy as np
    >>> from statespace import vjp
    >>> g = vjp.cauchy(np.array([1.0 + 0j]), np.array([2.0 + 0j]), np.array([1.0 + 0j]), conj=False, grad_y=np.ones(1))
    >>> g["v"].real.tolist(), g["z"].real.tolist()   # 1/(z - w) and -v/(z - w)**2
    ([1.0], [-1.0])
    """
    xp = namespace(v, z, w, grad_y)
    require_modes(v, "v")
    require_modes(w, "w", v.shape[-1])
    require_modes(z, "z")
    batch = tuple(broadcast_shapes(v.shape[:-1], z.shape[:-1], w.shape[:-1], names=("v", "z", "w")))
    ctype = complex_dtype(xp, float_dtype(xp, v, z, w))
    vc, zc, wc = (xp.asarray(x, dtype=ctype) for x in (v, z, w))
    L, nmodes = zc.shape[-1], vc.shape[-1]
    g = zeros_or(xp, grad_y, batch + (L,), ctype, None)
    vcol, wcol = vc[..., None, :], wc[..., None, :]
    gv = xp.zeros(batch + (nmodes,), dtype=ctype)
    gw = xp.zeros(batch + (nmodes,), dtype=ctype)
    gz_parts = []
    block = max(1, BLOCK_ELEMENTS // max(1, math.prod(batch) * nmodes))
    for start in range(0, L, block):
        zl, gl = zc[..., start : start + block, None], g[..., start : start + block, None]
        r = 1 / (zl - wcol)
        vr2 = vcol * r * r
        gv = gv + xp.sum(xp.conj(r) * gl, axis=-2)
        gw = gw + xp.sum(xp.conj(vr2) * gl, axis=-2)
        gz_block = -xp.sum(xp.conj(vr2) * gl, axis=-1)
        if conj:
            s = 1 / (zl - xp.conj(wcol))
            gv = gv + xp.sum(xp.conj(gl) * s, axis=-2)
            gw = gw + xp.sum(xp.conj(gl) * xp.conj(vcol) * s * s, axis=-2)
            gz_block = gz_block - xp.sum(vcol * xp.conj(s * s) * gl, axis=-1)
        gz_parts.append(gz_block)
    gz = xp.concat(gz_parts, axis=-1) if gz_parts else xp.zeros(batch + (0,), dtype=ctype)
    return {"v": like(xp, gv, v), "z": like(xp, gz, z), "w": like(xp, gw, w)}
