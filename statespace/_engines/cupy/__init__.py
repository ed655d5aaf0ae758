"""CuPy engine: CUDA kernels for CuPy arrays, written with Numba's CUDA target.

This folder is the only place :mod:`cupy` and :mod:`numba.cuda` are imported.
Kernels take any ``__cuda_array_interface__`` array (CuPy, PyTorch CUDA
tensors) without a copy; outputs are allocated with the library of the inputs.

Two ways to run them without a GPU, both used by the ``gpusim`` tox env:

* ``NUMBA_ENABLE_CUDASIM=1``: Numba's CUDA simulator runs the kernels on NumPy
  arrays (shared memory and ``syncthreads`` included), so the entry points
  here also accept NumPy arrays, but only under the simulator.
* :func:`numba.cuda.compile_ptx` compiles every kernel for a given compute
  capability with no device (NVVM from the ``numba-cuda[cu12]`` wheels).

Layout shared by the kernels: a block is one warp (:data:`WARP` threads) and
owns :data:`WARP` independent rows (channels, or chunks of a channel); rows
are stored with time contiguous, so a tile of :data:`TILE` steps of the
block's rows is staged through shared memory (each warp-wide load reads
consecutive addresses of one row) and each thread then walks its own row
sequentially in shared memory.  Loads are issued :data:`GROUP` rows at a
time into registers, unconditionally (out-of-range positions read a valid
address whose value is never used), so that many are in flight at once.  No warp-level primitives (shuffles, votes)
are used: the simulator does not implement them.
"""

from __future__ import annotations

import numpy as np
from numba import config, cuda

__all__ = ["WARP", "TILE", "GROUP", "cuda", "simulated", "array_module", "launch"]

#: Threads per block: one warp, one row (channel or chunk) per thread.
WARP = 32
#: Time steps staged per shared-memory tile (one per thread of the warp when loading).
TILE = 32
#: Rows whose loads a thread issues back to back (into registers) before storing them to shared memory:
#: loads in flight per thread, which is what hides the memory latency with one warp per block.
GROUP = 16


def simulated() -> bool:
    """Whether Numba's CUDA simulator is on (``NUMBA_ENABLE_CUDASIM=1``)."""
    return bool(config.ENABLE_CUDASIM)


def array_module(x):
    """The array library to allocate outputs with: CuPy for CuPy arrays, NumPy under the simulator.

    Raises
    ------
    TypeError
        A host (NumPy) array without the simulator, or an array that is neither.
    """
    if isinstance(x, np.ndarray):
        if simulated():
            return np
        raise TypeError(
            "the cupy engine runs on CuPy arrays; NumPy arrays reach it only under Numba's CUDA simulator "
            "(NUMBA_ENABLE_CUDASIM=1), got a numpy.ndarray"
        )
    if type(x).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    raise TypeError(f"the cupy engine runs on CuPy arrays, got {type(x).__module__}.{type(x).__name__}")


def launch(kernel, rows: int, *args, threads: int = WARP) -> None:
    """Run ``kernel`` with blocks of ``threads`` threads (one warp by default) covering ``rows`` rows.

    The kernel runs on CuPy's current stream, so it is ordered with the CuPy
    operations that allocate its outputs and consume them.  The simulator
    copies every array argument back to the host after the launch,
    which fails on read-only NumPy views (broadcasts); those are handed to it as
    copies (simulator only: on the GPU every argument goes through
    ``__cuda_array_interface__`` untouched).
    """
    grid = max(1, -(-rows // threads))
    if simulated():
        args = tuple(np.array(x) if isinstance(x, np.ndarray) and not x.flags.writeable else x for x in args)
        kernel[grid, threads](*args)
        return
    import cupy

    stream = cupy.cuda.get_current_stream().ptr  # CuPy's current stream: ordered with the CuPy work around it
    kernel[grid, threads, cuda.external_stream(stream) if stream else 0](*args)
