"""Numba engine: fused CPU loops for NumPy arrays.

This folder is the only place :mod:`numba` is imported.  Every kernel is
compiled with ``cache=True`` (compiled once per machine, reused across
processes; set ``NUMBA_CACHE_DIR`` to move the cache) and ``nogil=True``.
Kernels use ``fastmath=False``: reference-quality rounding, NaN propagates.
Parallel kernels use ``prange`` over independent channels; the thread count
follows ``NUMBA_NUM_THREADS`` / :func:`numba.set_num_threads`.

Wrappers in the topic modules validate shapes *before* a kernel is reached,
so no jitted loop can read out of bounds.
"""

from __future__ import annotations

import functools

import numba

__all__ = ["jit", "pjit", "numba"]

#: Serial kernel decorator (compile once, cache on disk, release the GIL).
jit = functools.partial(numba.njit, cache=True, nogil=True)
#: Parallel kernel decorator (``prange`` over channels).
pjit = functools.partial(numba.njit, cache=True, nogil=True, parallel=True)
