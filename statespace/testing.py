"""Tolerances per dtype, in one place, and the assertion that uses them.

The test suite and ``statespace check`` both read :data:`TOLERANCES`; no test
states its own number.  Errors are *relative to the reference's scale*,
``max|actual − desired| / max|desired|`` (the metric the S4 reference measurements use), so a
kernel whose tail decays to 1e-30 is not judged elementwise on that tail.

Each entry is justified by a measurement or a bound:

``"construction"``
    Host float64 algebra (HiPPO, NPLR): reconstruction reaches 2.5e-13 at
    N = 1024; float32 values are those float64 numbers cast,
    so a few ulps (1e-6).
``"elementwise"``
    A handful of rounding steps per entry (discretization formulas, expm):
    1e-12 / 1e-5 (float32 ``expm`` through scaling and squaring loses a few
    ulps per squaring).
``"kernel"``
    Cauchy/Woodbury and Vandermonde kernels against powers of the discrete
    system: 1e-11 / 5e-5 (measured: worst complex64 case 4e-5 for
    LegT rank 2; float64 4e-13 at N = 256, L = 4096, with margin for Δ-range).
``"scan"``
    Linear recurrences against a float64 sequential loop: 1e-12 / 2e-6
    (measured: float32 sequential and tree scans reach 2e-6 at
    a ≈ 0.999, L = 16384).
``"views"``
    Different *views* of one system (FFT convolution vs recurrence vs scan):
    1e-10 / 1e-4.  Float32 recurrences of long slow-decaying systems drift to
    ~5e-5 relative and FFT convolution to ~1e-5 (measured).
``"engines"``
    Two engines (numba vs xp) computing the same formula: 1e-6 / 1e-12.  Float64 is the bound
    issue #4 states; float32 measured ≤ 2e-7 (Cauchy, Vandermonde, ``kernel_diag``, complex64).
``"doubling"``
    C̃ length doubling, an exact identity evaluated with a few products: 1e-13, float64 only
    (issue #4: "exact to ≤ 1e-13").
``"kernel_small_step"``
    Float32 S4D kernels at Δ = 1e-4, L = 16384 against a float64 reference: 1e-5, float32 only
    (issue #4; the stable forms reach it, the naive ones are off by ~3e-4).
``"phase"``
    ``exp(x l)`` with :math:`|x l|` ≈ 2000 in complex64 against float64: 2e-6, float32 only (a few ulps
    of ``exp``; a rounded product ``x·l`` alone would be off by ~6e-5).
``"exact"``
    0: the same computation twice (a seed given as an int or a Generator), a value the construction
    sets exactly (S4D-LegS Re Λ = −½), or an opt-in option
    that must leave these values untouched.

A kind stated for one precision only raises for the other rather than guess a number.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TOLERANCES", "rtol", "relative_error", "assert_close", "to_host"]

TOLERANCES: dict[str, dict[str, float]] = {
    "construction": {"float32": 1e-6, "float64": 1e-12},
    "elementwise": {"float32": 1e-5, "float64": 1e-12},
    "kernel": {"float32": 5e-5, "float64": 1e-11},
    "scan": {"float32": 2e-6, "float64": 1e-12},
    "views": {"float32": 1e-4, "float64": 1e-10},
    "engines": {"float32": 1e-6, "float64": 1e-12},
    "doubling": {"float64": 1e-13},
    "kernel_small_step": {"float32": 1e-5},
    "phase": {"float32": 2e-6},
    "exact": {"float32": 0.0, "float64": 0.0},
}


def _precision(dtype) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:  # array-api-strict / torch dtypes print as "<library>.float32"
        name = str(dtype).rsplit(".", 1)[-1]
    if name in ("float32", "complex64"):
        return "float32"
    if name in ("float64", "complex128"):
        return "float64"
    raise TypeError(f"no tolerance for dtype {dtype!r}; expected float32/64 or complex64/128")


def rtol(dtype, kind: str = "elementwise") -> float:
    """Relative tolerance for results of precision ``dtype`` in check ``kind``."""
    try:
        table = TOLERANCES[kind]
    except KeyError:
        raise ValueError(f"unknown tolerance kind {kind!r}; expected one of {', '.join(TOLERANCES)}") from None
    precision = _precision(dtype)
    if precision not in table:
        raise ValueError(f"tolerance kind {kind!r} is stated for {', '.join(table)} only, not {precision}")
    return table[precision]


def to_host(x) -> np.ndarray:
    """Copy any supported array to a NumPy array (for tests and self-checks only)."""
    if isinstance(x, np.ndarray | np.generic | int | float | complex):
        return np.asarray(x)
    module = type(x).__module__.split(".")[0]
    if module == "cupy":
        return x.get()
    if module == "torch":
        return x.detach().cpu().numpy()
    if module == "array_api_strict":
        import array_api_strict

        # DLPack, not numpy.asarray: array-api-strict's __array__ passes copy=, which NumPy < 2 lacks; a
        # copy first, since DLPack cannot export read-only (broadcast) arrays there
        host = x.to_device(array_api_strict.Device("CPU_DEVICE"))
        return np.from_dlpack(array_api_strict.asarray(host, copy=True))
    return np.asarray(x)


def relative_error(actual, desired) -> float:
    """``max|actual − desired| / max|desired|`` in float64 on the host (0 when both are empty)."""
    a = to_host(actual).astype(np.complex128 if np.iscomplexobj(to_host(actual)) else np.float64)
    d = to_host(desired)
    a, d = np.broadcast_arrays(a, d)
    if a.size == 0:
        return 0.0
    scale = np.max(np.abs(d))
    err = np.max(np.abs(a - d))
    if err == 0:
        return 0.0
    return float(err / scale) if scale > 0 else float("inf")


def assert_close(actual, desired, *, kind: str = "elementwise", dtype=None, err_msg: str = ""):
    """Assert ``relative_error(actual, desired) <= rtol(dtype, kind)``.

    ``dtype`` defaults to ``actual``'s dtype.  Shapes must match exactly and NaN
    anywhere fails.  A check that needs another number gets a new ``kind`` in
    :data:`TOLERANCES`, with its justification, never a number at the call site.
    """
    a_host, d_host = to_host(actual), to_host(desired)
    if a_host.shape != d_host.shape:
        raise AssertionError(f"shape mismatch: actual {a_host.shape} vs desired {d_host.shape}. {err_msg}")
    if np.isnan(a_host).any() or np.isnan(d_host).any():
        raise AssertionError(f"NaN in {'actual' if np.isnan(a_host).any() else 'desired'}. {err_msg}")
    tol = rtol(dtype if dtype is not None else a_host.dtype, kind)
    err = relative_error(a_host, d_host)
    if not err <= tol:
        raise AssertionError(f"relative error {err:.3e} exceeds {tol:.1e} ({kind}). {err_msg}")
