r"""Streaming the convolution view: carry the state of a modal system from one chunk of input to the next.

A long sequence cut into chunks gives the one-shot output if each chunk's output adds
the response to the state carried in, and the state is carried on:

.. math::

    y_l = (K * u)_l + C \bar A^{\,l+1} x_{-1}, \qquad
    x_{L-1} = \bar A^L x_{-1} + \sum_{k<L} \bar A^{\,L-1-k} \bar B u_k .

For diagonal systems both are Vandermonde sums (:func:`state_kernel_diag`,
:func:`forward_state_diag`: the second is the *transposed* one, summed over time
instead of modes); for DPLR systems the output part is ``kernel_dplr(..., x0=)`` and
the state is a transposed Cauchy sum at the roots of unity (:func:`forward_state_dplr`),
S4's state forwarding without a step-by-step loop.
"""

from __future__ import annotations

import math

from ._backend import complex_dtype, device_of, float_dtype, namespace, real_dtype
from ._cauchy import cauchy_affine
from ._discretize import discretize_diag, discretize_dplr
from ._dispatch import capabilities
from ._kernels import check_dplr_operands
from ._validation import broadcast_shapes, check_choice, check_positive_int, require_modes
from ._vandermonde import vandermonde

__all__ = ["forward_state_diag", "forward_state_dplr", "state_kernel_diag"]

#: Discretizations whose B̄ does not depend on the chunk length.
STREAM_DIAG_METHODS = ("zoh", "bilinear", "zoh_simplified")
#: Elements of one ``(..., N2, block)`` weight block (bounds the memory of the transposed sums).
_BLOCK_ELEMENTS = 1 << 21


def _input(xp, u, name="u"):
    if not hasattr(u, "shape") or u.ndim < 1:
        raise ValueError(f"{name} must be an array (..., L) with time last, got {type(u).__name__}")
    return u


def _time_product(xp, weights, values, length, batch, n2, dtype):
    """``Σ_t weights(t0, t1)[..., n, t] · values[..., t]`` in time blocks: a matrix product per block."""
    block = max(1, _BLOCK_ELEMENTS // max(1, math.prod(batch) * n2))
    total = xp.zeros(tuple(batch) + (n2,), dtype=dtype, device=device_of(values))
    for t0 in range(0, length, block):
        t1 = min(length, t0 + block)
        total = total + (weights(t0, t1) @ values[..., t0:t1, None])[..., 0]
    return total


def _transposed_vandermonde(xp, x, u, batch):
    r"""``Σ_k u_k e^{(L-1-k) x_n}`` ``(batch..., N2)`` in blocks of ``Q ≈ √L`` steps: matrix products plus block decays.

    With ``k = oQ + j`` (the input left-padded with zeros to ``nQ`` steps), the sum is
    :math:`\sum_o e^{(n-1-o)Q x}\,\sum_j u_{oQ+j}\, e^{(Q-1-j)x}`: one ``(n, Q) @ (Q, N2)``
    product per channel with the shared block powers, then ``n`` block factors, so only
    :math:`O(N(Q + L/Q))` exponentials. Every power is one ``exp`` (no running products).
    """
    length = u.shape[-1]
    if length == 0:
        return xp.zeros(tuple(batch) + (x.shape[-1],), dtype=x.dtype, device=device_of(x))
    block = min(length, max(16, math.isqrt(length)))
    count = -(-length // block)
    pad = count * block - length
    if pad:
        u = xp.concat([xp.zeros(tuple(u.shape[:-1]) + (pad,), dtype=u.dtype, device=device_of(u)), u], axis=-1)
    u = xp.reshape(u, tuple(u.shape[:-1]) + (count, block))
    real = real_dtype(xp, x.dtype)
    j = xp.astype(xp.arange(block - 1, -1, -1, device=device_of(x)), real)
    inner = xp.exp(x[..., None, :] * xp.astype(j, x.dtype)[:, None])  # (..., Q, N2): e^{(Q-1-j) x}
    sums = u @ inner  # (batch..., n, N2)
    o = xp.astype(xp.arange(count - 1, -1, -1, device=device_of(x)), real) * block
    outer = xp.exp(x[..., None, :] * xp.astype(o, x.dtype)[:, None])  # (..., n, N2): e^{(n-1-o)Q x}
    return xp.broadcast_to(xp.sum(outer * sums, axis=-2), tuple(batch) + (x.shape[-1],))


@capabilities(dask="no", dask_note="sums over the whole chunk")
def forward_state_diag(Lambda, B, dt, u, *, x0=None, method: str = "zoh", per_mode: bool = False):
    r"""State of a diagonal system after a chunk of input, by a transposed Vandermonde sum (no loop).

    Parameters
    ----------
    Lambda : array, shape ``(..., N2)``
        Continuous eigenvalues (complex modes; each stands for its conjugate too).
    B : array, shape ``(..., N2)``
        Input vector of the modes.
    dt : float or array
        Positive step, one per system by the :ref:`step-size rule <conventions-steps>`, as in
        :func:`statespace.kernel_diag`; with ``per_mode=True`` the last axis is the mode axis.
    u : array, shape ``(..., L)``
        The chunk of input, time last; its batch axes broadcast against the system's.
    x0 : array, shape ``(..., N2)``, optional
        State before the chunk, :math:`x_{-1}` (half of a conj-symmetric state); zero by default.
    method : {"zoh", "bilinear", "zoh_simplified"}
        Discretization, as in :func:`statespace.kernel_diag`.
    per_mode : bool, keyword-only
        ``dt``'s last axis holds one step per mode (as in :func:`statespace.kernel_diag`).

    Returns
    -------
    array, shape ``broadcast(...) + (N2,)``, complex
        :math:`x_{L-1}`, the state after the chunk's last step (``x0`` when ``L = 0``).

    Raises
    ------
    ValueError
        Unknown method (the valid ones are listed), mismatched mode axes, batch axes
        that do not broadcast, bad ``dt``.

    Notes
    -----
    With :math:`x_n = \log\bar A_n` and :math:`\bar B` from
    :func:`statespace.discretize_diag` (``return_log=True``),

    .. math::

        x_{L-1,n} = e^{L x_n} x_{-1,n} + \bar B_n \sum_{k<L} e^{(L-1-k)\,x_n} u_k ,

    a Vandermonde matrix applied to the input along time (the transpose of the kernel's
    sum over modes, S4D's ``log_vandermonde_transpose``): :math:`O(N L)` work as matrix
    products over time blocks, accurate like the kernel (no cumulative products).
    Together with :func:`state_kernel_diag` it streams :func:`statespace.causal_conv`
    chunk by chunk with the one-shot result.

    Examples
    --------
    >>> Lambda, B = np.array([-0.5 + 1j]), np.array([1.0 + 0j])
    >>> u = np.ones(50)
    >>> x = statespace.forward_state_diag(Lambda, B, 0.1, u)
    >>> Ab, Bb = statespace.discretize_diag(Lambda, B, 0.1, "zoh")
    >>> _, x_loop = statespace.recurrence(Ab, Bb, np.ones(1), u, return_state=True)
    >>> bool(np.allclose(x, x_loop))
    True
    """
    xp = namespace(Lambda, B, dt, u, x0)
    check_choice(method, "method", STREAM_DIAG_METHODS)
    require_modes(Lambda, "Lambda")
    require_modes(B, "B", Lambda.shape[-1])
    u = _input(xp, u)
    dtype = complex_dtype(xp, float_dtype(xp, Lambda, B, u, x0))
    log_Ab, Bb = discretize_diag(
        xp.astype(Lambda, dtype), xp.astype(B, dtype), dt, method, return_log=True, per_mode=per_mode
    )
    length, n2 = u.shape[-1], log_Ab.shape[-1]
    system = tuple(broadcast_shapes(log_Ab.shape[:-1], Bb.shape[:-1], names=("Lambda/dt", "B")))
    batch = tuple(broadcast_shapes(system, u.shape[:-1], names=("the system", "u")))
    state = Bb * _transposed_vandermonde(xp, log_Ab, xp.astype(u, dtype), batch)
    if x0 is not None:
        require_modes(x0, "x0", n2)
        state = state + xp.exp(length * log_Ab) * xp.astype(x0, dtype)
    return state


@capabilities(dask="no", dask_note="sums over the whole chunk")
def state_kernel_diag(Lambda, C, dt, x0, L, *, method: str = "zoh", per_mode: bool = False):
    r"""Output of a carried state over the next ``L`` steps, :math:`2\,\mathrm{Re}\,C\bar A^{l+1}x_{-1}` (diagonal).

    Parameters
    ----------
    Lambda : array, shape ``(..., N2)``
        Continuous eigenvalues (complex modes; each stands for its conjugate too).
    C : array, shape ``(..., N2)``
        Output vector.
    dt : float or array
        Positive step, one per system by the :ref:`step-size rule <conventions-steps>`;
        with ``per_mode=True`` the last axis is the mode axis.
    x0 : array, shape ``(..., N2)``
        The carried state :math:`x_{-1}` (from :func:`forward_state_diag`, :func:`statespace.recurrence`
        or any other view).
    L : int
        Number of steps, positive.
    method : {"zoh", "bilinear", "zoh_simplified"}
        Discretization, as in :func:`statespace.kernel_diag`.
    per_mode : bool, keyword-only
        ``dt``'s last axis holds one step per mode.

    Returns
    -------
    array, shape ``broadcast(...) + (L,)``, real
        Add it to ``causal_conv(u, kernel_diag(...))`` to continue from ``x0``
        (``kernel_dplr(..., x0=)`` returns the same term for DPLR systems).

    Raises
    ------
    ValueError
        Unknown method, mismatched mode axes, bad ``dt`` or ``L``.

    Notes
    -----
    The zero-input response is a kernel whose input vector is :math:`\bar A x_{-1}`:
    :math:`2\,\mathrm{Re}\sum_n C_n x_{-1,n} e^{(l+1) x_n}`, one log-Vandermonde sum
    (:func:`statespace.vandermonde`).

    Examples
    --------
    >>> Lambda, B, C = np.array([-0.5 + 1j]), np.array([1.0 + 0j]), np.array([0.3 - 0.2j])
    >>> u = np.random.default_rng(0).normal(size=64)
    >>> K = statespace.kernel_diag(Lambda, B, C, 0.1, 64)
    >>> y = statespace.causal_conv(u, K)
    >>> x = statespace.forward_state_diag(Lambda, B, 0.1, u[:40])
    >>> tail = statespace.causal_conv(u[40:], K[:24]) + statespace.state_kernel_diag(Lambda, C, 0.1, x, 24)
    >>> bool(np.allclose(tail, y[40:]))
    True
    """
    xp = namespace(Lambda, C, dt, x0)
    check_choice(method, "method", STREAM_DIAG_METHODS)
    require_modes(Lambda, "Lambda")
    n2 = Lambda.shape[-1]
    require_modes(C, "C", n2)
    require_modes(x0, "x0", n2)
    L = check_positive_int(L, "L")
    dtype = complex_dtype(xp, float_dtype(xp, Lambda, C, x0))
    Lambda = xp.astype(Lambda, dtype)
    log_Ab, _ = discretize_diag(Lambda, xp.ones_like(Lambda), dt, method, return_log=True, per_mode=per_mode)
    return vandermonde(xp.astype(C, dtype) * xp.astype(x0, dtype) * xp.exp(log_Ab), log_Ab, L, conj=True)


@capabilities(engines=("xp", "numba", "cupy"), dask="no", dask_note="sums over the whole chunk")
def forward_state_dplr(Lambda, P, B, dt, u, *, x0=None, engine=None):
    r"""State of a bilinear DPLR (S4) system after a chunk of input, by Cauchy sums at the roots of unity.

    Parameters
    ----------
    Lambda : array, shape ``(..., N2)``
        Diagonal part (complex modes, each standing for its conjugate too).
    P : array, shape ``(..., r, N2)``
        Low-rank factor, any rank ``r >= 0``: :math:`A = \mathrm{diag}(\Lambda,\bar\Lambda) - pp^*`.
    B : array, shape ``(..., N2)``
        Input vector.
    dt : float or array
        Positive step, one per system by the :ref:`step-size rule <conventions-steps>` (``(H,)``;
        a per-mode step is not defined for a non-diagonal ``A``).
    u : array, shape ``(..., L)``
        The chunk of real input, time last; its batch axes broadcast against the system's.
    x0 : array, shape ``(..., N2)``, optional
        State before the chunk (half of a conj-symmetric state); zero by default.
    engine : {None, "auto", "xp", "numba", "cupy"}, keyword-only
        Engine of the forward Cauchy sums (as in :func:`statespace.kernel_dplr`).

    Returns
    -------
    array, shape ``broadcast(...) + (N2,)``, complex
        The state after the chunk's last step, in the half basis that
        :func:`statespace.recurrence` and ``kernel_dplr(..., x0=)`` use.

    Raises
    ------
    ValueError
        Mismatched mode axes, ``P`` without a rank axis, batch axes that do not
        broadcast, a per-mode or bad ``dt``, an empty chunk.
    TypeError
        Complex ``u`` (the conj-symmetric state needs a real input).

    Notes
    -----
    With :math:`\tilde u_j = u_{L-1-j}` and :math:`\hat u_m = \sum_j \tilde u_j\omega_m^{-j}`
    (its DFT, :math:`\omega_m = e^{2\pi i m/L}`), the identity
    :math:`\bar A^j = \frac1L\sum_m \omega_m^{-j}(I-\bar A^L)(I-\omega_m\bar A)^{-1}`
    (:math:`0 \le j < L`) gives

    .. math::

        x_{L-1} = y + \bar A^L (x_{-1} - y), \qquad
        y = \frac1L \sum_m \hat u_m\,(I - \omega_m\bar A)^{-1}\bar B .

    For the bilinear system :math:`(I-\omega\bar A)^{-1}\bar B = 2[D + b\Delta pp^*]^{-1}\Delta B`
    with :math:`D = \mathrm{diag}(a - b\Delta\Lambda)`, :math:`a = 2(1-\omega)`,
    :math:`b = 1+\omega`; Woodbury turns it into

    .. math::

        y_n = \frac2L\sum_m \hat u_m\,\frac{\Delta B_n - b_m \Delta P_n\cdot c(\omega_m)}{a_m - b_m\Delta\Lambda_n},
        \qquad c = (I_r + b\,S_{\bar PP})^{-1} s_{\bar PB},

    with the system's Cauchy sums :math:`S_{\bar PP}`, :math:`s_{\bar PB}` of
    :func:`statespace.kernel_dplr` (at all ``L`` nodes) and, per input, one *transposed*
    Cauchy sum over the nodes: :math:`O(r^2 N L)` per system and :math:`O(r N L)` per
    input row. The only dense object is :math:`\bar A^L` (formed once per call by
    repeated squaring, :math:`O(N^3\log L)`, and applied as one matrix-vector product
    per row) — the same power that S4's :math:`\tilde C` holds; no sequential loop.

    References
    ----------
    A. Gu, K. Goel, C. Ré, "Efficiently Modeling Long Sequences with Structured State
    Spaces" (S4), ICLR 2022 (state forwarding of the convolution view).

    Examples
    --------
    >>> Lambda = np.array([-0.5 + 1j, -0.5 + 3j]); P = np.array([[0.3 + 0j, 0.2 + 0.1j]])
    >>> B = np.array([1 + 0j, 0.5j]); u = np.random.default_rng(0).normal(size=30)
    >>> x = statespace.forward_state_dplr(Lambda, P, B, 0.1, u)
    >>> record = statespace.discretize_dplr(Lambda, P, B, 0.1, "bilinear")
    >>> _, x_loop = statespace.recurrence(record, None, np.ones(2, complex), u, return_state=True)
    >>> bool(np.allclose(x, x_loop))
    True
    """
    xp = namespace(Lambda, P, B, dt, u, x0)
    u = _input(xp, u)
    length = check_dplr_operands(Lambda, P, B, B, x0, u.shape[-1])
    if xp.isdtype(u.dtype, "complex floating"):
        raise TypeError("u must be real: the half state of a conj-symmetric system needs a real input")
    dtype = complex_dtype(xp, float_dtype(xp, Lambda, P, B, u, x0))
    Lambda, P, B = (xp.astype(v, dtype) for v in (Lambda, P, B))
    Ab, _ = discretize_dplr(Lambda, P, B, dt, "bilinear", dense=True)  # validates dt: one step per system
    record = discretize_dplr(Lambda, P, B, dt, "bilinear")
    delta = xp.astype(record.dt, dtype)  # (..., 1)
    n2, rank, dev = Lambda.shape[-1], P.shape[-2], device_of(Lambda)
    system = tuple(
        broadcast_shapes(
            Lambda.shape[:-1], P.shape[:-2], B.shape[:-1], delta.shape[:-1], names=("Lambda", "P", "B", "dt")
        )
    )
    batch = tuple(broadcast_shapes(system, u.shape[:-1], names=("the system", "u")))

    m = xp.arange(length, dtype=xp.float64, device=dev)
    angle = 2 * math.pi * m / length
    omega = xp.astype(xp.astype(xp.cos(angle), xp.complex128) + 1j * xp.astype(xp.sin(angle), xp.complex128), dtype)
    a, b = 2 * (1 - omega), 1 + omega
    w = delta * Lambda  # (..., N2)
    if rank:  # c(ω) = (I + b S_PP)^{-1} s_PB, per system and node
        rows = xp.conj(P)  # (..., r, N2)
        inputs = xp.concat(
            [xp.broadcast_to((delta * B)[..., None, :], system + (1, n2)), delta[..., None, :] * P], axis=-2
        )
        pairs = rows[..., :, None, :] * xp.broadcast_to(inputs, system + (rank + 1, n2))[..., None, :, :]
        sums = cauchy_affine(xp.reshape(pairs, system + (rank * (rank + 1), n2)), a, b, w[..., None, :], engine=engine)
        sums = xp.permute_dims(xp.reshape(sums, system + (rank, rank + 1, length)), _last_first(len(system) + 3))
        eye = xp.eye(rank, dtype=dtype, device=dev)
        capacitance = eye + b[:, None, None] * sums[..., 1:]  # (..., L, r, r)
        c = xp.linalg.solve(capacitance, sums[..., 0:1])[..., 0]  # (..., L, r)
        correction = (b[:, None] * c) @ (delta[..., None] * P)  # (..., L, N2): b_m ΔP_n·c(ω_m)
    else:
        correction = xp.zeros(system + (length, n2), dtype=dtype, device=dev)
    numerator = (delta * B)[..., None, :] - correction  # (..., L, N2)
    u_hat = xp.fft.fft(xp.astype(xp.flip(u, axis=-1), dtype), axis=-1) * (2 / length)

    def weights(t0, t1):  # (..., N2, t1 - t0): the transposed Cauchy matrix at nodes t0..t1
        num = xp.permute_dims(numerator[..., t0:t1, :], _swap_last(numerator.ndim))
        return num / (a[t0:t1] - b[t0:t1] * w[..., :, None])

    y = _time_product(xp, weights, u_hat, length, batch, n2, dtype)
    start = y if x0 is None else y - xp.astype(x0, dtype)
    full = xp.concat([start, xp.conj(start)], axis=-1)
    power = xp.linalg.matrix_power(Ab, length)
    moved = (power @ full[..., None])[..., :n2, 0]
    return y - moved


def _last_first(ndim):
    """Axes order moving the last axis to third-from-last: (..., i, j, L) → (..., L, i, j)."""
    return tuple(range(ndim - 3)) + (ndim - 1, ndim - 3, ndim - 2)


def _swap_last(ndim):
    return tuple(range(ndim - 2)) + (ndim - 1, ndim - 2)
