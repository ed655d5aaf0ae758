r"""Convolution kernels :math:`K_l = C \bar A^l \bar B` of discrete linear systems.

* :func:`kernel_naive`: powers of a dense or diagonal discrete system (the slow reference).
* :func:`kernel_diag`: the S4D kernel, log-Vandermonde sum of a diagonal system.
* :func:`kernel_dplr`: the S4 kernel of a diagonal-plus-low-rank system
  (truncated generating function at the roots of unity, Cauchy sums,
  Woodbury identity, inverse real FFT), with the :math:`\tilde C` helpers
  :func:`dplr_ctilde`, :func:`dplr_ctilde_inverse`, :func:`dplr_ctilde_double`.
* :func:`cauchy`, :func:`vandermonde`: the two hot sums, with xp and numba engines.

Modal (diagonal / DPLR) systems store N2 = N/2 complex modes on the last axis
and, with the conjugate convention (DESIGN.md), stand for the real N-dimensional
system :math:`A = \mathrm{diag}(\Lambda, \bar\Lambda) - p p^*`,
:math:`p = [P; \bar P]`, :math:`B = [B; \bar B]`, :math:`C = [C; \bar C]`, so
real kernels are :math:`2\,\mathrm{Re}` of sums over the stored half.
"""

from __future__ import annotations

import math
import warnings

from ._backend import complex_dtype, device_of, float_dtype, is_complex, namespace, real_dtype
from ._cauchy import cauchy, cauchy_affine
from ._discretize import discretize_diag, dplr_dense
from ._dispatch import capabilities
from ._engines.traced import is_traced
from ._validation import (
    broadcast_shapes,
    check_choice,
    check_flag,
    check_modal_step,
    check_positive_int,
    require_modes,
)
from ._vandermonde import vandermonde

__all__ = [
    "cauchy",
    "vandermonde",
    "kernel_naive",
    "kernel_diag",
    "kernel_dplr",
    "dplr_ctilde",
    "dplr_ctilde_inverse",
    "dplr_ctilde_double",
]

#: Discretizations :func:`kernel_diag` supports.
DIAG_KERNEL_METHODS = ("zoh", "bilinear", "zoh_simplified", "dss")


# --------------------------------------------------------------------------------------
# the reference: powers
# --------------------------------------------------------------------------------------
@capabilities(dask="xp")
def kernel_naive(Ab, Bb, C, L, *, conj: bool = True, structure=None):
    r"""Kernel :math:`K_l = C \bar A^l \bar B` by explicit powers (the slow reference).

    Parameters
    ----------
    Ab : array, shape ``(..., N, N)`` (dense) or ``(..., N2)`` (diagonal)
        Discrete state matrix, or its diagonal.
    Bb : array, shape ``(..., N)`` or ``(..., N2)``
        Discrete input vector.
    C : array, shape ``(..., N)`` or ``(..., N2)``
        Output vector (contracted without conjugation).
    L : int
        Kernel length, positive.
    conj : bool, default True
        Diagonal systems only: each stored mode stands for itself and its
        conjugate, return the real :math:`2\,\mathrm{Re}\sum_n`.  Ignored for
        dense systems.
    structure : {None, "dense", "diag"}
        ``None`` infers: dense when ``Ab`` has one axis more than ``Bb``.

    Returns
    -------
    array, shape ``broadcast(...) + (L,)``
        Real for diagonal systems with ``conj=True``; for dense systems real
        when all inputs are real, complex otherwise (a conj-extended modal
        system gives a real kernel up to rounding in the imaginary part).

    Raises
    ------
    ValueError
        Mismatched state sizes, batch axes that do not broadcast, ``L <= 0``,
        unknown ``structure``.
    TypeError
        Non-integer ``L`` or non-array arguments.

    Notes
    -----
    The powers are formed by doubling, :math:`[X, \bar A^{m} X]` with
    :math:`\bar A^{2m} = (\bar A^m)^2`, so it takes :math:`\lceil\log_2 L\rceil`
    batched products and materializes the whole ``(..., N, L)`` Krylov matrix:
    memory :math:`O(\mathrm{batch}\cdot N \cdot L)`.  Use it for checking, not
    in production.

    Examples
    --------
    >>> np.round(statespace.kernel_naive(np.array([0.5 + 0j]), np.array([1 + 0j]), np.array([1 + 0j]), 4), 4)
    array([2.  , 1.  , 0.5 , 0.25])
    >>> Ab = np.array([[0.5, 1.0], [0.0, 0.5]])
    >>> statespace.kernel_naive(Ab, np.array([0.0, 1.0]), np.array([1.0, 0.0]), 4)
    array([0. , 1. , 1. , 0.75])
    """
    check_flag(conj, "conj")
    xp = namespace(Ab, Bb, C)
    for x, name in ((Ab, "Ab"), (Bb, "Bb"), (C, "C")):
        require_modes(x, name)
    L = check_positive_int(L, "L")
    if structure is None:
        structure = "dense" if Ab.ndim >= 2 and Ab.ndim == Bb.ndim + 1 else "diag"
    check_choice(structure, "structure", ("dense", "diag"))
    dtype = float_dtype(xp, Ab, Bb, C, names=("Ab", "Bb", "C"))
    Ab, Bb, C = (xp.astype(x, dtype) for x in (Ab, Bb, C))
    if structure == "dense":
        return _naive_dense(xp, Ab, Bb, C, L)
    return _naive_diag(xp, Ab, Bb, C, L, bool(conj))


def _naive_dense(xp, Ab, Bb, C, L):
    if Ab.ndim < 2 or Ab.shape[-1] != Ab.shape[-2]:
        raise ValueError(f"Ab must be square matrices (..., N, N) for a dense system, got shape {tuple(Ab.shape)}")
    n = Ab.shape[-1]
    require_modes(Bb, "Bb", n)
    require_modes(C, "C", n)
    batch = broadcast_shapes(Ab.shape[:-2], Bb.shape[:-1], C.shape[:-1], names=("Ab", "Bb", "C"))
    krylov = xp.broadcast_to(Bb, batch + (n,))[..., None]
    power = Ab
    while krylov.shape[-1] < L:
        needed = min(krylov.shape[-1], L - krylov.shape[-1])
        krylov = xp.concat([krylov, power @ krylov[..., :needed]], axis=-1)
        if krylov.shape[-1] < L:
            power = power @ power
    return xp.sum(C[..., None] * krylov, axis=-2)


def _naive_diag(xp, Ab, Bb, C, L, conj):
    n2 = Ab.shape[-1]
    require_modes(Bb, "Bb", n2)
    require_modes(C, "C", n2)
    batch = broadcast_shapes(Ab.shape[:-1], Bb.shape[:-1], C.shape[:-1], names=("Ab", "Bb", "C"))
    powers = xp.ones(batch + (n2, 1), dtype=Ab.dtype, device=device_of(Ab))
    power = Ab[..., None]
    while powers.shape[-1] < L:
        needed = min(powers.shape[-1], L - powers.shape[-1])
        powers = xp.concat([powers, power * powers[..., :needed]], axis=-1)
        if powers.shape[-1] < L:
            power = power * power
    total = xp.sum((C * Bb)[..., None] * powers, axis=-2)
    return 2 * xp.real(total) if conj and is_complex(xp, total) else (2 * total if conj else total)


# --------------------------------------------------------------------------------------
# S4D: diagonal systems through log-Vandermonde sums
# --------------------------------------------------------------------------------------
@capabilities(
    engines=("xp", "numba", "cupy"), dask="lazy", dask_note="the mode axis in one chunk", methods=DIAG_KERNEL_METHODS
)
def kernel_diag(Lambda, B, C, dt, L: int, method: str = "zoh", *, per_mode: bool = False, engine: str | None = None):
    r"""S4D kernel :math:`K_l = 2\,\mathrm{Re}\sum_n C_n \bar B_n \bar A_n^{\,l}` of a diagonal system.

    Parameters
    ----------
    Lambda : array, shape ``(..., N2)``
        Continuous eigenvalues (complex modes; each stands for its conjugate too).
    B, C : array, shape ``(..., N2)``
        Input and output vectors of the modes (``B`` may have a mode axis of 1).
    dt : float or array_like
        Positive step, one per system by the :ref:`step-size rule <conventions-steps>`:
        ``dt (H,)`` with a shared ``Lambda (N2,)`` or a per-channel ``Lambda (H, N2)``
        gives an ``(H, L)`` kernel, whatever ``H`` and ``N2`` are.  With
        ``per_mode=True`` the last axis of ``dt`` is the mode axis (``(H, N2)``).
    L : int
        Kernel length, positive.
    method : {"zoh", "bilinear", "zoh_simplified", "dss"}
        Discretization (see Notes).
    per_mode : bool, default False
        Read the last axis of ``dt`` as the mode axis (see :ref:`conventions-steps`).
    engine : {None, "auto", "xp", "numba", "cupy"}, keyword-only
        Engine of the Vandermonde sum.

    Returns
    -------
    array, shape ``broadcast(...) + (L,)``, real
        Float32 for single-precision inputs, float64 otherwise.

    Raises
    ------
    ValueError
        Unknown method (the valid ones are listed), mismatched mode axes, bad
        ``dt`` or ``L``.
    TypeError
        Non-integer ``L``, complex ``dt``.

    Warns
    -----
    RuntimeWarning
        If some :math:`\mathrm{Re}\,\Lambda > 0` with ``zoh``, ``bilinear`` or
        ``zoh_simplified``: the kernel grows like :math:`e^{l\Delta\mathrm{Re}\Lambda}`
        and may overflow.  ``dss`` handles such modes exactly (see Notes).
        Not under ``jax.jit`` (traced values cannot be inspected).

    Notes
    -----
    With :math:`x = \log\bar A` and :math:`\bar B` from
    :func:`statespace.discretize_diag` (``return_log=True``: ZOH
    :math:`x = \Delta\Lambda`, :math:`\bar B = \operatorname{expm1}(\Delta\Lambda)/\Lambda\,B`;
    bilinear :math:`x = 2\operatorname{atanh}(\Delta\Lambda/2)`,
    :math:`\bar B = \Delta B/(1-\Delta\Lambda/2)`; zoh_simplified
    :math:`x = \Delta\Lambda`, :math:`\bar B = \Delta B`), the kernel is the
    log-Vandermonde sum :math:`2\,\mathrm{Re}\sum_n C_n\bar B_n e^{l x_n}`
    (:func:`vandermonde`): no cumulative products, no :math:`e^{z}-1`
    cancellation, so float32 kernels stay accurate for small :math:`\Delta`.

    ``dss`` (S4's DSS-exp) uses :math:`\bar A = e^{\Delta\Lambda}` and
    :math:`\bar B = \operatorname{expm1}(\Delta\Lambda) B / (\Lambda\operatorname{expm1}(L\Delta\Lambda))`.
    A mode with :math:`\mathrm{Re}\,\Lambda > 0` is evaluated through the identity
    :math:`\frac{\operatorname{expm1}(x)}{\operatorname{expm1}(Lx)} e^{l x}
    = \frac{\operatorname{expm1}(-x)}{\operatorname{expm1}(-Lx)} e^{(L-1-l)(-x)}`,
    i.e. as a time-reversed Vandermonde sum in :math:`-x`, so every exponent
    has a non-positive real part (S4 subtracts :math:`(L-1)x` from the
    exponents for the same reason).  **Factor 2:** this function returns
    :math:`2\,\mathrm{Re}` for ``dss`` as for every method, so the result is
    the kernel of the conj-extended system (it equals :func:`kernel_naive` of
    the same discrete system).  S4's ``disc='dss'`` branch returns
    :math:`\mathrm{Re}` without the 2, i.e. half of this kernel; multiply by
    0.5 to reproduce it.

    Under ``jax.jit``, ``Lambda``, ``B`` and ``C`` may be traced; ``dt`` must be a
    Python float and ``L`` an int (static: ``dt`` is validated, positive and finite,
    in Python and ``L`` is a shape).  ``dss`` then always
    evaluates both Vandermonde sums, since Python cannot read which modes are
    unstable.

    References
    ----------
    A. Gu, A. Gupta, K. Goel, C. Ré, "On the Parameterization and
    Initialization of Diagonal State Space Models", NeurIPS 2022.
    A. Gupta, A. Gu, J. Berant, "Diagonal State Spaces are as Effective as
    Structured State Spaces", NeurIPS 2022 (DSS).

    Examples
    --------
    >>> Lambda = np.array([-0.5 + 0j]); B = np.ones(1, complex); C = np.ones(1, complex)
    >>> K = statespace.kernel_diag(Lambda, B, C, 0.1, 3, method="zoh")
    >>> np.round(K, 5)            # 2 (1 - e^{-0.05})/0.5 · e^{-0.05 l}
    array([0.19508, 0.18557, 0.17652])
    """
    xp = namespace(Lambda, B, C, dt)
    if any(is_traced(a) for a in (Lambda, B, C, dt)) and not isinstance(dt, int | float):
        raise TypeError(
            "kernel_diag under a JAX transformation (jax.jit): dt must be a Python float, got "
            f"{type(dt).__name__}; its values are checked (positive, finite) in Python, which traced arrays forbid"
        )
    check_choice(method, "method", DIAG_KERNEL_METHODS)
    Lambda, B, C = as_arrays(xp, (Lambda, B, C), dt)
    require_modes(Lambda, "Lambda")
    require_modes(C, "C", Lambda.shape[-1])
    L = check_positive_int(L, "L")
    dtype = complex_dtype(xp, float_dtype(xp, Lambda, B, C, names=("Lambda", "B", "C")))
    Lambda, C = xp.astype(Lambda, dtype), xp.astype(C, dtype)
    check_modal_step(dt, xp, Lambda, dtype=real_dtype(xp, dtype), per_mode=per_mode, operands={"B": B, "C": C})
    unstable = xp.real(Lambda) > 0
    if method != "dss":
        _warn_unstable(xp, unstable, "kernel_diag")
        log_Ab, Bb = discretize_diag(Lambda, B, dt, method, return_log=True, per_mode=per_mode)
        return vandermonde(C * Bb, log_Ab, L, conj=True, engine=engine)
    one = xp.ones((), dtype=dtype, device=device_of(Lambda))
    zero = xp.zeros((), dtype=dtype, device=device_of(Lambda))
    flip = xp.where(unstable, -one, one)
    log_Ab, Bb = discretize_diag(Lambda * flip, B, dt, "dss", L=L, return_log=True, per_mode=per_mode)
    coefficients = C * Bb * flip
    kernel = vandermonde(xp.where(unstable, zero, coefficients), log_Ab, L, conj=True, engine=engine)
    if is_traced(unstable) or bool(xp.any(unstable)):
        reversed_part = vandermonde(xp.where(unstable, coefficients, zero), log_Ab, L, conj=True, engine=engine)
        kernel = kernel + xp.flip(reversed_part, axis=-1)
    return kernel


def as_arrays(xp, values, *others):
    """``values`` as arrays of ``xp`` (array_like scalars and lists converted once, on the arrays' device)."""
    device = next((device_of(v) for v in values + others if hasattr(v, "dtype") and hasattr(v, "shape")), None)
    return tuple(v if v is None or hasattr(v, "dtype") else xp.asarray(v, device=device) for v in values)


def _warn_unstable(xp, unstable, func: str):
    if not is_traced(unstable) and bool(xp.any(unstable)):
        warnings.warn(
            f"{func}: some modes have Re(Lambda) > 0 (unstable continuous system); the kernel grows "
            "exponentially with l. Clamp Re(Lambda) <= -1e-4 (S4's convention) if this is not intended.",
            RuntimeWarning,
            stacklevel=3,
        )


# --------------------------------------------------------------------------------------
# S4: DPLR systems through Cauchy sums and the Woodbury identity
# --------------------------------------------------------------------------------------
@capabilities(engines=("xp", "numba", "cupy"), dask="lazy", dask_note="the rank and mode axes in one chunk")
def kernel_dplr(
    Lambda,
    P,
    B,
    C,
    dt,
    L: int,
    *,
    x0=None,
    ctilde: bool = True,
    per_mode: bool = False,
    engine: str | None = None,
):
    r"""S4 kernel of the bilinear-discretized DPLR system :math:`A = \Lambda - P P^*`.

    Parameters
    ----------
    Lambda : array, shape ``(..., N2)``
        Diagonal part (complex modes, each standing for its conjugate too).
    P : array, shape ``(..., r, N2)``
        Low-rank factor, any rank ``r >= 0`` (the right factor is :math:`Q = \bar P`).
    B : array, shape ``(..., N2)``
        Input vector.
    C : array, shape ``(..., N2)``
        :math:`\tilde C = (I - \bar A^L)^T C` by default (S4's stored
        parameter, attuned to length ``L``; see :func:`dplr_ctilde`), or the
        raw output vector with ``ctilde=False``.
    dt : float or array_like
        Positive step, one per system by the :ref:`step-size rule <conventions-steps>`:
        ``dt (H,)`` with a shared ``Lambda (N2,)`` gives an ``(H, L)`` kernel
        (a per-mode step is not defined for a non-diagonal ``A``).
    L : int
        Kernel length, positive.
    x0 : array, shape ``(..., N2)``, optional
        Initial state :math:`x_{-1}` (half of a conj-symmetric state).  When
        given, the output contribution :math:`C\bar A^{l+1} x_{-1}` is
        returned too (state forwarding: continue a sequence from a state).
    ctilde : bool, default True
        Whether ``C`` holds :math:`\tilde C` (True) or the raw :math:`C`
        (False: :math:`\tilde C` is computed here with :func:`dplr_ctilde`,
        :math:`O(N^3 \log L)` per system).
    per_mode : bool, default False
        Read the last axis of ``dt`` as the mode axis (see :ref:`conventions-steps`).
    engine : {None, "auto", "xp", "numba", "cupy"}, keyword-only
        Engine of the Cauchy sums.

    Returns
    -------
    K : array, shape ``broadcast(...) + (L,)``, real
        :math:`K_l = C \bar A^l \bar B` of the conj-extended real system.
    K_state : array, shape ``broadcast(...) + (L,)``, real
        Only when ``x0`` is given: :math:`C \bar A^{l+1} x_{-1}`, so that
        ``y = causal_conv(u, K) + K_state`` continues from :math:`x_{-1}`.

    Raises
    ------
    ValueError
        Mismatched mode axes, ``P`` without a rank axis, batch axes that do not
        broadcast, bad ``dt`` or ``L``.
    TypeError
        Non-integer ``L``, complex ``dt``, non-array arguments.

    Warns
    -----
    RuntimeWarning
        If some :math:`\mathrm{Re}\,\Lambda > 0`: the diagonal part is unstable
        and the kernel may be dominated by growing modes.  The computation
        stays exact as long as no discrete eigenvalue is an L-th root of unity.

    Notes
    -----
    Bilinear discretization: :math:`\bar A = (I - \tfrac{\Delta}{2}A)^{-1}(I + \tfrac{\Delta}{2}A)`,
    :math:`\bar B = (I - \tfrac{\Delta}{2}A)^{-1}\Delta B`.  The truncated
    generating function at the roots of unity :math:`\omega_j = e^{-2\pi i j/L}`
    is the DFT of the kernel:

    .. math::

        \hat K(\omega_j) = \sum_{l<L} K_l\,\omega_j^l = \tilde C^T (I - \bar A\omega_j)^{-1} \bar B,
        \qquad \tilde C = (I - \bar A^L)^T C.

    With :math:`w = \Delta\Lambda`, :math:`a = 2(1-\omega)`, :math:`b = 1+\omega`
    and the conj-extended Cauchy sums
    :math:`s_{xy}(\omega) = \sum_n x_n y_n / (a - b\,w_n)` (+ conjugate modes)
    over the rows :math:`x \in \{\tilde C, \bar P_1..\bar P_r\}`,
    :math:`y \in \{\Delta B, \Delta P_1..\Delta P_r\}`, Woodbury gives the
    singularity-free resolvent form

    .. math::

        \hat K = 2\left[s_{\tilde C B} - b\, s_{\tilde C P}\,(I_r + b\, S_{\bar P P})^{-1} s_{\bar P B}\right],

    explicit for ranks 1 and 2, a batched ``r × r`` solve above.  Unlike S4's
    :math:`z = 2(1-\omega)/(1+\omega)` form it stays finite at the Nyquist node
    :math:`\omega = -1` (set exactly, where :math:`\hat K = 2 s_{\tilde C B}`)
    and for :math:`\mathrm{Re}\,\Lambda = 0`.  Finally ``K = irfft(K̂, n=L)``.
    The Cauchy sums run blocked along ``L`` (xp) or fused (numba); memory is
    :math:`O(\mathrm{batch}\cdot r^2 (N + L))`.

    The initial-state row is :math:`s = x_{-1}/\Delta + (\Lambda x_{-1} - P q)/2`,
    :math:`q = 2\,\mathrm{Re}(\bar P x_{-1})` (that is,
    :math:`\Delta s = (I + \tfrac{\Delta}{2}A)x_{-1}`, so :math:`\bar B(s) = \bar A x_{-1}`).

    References
    ----------
    A. Gu, K. Goel, C. Ré, "Efficiently Modeling Long Sequences with Structured
    State Spaces" (S4), ICLR 2022, Algorithm 1 and Appendix C.

    Examples
    --------
    >>> Lambda = np.array([-0.5 + 1j, -0.5 + 3j]); P = np.array([[0.3 + 0j, 0.2 + 0.1j]])
    >>> B = np.array([1 + 0j, 0.5j]); C = np.array([0.5 + 0.5j, -1 + 0j])
    >>> K = statespace.kernel_dplr(Lambda, P, B, C, 0.1, 8, ctilde=False)
    >>> K.shape, K.dtype
    ((8,), dtype('float64'))
    """
    xp = namespace(Lambda, P, B, C, dt, x0)
    Lambda, P, B, C, x0 = as_arrays(xp, (Lambda, P, B, C, x0), dt)
    check_flag(ctilde, "ctilde")
    L = check_dplr_operands(Lambda, P, B, C, x0, L)
    dtype = complex_dtype(xp, float_dtype(xp, Lambda, P, B, C, x0, names=("Lambda", "P", "B", "C", "x0")))
    Lambda, P, B, C = (xp.astype(x, dtype) for x in (Lambda, P, B, C))
    operands = {"P": tuple(P.shape[:-2]), "B": B, "C": C, "x0": x0}
    step = check_modal_step(dt, xp, Lambda, dtype=real_dtype(xp, Lambda.dtype), per_mode=per_mode, operands=operands)
    _warn_unstable(xp, xp.real(Lambda) > 0, "kernel_dplr")
    if not ctilde:
        C = _ctilde_apply(xp, Lambda, P, C, step, L, sign=-1)
    kernel = _dplr_kernel(xp, Lambda, P, B, C, step, L, engine)
    if x0 is None:
        return kernel
    x0 = xp.astype(x0, dtype)
    q = 2 * xp.real(xp.sum(xp.conj(P) * x0[..., None, :], axis=-1))
    state_row = x0 / xp.astype(step, dtype) + (Lambda * x0 - xp.sum(P * xp.astype(q, dtype)[..., None], axis=-2)) / 2
    return kernel, _dplr_kernel(xp, Lambda, P, state_row, C, step, L, engine)


def check_dplr_operands(Lambda, P, B, C, x0, L) -> int:
    """Mode axes of a DPLR system (and its initial state) agree, ``P`` has a rank axis; returns ``L``."""
    require_modes(Lambda, "Lambda")
    n2 = Lambda.shape[-1]
    require_modes(P, "P", n2, min_ndim=2)
    require_modes(B, "B", n2)
    require_modes(C, "C", n2)
    if x0 is not None:
        require_modes(x0, "x0", n2)
    return check_positive_int(L, "L")


def unit_roots(xp, L, dtype, device):
    r""":math:`\omega_j = e^{-2\pi i j/L}`, j = 0..L//2, from float64 angles; the Nyquist node is exactly −1."""
    j = xp.arange(L // 2 + 1, dtype=xp.float64, device=device)
    angle = math.pi * (2 * j / L)
    sine = xp.where(2 * j == L, xp.zeros((), dtype=xp.float64, device=device), xp.sin(angle))
    omega = xp.astype(xp.cos(angle), xp.complex128) - 1j * xp.astype(sine, xp.complex128)
    return xp.astype(omega, dtype)


def woodbury_operands(xp, Lambda, P, B, C, step):
    """The Cauchy sums' weights of the DPLR kernel, shared by :func:`kernel_dplr` and its VJP.

    Returns ``(batch, delta, inputs, outputs)``: ``inputs = [Δ·B; Δ·P]`` and ``outputs = [C; P̄]``, each
    ``batch + (r + 1, N2)``; the sums need every product ``outputs[i] · inputs[j]``.
    """
    rank, n2 = P.shape[-2], Lambda.shape[-1]
    batch = tuple(
        broadcast_shapes(
            Lambda.shape[:-1],
            P.shape[:-2],
            B.shape[:-1],
            C.shape[:-1],
            step.shape[:-1],
            names=("Lambda", "P", "B", "C", "dt"),
        )
    )
    delta = xp.astype(step, Lambda.dtype)
    inputs = xp.concat(
        [
            xp.broadcast_to((delta * B)[..., None, :], batch + (1, n2)),
            xp.broadcast_to(delta[..., None, :] * P, batch + (rank, n2)),
        ],
        axis=-2,
    )
    outputs = xp.concat(
        [xp.broadcast_to(C[..., None, :], batch + (1, n2)), xp.broadcast_to(xp.conj(P), batch + (rank, n2))], axis=-2
    )
    return batch, delta, inputs, outputs


def _dplr_kernel(xp, Lambda, P, B, C, step, L, engine):
    """Kernel of one input row ``B`` (and ``C`` = C̃) by Cauchy sums + Woodbury + irfft."""
    dtype, device = Lambda.dtype, device_of(Lambda)
    rank, n2 = P.shape[-2], Lambda.shape[-1]
    batch, delta, inputs, outputs = woodbury_operands(xp, Lambda, P, B, C, step)
    pairs = xp.reshape(outputs[..., :, None, :] * inputs[..., None, :, :], batch + ((rank + 1) ** 2, n2))
    omega = unit_roots(xp, L, dtype, device)
    bw = 1 + omega
    sums = cauchy_affine(pairs, 2 * (1 - omega), bw, (delta * Lambda)[..., None, :], conj=True, engine=engine)
    sums = xp.reshape(sums, batch + (rank + 1, rank + 1, omega.shape[0]))
    khat = 2 * (sums[..., 0, 0, :] - bw * _woodbury_correction(xp, sums, bw, rank))
    return xp.fft.irfft(khat, n=L, axis=-1)


def _woodbury_correction(xp, s, bw, rank):
    r""":math:`s_{\tilde C P} (I + b S_{\bar P P})^{-1} s_{\bar P B}` per node; ``s[..., i, j, :]`` (rows C̃,P̄ × B,P)."""
    if rank == 0:
        return xp.zeros_like(s[..., 0, 0, :])
    if rank == 1:
        return s[..., 0, 1, :] * s[..., 1, 0, :] / (1 + bw * s[..., 1, 1, :])
    if rank == 2:
        m00, m01 = 1 + bw * s[..., 1, 1, :], bw * s[..., 1, 2, :]
        m10, m11 = bw * s[..., 2, 1, :], 1 + bw * s[..., 2, 2, :]
        y0 = m11 * s[..., 1, 0, :] - m01 * s[..., 2, 0, :]
        y1 = m00 * s[..., 2, 0, :] - m10 * s[..., 1, 0, :]
        return (s[..., 0, 1, :] * y0 + s[..., 0, 2, :] * y1) / (m00 * m11 - m01 * m10)
    nd = s.ndim
    lead = tuple(range(nd - 3))
    low = xp.permute_dims(s[..., 1:, 1:, :], lead + (nd - 1, nd - 3, nd - 2))  # (..., Lh, r, r)
    eye = xp.eye(rank, dtype=s.dtype, device=device_of(s))
    system = eye + bw[:, None, None] * low
    rhs = xp.permute_dims(s[..., 1:, 0, :], lead + (nd - 2, nd - 3))[..., None]  # (..., Lh, r, 1)
    solution = xp.linalg.solve(system, rhs)[..., 0]
    row = xp.permute_dims(s[..., 0, 1:, :], lead + (nd - 2, nd - 3))
    return xp.sum(row * solution, axis=-1)


# --------------------------------------------------------------------------------------
# C̃ helpers (dense powers of the conj-extended bilinear system)
# --------------------------------------------------------------------------------------
def _dplr_power(xp, Lambda, P, step, L):
    r"""Dense :math:`\bar A^L` (..., N, N) of the conj-extended bilinear DPLR system."""
    dtype, device = Lambda.dtype, device_of(Lambda)
    A, _ = dplr_dense(Lambda, P, xp.zeros_like(Lambda))
    eye = xp.eye(A.shape[-1], dtype=dtype, device=device)
    delta = xp.astype(step, dtype)
    if delta.shape[-1] != 1:
        delta = xp.concat([delta, delta], axis=-1)
    half_step = delta[..., :, None] * A / 2
    Ab = xp.linalg.solve(eye - half_step, eye + half_step)
    return xp.linalg.matrix_power(Ab, L)


def _ctilde_apply(xp, Lambda, P, C, step, L, sign):
    r""":math:`(I + \mathrm{sign}\cdot\bar A^L)^T C` on the conj-extended C, returned as its first half."""
    n2 = Lambda.shape[-1]
    power = _dplr_power(xp, Lambda, P, step, L)
    full = xp.concat([C, xp.conj(C)], axis=-1)
    moved = (full[..., None, :] @ power)[..., 0, :]
    return (full + sign * moved)[..., :n2]


def _ctilde_setup(Lambda, P, C, dt, L, name, per_mode):
    xp = namespace(Lambda, P, C, dt)
    Lambda, P, C = as_arrays(xp, (Lambda, P, C), dt)
    require_modes(Lambda, "Lambda")
    n2 = Lambda.shape[-1]
    require_modes(P, "P", n2, min_ndim=2)
    require_modes(C, name, n2)
    L = check_positive_int(L, "L")
    dtype = complex_dtype(xp, float_dtype(xp, Lambda, P, C, names=("Lambda", "P", name)))
    Lambda, P, C = (xp.astype(x, dtype) for x in (Lambda, P, C))
    step = check_modal_step(dt, xp, Lambda, dtype=real_dtype(xp, Lambda.dtype), per_mode=per_mode)
    return xp, Lambda, P, C, step, L


@capabilities(dask="no", dask_note="needs batched linear solves")
def dplr_ctilde(Lambda, P, C, dt, L, *, per_mode: bool = False):
    r""":math:`\tilde C = (I - \bar A^L)^T C`: the output vector S4 stores, attuned to length ``L``.

    Parameters
    ----------
    Lambda : array, shape ``(..., N2)``
    P : array, shape ``(..., r, N2)``
    C : array, shape ``(..., N2)``
        Raw output vector (half of the conj-symmetric one).
    dt : float or array_like
        Positive step, one per system by the :ref:`step-size rule <conventions-steps>`.
    L : int
        Kernel length :math:`\tilde C` is attuned to.
    per_mode : bool, default False
        Read the last axis of ``dt`` as the mode axis (as in :func:`kernel_dplr`).

    Returns
    -------
    array, shape ``broadcast(...) + (N2,)``, complex

    Raises
    ------
    ValueError, TypeError
        As :func:`kernel_dplr`.

    Notes
    -----
    :math:`\bar A` is the bilinear discretization of
    :math:`A = \mathrm{diag}(\Lambda, \bar\Lambda) - p p^*` built densely in the
    conj-extended basis; :math:`\bar A^L` by repeated squaring
    (:math:`O(N^3\log L)`).  The transform preserves conjugate symmetry, so the
    first half is returned.  Since :math:`\hat K(\omega_j) = C^T(I - \bar A^L\omega_j^L)(I-\bar A\omega_j)^{-1}\bar B`
    and :math:`\omega_j^L = 1`, feeding :math:`\tilde C` to :func:`kernel_dplr`
    gives the exact length-``L`` kernel of :math:`C`.

    Examples
    --------
    >>> Lambda = np.array([-0.5 + 1j]); P = np.zeros((1, 1), complex); C = np.array([1 + 0j])
    >>> Ct = statespace.dplr_ctilde(Lambda, P, C, 0.5, 4)
    >>> Ab = (1 - 0.25 * Lambda) ** -1 * (1 + 0.25 * Lambda)      # diagonal case: 1 - Ab**L
    >>> bool(np.allclose(Ct, (1 - Ab**4) * C))
    True
    """
    xp, Lambda, P, C, step, L = _ctilde_setup(Lambda, P, C, dt, L, "C", per_mode)
    return _ctilde_apply(xp, Lambda, P, C, step, L, sign=-1)


@capabilities(dask="no", dask_note="needs batched linear solves")
def dplr_ctilde_inverse(Lambda, P, Ctilde, dt, L, *, per_mode: bool = False):
    r"""Recover :math:`C` from :math:`\tilde C = (I - \bar A^L)^T C` (inverse of :func:`dplr_ctilde`).

    Parameters
    ----------
    Lambda, P, dt, L, per_mode
        As :func:`dplr_ctilde` (``dt`` by the :ref:`step-size rule <conventions-steps>`).
    Ctilde : array, shape ``(..., N2)``

    Returns
    -------
    array, shape ``broadcast(...) + (N2,)``, complex

    Raises
    ------
    ValueError, TypeError
        As :func:`kernel_dplr`.

    Notes
    -----
    One dense solve :math:`(I - \bar A^L)^T C = \tilde C` in the conj-extended
    basis.  Its condition number grows like :math:`1/(1 - |\bar A^L|)`: it is
    ill-conditioned when slow modes (:math:`\mathrm{Re}\,\Lambda \approx 0`)
    barely decay over ``L`` steps.  This is what S4 does to set up its
    recurrent (step) mode.

    Examples
    --------
    >>> Lambda = np.array([-0.5 + 1j, -0.2 + 4j]); P = np.array([[0.3 + 0.1j, 0.2j]]); C = np.array([1 + 0j, 2j])
    >>> Ct = statespace.dplr_ctilde(Lambda, P, C, 0.1, 16)
    >>> bool(np.allclose(statespace.dplr_ctilde_inverse(Lambda, P, Ct, 0.1, 16), C))
    True
    """
    xp, Lambda, P, Ctilde, step, L = _ctilde_setup(Lambda, P, Ctilde, dt, L, "Ctilde", per_mode)
    n2 = Lambda.shape[-1]
    power = _dplr_power(xp, Lambda, P, step, L)
    eye = xp.eye(2 * n2, dtype=Lambda.dtype, device=device_of(Lambda))
    full = xp.concat([Ctilde, xp.conj(Ctilde)], axis=-1)
    system = xp.matrix_transpose(eye - power)
    batch = broadcast_shapes(system.shape[:-2], full.shape[:-1], names=("system", "Ctilde"))
    full = xp.broadcast_to(full, batch + (2 * n2,))
    return xp.linalg.solve(system, full[..., None])[..., 0][..., :n2]


@capabilities(dask="no", dask_note="needs batched linear solves")
def dplr_ctilde_double(Lambda, P, Ctilde, dt, L, *, per_mode: bool = False):
    r"""Length doubling :math:`\tilde C_{2L} = (I + \bar A^L)^T \tilde C_L`.

    Parameters
    ----------
    Lambda, P, dt, per_mode
        As :func:`dplr_ctilde` (``dt`` by the :ref:`step-size rule <conventions-steps>`).
    Ctilde : array, shape ``(..., N2)``
        :math:`\tilde C` attuned to length ``L``.
    L : int
        The length ``Ctilde`` is attuned to (the result is attuned to ``2 L``).

    Returns
    -------
    array, shape ``broadcast(...) + (N2,)``, complex

    Raises
    ------
    ValueError, TypeError
        As :func:`kernel_dplr`.

    Notes
    -----
    :math:`I - \bar A^{2L} = (I - \bar A^L)(I + \bar A^L)` and the factors
    commute, so no inverse is needed (S4 grows its kernel this way).

    Examples
    --------
    >>> Lambda = np.array([-0.5 + 1j]); P = np.array([[0.3 + 0j]]); C = np.array([1 + 1j])
    >>> C8 = statespace.dplr_ctilde_double(Lambda, P, statespace.dplr_ctilde(Lambda, P, C, 0.1, 4), 0.1, 4)
    >>> bool(np.allclose(C8, statespace.dplr_ctilde(Lambda, P, C, 0.1, 8)))
    True
    """
    xp, Lambda, P, Ctilde, step, L = _ctilde_setup(Lambda, P, Ctilde, dt, L, "Ctilde", per_mode)
    return _ctilde_apply(xp, Lambda, P, Ctilde, step, L, sign=1)
