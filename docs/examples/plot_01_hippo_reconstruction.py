"""
HiPPO memory: reconstructing a signal from the state
====================================================

A HiPPO state of size ``N`` holds the coefficients of the best approximation of the input's
history in ``N`` basis functions (:doc:`/user_guide/hippo`). Here one signal is recorded by
four measures — LegS (the whole history), LegT and FouT (a sliding window), LagT
(exponentially discounted) — and read back from the final state with
:func:`statespace.reconstruct`, for several ``N``.

LegT, FouT and LagT are time-invariant: they are discretized once (bilinear) and run with
:func:`statespace.recurrence`. LegS is time-invariant in log time,
:math:`dx/ds = Ax + Bu` with :math:`s = \\log t`, so it is discretized with one step
:math:`\\Delta s_k = \\log(t_k / t_{k-1})` per sample — a whole stack of systems in one call
to :func:`statespace.discretize`.
"""

import matplotlib.pyplot as plt
import numpy as np

import statespace as ss

L = 1000
t = np.arange(1, L + 1) / L  # sample times on (0, 1]
signal = np.sin(2 * np.pi * 3 * t) + 0.5 * np.sin(2 * np.pi * 7 * t + 1.0) + 0.6 * (t > 0.6)


def legs_state(u, N):
    """Final LegS state: bilinear steps in log time (one discretized system per sample)."""
    A, B = ss.hippo("legs", N)
    ds = np.log(t[1:] / t[:-1])
    Ab, Bb = ss.discretize(
        np.broadcast_to(A, (L - 1, N, N)), np.broadcast_to(B[:, None], (L - 1, N, 1)), ds, "bilinear"
    )
    x = np.zeros(N)
    x[0] = u[0]  # at t_1 the history is (nearly) constant: its projection is (u_0, 0, ...)
    for k in range(L - 1):
        x = Ab[k] @ x + Bb[k, :, 0] * u[k + 1]
    return x


def lti_state(measure, u, N, dt):
    """Final state of a time-invariant measure, bilinear, through the recurrent view."""
    A, B = ss.hippo(measure, N)
    Ab, Bb = ss.discretize(A, B[:, None], dt, "bilinear")
    _, x = ss.recurrence(Ab, Bb[:, 0], np.zeros(N), u, return_state=True)
    return x


# Each measure's window, in the time units of the recorded signal (1 = its whole length):
# LegT and FouT remember the last 2 ODE time units, so a step of 2/L makes that window the
# whole signal; LagT has no window, and with a step of 8/L the signal's start is 8 units old.
measures = {
    "legs": dict(state=legs_state, age=None),
    "legt": dict(state=lambda u, N: lti_state("legt", u, N, 2.0 / L), age=None),
    "fout": dict(state=lambda u, N: lti_state("fout", u, N, 2.0 / L), age=None),
    "lagt": dict(state=lambda u, N: lti_state("lagt", u, N, 8.0 / L), age=8.0),
}
sizes = (8, 24, 64)

fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), sharex=True, sharey=True, layout="constrained")
for ax, (measure, how) in zip(axes.flat, measures.items()):
    ax.plot(t, signal, color="black", lw=2.5, alpha=0.3, label="signal")
    for N in sizes:
        x = how["state"](signal, N)
        # where to evaluate: the fraction of the window (1 = now), or for LagT the age
        where = t if how["age"] is None else how["age"] * (1 - t)
        u_hat = ss.reconstruct(x, measure, where)
        error = np.max(np.abs(u_hat - signal)[t > 0.05]) / np.max(np.abs(signal))
        ax.plot(t, u_hat, lw=1.2, label=f"N = {N}  (max err {error:.2f})")
    ax.set_title(measure)
    ax.set_ylim(-2.5, 2.5)
    ax.legend(fontsize=7, loc="lower left")
for ax in axes[1]:
    ax.set_xlabel("time (1 = now)")
fig.suptitle("What a HiPPO state remembers: reconstruction from the final state")
plt.show()

# %%
# LegS recovers the whole history, better as ``N`` grows, with Gibbs ripples at the jump.
# LegT and FouT see the same window here and reconstruct it comparably (FouT's basis is
# periodic, so it also spends effort on the mismatch between the window's two ends). LagT
# remembers everything but discounts it exponentially with age: the recent past is sharp, the
# distant past (left) blurs — more states push the blur further back.
