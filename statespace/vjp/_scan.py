"""VJP of :func:`statespace.linear_scan`: a reverse scan with shifted, conjugated gates."""

from __future__ import annotations

from .. import _scan
from .._backend import device_of, float_dtype, namespace, to_numpy
from .._dispatch import capabilities
from .._engines import engine_module, resolve_engine
from .._validation import check_axis
from ._common import conj, like, zeros_or

__all__ = ["linear_scan"]


def _time_last(xp, x, ndim, axis):
    x = xp.reshape(x, (1,) * (ndim - x.ndim) + tuple(x.shape))
    return x if axis == ndim - 1 else xp.moveaxis(x, axis, -1)


@capabilities(name="vjp.linear_scan", engines=("xp", "numba"))
def linear_scan(a, b, x0=None, *, grad_y=None, grad_state=None, reverse=False, axis=-1, states=None, engine=None):
    r"""Cotangents of ``a``, ``b`` and ``x0`` for :func:`statespace.linear_scan`.

    Parameters
    ----------
    a, b, x0, reverse, axis
        The forward's arguments (``x0=None`` means a zero initial state).
    grad_y : array, optional
        Cotangent of the states ``x`` (the forward's output), its shape. Zero if omitted.
    grad_state : array, optional
        Cotangent of the final state (the forward's ``return_state=True`` output), shape of
        one time slice. Zero if omitted.
    states : array, optional
        The forward's output ``x``, if the caller kept it (saves one forward scan).
    engine : {None, "auto", "xp", "numba"}
        ``"numba"``: one fused reverse pass per channel (NumPy arrays); ``"xp"``: array-API
        code built on :func:`statespace.linear_scan`.

    Returns
    -------
    dict
        ``{"a": ga, "b": gb, "x0": gx0}``, each of its input's shape and dtype (summed over
        the axes that broadcasting stretched). ``gx0`` has the state shape (``x0``'s shape
        when given) and is returned even for ``x0=None``: it is the gradient with respect to
        the initial state, zero or not.

    Notes
    -----
    Forward :math:`x_t = a_t x_{t-1} + b_t`, :math:`x_{-1} = x_0`. With :math:`g_t` the
    cotangent of :math:`x_t` (plus ``grad_state`` at :math:`t = L-1`), the adjoint state
    :math:`\lambda_t` (the total cotangent of :math:`x_t`) obeys the same recurrence run
    backwards with the gates shifted by one step and conjugated,

    .. math::

        \lambda_t = g_t + \overline{a_{t+1}}\,\lambda_{t+1}, \qquad \lambda_L = 0,

    and the cotangents are :math:`\bar b_t = \lambda_t`,
    :math:`\bar a_t = \lambda_t\,\overline{x_{t-1}}`,
    :math:`\bar x_0 = \overline{a_0}\,\lambda_0`. With ``reverse=True`` time is mirrored.
    Cotangents follow the real-inner-product convention of :mod:`statespace.vjp`.

    Examples
    --------
    >>> import numpy as np
    >>> from statespace import vjp
    >>> g = vjp.linear_scan(np.full(3, 0.5), np.ones(3), np.array(2.0), grad_y=np.array([0.0, 0.0, 1.0]))
    >>> g["b"].tolist(), float(g["x0"])
    ([0.25, 0.5, 1.0], 0.125)
    """
    xp = namespace(a, b, x0, grad_y, grad_state)
    dtype = float_dtype(xp, a, b, x0)
    dev = device_of(b) if device_of(b) is not None else device_of(a)
    a_in, b_in, x0_in = (None if v is None else xp.asarray(v, device=dev) for v in (a, b, x0))
    a, b = xp.asarray(a_in, dtype=dtype), xp.asarray(b_in, dtype=dtype)
    ndim = max(a.ndim, b.ndim, 1)
    axis = check_axis(axis, ndim, f"a (shape {tuple(a.shape)}) and b (shape {tuple(b.shape)})")
    a_t, b_t = _time_last(xp, a, ndim, axis), _time_last(xp, b, ndim, axis)
    shape = _scan.scan_shape(a_t.shape, b_t.shape, None if x0 is None else x0.shape)
    x0_t = None if x0 is None else xp.broadcast_to(xp.asarray(x0_in, dtype=dtype), shape[:-1])
    g = None if grad_y is None else _time_last(xp, xp.asarray(grad_y, device=dev), ndim, axis)
    g = zeros_or(xp, g, shape, dtype, dev)
    gs = zeros_or(xp, grad_state, shape[:-1], dtype, dev)
    if states is not None:
        states = xp.broadcast_to(xp.asarray(_time_last(xp, xp.asarray(states), ndim, axis), dtype=dtype), shape)
    name = resolve_engine(engine, xp, func="vjp.linear_scan")
    if shape[-1] == 0:
        ga, gb, gx0 = xp.zeros(a_t.shape, dtype=dtype), xp.zeros(shape, dtype=dtype), gs
    elif name == "numba":
        ga, gb, gx0 = engine_module("numba", "scan_vjp").linear_scan_vjp(
            *(None if v is None else to_numpy(v) for v in (a_t, b_t, x0_t, g, gs, states)), shape, reverse
        )
        ga, gb, gx0 = (xp.asarray(v, device=dev) for v in (ga, gb, gx0))
    else:
        ga, gb, gx0 = linear_scan_vjp_xp(xp, a_t, b_t, x0_t, g, gs, states, shape, reverse)
    if axis != ndim - 1:
        ga, gb = xp.moveaxis(ga, -1, axis), xp.moveaxis(gb, -1, axis)
    return {
        "a": like(xp, ga, a_in, dtype=_real_or(xp, a_in, dtype)),
        "b": like(xp, gb, b_in, dtype=_real_or(xp, b_in, dtype)),
        "x0": like(xp, gx0, x0_in, dtype=_real_or(xp, x0_in, dtype)) if x0 is not None else gx0,
    }


def _real_or(xp, x, dtype):
    """The promoted ``dtype``, real when the input ``x`` is real (its cotangent is then real)."""
    if x is None or xp.isdtype(x.dtype, "complex floating") or not xp.isdtype(dtype, "complex floating"):
        return dtype
    return xp.float32 if dtype == xp.complex64 else xp.float64


def linear_scan_vjp_xp(xp, a, b, x0, g, gs, states, shape, reverse):
    """Time-last core: ``a (..., 1 or L)``, ``b``, ``g`` broadcast to ``shape``; ``x0``/``gs`` state-shaped."""
    if reverse:  # mirror time, run the forward rule, mirror back
        a_f = a if a.shape[-1] == 1 else xp.flip(a, axis=-1)
        flip = None if states is None else xp.flip(states, axis=-1)
        ga, gb, gx0 = linear_scan_vjp_xp(
            xp, a_f, xp.flip(xp.broadcast_to(b, shape), axis=-1), x0, xp.flip(g, axis=-1), gs, flip, shape, False
        )
        return (ga if ga.shape[-1] == 1 else xp.flip(ga, axis=-1)), xp.flip(gb, axis=-1), gx0
    if states is None:
        states = _scan.linear_scan(a, b, x0, engine="xp")
    states = xp.broadcast_to(states, shape)
    g = xp.concat([g[..., :-1], g[..., -1:] + gs[..., None]], axis=-1)
    if a.shape[-1] == 1:
        shifted = a  # the gate past the end multiplies a zero adjoint: any value will do
    else:
        shifted = xp.concat([a[..., 1:], xp.ones(a.shape[:-1] + (1,), dtype=a.dtype, device=device_of(a))], axis=-1)
    lam = _scan.linear_scan(conj(xp, shifted), g, engine="xp", reverse=True)
    start = xp.zeros(shape[:-1], dtype=states.dtype, device=device_of(states)) if x0 is None else x0
    prev = xp.concat([start[..., None], states[..., :-1]], axis=-1)
    ga = lam * conj(xp, prev)
    if a.shape[-1] == 1:
        ga = xp.sum(ga, axis=-1, keepdims=True)
    gx0 = conj(xp, a[..., 0]) * lam[..., 0]
    return ga, lam, gx0
