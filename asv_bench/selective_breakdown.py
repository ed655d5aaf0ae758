"""Where the selective scan's time goes: ``python asv_bench/selective_breakdown.py``.

Times the numba engine's channels-innermost kernel (parallel version) on the issue-19 call (batch 2,
D = 512, N = 16, L = 2048, float32, Mamba's softplus and gate), interleaved, median of 12, against
variants that drop one part of the work:

* ``no softplus, no gate``: the same kernel with ``softplus`` and ``z`` passed as ``None`` (compiled out), and
  ``delta`` replaced by the steps softplus would have made of it;
* ``cheap gate``: the gate ``exp(Δ A)`` replaced by ``1 + v + v²`` (``v = Δ A``; same operand, a third of
  the operations and none of the exponential's constants), with and without softplus and gate.

The differences price each part: the state update and staging (``cheap gate``, no softplus, no gate), the
``B·D·L·N`` gate exponentials, softplus and the SiLU gate (per ``B·D·L``). The variants are built from the
kernel's own source (``inspect.getsource``) with one expression replaced, so they cannot drift from it.
Prints ``uptime`` before and after.
"""

from __future__ import annotations

import inspect
import os
import statistics
import subprocess
import sys
import textwrap
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numba
import numpy as np
from benchmarks import sizes
from numba.extending import overload

from statespace._engines.numba import selective as sel
from statespace._selective import selective_scan

#: The gate exponential, in the bounded and in the careful loop of the kernel.
GATES = ("vexp_product_bounded(dt[j], ah[j], al[j], gate_constants)", "vexp_product(dt[j], ah[j], al[j])")


def cheap_gate(v):
    """``1 + v + v²``: the gate's operand, without the exponential (for timing only)."""
    return 1 + v + v * v


@overload(cheap_gate)
def _cheap_gate(v):
    one = np.float32(1) if v == numba.types.float32 else 1.0  # keep float32 arithmetic float32

    return lambda v: (v * v + v) + one


def variant(name: str, gate: str | None):
    """The kernel under another name, with both gate exponentials replaced by ``gate(argument)`` if given."""
    source = textwrap.dedent(inspect.getsource(sel._lanes_kernel.__wrapped__))
    source = source[source.index("def ") :].replace("def _lanes_kernel", f"def {name}")
    for exp in GATES:
        assert exp in source, "the kernel's gate expression changed: update GATES"
        if gate is not None:
            source = source.replace(exp, f"{gate}(dt[j] * ah[j])")
    scope = dict(sel.__dict__, cheap_gate=cheap_gate)
    exec(source, scope)
    return numba.njit(parallel=True, nogil=True, fastmath={"contract"}, error_model="numpy")(scope[name])


def kernel_arguments():
    """The arguments the wrapper passes to the kernel for the issue-19 call (captured once), as a list, and
    the position of each parameter by name (``inspect.signature`` of the kernel)."""
    data = sizes.selective_data(2, 512, 16, 2048)
    captured = {}
    kernel = sel._lanes_kernel

    def spy(*args, work, tasks):
        captured["args"] = args
        return kernel(*args, work=work, tasks=tasks)

    spy.runs_parallel = kernel.runs_parallel  # the wrapper asks it how many threads the blocks are for
    sel._lanes_kernel = spy
    try:
        selective_scan(*data[:5], engine="numba", **sizes.selective_kwargs(*data[5:]))
    finally:
        sel._lanes_kernel = kernel
    names = inspect.signature(kernel.__wrapped__).parameters
    return list(captured["args"]), {name: i for i, name in enumerate(names)}


def main() -> None:
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    args, at = kernel_arguments()
    assert args[at["softplus"]] is not None and args[at["z"]] is not None, "the call uses softplus and the gate"
    full, cheap = variant("full", None), variant("cheap", "cheap_gate")
    # without softplus the kernel reads Δ = delta + bias directly: give it softplus's values, so that the same
    # steps (and the same exp range checks) flow through every variant
    bias = args[at["bias"]][:, None].astype(np.float64)
    delta = args[at["delta"]]
    stepped = (np.logaddexp(0.0, delta + bias) - bias).astype(delta.dtype)
    state, out = at["xb"], at["out"]
    runs = {}
    for label, fn, features in (
        ("kernel as shipped", full, True),
        ("no softplus, no gate", full, False),
        ("cheap gate", cheap, True),
        ("cheap gate, no softplus, no gate", cheap, False),
    ):
        call = list(args)
        call[state], call[out] = args[state].copy(), np.empty_like(args[out])  # own state and output
        if not features:
            call[at["delta"]], call[at["softplus"]], call[at["z"]] = stepped, None, None
        fn(*call)
        runs[label] = (fn, call, args[state].copy())
    times = {label: [] for label in runs}
    for _ in range(12):
        for label, (fn, call, state0) in runs.items():
            call[state][...] = state0
            start = time.perf_counter()
            fn(*call)
            times[label].append(time.perf_counter() - start)
    medians = {label: statistics.median(t) * 1e3 for label, t in times.items()}
    for label, ms in medians.items():
        print(f"  {label:<34} {ms:7.1f} ms")
    base = medians["cheap gate, no softplus, no gate"]
    gates = medians["no softplus, no gate"] - base
    features = medians["kernel as shipped"] - medians["no softplus, no gate"]
    print(f"  parts: state update and staging {base:.1f} ms, gate exponentials {gates:.1f} ms, ", end="")
    print(f"softplus and SiLU gate {features:.1f} ms")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
