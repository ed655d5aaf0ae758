"""Every kernel × dtype signature of the cupy engine, compiled to PTX with no GPU.

``python tests/gpu/gpu_ptx.py 9.0 8.0`` compiles each signature with
:func:`numba.cuda.compile_ptx` for those compute capabilities (NVVM from the
``numba-cuda[cu12]`` wheels; the simulator must be off) and prints one JSON
object ``{"<name>@<cc>": null | "<error>"}``.  :mod:`test_ptx` runs it in a
subprocess, because the tests around it run under the simulator.

The signatures are those the entry points launch: every array C-contiguous
(the entry points make them so), the state/accumulator types as chosen there.
"""

from __future__ import annotations

import json
import sys


def signatures():
    """``[(name, python function, argument types)]`` for every kernel the cupy engine launches."""
    import numba
    from numba import boolean, int64

    from statespace._engines.cupy import kernels, recurrence, scan, selective

    def arr(t, ndim):
        return t[(slice(None),) * (ndim - 1) + (slice(None, None, 1),)]

    out = []
    for data, state in (("float32", "float64"), ("float64", "float64"), ("complex64", "complex128"),
                        ("complex128", "complex128")):  # fmt: skip
        d, s = getattr(numba, data), getattr(numba, state)
        is_complex = data.startswith("complex")
        data2, state1, state2 = arr(d, 2), arr(s, 1), arr(s, 2)
        sig = (data2, data2, int64, int64, int64, boolean, state1, state2, data2, state1, state1)
        out.append((f"linear_scan[{data}]", scan._rows_kernel(is_complex).py_func, sig))
        if data in ("float64", "complex128"):
            carry = (arr(s, 2), arr(s, 2), arr(s, 1), arr(s, 2))
            out.append((f"linear_scan carry pass[{state}]", scan._carry_kernel(is_complex).py_func, carry))
    for real in ("float32", "float64"):
        r = getattr(numba, real)
        c = numba.complex64 if real == "float32" else numba.complex128
        r1, r2, r4 = arr(r, 1), arr(r, 2), arr(r, 4)
        real_k, complex_k = selective._kernels(real, 16)
        out.append((f"selective_scan[real A, {real}]", real_k.py_func,
                    (r2, r2, r1, boolean, r2, r4, r4, r1, r2, r2, r2, r2, int64)))  # fmt: skip
        out.append((f"selective_scan[complex A, {real}]", complex_k.py_func,
                    (r2, r2, r1, boolean, r2, r2, r4, r4, r4, r4, r1, r2, r2, r2, r2, r2, r2, int64)))  # fmt: skip
        c2 = arr(c, 2)
        out.append((f"recurrence_diag[{real}]", recurrence._kernel(real, 16).py_func,
                    (c2, c2, c2, r2, r2, r2, r2, r2, r2, r)))  # fmt: skip
        plain, affine = kernels._cauchy_kernels(real)
        out.append((f"cauchy[{c}]", plain.py_func, (c2, c2, c2, c2, boolean)))
        out.append((f"cauchy_affine[{c}]", affine.py_func, (c2, c2, c2, c2, c2, boolean)))
        w2 = arr(numba.complex128, 2)
        out.append((f"vandermonde[conj, {real}]", kernels._vandermonde_real, (w2, w2, r2, numba.float64)))
        out.append((f"vandermonde[plain, {c}]", kernels._vandermonde_complex, (w2, w2, c2)))
    return out


def compile_all(capabilities):
    """Compile every signature for every capability; ``{"<name>@<major>.<minor>": None or error text}``."""
    from numba import cuda

    results = {}
    for name, func, sig in signatures():
        for cc in capabilities:
            key = f"{name}@{cc[0]}.{cc[1]}"
            try:
                cuda.compile_ptx(func, sig, cc=cc)
                results[key] = None
            except Exception as exc:  # reported per signature by the test
                results[key] = f"{type(exc).__name__}: {exc}"[:2000]
    return results


if __name__ == "__main__":
    ccs = [tuple(int(p) for p in arg.split(".")) for arg in sys.argv[1:]] or [(9, 0)]
    print(json.dumps(compile_all(ccs)))
