"""
A Mamba-style selective scan on a toy signal
============================================

In a *selective* SSM the step size :math:`\\Delta_t` depends on the input, so the model decides
at every step how much to forget (:doc:`/user_guide/scans`). With
:math:`\\bar A = e^{\\Delta_t A}` and :math:`\\bar B = \\Delta_t B_t`, a large :math:`\\Delta_t`
overwrites the state with the current input and a small one holds it.

Toy task: a noisy signal and a sparse "write" marker. Channel 0 is selective: its
:math:`\\Delta_t` is large where the marker is on and tiny elsewhere, so it samples the signal
at the marked instants and **holds** the value in between. Channel 1 is the same SSM with a
constant :math:`\\Delta` (a time-invariant filter): all it can do is smooth. Each channel has
its own input-dependent :math:`B_t` (Mamba's grouped layout ``(batch, G, N, L)`` with
``G = 2``): :math:`B_t = (1 - e^{-\\Delta_t})/\\Delta_t`, so that
:math:`x_t = e^{-\\Delta_t} x_{t-1} + (1 - e^{-\\Delta_t}) u_t` is a convex combination.

Finally the sequence is processed in two halves, carrying the state with ``x0`` and
``return_state``, and compared with one pass.
"""

import matplotlib.pyplot as plt
import numpy as np

import statespace as ss

rng = np.random.default_rng(3)
L = 600
t = np.arange(L)
clean = np.sin(2 * np.pi * t / 250) + 0.5 * np.sin(2 * np.pi * t / 67)
signal = clean + 0.15 * rng.standard_normal(L)
write = np.zeros(L)
write[np.arange(30, L, 60) + rng.integers(-15, 15, size=len(range(30, L, 60)))] = 1.0

# Raw step-size pre-activations, as Mamba's projection would produce; softplus inside the scan.
raw_delta = np.stack(
    [
        np.where(write > 0, 8.0, -8.0),  # selective: softplus ≈ 8 or ≈ 3e-4
        np.full(L, -1.5),
    ]
)  # LTI: softplus(-1.5) ≈ 0.2
delta = np.log1p(np.exp(raw_delta))  # the same softplus, to build B_t below

u = np.broadcast_to(signal, (1, 2, L))
A = -np.ones((2, 1))  # D = 2 channels, N = 1 state each
B = ((1 - np.exp(-delta)) / delta)[None, :, None, :]  # (batch, G = 2, N = 1, L)
C = np.ones((1, 2, 1, L))
out, last = ss.selective_scan(u, raw_delta[None], A, B, C, delta_softplus=True, return_state=True)

# the same in two chunks, carrying the state
h = L // 2
first, state = ss.selective_scan(
    u[..., :h], raw_delta[None, :, :h], A, B[..., :h], C[..., :h], delta_softplus=True, return_state=True
)
second = ss.selective_scan(u[..., h:], raw_delta[None, :, h:], A, B[..., h:], C[..., h:], delta_softplus=True, x0=state)
chunked = np.concatenate([first, second], axis=-1)
print(f"one pass vs two chunks with x0: max difference {np.max(np.abs(chunked - out)):.1e}")

fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
ax.plot(t, signal, color="0.75", lw=1, label="noisy input u")
ax.vlines(t[write > 0], -2.2, -1.9, color="C3", lw=2, label="write marker (large Δ)")
ax.plot(t, out[0, 0], color="C0", lw=2, drawstyle="steps-post", label="selective channel: sample and hold")
ax.plot(t, out[0, 1], color="C1", lw=1.5, label="constant Δ (LTI): smoothing only")
ax.plot(t[h:], chunked[0, 0, h:], "k:", lw=1, label="second chunk, continued from x0")
ax.set_xlabel("time step")
ax.set_ylim(-2.3, 2.3)
ax.legend(fontsize=8, ncol=2, loc="upper right")
ax.set_title("selective_scan: the input decides what the state keeps")
plt.show()
