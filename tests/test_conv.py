"""causal_conv against np.convolve truncated and against the recurrence of the same system."""

from __future__ import annotations

import numpy as np
import pytest

from statespace import causal_conv, recurrence
from statespace.testing import assert_close


def truncated(u, K, L):
    return np.convolve(u, K)[:L]


@pytest.mark.parametrize("L", [1, 2, 7, 100, 257])
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_matches_np_convolve(rng, L, complex_):
    u = rng.normal(size=(2, 3, L))
    K = rng.normal(size=(3, L)) + (1j * rng.normal(size=(3, L)) if complex_ else 0)
    D = rng.normal(size=3)
    y = causal_conv(u, K, D=D)
    want = np.array([[truncated(u[b, h], K[h], L) + D[h] * u[b, h] for h in range(3)] for b in range(2)])
    assert y.dtype == (np.complex128 if complex_ else np.float64)
    assert_close(y, want, kind="views")


@pytest.mark.parametrize("LK", [1, 5, 40])
def test_kernel_shorter_or_longer_than_input_and_axis(rng, LK):
    u = rng.normal(size=(20, 3))
    K = rng.normal(size=(LK, 3))
    y = causal_conv(u, K, axis=0)
    want = np.stack([truncated(u[:, h], K[:, h], 20) for h in range(3)], axis=1)
    assert_close(y, want, kind="views")


def test_equals_recurrence_of_same_system(rng, dtype_name):
    H, N2, L = 4, 8, 300
    Ab = np.exp(-rng.uniform(0.005, 0.2, (H, N2)) + 1j * rng.uniform(0, np.pi, (H, N2)))
    Bb = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    C = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    impulse = np.zeros(L)
    impulse[0] = 1.0
    K = recurrence(Ab, Bb, C, impulse)  # K_l = 2 Re(C Ab^l Bb)
    u = rng.normal(size=(2, H, L)).astype(dtype_name)
    y = causal_conv(u, K.astype(dtype_name), D=np.ones(H, dtype_name))
    assert y.dtype == np.dtype(dtype_name)
    assert_close(y, recurrence(Ab, Bb, C, u.astype(np.float64), D=np.ones(H)), kind="views", dtype=dtype_name)


def test_backends(backend, dtype_name, rng):
    u, K = rng.normal(size=(2, 3, 33)), rng.normal(size=(3, 33))
    y = causal_conv(
        backend.asarray(u, dtype_name), backend.asarray(K, dtype_name), D=backend.asarray(np.ones(3), dtype_name)
    )
    assert y.dtype == backend.dtype(dtype_name)
    if backend.device is not None:
        assert y.device == backend.device
    want = np.array([[truncated(u[b, h], K[h], 33) + u[b, h] for h in range(3)] for b in range(2)])
    assert_close(y, want, kind="views", dtype=dtype_name)
    cdt = "complex64" if dtype_name == "float32" else "complex128"
    yc = causal_conv(backend.asarray(u, dtype_name), backend.asarray(K * 1j, cdt))
    assert_close(yc, want * 1j - 1j * u, kind="views", dtype=dtype_name)


def test_fast_length_helper():
    from statespace._conv import _smooth_length

    for n in [1, 2, 7, 11, 97, 1001, 8191, 10007]:
        m = _smooth_length(n)
        assert m >= n
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        assert k == 1
        assert all(not _is_smooth(j) for j in range(n, m))


def _is_smooth(j):
    for p in (2, 3, 5):
        while j % p == 0:
            j //= p
    return j == 1


def test_empty_input(rng):
    assert causal_conv(np.zeros((3, 0)), np.ones((3, 4))).shape == (3, 0)


def test_errors():
    with pytest.raises(ValueError, match="do not broadcast"):
        causal_conv(np.ones((2, 5)), np.ones((3, 5)))
    with pytest.raises(ValueError, match="D must broadcast"):
        causal_conv(np.ones((2, 5)), np.ones((2, 5)), D=np.ones(3))
    with pytest.raises(ValueError, match="time axis"):
        causal_conv(np.ones(5), np.float64(1.0) * np.ones(()))
    with pytest.raises(ValueError, match="out of range"):
        causal_conv(np.ones(5), np.ones(5), axis=1)
