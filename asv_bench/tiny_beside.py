"""Issue 19 probe: the tiny ``linear_scan`` (16×2048, numba engine) alone and beside three kinds of load.

``python asv_bench/tiny_beside.py``: median of 3000 calls alone, then beside a second process that runs
numba ``linear_scan`` 64×2048 calls (streaming ~3 MB each), numba ``cauchy`` 4×4×64 calls (in cache), or a
pure-Python loop. Separates what a second process costs through the shared cores from what it would cost
through the engine's thread pool (which tiny calls no longer touch).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmarks import sizes

PRELUDE = "import numpy as np, statespace as ss\nr = np.random.default_rng(1)\n"
LOADS = {
    "numba linear_scan 64x2048 (streams ~3 MB per call)": PRELUDE
    + textwrap.dedent(
        """
        a, b = r.uniform(0.5, 1, (64, 2048)), r.standard_normal((64, 2048))
        while True:
            ss.linear_scan(a, b, engine="numba")
        """
    ),
    "numba cauchy 4x4x64 (in cache)": PRELUDE
    + textwrap.dedent(
        """
        v, w = r.standard_normal((4, 4)) + 0j, -0.5 + 1j * r.standard_normal((4, 4))
        z = np.exp(1j * np.arange(64.0))
        while True:
            ss.cauchy(v, z, w, engine="numba")
        """
    ),
    "pure Python loop": "while True:\n    sum(range(1000))\n",
}


def median_us(run, calls: int = 3000) -> float:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return 1e6 * statistics.median(times)


def main() -> None:
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    run = sizes.tiny_call("linear_scan", "numba")
    print(f"alone: {median_us(run):.1f} us")
    for name, code in LOADS.items():
        loader = subprocess.Popen([sys.executable, "-c", code])
        time.sleep(3.0)
        try:
            print(f"beside {name}: {median_us(run):.1f} us")
        finally:
            loader.kill()
            loader.wait()


if __name__ == "__main__":
    main()
