"""
The kernels of the HiPPO measures
=================================

The convolution kernel of a HiPPO system that reads out coefficient ``n`` of its state is the
impulse response of that coefficient: how much the input at each age contributes to it. For a
windowed measure these are the basis functions themselves, seen backwards in time.

Each kernel below is computed the S4 way, by :func:`statespace.kernel_dplr` from the NPLR form
(:func:`statespace.nplr`): Cauchy sums at the roots of unity, Woodbury, inverse FFT — no
matrix powers. Reading coefficient ``n`` of the original state means ``C = e_n``; in the
eigenbasis, with ``x = U x̃`` and the stored half ``V``, that is ``C_half = V[n, :]``. The
printed error is against :func:`statespace.kernel_naive`, the powers of the dense bilinear
system.
"""

import matplotlib.pyplot as plt
import numpy as np

import statespace as ss
from statespace.testing import relative_error

N, L = 32, 1024
# time step per measure, so that its memory fits in the kernel: LegT and FouT remember a window of
# 2 ODE time units (here half the kernel), LagT discounts exponentially, LegS decays like e^{-t}
steps = {"legs": 6.0 / L, "legt": 4.0 / L, "lagt": 24.0 / L, "fout": 4.0 / L}

fig, axes = plt.subplots(1, 4, figsize=(12, 3.4), layout="constrained")
for ax, (measure, dt) in zip(axes, steps.items()):
    # legt, lagt and fout have Re(Lambda) = 0 (fout even an exact zero eigenvalue):
    # S4's clamp Re(Lambda) <= -1e-4 keeps the Cauchy kernel finite at DC.
    clamp = None if measure == "legs" else 1e-4
    rec = ss.nplr(measure, N, real_clamp=clamp)
    A, B = rec.dense()  # the (clamped) dense system, for the reference below
    Ab, Bb = ss.discretize(A, B[:, None], dt, "bilinear")
    coefficients = (0, 2, 3, 4) if measure == "fout" else (0, 1, 2, 3)  # fout's x[1] is never excited
    kernels = np.stack(
        [ss.kernel_dplr(rec.Lambda, rec.P, rec.B, rec.V[n, :], dt, L, ctilde=False) for n in coefficients]
    )
    reference = np.stack([ss.kernel_naive(Ab, Bb[:, 0], np.eye(N)[n], L) for n in coefficients])
    age = np.arange(L) * dt
    for n, K in zip(coefficients, kernels):
        ax.plot(age, K / dt, lw=1.2, label=f"x[{n}]")  # K / dt: the continuous impulse response
    ax.set_title(f"{measure}   (vs powers: {relative_error(kernels, reference):.0e})", fontsize=10)
    ax.set_xlabel("age of the input (ODE time units)")
    ax.legend(fontsize=7)
axes[0].set_ylabel("kernel $K_\\ell / \\Delta$")
fig.suptitle(f"Kernels of the first HiPPO coefficients, N = {N}, by the S4 algorithm")
plt.show()

# %%
# LegT's kernels are (scaled) Legendre polynomials on its window of 2 time units and nearly
# vanish beyond it; FouT's are a constant, cosines and sines on the same window. The small
# ripples are the finite-``N`` approximation of the window's sharp edge (Gibbs). LagT's are
# Laguerre functions, decaying exponentially with age and never exactly zero; LegS (run here as
# a time-invariant system, as S4 does) spreads its memory over all scales, decaying like
# :math:`e^{-t}` and faster. The agreement with the matrix powers is at float64 rounding level.
