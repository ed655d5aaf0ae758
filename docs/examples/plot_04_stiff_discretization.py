"""
Discretization methods on a stiff system
========================================

A stiff system has modes on very different time scales. Here a dense two-state system has
eigenvalues :math:`-1` (slow) and :math:`-1000` (fast), written in a non-orthogonal basis so
that :math:`A` is a full matrix. It is driven by a unit step and sampled with
:math:`\\Delta = 0.01`, so :math:`\\Delta\\lambda_{fast} = -10`: far outside forward Euler's
stability region (:doc:`/user_guide/discretization`).

For a step input ZOH is exact, so it serves as the reference. The left panel shows the
responses computed with :func:`statespace.discretize` and :func:`statespace.recurrence`; the
right panel the stability function :math:`|\\bar a(\\Delta\\lambda)|` of each method on the
negative real axis. (FOH has ZOH's :math:`\\bar A`; its :math:`\\bar B` belongs to SciPy's output
convention, so an FOH response needs :func:`statespace.cont2discrete`'s corrected :math:`D`.)
"""

import matplotlib.pyplot as plt
import numpy as np

import statespace as ss

basis = np.array([[1.0, 0.6], [0.2, 1.0]])
A = basis @ np.diag([-1.0, -1000.0]) @ np.linalg.inv(basis)
B = basis @ np.array([1.0, 1000.0])  # both modes excited, settling to comparable sizes
C = np.array([1.0, 1.0]) @ np.linalg.inv(basis)
dt, L = 0.01, 300
u = np.ones(L)

fig, (ax, ax_stab) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained", gridspec_kw={"width_ratios": [3, 2]})
time = dt * np.arange(1, L + 1)
for method, style in (("zoh", "k-"), ("bilinear", "C1-"), ("backward_euler", "C2--"), ("euler", "C3:")):
    Ab, Bb = ss.discretize(A, B[:, None], dt, method)
    y = ss.recurrence(Ab, Bb[:, 0], C, u)
    with np.errstate(over="ignore", invalid="ignore"):
        shown = np.where(np.abs(y) < 5, y, np.nan)  # forward Euler leaves the plot at once
    label = method
    if not np.all(np.isfinite(shown)):
        label += f" (diverges: |y| > 5 from step {np.argmax(~np.isfinite(shown))})"
    ax.plot(time, shown, style, lw=1.5, label=label)
ax.set_ylim(0.4, 1.8)
ax.set_xlim(0, 0.6)
ax.set_xlabel("time")
ax.set_ylabel("y")
ax.set_title("Step response, Δ = 0.01, eigenvalues −1 and −1000")
ax.legend(fontsize=8)

z = -np.logspace(-2, 3, 400)  # Δλ on the negative real axis
stability = {
    "euler": np.abs(1 + z),
    "backward_euler": np.abs(1 / (1 - z)),
    "bilinear": np.abs((1 + z / 2) / (1 - z / 2)),
    "zoh / foh": np.abs(np.exp(z)),
}
for (name, value), color in zip(stability.items(), ("C3", "C2", "C1", "k")):
    ax_stab.loglog(-z, value, color=color, label=name)
ax_stab.axhline(1, color="0.5", lw=0.8)
ax_stab.axvline(10, color="0.5", lw=0.8, ls=":", label="fast mode, Δ = 0.01")
ax_stab.set_ylim(1e-5, 1e3)
ax_stab.set_xlabel("−Δλ")
ax_stab.set_title("|ā(Δλ)| (stable below 1)")
ax_stab.legend(fontsize=8)
plt.show()

# %%
# Forward Euler multiplies the fast mode by :math:`|1 - 10| = 9` per step and diverges at
# once. Bilinear is stable for every step, but maps the fast mode to
# :math:`\bar a = (1 - 5)/(1 + 5) = -2/3`: it rings, alternating sign, and takes a dozen steps
# to die out instead of vanishing. Backward Euler damps it (:math:`\bar a = 1/11`) but its
# first-order error shows on the slow mode. ZOH (and FOH) map each eigenvalue exactly,
# :math:`\bar a = e^{\Delta\lambda}`, and stiffness costs them nothing.
