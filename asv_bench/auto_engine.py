"""Issue 19: ``engine=None`` is never more than 1.2× slower than the faster engine, over the asv grid.

``python asv_bench/auto_engine.py`` runs every engine benchmark of the asv suite (the classes below, all
their sizes, and the tiny calls) with ``engine="xp"``, ``"numba"`` and ``"auto"`` (``engine=None``), in one
process: numba and auto alternating (median of at least nine rounds), xp three times (enough to rank it);
it prints auto's time over the faster engine's. The calls are the asv suite's own (``asv_bench/benchmarks``),
so this table and the dashboard time the same work. Prints ``uptime`` before and after.
"""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmarks import kernels, scan
from benchmarks import sizes as sizes_module

CLASSES = [
    kernels.Cauchy,
    kernels.Vandermonde,
    kernels.KernelDiag,
    kernels.KernelDPLR,
    scan.LinearScan,
    scan.LinearScanLTI,
    scan.DiagonalRecurrence,
    scan.SelectiveScan,
    sizes_module.TinyCalls,
]
ENGINES = ("xp", "numba", "auto")
LIMIT = 1.2


def runner(cls, engine, sizes):
    bench = cls()
    args = (*sizes, engine) if cls is sizes_module.TinyCalls else (engine, *sizes)  # its engine is the last
    bench.setup(*args)
    method = next(getattr(bench, name) for name in dir(bench) if name.startswith("time_"))
    method(*args)  # warm (compile)
    return lambda: method(*args)


def medians(runs, budget=3.0, least=9, most=200):
    """Median seconds per engine. ``numba`` and ``auto`` (the pair whose ratio matters when numba is the faster
    engine) alternate until ``budget`` seconds and at least ``least`` rounds; ``xp``, which only has to be
    ranked, runs three times."""
    times = {name: [] for name in runs}
    for _ in range(3):
        t0 = time.perf_counter()
        runs["xp"]()
        times["xp"].append(time.perf_counter() - t0)
    start = time.perf_counter()
    while len(times["auto"]) < most and (time.perf_counter() - start < budget or len(times["auto"]) < least):
        for name in ("numba", "auto"):
            t0 = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> int:
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"{'benchmark':<24} {'sizes':<14} {'xp':>10} {'numba':>10} {'auto':>10} {'auto/best':>10}")
    worst = 0.0
    for cls in CLASSES:
        grid = cls.params[:1] if cls is sizes_module.TinyCalls else cls.params[1:]
        for sizes in itertools.product(*grid):
            try:
                runs = {engine: runner(cls, engine, sizes) for engine in ENGINES}
            except NotImplementedError as why:
                print(f"{cls.__name__:<24} {sizes!s:<14} skipped: {why}")
                continue
            t = medians(runs)
            ratio = t["auto"] / min(t["xp"], t["numba"])
            worst = max(worst, ratio)
            flag = "" if ratio <= LIMIT else "  > 1.2"
            cells = " ".join(f"{1e3 * t[engine]:>8.3f}ms" for engine in ENGINES)
            print(f"{cls.__name__:<24} {sizes!s:<14} {cells} {ratio:>10.2f}{flag}")
    print(f"worst auto/best: {worst:.2f} (target ≤ {LIMIT})")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
