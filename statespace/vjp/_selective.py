"""VJP of :func:`statespace.selective_scan` (Mamba's backward, plus the initial and final state)."""

from __future__ import annotations

import dataclasses

from .. import _selective as fwd
from .._backend import complex_dtype, device_of, is_complex, namespace, to_numpy
from .._dispatch import capabilities
from .._engines import engine_module, resolve_engine
from .._scan import linear_scan as _forward_scan
from ._common import conj, like, zeros_or
from ._scan import linear_scan_vjp_xp

__all__ = ["selective_scan"]

#: Steps between stored states in the numba backward (Mamba keeps one state per 2048 steps).
CHUNK = 2048


@capabilities(name="vjp.selective_scan", engines=("xp", "numba"))
def selective_scan(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    delta_softplus=False,
    x0=None,
    *,
    grad_y,
    grad_state=None,
    engine=None,
    chunk=CHUNK,
):
    r"""Cotangents of every input of :func:`statespace.selective_scan`.

    Parameters
    ----------
    u, delta, A, B, C, D, z, delta_bias, delta_softplus, x0
        The forward's arguments, with all of its layouts (groups, real or complex ``A``,
        complex B/C as interleaved real pairs or complex arrays, a batch of 1 that broadcasts).
    grad_y : array
        Cotangent of the output, ``(batch, D, L)``.
    grad_state : array, optional
        Cotangent of the final state (``return_state=True``), ``(batch, D, N)``.
    engine : {None, "auto", "xp", "numba"}
        ``"numba"``: fused per channel, storing one state every ``chunk`` steps and
        recomputing the forward inside each chunk (extra memory
        :math:`O(N\cdot(L/\text{chunk} + \text{chunk}))` per thread plus one
        :math:`(\text{batch}, \text{blocks}, L, N)` accumulator per variable B/C).
        ``"xp"``: array-API code that stores the ``(batch, D, N, L)`` states.
    chunk : int
        Steps between stored states in the numba engine.

    Returns
    -------
    dict
        Keys ``u, delta, A, B, C, D, z, delta_bias, x0``: cotangents of the inputs' shapes
        and dtypes (a real interleaved B/C gets an interleaved cotangent), ``None`` for an
        optional input not given; ``x0``'s cotangent ``(batch, D, N)`` is always returned.

    Notes
    -----
    Forward, per channel :math:`d` and state :math:`n`, with
    :math:`\Delta_t = \mathrm{softplus}(\delta_t + \text{bias})`,
    :math:`\alpha_t = e^{\Delta_t A}`, :math:`\beta_t = \Delta_t u_t B_t`:
    :math:`x_t = \alpha_t x_{t-1} + \beta_t`,
    :math:`y_t = c\,\mathrm{Re}\sum_n C_t x_t + D u_t` (:math:`c = 2` for complex ``A``, else 1),
    :math:`o_t = y_t\,\mathrm{SiLU}(z_t)`. Backward, from :math:`\bar o`:

    .. math::

        \bar z = \bar o\,y\,\sigma(z)\,(1 + z(1-\sigma(z))),\quad
        \bar y = \bar o\,\mathrm{SiLU}(z),\quad
        \bar C_t = c\,\bar y_t\,\overline{x_t},\quad
        \lambda_t = c\,\bar y_t\,\overline{C_t} + \overline{\alpha_{t+1}}\lambda_{t+1},

    (:math:`\lambda_{L-1}` also receives ``grad_state``), then
    :math:`\bar B_t = \lambda_t \Delta_t u_t`,
    :math:`\bar A = \sum_t \Delta_t\,\lambda_t\,\overline{\alpha_t x_{t-1}}`,
    :math:`\bar\Delta_t = \mathrm{Re}\sum_n \lambda_t\overline{\alpha_t A x_{t-1}}
    + u_t\,\mathrm{Re}\sum_n\lambda_t\overline{B_t}`,
    :math:`\bar u_t = D\bar y_t + \Delta_t\,\mathrm{Re}\sum_n\lambda_t\overline{B_t}`,
    :math:`\bar D = \sum \bar y\,u`, :math:`\bar x_0 = \overline{\alpha_0}\lambda_0`,
    :math:`\bar\delta = \bar\Delta\,\sigma(\delta+\text{bias})` with the softplus (1 above
    its threshold 20), :math:`\overline{\text{bias}} = \sum_{b,t}\bar\delta`. Variable
    B/C sum their cotangents over the channels of a group (and over the batch when
    given with a batch of 1).

    Examples
    --------
    >>> import numpy as np
    >>> from statespace import vjp
    >>> rng = np.random.default_rng(0)
    >>> u, delta = rng.normal(size=(1, 2, 5)), rng.uniform(0.1, 1.0, size=(1, 2, 5))
    >>> A, B, C = -np.ones((2, 3)), rng.normal(size=(1, 3, 5)), rng.normal(size=(1, 3, 5))
    >>> g = vjp.selective_scan(u, delta, A, B, C, grad_y=np.ones((1, 2, 5)))
    >>> g["A"].shape, g["B"].shape, g["x0"].shape, g["D"] is None
    ((2, 3), (1, 3, 5), (1, 2, 3), True)
    """
    xp = namespace(u, delta, A, B, C, D, z, delta_bias, x0, grad_y, grad_state)
    if u.ndim != 3:
        raise ValueError(f"u must be (batch, D, L), got shape {tuple(u.shape)}")
    batch, dim, length = u.shape
    if A.ndim != 2 or A.shape[0] != dim:
        raise ValueError(f"A must be (D, N) with D = {dim} (u's channels), got shape {tuple(A.shape)}")
    for name, arr, shape in (
        ("delta", delta, u.shape),
        ("D", D, (dim,)),
        ("z", z, u.shape),
        ("delta_bias", delta_bias, (dim,)),
        ("x0", x0, (batch, dim, A.shape[1])),
        ("grad_y", grad_y, u.shape),
        ("grad_state", grad_state, (batch, dim, A.shape[1])),
    ):
        fwd.check_same(arr, name, shape)
    a_complex = is_complex(xp, A)
    real = fwd.compute_dtype(xp, u, delta, A, B, C, D, z, delta_bias, x0)
    state = complex_dtype(xp, real) if a_complex else real
    dev = device_of(u)
    Bw = fwd.selective_weight(xp, B, "B", A, batch, length, real, a_complex)
    Cw = fwd.selective_weight(xp, C, "C", A, batch, length, real, a_complex)
    args = dict(
        u=xp.asarray(u, dtype=real),
        delta=xp.asarray(delta, dtype=real),
        A=xp.asarray(A, dtype=state),
        B=Bw,
        C=Cw,
        D=None if D is None else xp.asarray(D, dtype=real),
        z=None if z is None else xp.asarray(z, dtype=real),
        bias=None if delta_bias is None else xp.asarray(delta_bias, dtype=real),
        use_softplus=bool(delta_softplus),
        x0=zeros_or(xp, x0, (batch, dim, A.shape[1]), state, dev),
        gout=xp.asarray(grad_y, dtype=real),
        gs=zeros_or(xp, grad_state, (batch, dim, A.shape[1]), state, dev),
    )
    name = resolve_engine(engine, xp, func="vjp.selective_scan")
    if name == "numba":
        numpy_args = {k: (to_numpy(v) if hasattr(v, "shape") else v) for k, v in args.items()}
        for key in ("B", "C"):
            w = args[key]
            numpy_args[key] = dataclasses.replace(w, value=to_numpy(w.value))
        grads = engine_module("numba", "selective_vjp").selective_scan_vjp(**numpy_args, chunk=int(chunk))
        grads = {k: None if v is None else xp.asarray(v, device=dev) for k, v in grads.items()}
    else:
        grads = _selective_scan_vjp_xp(xp, **args)
    return {
        "u": like(xp, grads["u"], u),
        "delta": like(xp, grads["delta"], delta),
        "A": like(xp, grads["A"], A),
        "B": weight_cotangent(xp, grads["B"], B, Bw, a_complex),
        "C": weight_cotangent(xp, grads["C"], C, Cw, a_complex),
        "D": like(xp, grads["D"], D),
        "z": like(xp, grads["z"], z),
        "delta_bias": like(xp, grads["bias"], delta_bias),
        "x0": grads["x0"] if x0 is None else like(xp, grads["x0"], x0),
    }


def weight_cotangent(xp, g, W, weight, a_complex):
    """Grouped cotangent ``(batch, G, N, L)`` (variable) or ``(D, N)`` → the layout ``W`` came in."""
    if not weight.variable:
        return like(xp, g, W)
    if W.shape[0] == 1:
        g = xp.sum(g, axis=0, keepdims=True)
    if a_complex and not is_complex(xp, W):  # interleaved (re, im) pairs along time
        pairs = xp.stack([xp.real(g), xp.imag(g)], axis=-1)
        g = xp.reshape(pairs, tuple(pairs.shape[:-2]) + (2 * pairs.shape[-2],))
    return like(xp, xp.reshape(g, W.shape), W)


def _expand(w, xp, dim):
    """A weight as ``(batch or 1, D, N, L or 1)``: each channel's row of its group."""
    if not w.variable:
        return w.value[None, :, :, None]
    value = w.value
    per = dim // w.groups
    expanded = xp.broadcast_to(value[:, :, None], (value.shape[0], w.groups, per) + tuple(value.shape[2:]))
    return xp.reshape(expanded, (value.shape[0], dim) + tuple(value.shape[2:]))


def _group(g, w, xp, dim):
    """Adjoint of :func:`_expand`: sum a ``(batch, D, N, L)`` cotangent over each group's channels."""
    if not w.variable:
        return xp.sum(g, axis=(0, 3))
    per = dim // w.groups
    return xp.sum(xp.reshape(g, (g.shape[0], w.groups, per) + tuple(g.shape[2:])), axis=2)


def _sigmoid(xp, x):
    return 1 / (1 + xp.exp(-x))


def _selective_scan_vjp_xp(xp, u, delta, A, B, C, D, z, bias, use_softplus, x0, gout, gs):
    dim = u.shape[1]
    state = A.dtype
    cf = 2 if is_complex(xp, state) else 1
    v = delta if bias is None else delta + bias[:, None]
    dt = fwd.softplus(xp, v) if use_softplus else v
    dts = xp.asarray(dt[:, :, None, :], dtype=state)
    alpha = xp.exp(dts * A[:, :, None])
    Bf, Cf = _expand(B, xp, dim), _expand(C, xp, dim)
    du = dt * u
    beta = xp.broadcast_to(xp.asarray(du[:, :, None, :], dtype=state) * Bf, alpha.shape)
    X = _forward_scan(alpha, beta, x0, engine="xp")
    y = cf * xp.real(xp.sum(Cf * X, axis=2)) if cf == 2 else xp.sum(Cf * X, axis=2)
    if D is not None:
        y = y + D[:, None] * u
    gz = None
    gy = gout
    if z is not None:
        sig = _sigmoid(xp, z)
        gz = gout * y * sig * (1 + z * (1 - sig))
        gy = gout * z * sig
    gyn = xp.asarray(gy[:, :, None, :], dtype=state)
    gX = cf * gyn * conj(xp, Cf)
    gC = _group(cf * gyn * conj(xp, X), C, xp, dim)
    galpha, gbeta, gx0 = linear_scan_vjp_xp(xp, alpha, beta, x0, gX, gs, X, alpha.shape, False)
    gB = _group(gbeta * xp.asarray(du[:, :, None, :], dtype=state), B, xp, dim)
    gdu = xp.sum(xp.real(gbeta * conj(xp, Bf)), axis=2)
    ga = galpha * conj(xp, alpha)  # the cotangent of dt·A
    gA = xp.sum(ga * dts, axis=(0, 3))
    gdt = xp.sum(xp.real(ga * conj(xp, A[:, :, None])), axis=2) + u * gdu
    gu = dt * gdu
    gD = None
    if D is not None:
        gu = gu + gy * D[:, None]
        gD = xp.sum(gy * u, axis=(0, 2))
    gv = xp.where(v <= 20, gdt * _sigmoid(xp, v), gdt) if use_softplus else gdt
    gbias = None if bias is None else xp.sum(gv, axis=(0, 2))
    return dict(u=gu, delta=gv, A=gA, B=gB, C=gC, D=gD, z=gz, bias=gbias, x0=gx0)
