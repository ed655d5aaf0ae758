"""Issue 19's targets side by side in one run: ``python asv_bench/perf19.py [group ...]``.

Groups: ``tiny`` (alone and beside a second process running numba-engine calls), ``few`` (few long
channels), ``steps`` (one system at many step sizes), ``selective``; ``blocks`` (layout tuning, only when named).
Implementations of a group are timed interleaved (round robin); each is reported by the median of the repeats
and, in parentheses, their minimum, with the ratios to the reference by both. On a shared machine the two
answer different questions: the minimum is what the machine does when nothing else interferes (the advice of
Python's ``timeit``), the median what a call takes at the host's load of the minute, and the load does not
slow every call alike. ``uptime`` is printed before and after each group, since the load decides the
numbers. The benchmark code is the asv suite's (``asv_bench/benchmarks/sizes.py``): the dashboard and this
table time the same calls.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmarks import sizes
from benchmarks.common import relative_error

LOADER = """
import numpy as np, statespace as ss
rng = np.random.default_rng(1)
a, b = rng.uniform(0.5, 1.0, (64, 2048)), rng.standard_normal((64, 2048))
v, w = rng.standard_normal((4, 4)) + 0j, -0.5 + 1j * rng.standard_normal((4, 4))
z = np.exp(1j * np.arange(64.0))
while True:
    ss.linear_scan(a, b, engine="numba")
    ss.cauchy(v, z, w, engine="numba")
"""


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def interleaved(runs: dict, budget: float = 8.0, most: int = 400) -> dict:
    """Seconds per call of each implementation, round robin until ``budget`` seconds or ``most`` rounds.

    Each round starts one implementation later than the one before, so that what a call leaves in (or takes
    out of) the caches is not charged to the same implementation every round: with a fixed order the second
    call of a round ran slower than the first, whichever engine it was (tiny ``linear_scan``, numba and
    ``engine=None``: 42.8–46.2 µs median second against 40.2–40.6 µs first).
    """
    names = list(runs)
    times = {name: [] for name in names}
    start = time.perf_counter()
    rounds = 0
    while rounds < most and (time.perf_counter() - start < budget or rounds < 5):
        for k in range(len(names)):
            name = names[(rounds + k) % len(names)]
            t0 = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t0)
        rounds += 1
    return times


def show(title: str, times: dict, unit: str = "ms", against: str | None = None) -> None:
    """One line per implementation: median (minimum), and the ratios to ``against`` by medians (by minima)."""
    scale = {"ms": 1e3, "us": 1e6}[unit]
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    minima = {name: min(ts) for name, ts in times.items()}
    print(f"  {title}")
    for name in times:
        line = f"    {name:<26} {scale * medians[name]:10.3f} {unit} ({scale * minima[name]:.3f})"
        if against and name != against:
            line += f"  {medians[name] / medians[against]:6.2f}× {against} ({minima[name] / minima[against]:.2f}×)"
        print(line)


def group_tiny() -> None:
    for situation in ("alone", "beside a numba process"):
        loader = None
        if situation != "alone":
            loader = subprocess.Popen([sys.executable, "-c", LOADER])
            time.sleep(4.0)
        try:
            print(f"tiny calls, {situation} ({uptime()})")
            for function in ("cauchy", "linear_scan", "recurrence", "selective_scan"):
                # numba and auto interleaved; xp on its own (its large temporaries would evict the others' data)
                runs = {engine: sizes.tiny_call(function, None if engine == "auto" else engine) for engine in
                        ("numba", "auto")}  # fmt: skip
                times = interleaved(runs, budget=3.0)
                times.update(interleaved({"xp": sizes.tiny_call(function, "xp")}, budget=1.0))
                show(function, times, "us", against="numba")
        finally:
            if loader is not None:
                loader.kill()
                loader.wait()


def group_few() -> None:
    for shape in sizes.FEW_CHANNEL_SHAPES:
        print(f"diagonal recurrence with output, complex128, N/2=32, H×L={shape} ({uptime()})")
        runs = {impl: sizes.few_channel_recurrence(impl, shape) for impl in ("numba", "split prange loop", "jax")}
        show("targets: numba ≤ 1.3× split loop, jax ≥ 8× numba", interleaved(runs), against="numba")


def group_steps() -> None:
    print(f"one 64×64 HiPPO-LegS system at 256 steps ({uptime()})")
    runs = {"ours zoh": sizes.zoh_many_steps("xp"), "scipy expm stack": sizes.zoh_many_steps("scipy expm stack")}
    ours, ref = runs["ours zoh"](), runs["scipy expm stack"]()
    error = max(relative_error(a, b) for a, b in zip(ours, ref))
    show(f"ZOH (target: expm ≥ 3× ours; error {error:.1e}, target ≤ 1e-12)", interleaved(runs), against="ours zoh")
    runs = {"ours bilinear": sizes.bilinear_many_steps("xp"), "numpy solve": sizes.bilinear_many_steps("numpy solve")}
    show("bilinear (target: numpy solve ≥ 1× ours)", interleaved(runs), against="ours bilinear")


def group_selective() -> None:
    print(f"selective_scan B=2, D=512, N=16, L=2048 float32 ({uptime()})")
    impls = ("numba", "jax", "exp bound", "exp bound, full-range exp")
    runs = {impl: sizes.selective_at_scale(impl) for impl in impls}
    show("targets: jax ≥ 3× numba, numba ≤ 2× exp bound", interleaved(runs, budget=15.0), against="numba")


def group_blocks() -> None:
    """Tuning: the recurrence's layout (lanes per block, mode groups per channel) at few long channels: the one
    :func:`~statespace._engines.numba.recurrence._layout` picks against its neighbours."""
    from statespace._engines.numba import recurrence
    from statespace._engines.numba._modal import vector_lanes

    rule = recurrence._layout
    for shape in sizes.FEW_CHANNEL_SHAPES:
        channels = sizes.FEW_CHANNEL_SHAPES[shape][0]
        vector = vector_lanes(np.float64)
        block, groups = rule(channels, 32, True, vector)
        print(f"recurrence H×L={shape}, layouts (block, groups); the rule's: {(block, groups)} ({uptime()})")
        run = sizes.few_channel_recurrence("numba", shape)

        def with_layout(layout, run=run):
            def timed():
                recurrence._layout = lambda *args: layout
                try:
                    run()
                finally:
                    recurrence._layout = rule

            return timed

        layouts = {(block, groups), (2 * block, groups), (2 * block, 2 * groups), (max(vector, block // 2), groups)}
        layouts |= {(block, 2 * groups)} if block % (2 * groups) == 0 else set()
        runs = {f"{layout}": with_layout(layout) for layout in sorted(layouts)}
        runs["split prange loop"] = sizes.few_channel_recurrence("split prange loop", shape)
        show("", interleaved(runs), against="split prange loop")


GROUPS = {
    "tiny": group_tiny,
    "few": group_few,
    "steps": group_steps,
    "selective": group_selective,
    "blocks": group_blocks,
}


def main(names) -> None:
    import numba

    print(f"numba threads: {numba.get_num_threads()}, cpus: {os.cpu_count()}, {uptime()}")
    for name in names or [g for g in GROUPS if g != "blocks"]:
        GROUPS[name]()
    print(uptime())


if __name__ == "__main__":
    main(sys.argv[1:])
