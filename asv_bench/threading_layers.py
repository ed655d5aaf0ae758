"""Numba threading layers in the three situations Python programs put them in: ``python asv_bench/threading_layers.py``.

For each layer (``omp``, ``workqueue``, ``tbb`` where importable) a fresh interpreter with
``NUMBA_THREADING_LAYER=<layer>`` runs:

fork
    one parallel numba-engine call, then a fork-based ``multiprocessing.Pool(2)`` mapping the same call:
    ``ok`` (right results), ``hang`` (no answer within 30 s) or the child's abort.
threads
    4 Python threads × 25 concurrent calls of a parallel-sized problem: ``ok`` (bitwise the
    single-threaded results) or the abort/crash message.
beside
    medians of a tiny call (``linear_scan`` 16×64) and a large one (``linear_scan`` 256×65536, above the
    parallel threshold) alone, then while a second process runs numba-engine calls in a loop (its layer the same).

``STATESPACE_PARALLEL_MIN_WORK=0`` forces the parallel kernels even for tiny problems (the behaviour
before the serial path existed); leave it unset to measure the shipped rule. Run it on a machine as quiet
as you can get and say what ``uptime`` reported (it is printed). Uses ``LD_LIBRARY_PATH`` to find
``libtbb.so.12`` from the ``tbb`` wheel (``pip download tbb`` and unpack) when it is not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import json, os, statistics, subprocess, sys, threading, time
    import numpy as np
    import statespace as ss

    situation = sys.argv[1]
    rng = np.random.default_rng(0)
    a_big, b_big = rng.uniform(0.5, 1.0, (256, 65536)), rng.standard_normal((256, 65536))  # parallel: 16.8M
    a_tiny, b_tiny = rng.uniform(0.5, 1.0, (16, 64)), rng.standard_normal((16, 64))

    def big(_=None):
        return ss.linear_scan(a_big, b_big, engine="numba")

    def tiny():
        return ss.linear_scan(a_tiny, b_tiny, engine="numba")

    def median(f, n):
        ts = []
        for _ in range(n):
            t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    reference = big()
    tiny()
    import numba
    result = {"layer": numba.threading_layer()}
    if situation == "fork":
        import multiprocessing as mp
        with mp.get_context("fork").Pool(2) as pool:
            job = pool.map_async(big, range(2))
            try:
                outs = job.get(timeout=30)
                result["fork"] = "ok" if all(np.array_equal(o, reference) for o in outs) else "wrong results"
            except mp.TimeoutError:
                result["fork"] = "hang"
                pool.terminate()
    elif situation == "threads":
        outs, errors = [], []
        def worker():
            try:
                for _ in range(25):
                    outs.append(big())
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))
        threads = [threading.Thread(target=worker) for _ in range(4)]
        t0 = time.perf_counter()
        for t in threads: t.start()
        for t in threads: t.join()
        same = not errors and all(np.array_equal(o, reference) for o in outs)
        result["threads"] = "ok" if same else (errors or ["wrong"])[0]
        result["threads_s"] = time.perf_counter() - t0
    else:
        result["tiny_alone_us"] = 1e6 * median(tiny, 400)
        result["big_alone_ms"] = 1e3 * median(big, 15)
        loader = subprocess.Popen([sys.executable, "-c", LOADER], env=os.environ)
        time.sleep(3.0)  # the loader has compiled (disk cache) and is looping
        result["tiny_beside_us"] = 1e6 * median(tiny, 400)
        result["big_beside_ms"] = 1e3 * median(big, 15)
        loader.kill(); loader.wait()
    print("RESULT " + json.dumps(result))
    """
)

LOADER = textwrap.dedent(
    """
    import numpy as np, statespace as ss
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.5, 1.0, (64, 2048)), rng.standard_normal((64, 2048))
    while True:
        ss.linear_scan(a, b, engine="numba")
    """
)


def run(layer: str, situation: str, env: dict) -> dict:
    env = dict(env, NUMBA_THREADING_LAYER=layer)
    code = "LOADER = " + repr(LOADER) + "\n" + CHILD
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, situation], env=env, capture_output=True, text=True, timeout=90
        )
    except subprocess.TimeoutExpired:
        return {situation: "hang (whole run > 90 s)"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {situation: f"died (rc {proc.returncode}): {tail[:90]}"}


def main(layers=("omp", "workqueue", "tbb")) -> None:
    env = dict(os.environ)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"STATESPACE_PARALLEL_MIN_WORK={env.get('STATESPACE_PARALLEL_MIN_WORK', '(default)')}")
    for layer in layers:
        row = {}
        for situation in ("fork", "threads", "beside"):
            row.update(run(layer, situation, env))
        print(layer, json.dumps(row))
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or ("omp", "workqueue", "tbb"))
