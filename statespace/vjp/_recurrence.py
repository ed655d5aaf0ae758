"""VJP of the diagonal (modal) :func:`statespace.recurrence`."""

from __future__ import annotations

from .. import _recurrence as fwd
from .._backend import device_of, is_complex, namespace, to_numpy
from .._dispatch import capabilities
from .._engines import engine_module, resolve_engine
from .._scan import linear_scan as _forward_scan
from ._common import conj as conjugate
from ._common import like, zeros_or
from ._scan import linear_scan_vjp_xp

__all__ = ["recurrence"]

#: Steps between stored states in the numba backward.
CHUNK = 2048


@capabilities(name="vjp.recurrence", engines=("xp", "numba"))
def recurrence(Ab, Bb, C, u, D=None, x0=None, *, conj=True, grad_y, grad_state=None, engine=None, chunk=CHUNK):
    r"""Cotangents of ``Ab``, ``Bb``, ``C``, ``u``, ``D``, ``x0`` for the diagonal :func:`statespace.recurrence`.

    Parameters
    ----------
    Ab, Bb, C, u, D, x0, conj
        The forward's arguments for a diagonal system: ``Ab``, ``Bb``, ``C`` all ``(..., N2)``,
        ``u (..., L)``. With ``conj=True`` the input must be real.
    grad_y : array
        Cotangent of the output ``y`` (``(..., L)``, real when the output is).
    grad_state : array, optional
        Cotangent of the final state (``return_state=True``), ``(..., N2)``.
    engine : {None, "auto", "xp", "numba"}
        ``"numba"``: one pass per channel, storing the state every ``chunk`` steps and
        recomputing inside chunks (the state over time is never stored); ``"xp"``:
        array-API code that stores the ``(..., N2, L)`` states.
    chunk : int
        Steps between stored states in the numba engine.

    Returns
    -------
    dict
        Keys ``Ab, Bb, C, u, D, x0``, each of its input's shape and dtype (``None`` for
        ``D`` not given); ``x0``'s cotangent (the state shape) is always returned.

    Raises
    ------
    ValueError
        Shapes that are not a diagonal system (see :func:`statespace.recurrence`).
    TypeError
        A complex ``u`` with ``conj=True``.

    Notes
    -----
    Forward :math:`x_k = \bar A x_{k-1} + \bar B u_k`,
    :math:`y_k = c\,\mathrm{Re}\sum_n C_n x_{k,n} + D u_k` with :math:`c = 2` when
    ``conj=True`` and the modes are complex (else :math:`y_k = \sum_n C_n x_{k,n} + D u_k`).
    With :math:`\lambda_k = c\,\bar y_k\,\overline{C} + \overline{\bar A}\lambda_{k+1}`
    (plus ``grad_state`` at the last step):

    .. math::

        \bar C = c\sum_k \bar y_k\,\overline{x_k},\quad
        \overline{\bar A} = \sum_k \lambda_k\,\overline{x_{k-1}},\quad
        \overline{\bar B} = \sum_k \lambda_k\,\overline{u_k},\quad
        \bar u_k = \sum_n \lambda_{k,n}\overline{\bar B_n} + \overline{D}\,\bar y_k,\quad
        \bar D = \sum_k \bar y_k\,\overline{u_k},\quad
        \bar x_0 = \overline{\bar A}\lambda_0 .

    Examples
    --------
    >>> import numpy as np
    >>> from statespace import vjp
    >>> g = vjp.recurrence(np.array([0.5 + 0.5j]), np.array([1.0 + 0j]), np.array([0.5 + 0j]), np.ones(3),
    ...                    grad_y=np.array([0.0, 0.0, 1.0]))
    >>> np.round(g["u"], 12).tolist()
    [0.0, 0.5, 1.0]
    """
    if fwd.system_structure(Ab, Bb, C, None) != "diag":
        raise ValueError(
            f"vjp.recurrence differentiates diagonal systems (Ab, Bb, C all (..., N2)); got Ab {tuple(Ab.shape)}, "
            f"Bb {tuple(Bb.shape)}, C {tuple(C.shape)}"
        )
    if conj and fwd.complex_input(u):
        raise TypeError("vjp.recurrence with conj=True needs a real input u (the forward splits a complex one)")
    xp = namespace(Ab, Bb, C, u, D, x0, grad_y, grad_state)
    inputs = dict(Ab=Ab, Bb=Bb, C=C, u=u, D=D, x0=x0)
    Ab_, Bb_, C_, u_, D_, x0_, batch, nmodes, dtype = fwd.diag_prepare(xp, Ab, Bb, C, u, D, x0)
    dev = device_of(u_)
    cf = 2 if conj and is_complex(xp, dtype) else 1
    real_out = cf == 2 or not is_complex(xp, dtype)
    out_dtype = xp.real(xp.zeros((0,), dtype=dtype)).dtype if real_out else dtype
    length = u_.shape[-1]
    gy = zeros_or(xp, grad_y, batch + (length,), out_dtype, dev)
    gs = zeros_or(xp, grad_state, batch + (nmodes,), dtype, dev)
    start = zeros_or(xp, x0_, batch + (nmodes,), dtype, dev)
    name = resolve_engine(engine, xp, func="vjp.recurrence")
    if name == "numba" and length and nmodes:
        grads = engine_module("numba", "recurrence_vjp").diag_vjp(
            *(to_numpy(v) for v in (Ab_, Bb_, C_, u_, start, gy, gs)), batch, cf, max(1, min(int(chunk), length))
        )
        gAb, gBb, gC, gu, gx0 = (xp.asarray(v, device=dev) for v in grads)
    else:
        gAb, gBb, gC, gu, gx0 = _diag_vjp_xp(xp, Ab_, Bb_, C_, u_, start, gy, gs, batch, nmodes, cf)
    gD = None
    if D_ is not None:
        gu = gu + conjugate(xp, D_)[..., None] * gy
        gD = xp.sum(gy * conjugate(xp, u_), axis=-1)
    return {
        "Ab": like(xp, gAb, inputs["Ab"], dtype=_target(xp, inputs["Ab"], dtype)),
        "Bb": like(xp, gBb, inputs["Bb"], dtype=_target(xp, inputs["Bb"], dtype)),
        "C": like(xp, gC, inputs["C"], dtype=_target(xp, inputs["C"], dtype)),
        "u": like(xp, gu, inputs["u"], dtype=u_.dtype),
        "D": None if D_ is None else like(xp, gD, xp.asarray(D), dtype=D_.dtype),
        "x0": gx0 if x0 is None else like(xp, gx0, inputs["x0"], dtype=_target(xp, inputs["x0"], dtype)),
    }


def _target(xp, x, dtype):
    """The working ``dtype``, real when the input ``x`` is real."""
    if not hasattr(x, "dtype") or is_complex(xp, x):
        return dtype
    return xp.real(xp.zeros((0,), dtype=dtype)).dtype


def _diag_vjp_xp(xp, Ab, Bb, C, u, x0, gy, gs, batch, nmodes, cf):
    length = u.shape[-1]
    shape = batch + (nmodes, length)
    gate, drive = Ab[..., None], Bb[..., None] * xp.expand_dims(u, axis=-2)
    if length == 0:
        zero = xp.zeros(batch + (nmodes,), dtype=x0.dtype, device=device_of(u))
        return zero, zero, zero, xp.zeros(batch + (0,), dtype=x0.dtype, device=device_of(u)), gs
    states = _forward_scan(gate, xp.broadcast_to(drive, shape), x0, engine="xp")
    gyn = xp.expand_dims(gy, axis=-2)
    gC = cf * xp.sum(gyn * conjugate(xp, states), axis=-1)
    ga, lam, gx0 = linear_scan_vjp_xp(
        xp, gate, drive, x0, cf * gyn * conjugate(xp, C)[..., None], gs, states, shape, False
    )
    gBb = xp.sum(lam * conjugate(xp, xp.expand_dims(u, axis=-2)), axis=-1)
    gu = xp.sum(lam * conjugate(xp, Bb)[..., None], axis=-2)
    return ga[..., 0], gBb, gC, gu, gx0
