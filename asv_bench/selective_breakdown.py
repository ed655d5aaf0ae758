"""Where the selective scan's time goes: ``python asv_bench/selective_breakdown.py``.

Times the numba engine's channels-innermost kernel (parallel version) on the issue-19 call (batch 2,
D = 512, N = 16, L = 2048, float32, Mamba's softplus and gate), interleaved, median of 12, against
variants that drop one part of the work:

* ``no softplus, no gate``: the same kernel with ``softplus`` and ``z`` passed as ``None`` (compiled out), and
  ``delta`` replaced by the steps softplus would have made of it;
* ``inputs staged once``: the transposes of ``Δ`` and ``u`` into the staging buffers run for the first chunk
  only (every later chunk computes on the first one's inputs);
* ``output written once``: the transpose of the output back to ``(batch, D, L)``, which applies the gate ``z``
  read where it lies, runs for the first chunk only.

The differences price each part: softplus and the SiLU gate (per ``B·D·L``), staging the inputs, writing the
output back with its gate (the gate is priced twice); the rest is the state loop (the ``B·D·L·N`` gate
exponentials and updates, see ``_gated.selective_step``) and the per-step work. The variants are built from the
kernel's own source (``inspect.getsource``) with statements replaced, so they cannot drift from it. Prints
``uptime`` before and after.
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

from statespace._engines.numba import selective as sel
from statespace._selective import selective_scan

#: The staging statements of the kernel: the input transposes and the output's (with the gate, and without).
INPUTS = (
    "transpose_block(delta_b, d0, t0, deltas, 0, 0, block, steps)",
    "transpose_block(u_b, d0, t0, us, 0, 0, block, steps)",
)
OUTPUT = (
    "transpose_gated(outs, 0, 0, out_b, d0, t0, steps, block, z[b])",
    "transpose_block(outs, 0, 0, out_b, d0, t0, steps, block)",
)


def variant(name: str, once: tuple = ()):
    """The kernel under another name, with the statements ``once`` run for the first chunk only."""
    source = textwrap.dedent(inspect.getsource(sel._lanes_kernel.__wrapped__))
    source = source[source.index("def ") :].replace("def _lanes_kernel", f"def {name}")
    for statement in once:
        assert statement in source, "the kernel's staging changed: update INPUTS and OUTPUT"
        source = source.replace(statement, f"(t0 == 0 and {statement})".replace("and transpose", "and _transpose"))
    scope = dict(sel.__dict__, _transpose_block=sel.transpose_block, _transpose_gated=sel.transpose_gated)
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
    full, inputs_once, output_once = variant("full"), variant("inputs_once", INPUTS), variant("output_once", OUTPUT)
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
        ("inputs staged once", inputs_once, True),
        ("output written once", output_once, True),
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
    shipped = medians["kernel as shipped"]
    features = shipped - medians["no softplus, no gate"]
    staging = shipped - medians["inputs staged once"]
    writing = shipped - medians["output written once"]
    print(f"  parts: softplus and the gate {features:.1f} ms, staging the inputs {staging:.1f} ms, ", end="")
    print(f"writing the output back with its gate {writing:.1f} ms (the gate is in both)")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
