"""Bidirectional convolution: S4's literal construction, a forward plus a time-reversed pass, a direct sum."""

from __future__ import annotations

import numpy as np
import pytest

from statespace import bidirectional_conv, bidirectional_kernel, causal_conv, discretize_diag, kernel_diag, recurrence
from statespace.testing import assert_close, to_host


def s4_fftconv_bidirectional(u, k0, k1):
    """state-spaces/s4 FFTConv with bidirectional=True, transcribed: both kernels of length L, n = 2L."""
    L = u.shape[-1]
    k = np.pad(k0, [(0, 0)] * (k0.ndim - 1) + [(0, L)]) + np.pad(np.flip(k1, -1), [(0, 0)] * (k1.ndim - 1) + [(L, 0)])
    n = k.shape[-1] + 0  # l_kernel + L with l_kernel = L
    return np.fft.irfft(np.fft.rfft(u, n=n) * np.fft.rfft(k, n=n), n=n)[..., :L]


def direct_sum(u, k0, k1, D=0.0):
    """y_t = Σ_{s≤t} k0[t−s] u_s + Σ_{s>t} k1[s−t−1] u_s + D u_t, one output at a time."""
    L = u.shape[-1]
    k0 = np.concatenate([k0, np.zeros(max(0, L - len(k0)))])
    k1 = np.concatenate([k1, np.zeros(max(0, L - len(k1)))])
    y = np.zeros(L, dtype=np.result_type(u, k0, k1))
    for t in range(L):
        y[t] = sum(k0[t - s] * u[s] for s in range(t + 1)) + sum(k1[s - t - 1] * u[s] for s in range(t + 1, L))
    return y + D * u


@pytest.mark.parametrize("L", [1, 2, 5, 64, 131])
def test_equals_s4_construction(rng, L):
    u = rng.normal(size=(2, 3, L))
    k0, k1 = rng.normal(size=(3, L)), rng.normal(size=(3, L))
    assert_close(bidirectional_conv(u, k0, k1), s4_fftconv_bidirectional(u, k0, k1), kind="views")
    n = 2 * L
    K = bidirectional_kernel(k0, k1, L)
    assert K.shape == (3, n)
    assert_close(
        np.fft.irfft(np.fft.rfft(u, n=n) * np.fft.rfft(K, n=n), n=n)[..., :L],
        s4_fftconv_bidirectional(u, k0, k1),
        kind="views",
    )


def test_equals_forward_plus_time_reversed_pass_of_two_systems(rng, dtype_name):
    """The recurrent definition: y_t = C0 x_t + C1 z_{t+1} + D u_t, the backward pass run on the reversed input."""
    H, N2, L, dt = 3, 6, 200, 0.05
    systems = []
    for _ in range(2):
        Lambda = -rng.uniform(0.1, 1.0, (H, N2)) + 1j * rng.uniform(-5, 5, (H, N2))
        B = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
        C = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
        systems.append((Lambda, B, C))
    u, D = rng.normal(size=(2, H, L)), rng.normal(size=H)
    forward = recurrence(*discretize_diag(*systems[0][:2], dt, "zoh"), systems[0][2], u)  # C0 x_t
    reversed_states = recurrence(*discretize_diag(*systems[1][:2], dt, "zoh"), systems[1][2], np.flip(u, -1))
    # reversed_states[j] = C1 z_{L−1−j}: y needs C1 z_{t+1} = reversed_states[L−2−t], and 0 at t = L−1
    backward = np.flip(np.concatenate([np.zeros((2, H, 1)), reversed_states[..., :-1]], axis=-1), -1)
    want = forward + backward + D[:, None] * u
    k0, k1 = (kernel_diag(*system, dt, L, method="zoh") for system in systems)
    c = {"float32": np.float32, "float64": np.float64}[dtype_name]
    y = bidirectional_conv(u.astype(c), k0.astype(c), k1.astype(c), D=D.astype(c))
    assert y.dtype == c
    assert_close(y, want, kind="views", dtype=dtype_name)
    # and as causal passes: a forward causal_conv plus a reversed causal_conv with the kernel delayed by one
    passes = causal_conv(u, k0) + np.flip(causal_conv(np.flip(u, -1), np.concatenate([np.zeros((H, 1)), k1], -1)), -1)
    assert_close(bidirectional_conv(u, k0, k1), passes, kind="views")


@pytest.mark.parametrize("L0, L1", [(1, 1), (3, 9), (40, 2), (60, 60)])
def test_kernel_lengths_complex_and_skip(rng, L0, L1):
    L = 25
    u = rng.normal(size=L) + 1j * rng.normal(size=L)
    k0 = rng.normal(size=L0) + 1j * rng.normal(size=L0)
    k1 = rng.normal(size=L1)
    y = bidirectional_conv(u, k0, k1, D=0.5)
    assert y.dtype == np.complex128
    assert_close(y, direct_sum(u, k0[:L], k1[:L], 0.5), kind="views")


def test_axis(rng):
    u, k0, k1 = rng.normal(size=(30, 4)), rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    y = bidirectional_conv(u, k0, k1, axis=0)
    want = np.stack([direct_sum(u[:, h], k0[:, h], k1[:, h]) for h in range(4)], axis=1)
    assert_close(y, want, kind="views")


def test_empty_sequence():
    assert bidirectional_conv(np.zeros((2, 0)), np.ones(3), np.ones(3)).shape == (2, 0)
    assert bidirectional_kernel(np.ones(3), np.ones(3), 0).shape == (0,)


def test_backends(backend, dtype_name, rng):
    L = 33
    u, k0, k1, D = rng.normal(size=(2, L)), rng.normal(size=(2, L)), rng.normal(size=(2, 20)), rng.normal(size=2)
    y = bidirectional_conv(*(backend.asarray(a, dtype_name) for a in (u, k0, k1, D)))
    assert y.dtype == backend.dtype(dtype_name)
    if backend.device is not None:
        assert y.device == backend.device
    assert_close(
        to_host(y), np.array([direct_sum(u[h], k0[h], k1[h], D[h]) for h in range(2)]), kind="views", dtype=dtype_name
    )
    K = bidirectional_kernel(backend.asarray(k0, dtype_name), backend.asarray(k1, dtype_name), L)
    assert K.dtype == backend.dtype(dtype_name) and K.shape == (2, 2 * L)
    if backend.device is not None:
        assert K.device == backend.device
    want = np.concatenate([k0, np.zeros((2, L - 20)), np.flip(k1, -1)], axis=-1)
    assert_close(to_host(K), want, kind="elementwise", dtype=dtype_name)


def test_errors(rng):
    u, k = rng.normal(size=(2, 8)), rng.normal(size=(2, 8))
    with pytest.raises(ValueError, match="u must have a time axis"):
        bidirectional_conv(np.array(1.0), k, k)
    with pytest.raises(ValueError, match="K_backward must be an array with a time axis"):
        bidirectional_conv(u, k, np.array(1.0))
    with pytest.raises(ValueError, match=r"batch axes of u .* do not broadcast"):
        bidirectional_conv(u, rng.normal(size=(3, 8)), rng.normal(size=(3, 8)))
    with pytest.raises(ValueError, match=r"batch axes of K_forward .* and K_backward .* do not broadcast"):
        bidirectional_kernel(k, rng.normal(size=(3, 8)), 8)
    with pytest.raises(ValueError, match="D must broadcast to u's batch shape"):
        bidirectional_conv(u, k, k, D=np.ones(3))
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        bidirectional_conv(u, k, k, axis=2)
    with pytest.raises(ValueError, match="L must be non-negative"):
        bidirectional_kernel(k, k, -1)
    with pytest.raises(TypeError, match="L must be an integer"):
        bidirectional_kernel(k, k, 2.0)
