"""Log-Vandermonde sums against a float64 NumPy loop, on every backend and engine."""

from __future__ import annotations

import numpy as np
import pytest

import statespace
import statespace._cauchy as cauchy_module
from statespace.testing import assert_close


def vandermonde_loop(v, x, L, conj):
    """Independent reference: one power at a time, float64."""
    v, x = np.asarray(v, np.complex128), np.asarray(x, np.complex128)
    batch = np.broadcast_shapes(v.shape[:-1], x.shape[:-1])
    out = np.zeros(batch + (L,), dtype=np.complex128)
    for step in range(L):
        out[..., step] = np.sum(v * np.exp(x * step), axis=-1)
    return 2 * out.real if conj else out


def sample(rng, batch=(3,), n2=6):
    v = rng.standard_normal(batch + (n2,)) + 1j * rng.standard_normal(batch + (n2,))
    x = -rng.uniform(0.0, 0.05, batch + (n2,)) + 1j * rng.uniform(-1.0, 1.0, batch + (n2,))
    return v, x


@pytest.mark.parametrize("conj", [True, False])
def test_vandermonde_matches_loop(backend, dtype_name, conj, rng):
    v, x = sample(rng)
    ctype = "complex64" if dtype_name == "float32" else "complex128"
    out = statespace.vandermonde(backend.asarray(v, ctype), backend.asarray(x, ctype), 40, conj=conj, engine="xp")
    assert out.dtype == backend.dtype(dtype_name if conj else ctype)
    assert_close(out, vandermonde_loop(v.astype(ctype), x.astype(ctype), 40, conj), kind="kernel")


def test_vandermonde_broadcasts(backend, rng):
    v, _ = sample(rng, batch=(2, 1))
    _, x = sample(rng, batch=(4,))
    out = statespace.vandermonde(backend.asarray(v), backend.asarray(x), 5)
    assert tuple(out.shape) == (2, 4, 5)
    assert_close(out, vandermonde_loop(v, x, 5, True), kind="kernel")


def test_vandermonde_blocks_along_L(monkeypatch, rng):
    v, x = sample(rng)
    whole = statespace.vandermonde(v, x, 70, engine="xp")
    monkeypatch.setattr(cauchy_module, "BLOCK_ELEMENTS", 20)
    import statespace._vandermonde as vandermonde_module

    monkeypatch.setattr(vandermonde_module, "BLOCK_ELEMENTS", 20)
    assert_close(statespace.vandermonde(v, x, 70, engine="xp"), whole, kind="kernel")


def test_vandermonde_single_precision_products_are_exact():
    """complex64 phases |x l| ~ 2000: a rounded product x*l alone would be off by ~6e-5 rad."""
    x = np.array([-1e-4 + 0.1234567j], dtype=np.complex64)
    v = np.ones(1, dtype=np.complex64)
    L = 16384
    out = statespace.vandermonde(v, x, L, engine="xp")
    reference = vandermonde_loop(v, x, L, True)
    assert_close(out, reference, kind="phase")  # a few float32 ulps of exp(), no phase drift


@pytest.mark.numba
@pytest.mark.parametrize("conj", [True, False])
@pytest.mark.parametrize("ctype", ["complex64", "complex128"])
def test_vandermonde_numba_matches_xp(rng, conj, ctype):
    v, x = sample(rng, batch=(2, 3), n2=7)
    v, x = v.astype(ctype), x.astype(ctype)
    fused = statespace.vandermonde(v, x[0], 700, conj=conj, engine="numba")
    portable = statespace.vandermonde(v, x[0], 700, conj=conj, engine="xp")
    assert fused.dtype == portable.dtype and fused.shape == (2, 3, 700)
    if ctype == "complex128":
        assert_close(fused, portable, kind="engines")  # issue 4: engines agree to 1e-12 (float64)
    assert_close(fused, vandermonde_loop(v, x[0], 700, conj), kind="kernel")


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (0, ValueError, "L must be a positive integer, got 0"),
        (-3, ValueError, "L must be a positive integer, got -3"),
        (2.5, TypeError, "L must be an integer, got 2.5"),
        (True, TypeError, "L must be an integer, got True"),
    ],
)
def test_vandermonde_rejects_bad_length(backend, rng, bad, error, message):
    v, x = sample(rng)
    with pytest.raises(error, match=message):
        statespace.vandermonde(backend.asarray(v), backend.asarray(x), bad)


def test_vandermonde_rejects_mismatched_modes(backend, rng):
    v, x = sample(rng)
    with pytest.raises(ValueError, match="mode axes do not match: x has 5 modes"):
        statespace.vandermonde(backend.asarray(v), backend.asarray(x[..., :5]), 4)
    with pytest.raises(ValueError, match="batch shapes do not broadcast"):
        statespace.vandermonde(backend.asarray(v), backend.asarray(x[:2]), 4)


def test_vandermonde_accepts_numpy_integer_length(rng):
    v, x = sample(rng)
    assert statespace.vandermonde(v, x, np.int64(3)).shape == (3, 3)
