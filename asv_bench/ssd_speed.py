"""SSD (Mamba-2's chunked scan) beside the selective scan, and its matmul rate, in one run.

``python asv_bench/ssd_speed.py`` — the issue's problem: batch 2, L = 4096, H = 16 heads of
P = 64 channels, N = 64, one group, chunk 256, float32. Prints the best of a few runs of

* ``ssd`` (xp engine on NumPy: matrix products) and ``selective_scan`` (numba) on the same problem;
* the float32 matmul rate of this machine (NumPy, 2048³) and on the batched shapes SSD uses;
* SSD's matmul work (flops of its four products) divided by SSD's whole time (a lower bound of its
  matmul rate), and by the time of those products alone on their exact shapes.
"""

from __future__ import annotations

import os
import time

import numpy as np

import statespace as ss


def best(f, repeats=5):
    f()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(batch=2, L=4096, H=16, P=64, N=64, G=1, Q=256):
    rng = np.random.default_rng(0)
    f = np.float32
    x = rng.standard_normal((batch, H, P, L)).astype(f)
    dt = (rng.standard_normal((batch, H, L)) - 4).astype(f)
    A = -np.exp(rng.uniform(size=H)).astype(f)
    B = rng.standard_normal((batch, G, N, L)).astype(f)
    C = rng.standard_normal((batch, G, N, L)).astype(f)
    u, delta = x.reshape(batch, H * P, L), np.repeat(dt, P, axis=1)
    A_ch = np.repeat(A, P)[:, None] * np.ones((1, N), f)

    t_ssd = best(lambda: ss.ssd(x, dt, A, B, C, dt_softplus=True, chunk_size=Q))
    t_sel = best(lambda: ss.selective_scan(u, delta, A_ch, B, C, delta_softplus=True, engine="numba"), 3)
    y = ss.ssd(x, dt, A, B, C, dt_softplus=True, chunk_size=Q)
    y_ref = ss.selective_scan(u, delta, A_ch, B, C, delta_softplus=True, engine="numba")
    err = float(np.max(np.abs(y.reshape(u.shape) - y_ref)) / np.max(np.abs(y_ref)))

    c = L // Q
    shapes = [  # (left, right) of SSD's four products
        ((batch, G, 1, c, Q, N), (batch, G, 1, c, N, Q)),  # C·B scores
        ((batch, G, c, Q, Q), (batch, G, c, Q, H // G * P)),  # masked scores @ Δx, a group's heads as columns
        ((batch, G, 1, c, N, Q), (batch, G, H // G, c, Q, P)),  # chunk states
        ((batch, G, 1, c, Q, N), (batch, G, H // G, c, N, P)),  # carried states → outputs
    ]
    operands = [(rng.standard_normal(a).astype(f), rng.standard_normal(b).astype(f)) for a, b in shapes]
    flops = sum(2 * np.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2])) * a.shape[-2] * a.shape[-1] * b.shape[-1]
                for a, b in operands)  # fmt: skip
    t_products = best(lambda: [a @ b for a, b in operands])
    M = 2048
    m1, m2 = rng.standard_normal((M, M)).astype(f), rng.standard_normal((M, M)).astype(f)
    rate_big = 2 * M**3 / best(lambda: m1 @ m2) / 1e9

    print(f"cpus {os.cpu_count()}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}")
    print(f"ssd (xp, NumPy)           {t_ssd:8.3f} s")
    print(f"selective_scan (numba)    {t_sel:8.3f} s   -> ssd is {t_sel / t_ssd:.2f}x faster (rel. diff {err:.1e})")
    print(f"float32 matmul 2048^3     {rate_big:8.1f} GFLOP/s (this machine, NumPy)")
    rate = flops / t_products / 1e9
    print(f"SSD's products alone      {rate:8.1f} GFLOP/s on their shapes ({flops / 1e9:.2f} GFLOP)")
    print(f"SSD's matmul work / time  {flops / t_ssd / 1e9:8.1f} GFLOP/s over the whole call "
          f"({100 * flops / t_ssd / 1e9 / rate_big:.0f}% of the 2048^3 rate; products are "
          f"{100 * t_products / t_ssd:.0f}% of its time)")  # fmt: skip


if __name__ == "__main__":
    main()
