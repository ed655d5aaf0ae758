"""VJPs of the S4D kernel: :func:`statespace.vandermonde` and :func:`statespace.kernel_diag`."""

from __future__ import annotations

import math

from .. import _discretize
from .._backend import complex_dtype, device_of, float_dtype, namespace, real_dtype, to_numpy
from .._cauchy import BLOCK_ELEMENTS
from .._dispatch import capabilities
from .._engines import engine_module, resolve_engine
from .._validation import broadcast_shapes, check_choice, check_modal_step, check_positive_int, require_modes
from ._common import like, unbroadcast, zeros_or

__all__ = ["vandermonde", "kernel_diag"]

#: Methods whose discretization :func:`kernel_diag` differentiates.
KERNEL_DIAG_METHODS = ("zoh", "bilinear", "zoh_simplified")


@capabilities(name="vjp.vandermonde", engines=("xp", "numba"))
def vandermonde(v, x, L, conj=True, *, grad_y, engine=None):
    r"""Cotangents of ``v`` and ``x`` for :func:`statespace.vandermonde`.

    Parameters
    ----------
    v, x, L, conj
        The forward's arguments.
    grad_y : array
        Cotangent of the sum, ``(..., L)`` (real when ``conj=True``).
    engine : {None, "auto", "xp", "numba"}
        ``"numba"``: Horner's rule per mode in complex128 (no exponentials beyond one per
        mode); ``"xp"``: the powers :math:`e^{l x}` in blocks of ``l``, like the forward.

    Returns
    -------
    dict
        ``{"v": gv, "x": gx}``, each of its input's shape and dtype.

    Notes
    -----
    With :math:`K_l = c\,\mathrm{Re}\sum_n v_n e^{l x_n}` (:math:`c = 2`, ``conj=True``)
    or :math:`\sum_n v_n e^{l x_n}` (:math:`c = 1`), and
    :math:`S_{k,n} = \sum_l l^k\,\bar K_l\,\overline{e^{l x_n}}`:

    .. math::

        \bar v_n = c\,S_{0,n}, \qquad \bar x_n = c\,\overline{v_n}\,S_{1,n}.

    Examples
    --------
    >>> import numpy as np
    >>> from statespace import vjp
    >>> g = vjp.vandermonde(np.array([1.0 + 0j]), np.array([np.log(0.5) + 0j]), 3, grad_y=np.ones(3))
    >>> np.round(g["v"], 12).tolist()   # 2·(1 + 0.5 + 0.25)
    [(3.5+0j)]
    """
    xp = namespace(v, x, grad_y)
    require_modes(v, "v")
    require_modes(x, "x", v.shape[-1])
    L = check_positive_int(L, "L")
    batch = tuple(broadcast_shapes(v.shape[:-1], x.shape[:-1], names=("v", "x")))
    ctype = complex_dtype(xp, float_dtype(xp, v, x))
    vc, xc = xp.astype(v, ctype), xp.astype(x, ctype)
    xc = xp.where(xp.real(xc) < -1e4, xp.asarray(-1e4, dtype=ctype, device=device_of(xc)) + 1j * xp.imag(xc), xc)
    out_dtype = real_dtype(xp, ctype) if conj else ctype
    g = zeros_or(xp, grad_y, batch + (L,), out_dtype, device_of(vc))
    s0, s1 = _sums(xp, xc, g, batch, engine)
    factor = 2 if conj else 1
    return {"v": like(xp, factor * s0, v), "x": like(xp, factor * xp.conj(vc) * s1, x)}


def _sums(xp, x, g, batch, engine):
    """``S0 = Σ_l g_l conj(e^{l x})`` and ``S1 = Σ_l l g_l conj(e^{l x})``, shape ``batch + (N2,)``."""
    nmodes, L = x.shape[-1], g.shape[-1]
    x = xp.broadcast_to(x, batch + (nmodes,))
    name = resolve_engine(engine, xp, func="vjp.vandermonde")
    if name == "numba":
        rows = math.prod(batch)
        s0, s1 = engine_module("numba", "vandermonde_vjp").vandermonde_sums(
            to_numpy(x).reshape(rows, nmodes), to_numpy(g).reshape(rows, L)
        )
        s0, s1 = (xp.asarray(s.reshape(batch + (nmodes,)), dtype=x.dtype, device=device_of(x)) for s in (s0, s1))
        return s0, s1
    rdtype = real_dtype(xp, x.dtype)
    block = max(1, BLOCK_ELEMENTS // max(1, math.prod(batch) * nmodes))
    s0 = xp.zeros(batch + (nmodes,), dtype=x.dtype, device=device_of(x))
    s1 = xp.zeros(batch + (nmodes,), dtype=x.dtype, device=device_of(x))
    for start in range(0, L, block):
        steps = xp.astype(xp.arange(start, min(start + block, L), dtype=rdtype, device=device_of(x)), x.dtype)
        weighted = xp.conj(xp.exp(x[..., None] * steps)) * xp.astype(g[..., None, start : start + block], x.dtype)
        s0 = s0 + xp.sum(weighted, axis=-1)
        s1 = s1 + xp.sum(weighted * steps, axis=-1)
    return s0, s1


@capabilities(name="vjp.kernel_diag", engines=("xp", "numba"), methods=KERNEL_DIAG_METHODS)
def kernel_diag(Lambda, B, C, dt, L, method="zoh", *, per_mode=False, grad_y, engine=None):
    r"""Cotangents of ``Lambda``, ``B``, ``C`` and ``dt`` for :func:`statespace.kernel_diag`.

    Parameters
    ----------
    Lambda, B, C, dt, L, method, per_mode
        The forward's arguments; ``method`` one of ``"zoh"``, ``"bilinear"``,
        ``"zoh_simplified"``.
    grad_y : array
        Cotangent of the kernel, real ``(..., L)``.
    engine : {None, "auto", "xp", "numba"}
        Engine of the Vandermonde cotangent sums (:func:`vandermonde`).

    Returns
    -------
    dict
        ``{"Lambda", "B", "C", "dt"}``, each of its input's shape and dtype (``dt``'s is a
        0-d array when ``dt`` was a Python number).

    Raises
    ------
    ValueError
        A method this VJP does not differentiate (``dss``), and the forward's errors.

    Notes
    -----
    :math:`K = \mathrm{vandermonde}(C\bar B, x)` with :math:`z = \Delta\Lambda` and

    * zoh: :math:`x = z`, :math:`\bar B = \Delta\varphi_1(z) B`,
      :math:`\partial\bar B/\partial z = \Delta e^{z}\varphi_2(-z) B`
      (:math:`\varphi_1' = e^{z}\varphi_2(-z)`, no cancellation at small :math:`z`);
    * zoh_simplified: :math:`x = z`, :math:`\bar B = \Delta B`;
    * bilinear: :math:`x = 2\,\mathrm{atanh}(z/2)`, :math:`\partial x/\partial z = 1/(1 - z^2/4)`,
      :math:`\bar B = \Delta B/(1 - z/2)`, :math:`\partial\bar B/\partial z = \Delta B/(2(1-z/2)^2)`.

    From the Vandermonde cotangents :math:`\bar v, \bar x`: :math:`\bar C = \bar v\,\overline{\bar B}`,
    :math:`\bar{\bar B} = \bar v\,\overline{C}`,
    :math:`\bar z = \overline{x'(z)}\,\bar x + \overline{\partial_z\bar B}\,\bar{\bar B}`,
    :math:`\bar\Lambda = \Delta\bar z`, :math:`\bar B = \overline{\partial_B \bar B}\,\bar{\bar B}`,
    :math:`\bar\Delta = \mathrm{Re}(\overline{\Lambda}\bar z + \overline{\partial_\Delta\bar B}\,\bar{\bar B})`
    summed over the modes (and channels) that share a step.

    Examples
    --------
    >>> import numpy as np
    >>> from statespace import vjp
    >>> Lambda, B, C = np.array([-0.5 + 1j]), np.ones(1, complex), np.ones(1, complex)
    >>> g = vjp.kernel_diag(Lambda, B, C, np.array([0.1]), 8, grad_y=np.ones(8))
    >>> sorted(g), g["dt"].shape
    (['B', 'C', 'Lambda', 'dt'], (1,))
    """
    xp = namespace(Lambda, B, C, dt, grad_y)
    check_choice(method, "method", KERNEL_DIAG_METHODS)
    require_modes(Lambda, "Lambda")
    require_modes(C, "C", Lambda.shape[-1])
    L = check_positive_int(L, "L")
    dtype = complex_dtype(xp, float_dtype(xp, Lambda, B, C))
    Lc, Bc, Cc = xp.astype(Lambda, dtype), xp.astype(B, dtype), xp.astype(C, dtype)
    step = check_modal_step(dt, xp, Lc, dtype=real_dtype(xp, dtype), per_mode=per_mode, operands={"B": Bc, "C": Cc})
    z = step * Lc
    stepc = xp.astype(step, dtype)
    if method == "bilinear":
        x = _discretize.gbt_log(xp, z, "bilinear", 0.5)
        denominator = 1 - z / 2
        dB_dB = stepc / denominator
        dx_dz = 1 / (1 - z * z / 4)
        dB_dz = stepc * Bc / (2 * denominator * denominator)
        dB_dstep = Bc / denominator
    elif method == "zoh":
        x = z
        phi1 = _discretize.phi1(xp, z)
        dB_dB = stepc * phi1
        dx_dz = None
        dB_dz = stepc * xp.exp(z) * _discretize.phi2(xp, -z) * Bc
        dB_dstep = phi1 * Bc
    else:
        x = z
        dB_dB = stepc * xp.ones_like(z)
        dx_dz = None
        dB_dz = xp.zeros_like(z)
        dB_dstep = Bc * xp.ones_like(z)
    Bb = dB_dB * Bc
    gvx = vandermonde(Cc * Bb, x, L, conj=True, grad_y=grad_y, engine=engine)
    gv, gx = gvx["v"], gvx["x"]
    gBb = gv * xp.conj(Cc)
    gC = gv * xp.conj(Bb)
    gz = (gx if dx_dz is None else xp.conj(dx_dz) * gx) + xp.conj(dB_dz) * gBb
    gLambda = stepc * gz
    gB = xp.conj(dB_dB) * gBb
    gstep = xp.real(xp.conj(Lc) * gz + xp.conj(dB_dstep) * gBb)
    gstep = unbroadcast(xp, gstep, step.shape)
    if hasattr(dt, "shape"):
        gdt = xp.asarray(xp.reshape(gstep, dt.shape), dtype=dt.dtype)
    else:
        gdt = xp.sum(gstep)
    return {"Lambda": like(xp, gLambda, Lambda), "B": like(xp, gB, B), "C": like(xp, gC, C), "dt": gdt}
