"""Serial against parallel numba kernels by amount of work: ``python asv_bench/parallel_threshold.py``.

For each kernel, sizes from tiny to large; both versions timed interleaved (median of many repeats) in one
process. The crossover (the smallest work where the parallel version is faster) sets
``statespace._engines.numba.PARALLEL_MIN_WORK`` (work is element updates times the kernel's ``cost``).
Run it on a quiet machine and note the printed ``uptime``.
"""

from __future__ import annotations

import statistics
import subprocess
import time

import numpy as np

import statespace as ss
from statespace._cauchy import cauchy_affine  # kernel_dplr's Cauchy sum
from statespace._engines import numba as engine


def median_pair(f, repeats):
    """Median times of ``f`` with the serial and the parallel kernels, interleaved."""
    serial, parallel = [], []
    for _ in range(repeats):
        for threshold, bucket in ((1 << 62, serial), (0, parallel)):
            engine.PARALLEL_MIN_WORK = threshold
            t0 = time.perf_counter()
            f()
            bucket.append(time.perf_counter() - t0)
    return statistics.median(serial), statistics.median(parallel)


def cases(rng):
    for H, L in ((16, 2048), (64, 2048), (64, 8192), (256, 4096), (256, 16384), (256, 65536)):
        a, b = rng.uniform(0.5, 1, (H, L)), rng.standard_normal((H, L))
        yield "linear_scan", H * L, lambda a=a, b=b: ss.linear_scan(a, b, engine="numba")
    for H, L in ((16, 256), (64, 1024), (64, 4096), (128, 4096), (256, 4096), (256, 16384)):
        Ab = np.exp(-0.01 + 0.1j * rng.standard_normal((H, 16)))
        Bb, C, u = Ab * 0 + 1, rng.standard_normal((H, 16)) + 0j, rng.standard_normal((H, L))
        yield (
            "recurrence",
            H * L * 16,
            lambda Ab=Ab, Bb=Bb, C=C, u=u: ss.recurrence(Ab, Bb, C, u, structure="diag", engine="numba"),
        )
    for H, N2, L in ((4, 16, 256), (16, 16, 256), (16, 32, 256), (16, 32, 1024), (64, 32, 1024)):
        v, w = rng.standard_normal((H, N2)) + 0j, -0.5 + 1j * rng.standard_normal((H, N2))
        z = np.exp(2j * np.pi * np.arange(L) / L)
        yield "cauchy", H * N2 * L, lambda v=v, z=z, w=w: ss.cauchy(v, z, w, engine="numba")
    for H, N2, L in ((4, 16, 256), (16, 16, 256), (16, 32, 256), (16, 32, 1024), (64, 32, 1024)):
        v, w = rng.standard_normal((H, N2)) + 0j, -0.5 + 1j * rng.standard_normal((H, N2))
        omega = np.exp(2j * np.pi * np.arange(L) / L)
        a, b = 2 * (1 - omega), 1 + omega
        yield "cauchy_affine", H * N2 * L, lambda v=v, a=a, b=b, w=w: cauchy_affine(v, a, b, w, engine="numba")
    for H, N2, L in ((16, 16, 1024), (64, 32, 1024), (64, 32, 4096), (256, 32, 4096)):
        v, x = rng.standard_normal((H, N2)) + 0j, -0.01 + 0.1j * rng.standard_normal((H, N2))
        yield "vandermonde", H * N2 * L, lambda v=v, x=x, L=L: ss.vandermonde(v, x, L, engine="numba")
    for Bt, D, L in ((1, 64, 256), (2, 128, 512), (2, 256, 1024), (2, 512, 1024), (2, 512, 2048)):
        u = rng.standard_normal((Bt, D, L)).astype(np.float32)
        delta = rng.uniform(0.001, 0.1, (Bt, D, L)).astype(np.float32)
        A = -rng.uniform(0.5, 2, (D, 16)).astype(np.float32)
        B = rng.standard_normal((Bt, 16, L)).astype(np.float32)
        C = rng.standard_normal((Bt, 16, L)).astype(np.float32)
        yield (
            "selective_scan",
            Bt * D * L * 16,
            lambda u=u, d=delta, A=A, B=B, C=C: ss.selective_scan(u, d, A, B, C, engine="numba"),
        )


def main():
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"{'function':<15} {'work':>11} {'serial':>10} {'parallel':>10} {'par/ser':>8}")
    rng = np.random.default_rng(0)
    default = engine.PARALLEL_MIN_WORK
    rows = []
    for name, work, f in cases(rng):
        f()
        median_pair(f, 2)  # compile both versions
        t0 = time.perf_counter()
        f()
        repeats = int(max(5, min(200, 0.4 / max(time.perf_counter() - t0, 1e-6))))
        s, p = median_pair(f, repeats)
        print(f"{name:<15} {work:>11} {1e6 * s:>8.0f}us {1e6 * p:>8.0f}us {p / s:>8.2f}")
        rows.append((name, work, p / s))
    engine.PARALLEL_MIN_WORK = default
    print("crossover (smallest work from which the parallel version is faster at every larger size measured):")
    for name in dict.fromkeys(row[0] for row in rows):
        mine = [(work, ratio) for n, work, ratio in rows if n == name]
        faster = [work for i, (work, _) in enumerate(mine) if all(r < 1 for _, r in mine[i:])]
        print(f"  {name:<15} {min(faster) if faster else 'none up to ' + str(mine[-1][0])}")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
