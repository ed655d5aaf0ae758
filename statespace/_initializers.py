"""Diagonal (S4D) state initializations and the log-uniform step-size initialization."""

from __future__ import annotations

import math

import numpy as np

from ._backend import place
from ._dispatch import capabilities
from ._nplr import nplr_host
from ._validation import check_choice, check_even, check_positive_int, check_positive_real

__all__ = ["S4D_KINDS", "s4d_init", "log_dt_init"]

#: Every kind :func:`s4d_init` builds.
S4D_KINDS = ("lin", "inv", "inv2", "quad", "legs", "real", "rand")


def _generator(rng):
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(f"rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}")


def _s4d_host(kind: str, N: int, rng) -> np.ndarray:
    j = np.arange(N // 2, dtype=np.float64)
    decay = np.full(N // 2, 0.5)
    if kind == "lin":
        frequency = math.pi * j
    elif kind == "inv":
        frequency = N / math.pi * (N / (2 * j + 1) - 1)
    elif kind == "inv2":
        frequency = N / math.pi * (N / (j + 1) - 1)
    elif kind == "quad":
        frequency = (2 * j + 1) ** 2 / math.pi
    elif kind == "legs":
        frequency = -nplr_host("legs", N, 1)[0].imag
    elif kind == "real":
        decay, frequency = j + 1, np.zeros(N // 2)
    else:  # "rand"
        frequency = np.exp(_generator(rng).standard_normal(N // 2))
    return -decay - 1j * frequency


@capabilities(dask=None)
def s4d_init(kind, N, *, rng=None, xp=None, dtype=None, device=None):
    r"""Diagonal state matrix of an S4D model: N/2 complex modes, conjugates implied.

    Parameters
    ----------
    kind : {'lin', 'inv', 'inv2', 'quad', 'legs', 'real', 'rand'}
        The initialization of "On the Parameterization and Initialization of
        Diagonal State Space Models" (S4D, Gu et al. 2022) and the S4 code.
    N : int
        Full state size (even); ``N/2`` modes are returned.
    rng : None, int or numpy.random.Generator, optional
        Randomness for ``kind='rand'`` (ignored by the deterministic kinds).
    xp, dtype, device : optional
        Placement (NumPy, float64 → complex128 by default); ``dtype`` is the real
        precision.

    Returns
    -------
    Lambda : complex array, shape (N/2,)
        :math:`\Lambda_j = -a_j - i b_j` with :math:`a_j > 0`, :math:`b_j \ge 0`.

    Raises
    ------
    ValueError
        Unknown ``kind`` (lists the valid ones), odd or non-positive ``N``.
    TypeError
        Non-integer ``N``, a bad ``rng``.

    Notes
    -----
    With :math:`j = 0, \dots, N/2 - 1`, the decay :math:`a_j = 1/2` except for
    ``real`` (:math:`a_j = j + 1`, :math:`b_j = 0`), and the frequency :math:`b_j`:
    ``lin`` :math:`\pi j`; ``inv`` :math:`\frac{N}{\pi}(\frac{N}{2j+1} - 1)`;
    ``inv2`` :math:`\frac{N}{\pi}(\frac{N}{j+1} - 1)`; ``quad`` :math:`(2j+1)^2/\pi`;
    ``legs`` minus the imaginary parts of :func:`statespace.nplr` ``('legs', N)``
    (same order); ``rand`` :math:`e^{z_j}`, :math:`z_j \sim \mathcal N(0, 1)`.
    S4D-Inv is an asymptotic fit of the LegS frequencies. The sign of the
    imaginary part follows :func:`statespace.nplr` (the negative half of each pair);
    it is irrelevant when outputs are ``2·Re``. Mamba's real initialization over
    ``N`` real states is ``-(1, 2, ..., N)``, i.e. ``s4d_init('real', 2 * N).real``.

    Examples
    --------
    >>> statespace.s4d_init("lin", 6)
    array([-0.5+0.j        , -0.5-3.14159265j, -0.5-6.28318531j])
    >>> statespace.s4d_init("real", 6).real
    array([-1., -2., -3.])
    """
    kind = check_choice(kind, "kind", S4D_KINDS)
    N = check_even(N, "N", "N/2 complex modes stand for conjugate pairs")
    rng = _generator(rng) if kind == "rand" else None
    return place(_s4d_host(kind, N, rng), xp=xp, dtype=dtype, device=device)


@capabilities(dask=None)
def log_dt_init(H, dt_min=1e-3, dt_max=1e-1, rng=None, *, xp=None, dtype=None, device=None):
    r"""Log step sizes drawn log-uniformly in ``[dt_min, dt_max]``, one per channel.

    Parameters
    ----------
    H : int
        Number of channels (positive).
    dt_min, dt_max : float
        Range of the step, ``0 < dt_min ≤ dt_max``, finite (S4/S4D/Mamba default
        1e-3 and 1e-1).
    rng : None, int or numpy.random.Generator, optional
        Source of randomness (a fresh default generator when ``None``).
    xp, dtype, device : optional
        Placement (NumPy float64 by default).

    Returns
    -------
    log_dt : real array, shape (H,)
        :math:`\log \Delta_h = \log\Delta_{min} + U_h (\log\Delta_{max} - \log\Delta_{min})`,
        :math:`U_h \sim \mathcal U[0, 1)`. Use ``exp(log_dt)`` as the step.

    Raises
    ------
    ValueError
        ``H ≤ 0``; ``dt_min``/``dt_max`` non-positive, not finite, or ``dt_min > dt_max``.
    TypeError
        Non-integer ``H``, non-real bounds, a bad ``rng``.

    Examples
    --------
    >>> log_dt = statespace.log_dt_init(4, rng=0)
    >>> log_dt.shape
    (4,)
    >>> bool(np.all((np.exp(log_dt) >= 1e-3) & (np.exp(log_dt) <= 1e-1)))
    True
    """
    H = check_positive_int(H, "H")
    dt_min = check_positive_real(dt_min, "dt_min")
    dt_max = check_positive_real(dt_max, "dt_max")
    if dt_min > dt_max:
        raise ValueError(f"dt_min must not exceed dt_max, got dt_min={dt_min} > dt_max={dt_max}")
    u = _generator(rng).random(H)
    log_dt = math.log(dt_min) + u * (math.log(dt_max) - math.log(dt_min))
    return place(log_dt, xp=xp, dtype=dtype, device=device)
