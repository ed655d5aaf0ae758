"""
Convolution, recurrence and scan agree
======================================

One diagonal (S4D-Lin) system, discretized with ZOH, run over one input in the three views of
:doc:`/user_guide/views`:

* **convolution** — the kernel by :func:`statespace.kernel_diag` (log-Vandermonde), then
  :func:`statespace.causal_conv` (FFT);
* **recurrence** — :func:`statespace.recurrence`, one step after another;
* **scan** — :func:`statespace.linear_scan` over the pairs :math:`(\\bar a_n, \\bar B_n u_k)` of
  every mode, then :math:`y_k = 2\\,\\mathrm{Re}\\sum_n C_n x_{k,n}`.

They compute the same sum in different orders, so they differ only by rounding: about
:math:`10^{-15}` relative in float64, and the float32 tolerance of the ``views`` kind in
float32 (see :doc:`/user_guide/accuracy`).
"""

import matplotlib.pyplot as plt
import numpy as np

import statespace as ss
from statespace.testing import relative_error, rtol

rng = np.random.default_rng(0)
N, L, dt = 32, 4000, 0.01
Lam = ss.s4d_init("lin", N)  # 16 complex modes
B = np.ones(N // 2, dtype=complex)
C = rng.standard_normal(N // 2) + 1j * rng.standard_normal(N // 2)
u = np.cumsum(rng.standard_normal(L)) / 30 + np.sin(np.arange(L) / 50)


def three_views(dtype):
    real, cplx = np.dtype(dtype), np.result_type(dtype, np.complex64)
    lam, b, c, x = Lam.astype(cplx), B.astype(cplx), C.astype(cplx), u.astype(real)
    K = ss.kernel_diag(lam, b, c, dt, L, "zoh")
    y_conv = ss.causal_conv(x, K)
    Ab, Bb = ss.discretize_diag(lam, b, dt, "zoh")
    y_rec = ss.recurrence(Ab, Bb, c, x)
    states = ss.linear_scan(Ab[:, None], Bb[:, None] * x)  # (modes, L)
    y_scan = 2 * np.real(np.sum(c[:, None] * states, axis=0))
    return y_conv, y_rec, y_scan


fig, axes = plt.subplots(3, 1, figsize=(10, 7), sharex=True, layout="constrained")
y64 = three_views("float64")
axes[0].plot(u, color="0.6", lw=1, label="input u")
for y, name, style in zip(y64, ("convolution", "recurrence", "scan"), ("-", "--", ":")):
    axes[0].plot(y, style, lw=1.5, label=name)
axes[0].set_title("The three views of one system (float64): the curves coincide")
axes[0].legend(fontsize=8, ncol=4)

for ax, dtype in zip(axes[1:], ("float64", "float32")):
    y_conv, y_rec, y_scan = three_views(dtype)
    scale = np.max(np.abs(y64[0]))
    for y, name in ((y_rec, "recurrence − convolution"), (y_scan, "scan − convolution")):
        diff = np.abs(y.astype(np.float64) - y_conv.astype(np.float64)) / scale
        ax.semilogy(np.maximum(diff, 1e-18), lw=0.8, label=f"{name}: max {relative_error(y, y_conv):.1e}")
    ax.axhline(rtol(dtype, "views"), color="k", ls="--", lw=1, label=f"views tolerance ({dtype})")
    ax.set_title(f"{dtype}: difference relative to max |y|")
    ax.legend(fontsize=8, loc="lower right")
axes[-1].set_xlabel("time step k")
plt.show()
