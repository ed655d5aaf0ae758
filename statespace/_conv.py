"""Causal FFT convolution: the convolution view of an SSM."""

from __future__ import annotations

import math

import array_api_compat

from ._backend import complex_dtype, device_of, float_dtype, is_complex, namespace, time_last
from ._dispatch import capabilities
from ._validation import broadcast_shapes, broadcasts_to, check_axis

__all__ = ["causal_conv"]


def _smooth_length(n: int) -> int:
    """Smallest 2·3·5-smooth integer ``≥ n`` (a fast FFT length for every FFT library)."""
    if n <= 1:
        return 1
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def fast_length(xp, n: int, real: bool) -> int:
    if array_api_compat.is_numpy_namespace(xp):
        import scipy.fft

        return scipy.fft.next_fast_len(n, real=real)
    return _smooth_length(n)


@capabilities(dask="lazy", dask_note="batch and time chunks (overlap-add)")
def causal_conv(u, K, D=None, axis: int = -1):
    """Causal convolution of signals with kernels by FFT, truncated to the input length.

    Parameters
    ----------
    u : array
        Input signals ``(..., L)`` (time along ``axis``), real or complex.
    K : array
        Kernels ``(..., L_K)`` (time along ``axis``), real or complex; its batch axes
        broadcast against ``u``'s (one kernel per channel, shared by a batch).
        Taps beyond ``L`` cannot reach the output and are ignored; a shorter kernel
        is zero beyond ``L_K``.
    D : array or float, optional
        Skip (feed-through) term: ``D`` broadcasts against ``u``'s batch axes
        (``u.shape`` without time, e.g. ``(H,)``) and ``D·u`` is added.
    axis : int
        Time axis of ``u`` and ``K``.

    Returns
    -------
    y : array
        ``y_t = Σ_{s=0}^{t} K_s u_{t−s} (+ D u_t)``, ``t = 0..L−1``, of the broadcast batch
        shape; real when ``u``, ``K`` and ``D`` are real.

    Raises
    ------
    ValueError
        ``u`` or ``K`` without a time axis, batch shapes that do not broadcast,
        ``D`` that does not fit ``u``'s batch shape, ``axis`` out of range.

    Notes
    -----
    Both operands are zero-padded to a fast FFT length ``n ≥ L + min(L_K, L) − 1``
    (so the circular convolution equals the linear one on ``0..L−1``) and
    :math:`y = \\mathrm{irfft}(\\mathrm{rfft}(u, n)\\,\\mathrm{rfft}(K, n))[:L]`
    (``fft``/``ifft`` when anything is complex). On NumPy this runs ``scipy.fft``
    with all worker threads and fast lengths from ``scipy.fft.next_fast_len``;
    elsewhere ``xp.fft`` with 2·3·5-smooth lengths. A kernel shared by a batch is
    transformed once.

    **Non-finite data stays causal.** An FFT spreads a NaN or inf to every output of
    its channel, earlier ones included. When ``u`` or ``K`` holds a non-finite value,
    the outputs of that channel from the first non-finite time index of ``u`` (or the
    first non-finite lag of ``K``) on are NaN and the earlier ones are exact, as in the
    scans and recurrences (see the :ref:`conventions` page).

    References
    ----------
    A. Gu, K. Goel, C. Ré, "Efficiently modeling long sequences with structured state
    spaces", ICLR 2022 (``FFTConv``).

    Examples
    --------
    >>> import numpy as np
    >>> from statespace import causal_conv
    >>> y = causal_conv(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 0.5]), D=2.0)
    >>> np.round(y, 12).tolist()
    [3.0, 6.5, 10.0, 13.5]
    """
    xp = namespace(u, K, D)
    for name, arr in (("u", u), ("K", K)):
        if getattr(arr, "ndim", 0) < 1:
            raise ValueError(
                f"{name} must have a time axis (at least 1 dimension), got shape {getattr(arr, 'shape', ())}"
            )
    ndim = max(u.ndim, K.ndim)
    axis = check_axis(axis, ndim, f"u (shape {tuple(u.shape)}) and K (shape {tuple(K.shape)})")
    u, K = time_last(xp, u, ndim, axis), time_last(xp, K, ndim, axis)
    dtype = float_dtype(xp, u, K, D, names=("u", "K", "D"))
    device = device_of(u)
    length = u.shape[-1]
    if D is not None:
        D = xp.asarray(D, dtype=dtype, device=device)
    batch = conv_batch(u.shape, K.shape, None if D is None else D.shape)

    K = xp.asarray(K[..., : min(length, K.shape[-1])], dtype=dtype)
    u_in = xp.asarray(u, dtype=dtype)
    finite = bool(xp.all(xp.isfinite(u_in))) and bool(xp.all(xp.isfinite(K)))
    if finite:
        y = _fft_conv(xp, u_in, K, length, is_complex(xp, dtype))
    else:  # the FFT would spread a non-finite sample to every output: keep causality explicitly
        y = _fft_conv(xp, _finite_part(xp, u_in), _finite_part(xp, K), length, is_complex(xp, dtype))
        poisoned = _from_first_nonfinite(xp, u_in, length) | _from_first_nonfinite(xp, K, length)
        y = xp.where(poisoned, xp.asarray(math.nan, dtype=y.dtype, device=device), y)
    if D is not None:
        y = y + xp.expand_dims(D, axis=-1) * u
    y = xp.broadcast_to(y, batch + (length,)) if tuple(y.shape[:-1]) != batch else y
    return xp.moveaxis(y, -1, axis % ndim) if axis % ndim != ndim - 1 else y


def _finite_part(xp, x):
    """``x`` with its non-finite entries replaced by 0."""
    return xp.where(xp.isfinite(x), x, xp.zeros((), dtype=x.dtype, device=device_of(x)))


def _from_first_nonfinite(xp, x, length: int):
    """Boolean ``(..., length)``: True from the first non-finite entry of ``x`` along time on."""
    if x.shape[-1] == 0:
        return xp.zeros(tuple(x.shape[:-1]) + (length,), dtype=xp.bool, device=device_of(x))
    bad = xp.cumulative_sum(xp.astype(~xp.isfinite(x), xp.int32), axis=-1) > 0
    if bad.shape[-1] < length:  # a shorter kernel: a non-finite tap reaches every later output
        bad = xp.concat(
            [bad, xp.broadcast_to(bad[..., -1:], tuple(bad.shape[:-1]) + (length - bad.shape[-1],))], axis=-1
        )
    return bad


def conv_batch(u_shape, K_shape, D_shape=None) -> tuple:
    """The broadcast batch shape of ``u`` and ``K`` (time last), checking that ``D`` fits ``u``'s batch."""
    try:
        batch = tuple(broadcast_shapes(tuple(u_shape[:-1]), tuple(K_shape[:-1])))
    except ValueError:
        raise ValueError(
            f"the batch axes of u {tuple(u_shape[:-1])} and K {tuple(K_shape[:-1])} do not broadcast"
        ) from None
    if D_shape is not None and not broadcasts_to(D_shape, u_shape[:-1]):
        raise ValueError(f"D must broadcast to u's batch shape {tuple(u_shape[:-1])}, got shape {tuple(D_shape)}")
    return batch


def _fft_conv(xp, u, K, length, complex_data):
    if length == 0 or K.shape[-1] == 0:
        shape = tuple(broadcast_shapes(u.shape[:-1], K.shape[:-1])) + (length,)
        return xp.zeros(shape, dtype=u.dtype, device=device_of(u))
    return fft_product(xp, u, K, fast_length(xp, length + K.shape[-1] - 1, real=not complex_data), length, complex_data)


def fft_product(xp, u, K, n, length, complex_data):
    """The one FFT core: ``ifft(fft(u, n) · fft(K, n))[..., :length]``, the length-``n`` circular convolution.

    Shared by :func:`causal_conv` (``n`` ≥ the linear length) and
    :func:`statespace.bidirectional_conv` (a wrapped two-sided kernel).
    """
    if array_api_compat.is_numpy_namespace(xp):
        return _fft_product_numpy(u, K, n, length, complex_data)
    fft = xp.fft
    if complex_data:
        cdtype = complex_dtype(xp, u.dtype)
        u, K = xp.asarray(u, dtype=cdtype), xp.asarray(K, dtype=cdtype)
        y = fft.ifft(fft.fft(u, n=n, axis=-1) * fft.fft(K, n=n, axis=-1), n=n, axis=-1)
    else:
        y = fft.irfft(fft.rfft(u, n=n, axis=-1) * fft.rfft(K, n=n, axis=-1), n=n, axis=-1)
    return y[..., :length]


def _fft_product_numpy(u, K, n, length, complex_data):
    """NumPy: ``scipy.fft`` on every worker thread, the product formed in place in the larger spectrum."""
    import numpy as np
    import scipy.fft

    forward, inverse = (scipy.fft.fft, scipy.fft.ifft) if complex_data else (scipy.fft.rfft, scipy.fft.irfft)
    if complex_data:
        cdtype = np.result_type(u.dtype, np.complex64)
        u, K = u.astype(cdtype, copy=False), K.astype(cdtype, copy=False)
    U = forward(u, n=n, axis=-1, workers=-1)
    Kf = forward(K, n=n, axis=-1, workers=-1)
    if U.shape != np.broadcast_shapes(U.shape, Kf.shape):
        U, Kf = Kf, U  # multiply into the spectrum that already has the full batch shape
    if U.shape == np.broadcast_shapes(U.shape, Kf.shape):
        U *= Kf
    else:
        U = U * Kf
    return inverse(U, n=n, axis=-1, workers=-1, overwrite_x=True)[..., :length]
