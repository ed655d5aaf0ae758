"""Cauchy sums ``Σ_n v_n / (z_l − w_n)``: the hot loop of the S4 (DPLR) kernel.

Two engines compute the same numbers: the portable ``"xp"`` engine works in
blocks along ``L`` so that no ``(..., N/2, L)`` array larger than
:data:`BLOCK_ELEMENTS` entries is ever formed, and the ``"numba"`` engine
(:mod:`statespace._engines.numba.kernels`) fuses the whole sum with no
temporaries beyond its output.
"""

from __future__ import annotations

import math

from ._backend import complex_dtype, device_of, float_dtype, namespace
from ._dispatch import capabilities
from ._engines import engine_module, resolve_engine
from ._validation import broadcast_shapes, check_flag, require_modes

__all__ = ["cauchy"]

#: Largest number of complex entries of a ``(batch, N/2, block)`` intermediate that the xp engine forms.
BLOCK_ELEMENTS = 2**20


@capabilities(engines=("xp", "numba", "cupy"), dask="lazy", dask_note="the mode axis in one chunk")
def cauchy(v, z, w, conj: bool = True, *, engine: str | None = None):
    r"""Batched Cauchy sum :math:`\sum_n v_n / (z_l - w_n)`.

    Parameters
    ----------
    v : array, shape ``(..., N2)``
        Numerators, one per mode.
    z : array, shape ``(..., L)``
        Evaluation points.
    w : array, shape ``(..., N2)``
        Poles, one per mode (same mode axis as ``v``).
    conj : bool, default True
        Each stored mode also stands for its conjugate: add
        :math:`\bar v_n / (z_l - \bar w_n)` as a separate fraction.
    engine : {None, "auto", "xp", "numba", "cupy"}, keyword-only
        How the sum runs (:func:`statespace._engines.resolve_engine`).

    Returns
    -------
    array, shape ``broadcast(...) + (L,)``, complex
        Complex64 for single-precision inputs, complex128 otherwise.

    Raises
    ------
    ValueError
        If the mode axes of ``v`` and ``w`` differ, an argument is 0-d, or the
        batch axes do not broadcast.
    TypeError
        If an argument is not an array, or the engine cannot serve these arrays.

    Notes
    -----
    .. math::

        \mathrm{cauchy}(v, z, w)_{\ldots l} = \sum_{n} \frac{v_{\ldots n}}{z_{\ldots l} - w_{\ldots n}}
        \;\Big[ + \frac{\bar v_{\ldots n}}{z_{\ldots l} - \bar w_{\ldots n}} \Big]_{\text{conj}}

    Leading axes of ``v``, ``z`` and ``w`` broadcast together.  Real inputs are
    promoted to the complex dtype of their precision.  The conjugate term is
    kept as its own fraction rather than combined into
    :math:`(2z\,\mathrm{Re}\,v - 2\,\mathrm{Re}(v\bar w))/((z-w)(z-\bar w))`,
    which loses accuracy near the poles (S4's CUDA kernel makes the same
    choice).  The xp engine works in blocks of ``L`` so its extra memory is
    at most :data:`BLOCK_ELEMENTS` complex entries beyond its inputs and output.

    References
    ----------
    A. Gu, K. Goel, C. Ré, "Efficiently Modeling Long Sequences with Structured
    State Spaces", ICLR 2022, §3.3 (Cauchy kernel).

    Examples
    --------
    >>> v = np.array([1.0 + 0.0j]); w = np.array([-1.0 + 2.0j]); z = np.array([0.0j, 1.0j])
    >>> np.round(statespace.cauchy(v, z, w, conj=False), 4)
    array([0.2+0.4j, 0.5+0.5j])
    >>> np.round(statespace.cauchy(v, z, w).real, 4)   # plus the conjugate mode -1 - 2j
    array([0.4, 0.6])
    """
    xp = namespace(v, z, w)
    check_flag(conj, "conj")
    require_modes(v, "v")
    require_modes(w, "w", v.shape[-1])
    require_modes(z, "z")
    batch = broadcast_shapes(v.shape[:-1], z.shape[:-1], w.shape[:-1], names=("v", "z", "w"))
    ctype = complex_dtype(xp, float_dtype(xp, v, z, w, names=("v", "z", "w")))
    v, z, w = (xp.astype(x, ctype, copy=False) for x in (v, z, w))  # read only: no copy when the dtype fits
    chosen = resolve_engine(engine, xp, func="cauchy")
    if chosen != "xp":  # the engine's kernel takes its own backend's arrays
        out = engine_module(chosen, "kernels").cauchy(v, z, w, bool(conj), batch, v.dtype)
        return xp.asarray(out)
    return cauchy_blocks(xp, v, z, None, w, bool(conj), batch)


def cauchy_affine(v, a, b, w, conj: bool = True, *, engine: str | None = None):
    r"""``Σ_n v_n / (a_l − b_l w_n)`` (plus conjugate modes): a Cauchy sum with finite nodes everywhere.

    Used by the S4 kernel in its singularity-free form
    (:math:`a = 2(1-\omega)`, :math:`b = 1+\omega`), which stays finite at
    :math:`\omega = -1` where :math:`z = a/b` is infinite.  Arguments are
    complex arrays of one dtype, already validated; ``a`` and ``b`` share
    their shape.
    """
    xp = namespace(v, a, b, w)
    batch = broadcast_shapes(v.shape[:-1], a.shape[:-1], w.shape[:-1], names=("v", "a", "w"))
    chosen = resolve_engine(engine, xp, func="kernel_dplr")
    if chosen != "xp":
        out = engine_module(chosen, "kernels").cauchy_affine(v, a, b, w, bool(conj), batch, v.dtype)
        return xp.asarray(out)
    return cauchy_blocks(xp, v, a, b, w, bool(conj), batch)


def cauchy_blocks(xp, v, a, b, w, conj: bool, batch: tuple):
    """xp engine: ``Σ v/(a − b·w)`` (``b=None`` means 1) in blocks of ``L`` bounded by :data:`BLOCK_ELEMENTS`."""
    length = a.shape[-1]
    block = max(1, BLOCK_ELEMENTS // max(1, math.prod(batch) * v.shape[-1]))
    v_col, w_col = v[..., None, :], w[..., None, :]
    v_bar, w_bar = xp.conj(v_col), xp.conj(w_col)
    pieces = []
    for start in range(0, length, block):
        stop = min(start + block, length)
        a_blk = a[..., start:stop, None]
        b_blk = None if b is None else b[..., start:stop, None]
        terms = v_col / _denominator(a_blk, b_blk, w_col)
        if conj:
            terms = terms + v_bar / _denominator(a_blk, b_blk, w_bar)
        pieces.append(xp.sum(terms, axis=-1))
    if not pieces:
        return xp.zeros(batch + (0,), dtype=v.dtype, device=device_of(v))
    out = pieces[0] if len(pieces) == 1 else xp.concat(pieces, axis=-1)
    return xp.broadcast_to(out, batch + (length,))


def _denominator(a, b, w):
    return a - w if b is None else a - b * w
