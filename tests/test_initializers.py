"""S4D initializations and log-uniform step sizes."""

from __future__ import annotations

import math

import array_api_compat
import numpy as np
import pytest
from scipy import stats

from statespace import log_dt_init, nplr, s4d_init
from statespace.testing import assert_close, to_host

N = 16


def _closed_form(kind, N):
    """The table of ssm-math §1.3, one mode at a time."""
    out = []
    for j in range(N // 2):
        if kind == "lin":
            out.append(-0.5 - 1j * math.pi * j)
        elif kind == "inv":
            out.append(-0.5 - 1j * N / math.pi * (N / (2 * j + 1) - 1))
        elif kind == "inv2":
            out.append(-0.5 - 1j * N / math.pi * (N / (j + 1) - 1))
        elif kind == "quad":
            out.append(-0.5 - 1j * (2 * j + 1) ** 2 / math.pi)
        elif kind == "real":
            out.append(-(j + 1) + 0j)
    return np.array(out)


@pytest.mark.parametrize("kind", ["lin", "inv", "inv2", "quad", "real"])
def test_closed_forms(kind):
    Lambda = s4d_init(kind, N)
    assert Lambda.shape == (N // 2,) and Lambda.dtype == np.complex128
    assert_close(Lambda, _closed_form(kind, N), kind="construction")


def test_legs_kind_is_the_imaginary_part_of_the_legs_nplr():
    Lambda = s4d_init("legs", 64)
    assert_close(Lambda.real, np.full(32, -0.5), kind="exact")
    assert_close(Lambda.imag, nplr("legs", 64).Lambda.imag, kind="construction")


@pytest.mark.parametrize("size", [64, 128])
def test_inv_is_an_asymptotic_fit_of_legs(size):
    """S4D-Inv approximates the LegS frequencies b_j ≈ N²/(π(2j+1)), both sorted in decreasing order.

    What is tested: (1) every frequency agrees to within N/π in absolute terms, small against the
    top frequencies ≈ N²/π; (2) for the leading modes the relative error decays like (2j+1)/N.
    Why it can fail: the fit is asymptotic in N/(2j+1); for the lowest frequencies (j near N/2)
    the *relative* error is of order one (about 0.8 at N = 1024), so a uniform relative tolerance
    would fail, and a wrong ordering or a sign error would break (1) at once.
    """
    inv = -s4d_init("inv", size).imag
    legs = -s4d_init("legs", size).imag
    assert np.all(np.diff(inv) < 0) and np.all(np.diff(legs) < 0)
    assert np.max(np.abs(inv - legs)) <= size / math.pi
    j = np.arange(8)
    relative = np.abs(inv[:8] - legs[:8]) / legs[:8]
    assert np.all(relative <= 1.5 * (2 * j + 1) / size), relative


def test_rand_is_reproducible_and_positive_frequency():
    a, b = s4d_init("rand", N, rng=3), s4d_init("rand", N, rng=np.random.default_rng(3))
    assert_close(a, b, kind="exact")
    assert np.all(a.real == -0.5) and np.all(a.imag < 0)
    assert not np.allclose(s4d_init("rand", N, rng=4), a)


def test_log_dt_init_range_and_distribution():
    log_dt = log_dt_init(5000, 1e-3, 1e-1, rng=0)
    assert log_dt.shape == (5000,) and log_dt.dtype == np.float64
    assert np.all(log_dt >= math.log(1e-3)) and np.all(log_dt <= math.log(1e-1))
    fraction = (log_dt - math.log(1e-3)) / (math.log(1e-1) - math.log(1e-3))
    assert stats.kstest(fraction, "uniform").pvalue > 1e-3
    assert_close(log_dt_init(3, rng=1), log_dt_init(3, rng=np.random.default_rng(1)), kind="exact")


def test_log_dt_init_equal_bounds_is_constant():
    assert_close(log_dt_init(4, 0.01, 0.01, rng=0), np.full(4, math.log(0.01)), kind="construction")


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (("diag", 8), {}, ValueError, r"kind 'diag'; expected one of 'lin', 'inv'"),
        (("lin", 7), {}, ValueError, "N must be even"),
        (("lin", 0), {}, ValueError, "N must be a positive integer, got 0"),
        (("lin", 8.0), {}, TypeError, "N must be an integer"),
        (("rand", 8), {"rng": "seed"}, TypeError, "rng"),
    ],
)
def test_s4d_init_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        s4d_init(*args, **kwargs)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((0,), ValueError, "H must be a positive integer, got 0"),
        ((2.5,), TypeError, "H must be an integer"),
        ((4, 0.0, 0.1), ValueError, "dt_min must be positive"),
        ((4, float("nan"), 0.1), ValueError, "dt_min must be finite"),
        ((4, 1e-3, float("inf")), ValueError, "dt_max must be finite"),
        ((4, 1e-3, float("nan")), ValueError, "dt_max must be finite"),
        ((4, 0.1, 0.01), ValueError, "dt_min must not exceed dt_max"),
        ((4, 1e-3, 1e-1, [1, 2]), TypeError, "rng"),
    ],
)
def test_log_dt_init_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        log_dt_init(*args)


# --------------------------------------------------------------------------- backends
def _check_place(out, backend, dtype_name, expected_dtype):
    ref = backend.asarray([0.0], dtype_name)
    assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(ref)
    assert array_api_compat.device(out) == array_api_compat.device(ref)
    assert out.dtype == backend.dtype(expected_dtype)


@pytest.mark.parametrize("kind", ["lin", "legs", "real"])
def test_s4d_init_places_on_the_requested_backend(backend, dtype_name, kind):
    out = s4d_init(kind, 8, xp=backend.xp, dtype=backend.dtype(dtype_name), device=backend.device)
    _check_place(out, backend, dtype_name, "complex64" if dtype_name == "float32" else "complex128")
    assert_close(out, s4d_init(kind, 8), kind="construction")


def test_log_dt_init_places_on_the_requested_backend(backend, dtype_name):
    out = log_dt_init(6, rng=2, xp=backend.xp, dtype=backend.dtype(dtype_name), device=backend.device)
    _check_place(out, backend, dtype_name, dtype_name)
    assert_close(to_host(out), log_dt_init(6, rng=2), kind="construction", dtype=dtype_name)
