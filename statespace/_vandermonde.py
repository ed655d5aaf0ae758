"""Log-Vandermonde sums ``Σ_n v_n exp(x_n l)``: the hot loop of the S4D (diagonal) kernel."""

from __future__ import annotations

import math

from ._backend import complex_dtype, device_of, float_dtype, namespace, real_dtype
from ._cauchy import BLOCK_ELEMENTS
from ._dispatch import capabilities
from ._engines import engine_module, resolve_engine
from ._validation import broadcast_shapes, check_flag, check_positive_int, require_modes

__all__ = ["vandermonde"]


@capabilities(engines=("xp", "numba", "cupy"), dask="xp")
def vandermonde(v, x, L: int, conj: bool = True, *, engine: str | None = None):
    r"""Log-Vandermonde sum :math:`\sum_n v_n e^{x_n l}` for :math:`l = 0, \dots, L-1`.

    Parameters
    ----------
    v : array, shape ``(..., N2)``
        Coefficients, one per mode (for S4D: :math:`C_n \bar B_n`).
    x : array, shape ``(..., N2)``
        Logarithms of the discrete eigenvalues (for S4D: :math:`\log \bar A_n`).
    L : int
        Number of terms (kernel length), positive.
    conj : bool, default True
        Each mode stands for itself and its conjugate: return the real
        :math:`2\,\mathrm{Re}\sum_n v_n e^{x_n l}`.  With ``False`` return the
        complex sum.
    engine : {None, "auto", "xp", "numba", "cupy"}, keyword-only
        How the sum runs (:func:`statespace._engines.resolve_engine`).

    Returns
    -------
    array, shape ``broadcast(...) + (L,)``
        Real (float32/float64) with ``conj=True``, complex otherwise.

    Raises
    ------
    ValueError
        If the mode axes of ``v`` and ``x`` differ, the batch axes do not
        broadcast, or ``L <= 0``.
    TypeError
        If ``L`` is not an integer or an argument is not an array.

    Notes
    -----
    .. math::

        K_{\ldots l} = \sum_n v_{\ldots n} \exp(l\, x_{\ldots n}), \qquad
        e^{l x} = e^{l\,\mathrm{Re}\,x}\,(\cos(l\,\mathrm{Im}\,x) + i \sin(l\,\mathrm{Im}\,x))

    Every power is evaluated independently as :math:`\exp(l x)` (no
    cumulative products, so rounding does not accumulate along ``l``).  Real
    inputs are promoted to complex.  The xp engine works in blocks of ``L``
    (at most :data:`statespace._cauchy.BLOCK_ELEMENTS` entries of
    ``(batch, N2, block)`` at a time); the numba engine fuses the sum.

    References
    ----------
    A. Gu, A. Gupta, K. Goel, C. Ré, "On the Parameterization and
    Initialization of Diagonal State Space Models", NeurIPS 2022 (S4D).

    Examples
    --------
    >>> v = np.array([0.5 + 0.0j]); x = np.array([np.log(0.5) + 0.0j])
    >>> np.round(statespace.vandermonde(v, x, 4), 4)         # 2·Re(0.5·0.5**l)
    array([1.   , 0.5  , 0.25 , 0.125])
    """
    xp = namespace(v, x)
    check_flag(conj, "conj")
    require_modes(v, "v")
    require_modes(x, "x", v.shape[-1])
    L = check_positive_int(L, "L")
    batch = broadcast_shapes(v.shape[:-1], x.shape[:-1], names=("v", "x"))
    ctype = complex_dtype(xp, float_dtype(xp, v, x, names=("v", "x")))
    v, x = xp.astype(v, ctype), xp.astype(x, ctype)
    # A mode with Re x = -inf (Ā = 0, e.g. bilinear at ΔΛ = -2) contributes v at l = 0 and nothing after, but
    # (-inf)·0 is NaN: any real part below -1e4 gives the same exact zeros for l >= 1 and 1 at l = 0.
    x = xp.where(xp.real(x) < -1e4, xp.asarray(-1e4, dtype=ctype, device=device_of(x)) + 1j * xp.imag(x), x)
    out_dtype = real_dtype(xp, ctype) if conj else ctype
    chosen = resolve_engine(engine, xp, func="vandermonde")
    if chosen != "xp":  # the engine's kernel takes its own backend's arrays
        out = engine_module(chosen, "kernels").vandermonde(v, x, L, bool(conj), batch, out_dtype)
        return xp.asarray(out)
    return _vandermonde_blocks(xp, v, x, L, bool(conj), batch, out_dtype)


def _vandermonde_blocks(xp, v, x, L, conj, batch, out_dtype):
    block = max(1, BLOCK_ELEMENTS // max(1, math.prod(batch) * v.shape[-1]))
    rdtype = real_dtype(xp, v.dtype)
    device = device_of(v)
    v_col = v[..., None]
    x_high, x_low = _split_for_exact_products(xp, x[..., None], L)
    pieces = []
    for start in range(0, L, block):
        steps = xp.astype(xp.arange(start, min(start + block, L), dtype=rdtype, device=device), v.dtype)
        powers = xp.exp(x_high * steps)
        if x_low is not None:
            powers = powers * xp.exp(x_low * steps)
        total = xp.sum(v_col * powers, axis=-2)
        pieces.append(2 * xp.real(total) if conj else total)
    out = pieces[0] if len(pieces) == 1 else xp.concat(pieces, axis=-1)
    return xp.astype(xp.broadcast_to(out, batch + (L,)), out_dtype)


def _split_for_exact_products(xp, x, L):
    r"""Single precision: split ``x = high + low`` so that ``high · l`` is exact for every ``l < L``.

    In complex64 the product :math:`x l` is rounded to 24 bits, a phase error of
    up to :math:`2^{-25}|x l|` radians (6e-5 at :math:`|x l| = 2000`), larger
    than the float32 kernel tolerance.  Veltkamp's split keeps
    :math:`24 - \lceil\log_2 L\rceil` bits in ``high`` (exact products with
    integers below ``L``) and the rest in ``low``, whose product is
    :math:`2^{-(24-\lceil\log_2 L\rceil)}` times smaller;
    :math:`e^{x l} = e^{\mathrm{high}\, l} e^{\mathrm{low}\, l}`.  Double precision
    (or ``L > 2^{20}``) returns ``(x, None)``.
    """
    kept_bits = 24 - max(1, (L - 1).bit_length())
    if real_dtype(xp, x.dtype) != xp.float32 or kept_bits < 4:
        return x, None
    parts = []
    for component in (xp.real(x), xp.imag(x)):
        scaled = component * float(2 ** (24 - kept_bits) + 1)
        parts.append(scaled - (scaled - component))
    high = xp.astype(parts[0], x.dtype) + xp.astype(parts[1], x.dtype) * 1j
    return high, x - high
