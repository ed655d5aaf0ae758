"""
Irregular sampling: a HiPPO memory fed at uneven times
======================================================

Sensor logs, medical records and event streams arrive at uneven times. A continuous system
:math:`x' = Ax + Bu` does not care: :func:`statespace.irregular_response` discretizes it once
per interval :math:`\\Delta_k = t_k - t_{k-1}` (exactly, with ZOH: the sample :math:`u_k` is held
over the interval that ends at :math:`t_k`) and runs all intervals through one scan.

Here a signal is observed at 150 random times on :math:`(0, 1]` — dense in some stretches,
sparse in others — and fed to a HiPPO-LegT memory whose window is the whole unit interval
(``hippo("legt")`` remembers 2 time units, so it runs at double speed: :math:`2A, 2B`).
Taking ``C = I`` makes the outputs the states themselves, so the memory can be read back
with :func:`statespace.reconstruct` at any sample time. :func:`statespace.evolve` then carries
the final state forward with no input, the way a forecast would: the remembered window slides
on, with the new part of it empty (zero input).
"""

import matplotlib.pyplot as plt
import numpy as np

import statespace as ss

rng = np.random.default_rng(7)
t = np.sort(np.concatenate([rng.uniform(0, 0.4, 110), rng.uniform(0.4, 1.0, 40)]))  # uneven density
t[-1] = 1.0


def signal(s):
    return np.sin(2 * np.pi * 2 * s) + 0.5 * np.sin(2 * np.pi * 5 * s + 1.0) + 0.6 * (s > 0.55)


u = signal(t)
N = 48
A, B = ss.hippo("legt", N)
system = (2 * A, 2 * B, np.eye(N))  # C = I: the outputs are the states at every timestamp
states, last = ss.irregular_response(system, u, times=t, start=0.0, return_state=True)

window = np.linspace(0, 1, 400)  # fraction of the remembered window, 1 = now
held = u[np.minimum(np.searchsorted(t, window), len(t) - 1)]  # the input the system saw: u_k on (t_{k-1}, t_k]
dense_t = np.linspace(0, 1.6, 1000)

fig = plt.figure(figsize=(10, 7), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[1.2, 1])
ax = top.subplots()
ax.plot(dense_t[dense_t <= 1], signal(dense_t[dense_t <= 1]), color="black", lw=2.5, alpha=0.25, label="signal")
ax.step(t, u, where="pre", color="C0", lw=0.8, label="samples, held over the interval before each")
ax.plot(t, u, "o", ms=2.5, color="C0")
u_hat = ss.reconstruct(last, "legt", window)  # window [0, 1] of the state at t = 1
error = np.sqrt(np.mean((u_hat - held) ** 2))
ax.plot(window, u_hat, color="C3", lw=1.5, label=f"read back from x(1), N = {N} (rms err vs held input {error:.2f})")
ax.set_title("A LegT memory fed at 150 uneven times (dense before 0.4, sparse after)")
ax.set_xlabel("time")
ax.legend(fontsize=8, loc="upper left")

axes = bottom.subplots(1, 3, sharey=True)
k_mid = int(np.searchsorted(t, 0.5))
views = [(t[k_mid], states[:, k_mid], f"state at t = {t[k_mid]:.2f}")]
for delta in (0.3, 0.6):
    future = ss.evolve(system, last, np.array([delta]), return_state=True)[1][:, 0]
    views.append((1 + delta, future, f"evolve(x(1), {delta}): t = {1 + delta:.1f}"))
for ax, (now, x, title) in zip(axes, views):
    span = now - 1 + window  # the remembered window ends now
    ax.plot(span, np.where((span > 0) & (span <= 1), signal(span), 0.0), color="black", lw=2.5, alpha=0.25)
    ax.plot(span, ss.reconstruct(x, "legt", window), color="C2")
    ax.axvline(1.0, color="gray", lw=0.8, ls=":")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("time")
bottom.suptitle(
    "What the memory holds mid-sequence, and forecasts without input (zero input before 0, after 1)", fontsize=10
)
plt.show()

# %%
# The memory reproduces the input it was fed — each sample held over the interval before it, so
# in the sparse stretch after 0.4 the held steps lead the signal — with Gibbs ripples at jumps.
# Evolving the final state with no input (:func:`statespace.evolve`) slides the window forward:
# the part after ``t = 1`` reads back as (nearly) zero and the oldest part leaves the memory.
