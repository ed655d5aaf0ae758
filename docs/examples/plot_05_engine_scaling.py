"""
How the engines scale with the sequence length
==============================================

Every hot function runs on the portable ``"xp"`` engine (array-API code) and, for NumPy arrays
with numba installed, on the fused ``"numba"`` engine (:doc:`/user_guide/engines`). This
example times both on three hot functions for growing sequence lengths ``L``:

* :func:`statespace.linear_scan` — 64 channels of a first-order recurrence;
* :func:`statespace.recurrence` — a diagonal system (64 channels × 16 modes) with its output
  projection;
* :func:`statespace.kernel_diag` — the S4D kernel (64 channels × 16 modes).

The sizes are small so the example runs in seconds when the site is built; the times depend on
the machine that built it and are not a benchmark. For the benchmarks (with peers and larger
sizes) see :doc:`/user_guide/performance`.
"""

import importlib.util
import timeit

import matplotlib.pyplot as plt
import numpy as np

import statespace as ss

engines = ["xp"] + (["numba"] if importlib.util.find_spec("numba") else [])
lengths = [256, 1024, 4096, 8192]
H, N2 = 64, 16
rng = np.random.default_rng(0)
Lam = ss.s4d_init("lin", 2 * N2)  # one set of modes shared by the H channels (the S4D idiom)
C = rng.standard_normal((H, N2)) + 1j * rng.standard_normal((H, N2))
dt = np.exp(ss.log_dt_init(H, rng=1))
Ab, Bb = ss.discretize_diag(Lam, np.ones(N2), dt, "zoh")


def best_time(fn, repeat=2):
    fn()  # warm-up: numba compiles (or loads its cache) on the first call
    return min(timeit.repeat(fn, number=1, repeat=repeat))


def scan_case(L, engine):
    a, b = np.full((H, 1), 0.999), rng.standard_normal((H, L))
    return lambda: ss.linear_scan(a, b, engine=engine)


def recurrence_case(L, engine):
    u = rng.standard_normal((H, L))
    return lambda: ss.recurrence(Ab, Bb, C, u, engine=engine)


def kernel_case(L, engine):
    return lambda: ss.kernel_diag(Lam, np.ones(N2), C, dt, L, "zoh", engine=engine)


cases = {"linear_scan": scan_case, "recurrence (diagonal)": recurrence_case, "kernel_diag": kernel_case}

fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True, layout="constrained")
for ax, (name, make) in zip(axes, cases.items()):
    for engine, marker in zip(engines, ("o-", "s-")):
        seconds = [best_time(make(L, engine)) for L in lengths]
        ax.loglog(lengths, seconds, marker, label=engine)
        print(f"{name:24s} {engine:6s} " + "  ".join(f"L={L}: {s * 1e3:8.2f} ms" for L, s in zip(lengths, seconds)))
    ax.set_title(name)
    ax.set_xticks(lengths, [str(L) for L in lengths])
    ax.tick_params(axis="x", which="minor", labelbottom=False)
    ax.set_xlabel("sequence length L")
    ax.grid(True, which="both", alpha=0.3)
axes[0].set_ylabel("seconds (best of 2)")
axes[0].legend()
fig.suptitle(f"Engines vs L on the machine that built this page ({H} channels)")
plt.show()
