r"""Bidirectional (non-causal) convolution: S4's forward kernel plus a flipped backward kernel.

S4's ``FFTConv(bidirectional=True)`` splits its kernel channels into a forward kernel
:math:`k^{(0)}` and a backward kernel :math:`k^{(1)}` and convolves the input with one
length-:math:`2L` kernel, ``K = pad_right(k0, L) + pad_left(flip(k1), L)``, circularly over
:math:`2L` points.  Written out, that is

.. math::

    y_t = \sum_{s=0}^{t} k^{(0)}_{t-s}\,u_s \;+\; \sum_{s=t+1}^{L-1} k^{(1)}_{s-t-1}\,u_s \;+\; D u_t,

so the backward kernel's first tap multiplies the *next* input :math:`u_{t+1}`, never
:math:`u_t` (the "deliberate off-by-one" of S4's source: :math:`u_t` is seen once, by the
forward kernel).
"""

from __future__ import annotations

from ._backend import complex_dtype, device_of, float_dtype, is_complex, namespace, time_last
from ._conv import fast_length, fft_product
from ._dispatch import capabilities
from ._validation import broadcast_shapes, broadcasts_to, check_axis, check_nonnegative_int

__all__ = ["bidirectional_conv", "bidirectional_kernel"]


def _check_kernels(K_forward, K_backward):
    for name, arr in (("K_forward", K_forward), ("K_backward", K_backward)):
        if not hasattr(arr, "shape") or arr.ndim < 1:
            raise ValueError(
                f"{name} must be an array with a time axis (at least 1 dimension), "
                f"got shape {getattr(arr, 'shape', ())}"
            )
    try:
        return tuple(broadcast_shapes(K_forward.shape[:-1], K_backward.shape[:-1]))
    except ValueError:
        raise ValueError(
            f"the batch axes of K_forward {tuple(K_forward.shape[:-1])} and K_backward "
            f"{tuple(K_backward.shape[:-1])} do not broadcast"
        ) from None


def _wrapped_kernel(xp, k0, k1, L: int, n: int, dtype):
    """Length-``n`` circular kernel (``n ≥ 2L``): ``k0`` at lags ``0..L−1``, ``k1[i]`` at position ``n − 1 − i``.

    With ``u`` zero-padded to ``n``, position ``n − 1 − i`` multiplies ``u_{t+1+i}`` (the index
    wraps around), and no tap reaches a wrong sample because ``n ≥ 2L``.  ``n = 2L`` is S4's kernel.
    """
    batch = tuple(broadcast_shapes(k0.shape[:-1], k1.shape[:-1]))
    dev = device_of(k0)
    k0, k1 = (
        xp.broadcast_to(xp.asarray(k[..., : min(k.shape[-1], L)], dtype=dtype), batch + (min(k.shape[-1], L),))
        for k in (k0, k1)
    )  # slice within bounds: the array API leaves out-of-range stops unspecified
    middle = xp.zeros(batch + (n - k0.shape[-1] - k1.shape[-1],), dtype=dtype, device=dev)
    return xp.concat([k0, middle, xp.flip(k1, axis=-1)], axis=-1)


@capabilities(dask="xp")
def bidirectional_kernel(K_forward, K_backward, L):
    r"""S4's length-``2L`` bidirectional kernel ``pad_right(k0, L) + pad_left(flip(k1), L)``.

    Parameters
    ----------
    K_forward : array (..., L_0)
        Forward (causal) kernel :math:`k^{(0)}`; taps beyond ``L`` are dropped, a shorter
        kernel is zero-padded.
    K_backward : array (..., L_1)
        Backward kernel :math:`k^{(1)}`, in its own (forward) time order; same length rule.
    L : int
        Sequence length; the result has ``2L`` taps.

    Returns
    -------
    K : array (..., 2L)
        ``K[j] = k0[j]`` for ``j < L`` and ``K[2L − 1 − i] = k1[i]``, batch axes of the two
        kernels broadcast.  Circular convolution of ``u`` (zero-padded to ``2L``) with ``K``,
        truncated to ``L``, is :func:`bidirectional_conv`.

    Raises
    ------
    ValueError
        Kernels without a time axis, batch axes that do not broadcast, negative ``L``.
    TypeError
        Non-integer ``L``.

    Examples
    --------
    >>> statespace.bidirectional_kernel(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0]), 3).tolist()
    [1.0, 2.0, 3.0, 30.0, 20.0, 10.0]
    """
    xp = namespace(K_forward, K_backward)
    _check_kernels(K_forward, K_backward)
    L = check_nonnegative_int(L, "L")
    return _wrapped_kernel(
        xp, K_forward, K_backward, L, 2 * L, float_dtype(xp, K_forward, K_backward, names=("K_forward", "K_backward"))
    )


@capabilities(dask="lazy", dask_note="batch chunks; the time axis in one chunk")
def bidirectional_conv(u, K_forward, K_backward, D=None, axis: int = -1):
    r"""Bidirectional convolution: a causal pass with ``K_forward`` plus an anti-causal pass with ``K_backward``.

    Parameters
    ----------
    u : array (..., L)
        Input signals (time along ``axis``), real or complex.
    K_forward : array (..., L_0)
        Forward kernel :math:`k^{(0)}` (e.g. :func:`kernel_diag` of the forward system);
        batch axes broadcast against ``u``'s.  Taps beyond ``L`` cannot reach the output.
    K_backward : array (..., L_1)
        Backward kernel :math:`k^{(1)}` of the system run in reverse time, in its own time
        order (tap 0 first, not flipped).  Taps beyond ``L − 1`` cannot reach the output.
    D : array or float, optional
        Skip term broadcasting against ``u``'s batch axes; ``D·u`` is added.
    axis : int
        Time axis of ``u`` and the kernels.

    Returns
    -------
    y : array (..., L)
        :math:`y_t = \sum_{s\le t} k^{(0)}_{t-s} u_s + \sum_{s>t} k^{(1)}_{s-t-1} u_s (+ D u_t)`,
        of the broadcast batch shape; real when every operand is real.

    Raises
    ------
    ValueError
        Operands without a time axis, batch shapes that do not broadcast, ``D`` that does not
        fit ``u``'s batch shape, ``axis`` out of range.

    Notes
    -----
    This is S4's ``FFTConv`` with ``bidirectional=True``: the kernel
    :math:`K = \mathrm{pad\_right}(k^{(0)}, L) + \mathrm{pad\_left}(\mathrm{flip}(k^{(1)}), L)`
    (:func:`bidirectional_kernel`) circularly convolved with ``u`` over :math:`2L` points.
    Here the FFT length is any fast :math:`n \ge 2L`, with :math:`k^{(1)}` placed at the end
    of the length-:math:`n` kernel, which gives the same result.

    Recurrent definition.  With a forward system :math:`(\bar A_0, \bar B_0, C_0)`, kernel
    :math:`k^{(0)}_l = C_0\bar A_0^l\bar B_0`, and a backward system
    :math:`(\bar A_1, \bar B_1, C_1)`, :math:`k^{(1)}_l = C_1\bar A_1^l\bar B_1`:

    .. math::

        x_t = \bar A_0 x_{t-1} + \bar B_0 u_t,\quad x_{-1} = 0; \qquad
        z_t = \bar A_1 z_{t+1} + \bar B_1 u_t,\quad z_L = 0;

        y_t = C_0 x_t + C_1 z_{t+1} + D u_t .

    The backward output at ``t`` is read from :math:`z_{t+1}`, the state *before* it absorbs
    :math:`u_t` (S4's off-by-one): ``u_t`` reaches ``y_t`` through the forward kernel and
    ``D`` only.  In terms of causal passes,
    ``y = causal_conv(u, k0) + flip(causal_conv(flip(u), [0, k1]))`` — the reversed pass with
    its kernel delayed by one step.

    References
    ----------
    A. Gu, K. Goel, C. Ré, "Efficiently modeling long sequences with structured state
    spaces", ICLR 2022 (``FFTConv``, ``bidirectional=True`` in ``state-spaces/s4``).

    Examples
    --------
    Forward kernel ``[1]`` (identity) and backward kernel ``[1]``: each output adds the next input.

    >>> y = statespace.bidirectional_conv(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0]), np.array([1.0]))
    >>> np.round(y, 12).tolist()
    [3.0, 5.0, 7.0, 4.0]
    """
    xp = namespace(u, K_forward, K_backward, D)
    if getattr(u, "ndim", 0) < 1:
        raise ValueError(f"u must have a time axis (at least 1 dimension), got shape {getattr(u, 'shape', ())}")
    _check_kernels(K_forward, K_backward)
    ndim = max(u.ndim, K_forward.ndim, K_backward.ndim)
    axis = check_axis(axis, ndim, f"operands with {ndim} axes")
    u, k0, k1 = (time_last(xp, a, ndim, axis) for a in (u, K_forward, K_backward))
    dtype = float_dtype(xp, u, k0, k1, D, names=("u", "K_forward", "K_backward", "D"))
    device = device_of(u)
    length = u.shape[-1]
    try:
        batch = tuple(broadcast_shapes(u.shape[:-1], k0.shape[:-1], k1.shape[:-1]))
    except ValueError:
        raise ValueError(
            f"the batch axes of u {tuple(u.shape[:-1])}, K_forward {tuple(k0.shape[:-1])} and K_backward "
            f"{tuple(k1.shape[:-1])} do not broadcast"
        ) from None
    if D is not None:
        D = xp.asarray(D, dtype=dtype, device=device)
        if not broadcasts_to(D.shape, u.shape[:-1]):
            raise ValueError(f"D must broadcast to u's batch shape {tuple(u.shape[:-1])}, got shape {tuple(D.shape)}")
    y = _circular(xp, xp.asarray(u, dtype=dtype), k0, k1, length, dtype)
    if D is not None:
        y = y + xp.expand_dims(D, axis=-1) * u
    y = xp.broadcast_to(y, batch + (length,)) if tuple(y.shape[:-1]) != batch else y
    return xp.moveaxis(y, -1, axis % ndim) if axis % ndim != ndim - 1 else y


def _circular(xp, u, k0, k1, length, dtype):
    complex_data = is_complex(xp, dtype)
    if length == 0:
        shape = tuple(broadcast_shapes(u.shape[:-1], k0.shape[:-1], k1.shape[:-1])) + (0,)
        return xp.zeros(shape, dtype=dtype, device=device_of(u))
    n = fast_length(xp, 2 * length, real=not complex_data)
    if complex_data:
        dtype = complex_dtype(xp, dtype)
        u = xp.asarray(u, dtype=dtype)
    return fft_product(xp, u, _wrapped_kernel(xp, k0, k1, length, n, dtype), n, length, complex_data)
