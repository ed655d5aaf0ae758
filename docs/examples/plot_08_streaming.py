"""
Streaming a long signal in chunks, through all three views
==========================================================

A signal that arrives in pieces (a sensor, an audio stream, a sequence too long for memory) is
processed chunk by chunk with the state carried across (see :doc:`/user_guide/sequences`):

* **convolution** — each chunk is :func:`statespace.causal_conv` with the kernel, plus the
  response to the carried state (:func:`statespace.state_kernel_diag` for a diagonal system,
  ``kernel_dplr(..., x0=)`` for a DPLR one); the state is carried on by
  :func:`statespace.forward_state_diag` / :func:`statespace.forward_state_dplr`, a transposed
  Vandermonde / Cauchy sum, not a loop over the chunk;
* **recurrence** — :func:`statespace.recurrence` with ``x0`` and ``return_state=True``;
* **scan** — :func:`statespace.linear_scan` of every mode with ``x0``, final state returned.

The chunks have random lengths, including runs of length 1. Each streamed output equals the
one-shot convolution of the whole signal to rounding.
"""

import itertools

import matplotlib.pyplot as plt
import numpy as np

import statespace as ss
from statespace.testing import relative_error

rng = np.random.default_rng(0)
N, L, dt = 32, 3000, 0.01
Lam = ss.s4d_init("lin", N)  # a diagonal (S4D-Lin) system of 16 complex modes
B = np.ones(N // 2, dtype=complex)
C = rng.standard_normal(N // 2) + 1j * rng.standard_normal(N // 2)
u = np.cumsum(rng.standard_normal(L)) / 30 + np.sin(np.arange(L) / 40)

sizes = []
while sum(sizes) < L:  # random chunk lengths, some of them 1
    sizes.append(1 if rng.uniform() < 0.2 else int(rng.integers(20, 400)))
sizes[-1] -= sum(sizes) - L
edges = np.cumsum([0, *sizes])

K = ss.kernel_diag(Lam, B, C, dt, L)
one_shot = ss.causal_conv(u, K)
Ab, Bb = ss.discretize_diag(Lam, B, dt, "zoh")

conv, rec, scan = [], [], []
x_conv = x_rec = x_scan = None
for start, stop in itertools.pairwise(edges):
    piece, n = u[start:stop], stop - start
    # convolution view: the chunk's convolution plus the carried state's response
    y = ss.causal_conv(piece, K[:n])
    if x_conv is not None:
        y = y + ss.state_kernel_diag(Lam, C, dt, x_conv, n)
    x_conv = ss.forward_state_diag(Lam, B, dt, piece, x0=x_conv)
    conv.append(y)
    # recurrent view
    y, x_rec = ss.recurrence(Ab, Bb, C, piece, x0=x_rec, return_state=True)
    rec.append(y)
    # scan view: one linear recurrence per mode, then the output projection
    states, x_scan = ss.linear_scan(Ab[:, None], Bb[:, None] * piece, x0=x_scan, return_state=True)
    scan.append(2 * np.real(C @ states))

streams = {name: np.concatenate(ys) for name, ys in (("convolution", conv), ("recurrence", rec), ("scan", scan))}

fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True, layout="constrained")
axes[0].plot(u, color="0.6", lw=1, label="input u")
axes[0].plot(one_shot, lw=1.5, label="one-shot convolution")
for edge in edges[1:-1]:
    axes[0].axvline(edge, color="k", lw=0.3, alpha=0.4)
axes[0].set_title(f"{len(sizes)} chunks (thin lines), {sum(s == 1 for s in sizes)} of length 1")
axes[0].legend(fontsize=8)
scale = np.max(np.abs(one_shot))
for name, y in streams.items():
    diff = np.maximum(np.abs(y - one_shot) / scale, 1e-18)
    axes[1].semilogy(diff, lw=0.8, label=f"{name}, streamed: max {relative_error(y, one_shot):.1e}")
axes[1].set_title("Streamed output − one-shot convolution, relative to max |y| (float64)")
axes[1].set_xlabel("time step k")
axes[1].legend(fontsize=8, loc="lower right")
plt.show()
