"""Cold first call of every hot function, empty Numba cache: ``python asv_bench/cold_start.py [--parallel]``.

Each function's first call is timed in one fresh interpreter whose ``NUMBA_CACHE_DIR`` is a new empty
folder (so it compiles), in the order below; the total is the first-use cost a user pays once per
machine. ``--parallel`` uses inputs large enough for the parallel kernels (compiled separately, on
first need). Then the same calls in a second interpreter on the now warm disk cache. Prints ``uptime``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap

CHILD = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    import numpy as np
    import statespace as ss
    big = sys.argv[1] == "1"
    rng = np.random.default_rng(0)
    H, N2, L = (64, 32, 4096) if big else (4, 4, 64)
    Lam = -0.5 + 1j * np.pi * np.arange(N2) * np.ones((H, 1))
    dt = np.full(H, 0.01)
    v = rng.standard_normal((H, N2)) + 0j
    u = rng.standard_normal((H, L))
    uf = rng.standard_normal((2, H, L)).astype(np.float32)
    d32 = np.full((2, H, L), 0.01, np.float32)
    A32 = -np.ones((H, 16), np.float32)
    B32 = rng.standard_normal((2, 16, L)).astype(np.float32)
    P = rng.standard_normal((1, N2)) + 0j
    Ab, Bb = ss.discretize_diag(Lam, v, dt[:, None], "zoh")
    calls = {
        "cauchy": lambda: ss.cauchy(v, np.exp(1j * np.arange(L)), Lam),
        "vandermonde": lambda: ss.vandermonde(v, Lam * 0.01, L),
        "kernel_dplr": lambda: ss.kernel_dplr(Lam, P, v, v, dt, L),
        "linear_scan": lambda: ss.linear_scan(np.full((H, L), 0.9), u),
        "recurrence": lambda: ss.recurrence(Ab, Bb, v, u, structure="diag"),
        "selective_scan float32": lambda: ss.selective_scan(uf, d32, A32, B32, B32),
        "selective_scan float64": lambda: ss.selective_scan(*(x.astype(np.float64) for x in (uf, d32, A32, B32, B32))),
    }
    times = {"import": time.perf_counter() - t0}
    for name, f in calls.items():
        t0 = time.perf_counter()
        f()
        times[name] = time.perf_counter() - t0
    print("RESULT " + json.dumps(times))
    """
)


def run(cache: str, big: bool) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    proc = subprocess.run([sys.executable, "-c", CHILD, "1" if big else "0"], env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(proc.stderr[-2000:])


def main() -> None:
    big = "--parallel" in sys.argv
    if "--total-only" in sys.argv:  # for asv's track_cold_first_call
        with tempfile.TemporaryDirectory() as cache:
            print(sum(run(cache, big).values()))
        return
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory() as cache:
        cold, warm = run(cache, big), run(cache, big)
    print(f"{'call':<24} {'cold (s)':>9} {'warm cache (s)':>15}")
    for name in cold:
        print(f"{name:<24} {cold[name]:>9.2f} {warm[name]:>15.3f}")
    print(f"{'total':<24} {sum(cold.values()):>9.2f} {sum(warm.values()):>15.3f}")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
