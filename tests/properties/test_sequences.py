"""Properties of the real-sequence functions: SSD, state forwarding of the convolution view.

Each compares, for hypothesis-drawn sizes, with an independent float64 computation: the
step-by-step selective scan / recurrence written out here in NumPy.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import statespace as ss
from statespace.testing import assert_close

seeds = st.integers(0, 2**32 - 1)


def _ssd_loop(x, dt, A, B, C, h0):
    """Mamba-2's recurrence, per head: h_t = e^{Δ_t A_h} h_{t-1} + Δ_t x_t B_t^T, y_t = h_t C_t (float64)."""
    heads, length = x.shape[1], x.shape[-1]
    per = heads // B.shape[1]
    h = h0.copy()
    y = np.zeros_like(x)
    for t in range(length):
        Bt = np.repeat(B[..., t], per, axis=1)  # (batch, H, N)
        Ct = np.repeat(C[..., t], per, axis=1)
        h = (
            np.exp(dt[:, :, t] * A)[..., None, None] * h
            + (dt[:, :, t, None] * x[..., t])[..., None] * Bt[:, :, None, :]
        )
        y[..., t] = np.einsum("bhpn,bhn->bhp", h, Ct)
    return y, h


@given(
    seed=seeds,
    heads_per_group=st.integers(1, 3),
    groups=st.integers(1, 2),
    headdim=st.integers(1, 3),
    nstate=st.integers(1, 4),
    length=st.integers(1, 40),
    chunk=st.integers(1, 16),
)
def test_ssd_is_the_per_head_recurrence(seed, heads_per_group, groups, headdim, nstate, length, chunk):
    rng = np.random.default_rng(seed)
    heads = heads_per_group * groups
    x = rng.normal(size=(2, heads, headdim, length))
    dt = rng.uniform(0.01, 0.5, size=(2, heads, length))
    A = -rng.uniform(0.1, 2.0, size=heads)
    B, C = rng.normal(size=(2, groups, nstate, length)), rng.normal(size=(2, groups, nstate, length))
    h0 = rng.normal(size=(2, heads, headdim, nstate))
    y, h = ss.ssd(x, dt, A, B, C, chunk_size=chunk, initial_states=h0, return_state=True)
    y_ref, h_ref = _ssd_loop(x, dt, A, B, C, h0)
    assert_close(y, y_ref, kind="views")
    assert_close(h, h_ref, kind="views")


@given(seed=seeds, length=st.integers(0, 60), modes=st.integers(1, 4))
def test_forward_state_diag_is_the_loop(seed, length, modes):
    rng = np.random.default_rng(seed)
    Lambda = -rng.uniform(0.05, 1.0, size=(2, modes)) + 1j * rng.uniform(-3, 3, size=(2, modes))
    B = rng.normal(size=(2, modes)) + 1j * rng.normal(size=(2, modes))
    dt = rng.uniform(0.01, 0.3, size=2)
    u = rng.normal(size=(2, length))
    x0 = rng.normal(size=(2, modes)) + 1j * rng.normal(size=(2, modes))
    Ab, Bb = ss.discretize_diag(Lambda, B, dt, "bilinear")
    x = x0
    for t in range(length):
        x = Ab * x + Bb * u[:, t, None]
    assert_close(ss.forward_state_diag(Lambda, B, dt, u, x0=x0, method="bilinear"), x, kind="scan")


@given(seed=seeds, length=st.integers(1, 40), modes=st.integers(1, 4), rank=st.integers(0, 2))
def test_forward_state_dplr_is_the_loop(seed, length, modes, rank):
    rng = np.random.default_rng(seed)
    Lambda = -rng.uniform(0.05, 1.0, size=modes) + 1j * rng.uniform(-3, 3, size=modes)
    P = 0.5 * (rng.normal(size=(rank, modes)) + 1j * rng.normal(size=(rank, modes)))
    B = rng.normal(size=modes) + 1j * rng.normal(size=modes)
    u, dt = rng.normal(size=length), float(rng.uniform(0.01, 0.3))
    Ab, Bb = ss.discretize_dplr(Lambda, P, B, dt, "bilinear", dense=True)
    x = np.zeros(2 * modes, complex)
    for t in range(length):
        x = Ab @ x + Bb * u[t]
    assert_close(ss.forward_state_dplr(Lambda, P, B, dt, u), x[:modes], kind="views")


@given(seed=seeds, length=st.integers(2, 50), cut=st.floats(0.0, 1.0))
def test_state_kernel_diag_continues_the_convolution(seed, length, cut):
    rng = np.random.default_rng(seed)
    Lambda = -rng.uniform(0.05, 1.0, size=3) + 1j * rng.uniform(-3, 3, size=3)
    B, C = rng.normal(size=3) + 0j, rng.normal(size=3) + 1j * rng.normal(size=3)
    u = rng.normal(size=length)
    split = min(length - 1, max(1, int(cut * length)))
    K = ss.kernel_diag(Lambda, B, C, 0.1, length)
    x = ss.forward_state_diag(Lambda, B, 0.1, u[:split])
    tail = ss.causal_conv(u[split:], K[: length - split]) + ss.state_kernel_diag(Lambda, C, 0.1, x, length - split)
    assert_close(tail, ss.causal_conv(u, K)[split:], kind="views")
