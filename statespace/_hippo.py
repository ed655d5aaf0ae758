"""HiPPO transition matrices, their low-rank corrections and their basis functions.

Construction is done once, in float64 on the host with NumPy, and placed in the
caller's namespace with :func:`statespace._backend.place` (``xp=``, ``dtype=``,
``device=``).  The matrices follow the S4 reference (``transition`` and
``rank_correction`` in ``state-spaces/s4``) with the
sign convention of a stable ODE, ``dx/dt = A x + B u``.

Index ``n`` is the row, ``k`` the column (0-based), ``r_n = sqrt(2n + 1)``.
"""

from __future__ import annotations

import math
import numbers

import array_api_compat
import numpy as np

from ._backend import device_of, float_dtype, is_complex, namespace, place
from ._dispatch import capabilities
from ._validation import check_choice, check_even, check_finite_real, check_nonnegative_int, check_positive_int

__all__ = [
    "HIPPO_MEASURES",
    "NPLR_MEASURES",
    "BASIS_MEASURES",
    "HIPPO_WINDOW",
    "hippo",
    "low_rank",
    "hippo_basis",
    "reconstruct",
]

#: Every measure :func:`hippo` builds.
HIPPO_MEASURES = ("legs", "legt", "lagt", "glagt", "lmu", "fout", "foud", "legsd")
#: Measures with a low-rank correction making ``A + PᵀP`` normal, and the rank each needs.
NEEDED_RANK = {"legs": 1, "legt": 2, "lagt": 1, "fout": 1, "foud": 0, "legsd": 0}
NPLR_MEASURES = tuple(NEEDED_RANK)
#: Measures whose state is a projection onto known basis functions (:func:`hippo_basis`).
BASIS_MEASURES = ("legs", "legt", "lagt", "fout", "lmu")
#: Length of the memory window, in time units of ``dx/dt = A x + B u``, of the translated measures.
HIPPO_WINDOW = {"legt": 2.0, "fout": 2.0, "lmu": 1.0}

_PAIRED = ("fout", "foud")  # Fourier measures: (cos, sin) coordinate pairs


# --------------------------------------------------------------------------- host construction
def _check_measure(measure, choices=HIPPO_MEASURES) -> str:
    return check_choice(measure, "measure", choices)


def _check_size(measure: str, N) -> int:
    if measure in _PAIRED:
        return check_even(N, "N", f"measure {measure!r} pairs cos/sin coordinates")
    return check_positive_int(N, "N")


def _legs(N: int):
    r = np.sqrt(2.0 * np.arange(N) + 1.0)
    A = np.tril(-np.outer(r, r), -1) - np.diag(np.arange(1.0, N + 1.0))
    return A, r.copy()


def _fourier_skew(N: int, frequency: float):
    """Rotation blocks on pairs (2j, 2j+1): ``A[2j, 2j+1] = -f j``, ``A[2j+1, 2j] = +f j``."""
    A = np.zeros((N, N))
    j = np.arange(N // 2)
    A[2 * j, 2 * j + 1] = -frequency * j
    A[2 * j + 1, 2 * j] = frequency * j
    return A


def _fourier_B(N: int):
    B = np.zeros(N)
    B[0::2] = math.sqrt(2.0)
    B[0] = 1.0
    return B


def hippo_transition(measure: str, N: int, alpha: float = 0.0, beta: float = 0.01):
    """Host float64 ``(A (N, N), B (N,))`` of a validated measure."""
    n = np.arange(N, dtype=np.float64)
    r = np.sqrt(2.0 * n + 1.0)
    if measure == "legs":
        return _legs(N)
    if measure == "legsd":
        A, B = _legs(N)
        return A + 0.5 * np.outer(B, B), B / 2.0
    if measure == "legt":
        sign = np.where(n[:, None] < n[None, :], (-1.0) ** (n[:, None] - n[None, :]), 1.0)
        return -0.5 * sign * np.outer(r, r), 0.5 * r
    if measure == "lmu":
        sign = np.where(n[:, None] < n[None, :], -1.0, (-1.0) ** (n[:, None] - n[None, :] + 1.0))
        return sign * (2.0 * n + 1.0)[:, None], (-1.0) ** n * (2.0 * n + 1.0)
    if measure == "lagt":
        return 0.5 * np.eye(N) - np.tril(np.ones((N, N))), np.ones(N)
    if measure == "glagt":
        A0 = -0.5 * (1.0 + beta) * np.eye(N) - np.tril(np.ones((N, N)), -1)
        log_ell = 0.5 * (np.array([math.lgamma(k + alpha + 1.0) - math.lgamma(k + 1.0) for k in range(N)]))
        ell = np.exp(log_ell)
        binom = np.exp(np.array([math.lgamma(alpha + k + 1.0) - math.lgamma(k + 1.0) for k in range(N)]))
        binom /= math.gamma(alpha + 1.0)
        scale = math.exp(-0.5 * math.lgamma(1.0 - alpha)) * beta ** ((1.0 - alpha) / 2.0)
        return A0 * ell[None, :] / ell[:, None], binom / ell * scale
    if measure == "fout":
        B = _fourier_B(N)
        return _fourier_skew(N, math.pi) - np.outer(B, B), B
    if measure == "foud":
        return _fourier_skew(N, 2.0 * math.pi) - 0.5 * np.eye(N), _fourier_B(N)
    raise AssertionError(measure)  # unreachable: measures are validated by the callers


def hippo_rank_correction(measure: str, N: int, rank: int):
    """Host float64 ``P (rank, N)`` with ``A + PᵀP`` normal (rows beyond the needed rank are zero)."""
    P = np.zeros((rank, N))
    n = np.arange(N, dtype=np.float64)
    if measure == "legs":
        P[0] = np.sqrt(n + 0.5)
    elif measure == "legt":
        p = np.sqrt(n + 0.5)  # r_n / sqrt(2): halved like the matrix
        P[0, 1::2] = p[1::2]
        P[1, 0::2] = p[0::2]
    elif measure == "lagt":
        P[0] = math.sqrt(0.5)
    elif measure == "fout":
        P[0] = _fourier_B(N)
    return P


def check_rank(measure: str, rank) -> int:
    needed = NEEDED_RANK[measure]
    if rank is None:
        return max(needed, 1)
    rank = check_nonnegative_int(rank, "rank")
    if rank < needed:
        raise ValueError(
            f"rank must be at least {needed} for measure {measure!r} (its correction needs it), got {rank}"
        )
    return rank


def check_nplr_measure(measure) -> str:
    measure = _check_measure(measure)
    if measure not in NEEDED_RANK:
        valid = ", ".join(repr(m) for m in NPLR_MEASURES)
        raise ValueError(f"measure {measure!r} has no low-rank correction that makes A normal; expected one of {valid}")
    return measure


def _glagt_parameters(alpha, beta):
    alpha = check_finite_real(alpha, "alpha")
    beta = check_finite_real(beta, "beta")
    if not -1.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (-1, 1) for measure 'glagt', got {alpha}")
    if beta <= 0.0:
        raise ValueError(f"beta must be positive for measure 'glagt', got {beta}")
    return alpha, beta


# --------------------------------------------------------------------------- public construction
@capabilities(dask=None)
def hippo(measure, N, *, alpha=0.0, beta=0.01, xp=None, dtype=None, device=None):
    r"""HiPPO transition matrices ``(A, B)`` of a measure.

    Parameters
    ----------
    measure : {'legs', 'legt', 'lagt', 'glagt', 'lmu', 'fout', 'foud', 'legsd'}
        ``legs`` scaled Legendre (uniform measure on the whole history, S4's
        default); ``legt`` translated Legendre (window of length 2, S4's halved
        version); ``lagt`` translated (tilted) Laguerre; ``glagt`` generalized
        Laguerre; ``lmu`` the Legendre Memory Unit (LegT up to a diagonal change of
        basis, window 1); ``fout`` translated Fourier (window 2); ``foud``
        diagonal Fourier (``A = skew − ½ I``); ``legsd`` the normal part of LegS.
    N : int
        State size (positive; even for ``fout`` and ``foud``).
    alpha, beta : float, optional
        Parameters of ``glagt`` only (reference defaults 0 and 0.01; ``-1 < alpha < 1``,
        ``beta > 0``). Ignored by the other measures.
    xp : array namespace, optional
        Where to place the result (NumPy by default).
    dtype : real floating dtype of ``xp``, optional
        Precision of the result (float64 by default). Computed in float64, cast once.
    device : optional
        Device of the result.

    Returns
    -------
    A : array, shape (N, N)
    B : array, shape (N,)
        One input column: ``discretize(*hippo(measure, N), dt, method)`` takes the
        pair as it is (see the :ref:`conventions` page).

    Raises
    ------
    ValueError
        Unknown ``measure`` (the message lists the valid ones), ``N ≤ 0``, odd ``N``
        for ``fout``/``foud``, ``alpha``/``beta`` out of range or not finite.
    TypeError
        Non-integer ``N``; a ``dtype`` that is not floating.

    Notes
    -----
    With ``r_n = \sqrt{2n+1}`` (0-based row ``n``, column ``k``):

    * legs: :math:`A_{nk} = -r_n r_k` (n > k), :math:`-(n+1)` (n = k), 0 (n < k); :math:`B_n = r_n`.
      Eigenvalues exactly :math:`-1, \dots, -N`.
    * legt: :math:`A_{nk} = -\tfrac12 r_n r_k` (n ≥ k), :math:`-\tfrac12 r_n r_k (-1)^{n-k}` (n < k);
      :math:`B_n = \tfrac12 r_n`.
    * lmu: :math:`A_{nk} = (2n+1)\,(-1 \text{ if } n<k \text{ else } (-1)^{n-k+1})`, :math:`B_n = (2n+1)(-1)^n`.
    * lagt: :math:`A = \tfrac12 I - \operatorname{tril}(\mathbf 1)`, :math:`B = \mathbf 1`.
    * glagt: :math:`A = \ell^{-1} A_0 \ell`,
      :math:`A_0 = -\tfrac{1+\beta}2 I - \operatorname{tril}_{-1}(\mathbf 1)`,
      :math:`\ell_n = \sqrt{\Gamma(n+\alpha+1)/\Gamma(n+1)}`,
      :math:`B_n = \binom{n+\alpha}{n}\,\beta^{(1-\alpha)/2} / (\ell_n \sqrt{\Gamma(1-\alpha)})`.
    * fout: rotation blocks :math:`A_{2j,2j+1} = -\pi j = -A_{2j+1,2j}`, minus :math:`BB^T`,
      with :math:`B = (1, 0, \sqrt2, 0, \sqrt2, 0, \dots)`. Row and column 1 are zero.
    * foud: rotation blocks with frequency :math:`2\pi j`, minus :math:`\tfrac12 I`; ``B`` as fout.
    * legsd: :math:`A_{legs} + \tfrac12 B_{legs} B_{legs}^T` (:math:`= -\tfrac12 I` + skew), :math:`B = B_{legs}/2`.

    References
    ----------
    Gu, Dao, Ermon, Rudra, Ré, "HiPPO: Recurrent Memory with Optimal Polynomial
    Projections", NeurIPS 2020. Gu, Johnson, Timalsina, Rudra, Ré, "How to Train
    Your HiPPO", ICLR 2023. The ``transition`` function of ``state-spaces/s4``.

    Examples
    --------
    >>> A, B = statespace.hippo("legs", 4)
    >>> A
    array([[-1.        ,  0.        ,  0.        ,  0.        ],
           [-1.73205081, -2.        ,  0.        ,  0.        ],
           [-2.23606798, -3.87298335, -3.        ,  0.        ],
           [-2.64575131, -4.58257569, -5.91607978, -4.        ]])
    >>> np.round(B ** 2)
    array([1., 3., 5., 7.])
    """
    measure = _check_measure(measure)
    N = _check_size(measure, N)
    alpha, beta = _glagt_parameters(alpha, beta) if measure == "glagt" else (0.0, 0.01)
    A, B = hippo_transition(measure, N, alpha, beta)
    return place(A, xp=xp, dtype=dtype, device=device), place(B, xp=xp, dtype=dtype, device=device)


@capabilities(dask=None)
def low_rank(measure, N, rank=None, *, xp=None, dtype=None, device=None):
    r"""Low-rank correction ``P`` of shape ``(rank, N)`` making ``A + PᵀP`` normal.

    Parameters
    ----------
    measure : {'legs', 'legt', 'lagt', 'fout', 'foud', 'legsd'}
        A measure with a known correction (``glagt`` and ``lmu`` have none).
    N : int
        State size (even for ``fout``/``foud``).
    rank : int, optional
        Number of rows. Default: the rank the measure needs (2 for ``legt``, 1 for
        ``legs``/``lagt``/``fout``), and 1 (a zero row) for the already normal
        ``foud``/``legsd``, so that DPLR code always has a low-rank factor. Larger
        values append zero rows; 0 is allowed where the measure needs none.
    xp, dtype, device : optional
        Placement of the result, as in :func:`hippo`.

    Returns
    -------
    P : array, shape (rank, N)

    Raises
    ------
    ValueError
        Unknown measure, a measure without a correction, ``rank`` below the needed
        rank (the message states it), bad ``N``.
    TypeError
        Non-integer ``N`` or ``rank``.

    Notes
    -----
    ``A + PᵀP = c·I + S`` with ``S`` skew-symmetric, ``c = -1/2`` for legs, foud
    and legsd and ``c = 0`` for legt, lagt and fout. Rows: legs
    :math:`P_n = \sqrt{n + 1/2}`; legt two rows :math:`\sqrt{n+1/2}` on the odd
    and on the even indices; lagt :math:`P_n = \sqrt{1/2}`; fout ``P = B``.

    Examples
    --------
    >>> A, _ = statespace.hippo("legt", 6)
    >>> P = statespace.low_rank("legt", 6)
    >>> P.shape
    (2, 6)
    >>> S = A + P.T @ P
    >>> bool(np.allclose(S + S.T, 0))
    True
    """
    measure = check_nplr_measure(measure)
    N = _check_size(measure, N)
    rank = check_rank(measure, rank)
    return place(hippo_rank_correction(measure, N, rank), xp=xp, dtype=dtype, device=device)


# --------------------------------------------------------------------------- basis functions
def _is_array(t) -> bool:
    return array_api_compat.is_array_api_obj(t)  # NumPy, CuPy, torch, array-api-strict, ... (not lists/scalars)


def _times(t, xp, dtype, device):
    """``t`` as an array of a real floating dtype, with its namespace."""
    if not _is_array(t):
        if isinstance(t, numbers.Complex) and not isinstance(t, numbers.Real):
            raise TypeError(f"t must be real, got {t!r}")
        host = np.asarray(t, dtype=np.float64)
        t = place(host, xp=xp, dtype=dtype, device=device)
    xp = namespace(t)
    if is_complex(xp, t):
        raise TypeError(f"t must be real, got dtype {t.dtype}")
    real = float_dtype(xp, t, complex_ok=False)
    return xp, xp.astype(t, real)


def _check_domain(xp, t, measure: str):
    if measure == "lagt":
        if not bool(xp.all(t >= 0)):  # also refuses NaN
            raise ValueError("t must be finite and non-negative (the age before now) for measure 'lagt'")
    elif not bool(xp.all((t >= 0) & (t <= 1))):
        raise ValueError(f"t must lie in [0, 1] (fraction of the memory window, 1 = now) for measure {measure!r}")
    if not bool(xp.all(xp.isfinite(t))):
        raise ValueError(f"t must be finite for measure {measure!r}")


def _legendre(xp, z, N: int):
    """``[P_0(z), ..., P_{N-1}(z)]`` by the three-term recurrence."""
    values = [xp.ones_like(z)]
    if N > 1:
        values.append(z)
    for n in range(1, N - 1):
        values.append(((2 * n + 1) * z * values[n] - n * values[n - 1]) / (n + 1))
    return values


def _laguerre_functions(xp, tau, N: int):
    """``[e^{-τ/2} L_0(τ), ...]``: the recurrence applied to the damped functions directly."""
    values = [xp.exp(-tau / 2)]
    if N > 1:
        values.append((1 - tau) * values[0])
    for n in range(1, N - 1):
        values.append(((2 * n + 1 - tau) * values[n] - n * values[n - 1]) / (n + 1))
    return values


def _fourier_functions(xp, x, N: int):
    values = []
    for j in range(N // 2):
        angle = (2 * math.pi * j) * x
        scale = 1.0 if j == 0 else math.sqrt(2.0)
        values += [scale * xp.cos(angle), -scale * xp.sin(angle)]
    return values


@capabilities(dask="xp")
def hippo_basis(measure, N, t, *, xp=None, dtype=None, device=None):
    r"""The functions that turn a HiPPO state back into the input's history.

    A state ``x`` of :func:`hippo` ``(measure, N)`` approximates the input over its
    memory window as :math:`u \approx \sum_n x_n \phi_n(t)`; this returns
    :math:`\phi_n(t)`.

    Parameters
    ----------
    measure : {'legs', 'legt', 'lagt', 'fout', 'lmu'}
    N : int
        State size (even for ``fout``).
    t : array_like
        Where to evaluate, any shape. For the windowed measures (``legs``,
        ``legt``, ``fout``, ``lmu``) ``t`` is the position in the memory window as
        a fraction in ``[0, 1]``: 0 is the oldest remembered instant, 1 is now.
        The window is the whole history ``[0, T]`` for ``legs``, and the last
        ``HIPPO_WINDOW[measure]`` time units of ``dx/dt = A x + B u`` for the translated
        ones (2 for ``legt`` and ``fout``, 1 for ``lmu``). For ``lagt`` (infinite
        memory) ``t ≥ 0`` is the age: time before now, in those same units.
    xp, dtype, device : optional
        Placement, used only when ``t`` is not an array (a scalar or list);
        otherwise the result follows ``t``'s namespace, device and precision.

    Returns
    -------
    phi : array, shape ``t.shape + (N,)``
        Real, of ``t``'s floating precision (integers count as float64).

    Raises
    ------
    ValueError
        Unknown or unsupported measure, bad ``N``, ``t`` outside its domain or
        not finite.
    TypeError
        Non-integer ``N``, complex ``t``.

    Notes
    -----
    With :math:`r_n = \sqrt{2n+1}`, :math:`P_n` Legendre and :math:`L_n` Laguerre
    polynomials, and :math:`\theta` the window length:

    * legs, legt: :math:`\phi_n(t) = r_n P_n(2t - 1)`, orthonormal for the uniform
      probability measure on the window, so :math:`x_n = \int_0^1 u\,\phi_n\,dt`.
      For LegS the state follows :math:`\dot x = (A x + B u)/\tau` and equals that
      projection exactly; for LegT (:math:`\dot x = A x + B u`) it does when ``u`` is
      a polynomial of degree below ``N``.
    * lmu: :math:`\phi_n(t) = P_n(1 - 2t)` (the state is :math:`(-1)^n r_n` times the
      unhalved LegT state on a window of 1).
    * fout: :math:`\phi_0 = 1`, :math:`\phi_{2j} = \sqrt2\cos(2\pi j t)`,
      :math:`\phi_{2j+1} = -\sqrt2\sin(2\pi j t)` (:math:`\phi_1 \equiv 0`); in terms of the age
      :math:`a = 2(1 - t)`: :math:`\sqrt2\cos(\pi j a)`, :math:`\sqrt2\sin(\pi j a)`. Orthonormal
      on the window of length 2; the ``-BBᵀ`` term estimates the leaving value by the
      periodic extension's jump average (How to Train Your HiPPO), exact for
      ``2``-periodic trigonometric inputs of low frequency.
    * lagt: :math:`\phi_n(t) = e^{-t/2} L_n(t)`, orthonormal on :math:`[0, \infty)`.

    These scalings were verified against direct quadrature of the projections
    (``tests/test_hippo.py``).

    Examples
    --------
    >>> phi = statespace.hippo_basis("legs", 3, np.array([0.0, 0.5, 1.0]))
    >>> phi.shape
    (3, 3)
    >>> np.round(phi, 4)
    array([[ 1.    , -1.7321,  2.2361],
           [ 1.    ,  0.    , -1.118 ],
           [ 1.    ,  1.7321,  2.2361]])
    """
    measure = _check_measure(measure, BASIS_MEASURES)
    N = _check_size(measure, N)
    xp, t = _times(t, xp, dtype, device)
    _check_domain(xp, t, measure)
    if measure in ("legs", "legt"):
        values = [math.sqrt(2 * n + 1) * p for n, p in enumerate(_legendre(xp, 2 * t - 1, N))]
    elif measure == "lmu":
        values = _legendre(xp, 1 - 2 * t, N)
    elif measure == "lagt":
        values = _laguerre_functions(xp, t, N)
    else:
        values = _fourier_functions(xp, t, N)
    return xp.stack(values, axis=-1)


@capabilities(dask="xp")
def reconstruct(x, measure, t):
    r"""Approximate the input history from a HiPPO state.

    Parameters
    ----------
    x : array, shape (..., N)
        HiPPO state(s) of :func:`hippo` ``(measure, N)`` (real or complex).
    measure : {'legs', 'legt', 'lagt', 'fout', 'lmu'}
    t : array, shape (L,)
        Evaluation points, as in :func:`hippo_basis` (window fraction in
        ``[0, 1]`` with 1 = now, or the age for ``lagt``). Same namespace as ``x``;
        a list or scalar is placed next to ``x``.

    Returns
    -------
    u : array, shape (..., L)
        :math:`u(t_l) \approx \sum_n x_n \phi_n(t_l)`, in the result dtype of ``x``
        and ``t``.

    Raises
    ------
    ValueError
        Unsupported measure, ``x`` without a state axis, ``t`` not 1-D or outside
        its domain.
    TypeError
        ``x`` that is not an array.

    Examples
    --------
    Record ``u(s) = s`` on ``[0, 1]`` with LegS: its state is the exact projection
    ``x = (1/2, 1/(2 sqrt 3), 0, ...)``, and the reconstruction is the line.

    >>> x = np.array([0.5, 0.5 / np.sqrt(3), 0.0, 0.0])
    >>> statespace.reconstruct(x, "legs", np.array([0.0, 0.25, 1.0]))
    array([0.  , 0.25, 1.  ])
    """
    measure = _check_measure(measure, BASIS_MEASURES)
    if not _is_array(x):
        raise TypeError(f"x must be an array of HiPPO states (..., N), got {type(x).__name__}")
    xp = namespace(x)
    if x.ndim < 1:
        raise ValueError("x must have a state axis: shape (..., N), got a 0-d array")
    if not _is_array(t):
        t = xp.asarray(np.asarray(t, dtype=np.float64), dtype=float_dtype(xp, x, complex_ok=False), device=device_of(x))
    if t.ndim != 1:
        raise ValueError(f"t must be 1-D (L,), got shape {tuple(t.shape)}")
    phi = hippo_basis(measure, x.shape[-1], t)
    result = float_dtype(xp, x, t, names=("x", "t"))
    return xp.matmul(xp.astype(x, result), xp.astype(xp.matrix_transpose(phi), result))
