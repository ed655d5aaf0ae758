"""Scaling run for statespace's Dask path (issue 10).

A linear_scan whose input (8 GiB: gates a and inputs b, float64, generated lazily by
dask) does not fit a 2 GiB worker memory limit runs through a LocalCluster of two
worker processes, reduced to small results (final state, time mean) so nothing big is
gathered. Worker memory (RSS) is sampled every 0.25 s; the in-memory numba engine is
timed on a size that fits.

Usage: python asv_bench/dask_scaling.py [GiB] [limit] [time chunk]  (needs statespace-ssm[dask,numba], psutil)
"""

import sys
import threading
import time

import dask
import dask.array as da
import numpy as np
import psutil
from dask.distributed import Client, LocalCluster

import statespace as ss

GIB = 2**30
TOTAL = float(sys.argv[1]) if len(sys.argv) > 1 else 8.0  # GiB of input (a and b together)
LIMIT = sys.argv[2] if len(sys.argv) > 2 else "2GiB"
H = 64
L = int(TOTAL * GIB / (2 * 8 * H))  # a and b, float64
CHUNKS = (8, int(sys.argv[3]) if len(sys.argv) > 3 else 2**21)  # 128 MiB per block by default


def rss():
    return psutil.Process().memory_info().rss


def inputs(seed=0):
    rng = da.random.default_rng(seed)
    a = 0.99 + 0.01 * rng.random((H, L), chunks=CHUNKS)
    b = rng.standard_normal((H, L), chunks=CHUNKS)
    return a, b


def main():
    print(
        f"input: a, b float64 ({H}, {L}) = {2 * H * L * 8 / GIB:.2f} GiB in blocks {CHUNKS} "
        f"({CHUNKS[0] * CHUNKS[1] * 8 / 2**20:.0f} MiB); worker limit {LIMIT}"
    )
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit=LIMIT,
            host="127.0.0.1",
            dashboard_address=None,
            env={"NUMBA_NUM_THREADS": "1"},
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: ss.linear_scan(np.full((2, 8), 0.5), np.ones((2, 8))))  # numba compile/cache load
        peak, stop = {}, threading.Event()

        def sample():
            while not stop.is_set():
                for worker, value in client.run(rss).items():
                    peak[worker] = max(peak.get(worker, 0), value)
                time.sleep(0.25)

        # baseline: generating the data and reducing it, no scan
        a, b = inputs()
        t0 = time.perf_counter()
        dask.compute(a.mean(axis=-1), b.mean(axis=-1))
        t_gen = time.perf_counter() - t0

        a, b = inputs()
        x, last = ss.linear_scan(a, b, return_state=True)
        mean = x.mean(axis=-1)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        last_v, mean_v = dask.compute(last, mean)
        t_scan = time.perf_counter() - t0
        stop.set()
        sampler.join()
        spilled = client.run(_disk_written)
        limit_bytes = cluster.workers[next(iter(cluster.workers))].memory_manager.memory_limit
        print(
            f"dask: generate+reduce only {t_gen:.1f} s; generate+linear_scan+reduce {t_scan:.1f} s "
            f"({H * L / t_scan / 1e6:.0f} M steps/s; the scan's share {t_scan - t_gen:.1f} s, "
            f"{H * L / max(t_scan - t_gen, 1e-9) / 1e6:.0f} M steps/s)"
        )
        for worker, value in sorted(peak.items()):
            print(
                f"  worker {worker}: peak RSS {value / GIB:.2f} GiB (limit {limit_bytes / GIB:.2f} GiB), "
                f"spilled to disk {spilled[worker] / GIB:.2f} GiB"
            )

        # correctness on channel 0: its a/b rows (128 MiB) in memory, numba engine
        a, b = inputs()
        a0, b0 = dask.compute(a[:1], b[:1])
        x0, l0 = ss.linear_scan(a0, b0, return_state=True)
        print(f"channel 0: last {last_v[0]:.6f} vs in-memory {l0[0]:.6f}; mean {mean_v[0]:.6f} vs {x0.mean():.6f}")

    # in-memory numba on a size that fits: (64, 2**21) float64, 1 GiB per operand
    rng = np.random.default_rng(0)
    a = 0.99 + 0.01 * rng.random((H, 2**21))
    b = rng.standard_normal((H, 2**21))
    ss.linear_scan(a[:, :64], b[:, :64])
    best = min(_timed(lambda: ss.linear_scan(a, b, return_state=True)) for _ in range(3))
    print(f"in-memory numba linear_scan ({H}, {2**21}): {best:.2f} s ({H * 2**21 / best / 1e6:.0f} M steps/s)")
    for chunks in ((8, 2**21), (8, 2**19)):
        x, last = ss.linear_scan(da.from_array(a, chunks=chunks), da.from_array(b, chunks=chunks), return_state=True)
        with dask.config.set(scheduler="threads", num_workers=2):
            t = min(_timed(lambda: dask.compute(last, x.mean(axis=-1))) for _ in range(2))  # noqa: B023
        print(
            f"same arrays, dask threaded scheduler (2 threads), chunks {chunks}: {t:.2f} s "
            f"({H * 2**21 / t / 1e6:.0f} M steps/s)"
        )


def _disk_written(dask_worker):
    """Bytes this worker has spilled to disk so far (its cumulative ``disk-write`` metric)."""
    return sum(
        v
        for k, v in dask_worker.digests_total.items()
        if isinstance(k, tuple) and "disk-write" in k and k[-1] == "bytes"
    )


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
