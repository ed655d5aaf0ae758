"""Issue 19: a Dask ``LocalCluster`` of 2 worker processes is not slower per step than 1.

``python asv_bench/dask_workers.py [H] [L] [time chunk]`` (needs ``statespace-ssm[dask,numba]``).

The time-chunked ``linear_scan`` (the Dask path: each block scans its time chunk on the numba engine,
carries chain the chunks) of lazily generated gates and inputs, reduced to the final state and the time
mean, on a ``LocalCluster`` of 1 and then 2 worker processes with one Dask thread each. Numba's thread
count is left at its default in the workers, so two workers share the two cores with two engine pools:
the situation in which OpenMP's spinning pools made every call take milliseconds. Per configuration:
the best of three runs, for generation + reduction alone and with the scan in between; printed per
step (channel × time step), with ``uptime``.
"""

from __future__ import annotations

import subprocess
import sys
import time

import dask
import dask.array as da
import numpy as np
from dask.distributed import Client, LocalCluster

import statespace as ss

H = int(sys.argv[1]) if len(sys.argv) > 1 else 64
L = int(sys.argv[2]) if len(sys.argv) > 2 else 2**21
CHUNKS = (16, int(sys.argv[3]) if len(sys.argv) > 3 else 2**18)


def inputs(seed=0):
    rng = da.random.default_rng(seed)
    return 0.99 + 0.01 * rng.random((H, L), chunks=CHUNKS), rng.standard_normal((H, L), chunks=CHUNKS)


def best_of(runs, fn):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(workers: int) -> tuple[float, float, np.ndarray]:
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: ss.linear_scan(np.full((2, 8), 0.5), np.ones((2, 8)), engine="numba"))  # compile/load

        def generate():
            a, b = inputs()
            dask.compute(a.mean(axis=-1), b.mean(axis=-1))

        result = {}

        def scan():
            a, b = inputs()
            x, last = ss.linear_scan(a, b, return_state=True, engine="numba")
            result["last"], result["mean"] = dask.compute(last, x.mean(axis=-1))

        return best_of(3, generate), best_of(3, scan), result["last"]


def main() -> None:
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"linear_scan via dask, float64 ({H}, {L}), blocks {CHUNKS}; {uptime}")
    rows = {}
    for workers in (1, 2):
        generate, scan, last = measure(workers)
        rows[workers] = (generate, scan, last)
        print(
            f"  {workers} worker process(es): generate+reduce {generate:.2f} s, with the scan {scan:.2f} s "
            f"= {1e9 * scan / (H * L):.2f} ns/step (the scan's share {1e9 * (scan - generate) / (H * L):.2f} ns/step)"
        )
    assert np.array_equal(rows[1][2], rows[2][2]), "the final states differ between 1 and 2 workers"
    print(f"  per step, 2 workers / 1 worker: {rows[2][1] / rows[1][1]:.2f} (target ≤ 1); final states equal")
    print("  " + subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
