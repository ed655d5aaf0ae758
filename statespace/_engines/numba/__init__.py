"""Numba engine: fused CPU loops for NumPy arrays.

This folder is the only place :mod:`numba` is imported.  Every kernel is
compiled lazily, on its first call, for the argument types of that call, with
``cache=True`` (compiled once per machine, reused across processes; set
``NUMBA_CACHE_DIR`` to move the cache) and ``nogil=True``.  Kernels use
``fastmath=False`` (or only ``{"contract"}``): reference-quality rounding, NaN
propagates.  Wrappers in the topic modules validate shapes *before* a kernel is
reached, so no jitted loop can read out of bounds.

First use is the cost users notice, so the forward kernels are written to
compile little: they allocate nothing (their wrappers pass per-thread scratch
arrays, ``(threads, ...)``, indexed by ``numba.get_thread_id()``), functions
they call are :func:`helper` overloads compiled into them, and optional
features arrive as ``None`` when unused, so Numba prunes their branches (see
``docs/user_guide/performance.rst``, "First use: compilation").

Serial or parallel, and which threads
-------------------------------------
A loop written with ``prange`` over independent channels is compiled twice,
lazily, by :func:`kernel`: a serial version (``prange`` is ``range``) and a
parallel one.  A call runs the parallel version only when

* its amount of work (element updates, counted by the wrapper) is at least the
  kernel's measured threshold (:data:`PARALLEL_MIN_WORK`, scaled per kernel),
  and it has at least two independent tasks;
* more than one thread is configured (``NUMBA_NUM_THREADS`` /
  :func:`numba.set_num_threads`); and
* no other Python thread is inside a parallel kernel of this engine at that
  moment (a non-blocking process-wide lock).  A thread that finds the pool
  busy runs the serial version in its own thread instead of waiting, so
  several threads calling at once proceed in parallel with each other, on
  disjoint outputs, and give bitwise the results of one thread: both versions
  perform the same operations on every element in the same order.

Numba's threading layer is chosen here, before the first parallel call, unless
the user chose one with ``NUMBA_THREADING_LAYER``: ``workqueue``, Numba's own
pthread pool (see ``docs/user_guide/performance.rst`` for the measurement).
It survives ``fork`` (GNU OpenMP does not: a fork-based ``multiprocessing``
pool after one parallel call hangs) and its idle workers sleep instead of
spinning (OpenMP's spinning at barriers made every call of two processes
sharing two cores take milliseconds).  It is not safe against concurrent
launches from several threads, which the lock above rules out for this
engine's kernels.
"""

from __future__ import annotations

import functools
import os
import threading
import types

import numba
import numpy as np

__all__ = [
    "jit", "pjit", "helper", "per_thread", "kernel", "copy_into", "compile_all", "numba",
    "PARALLEL_MIN_WORK", "THREADING_LAYER",
]  # fmt: skip

#: The threading layer used when the user did not set ``NUMBA_THREADING_LAYER``.
THREADING_LAYER = "workqueue"
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = THREADING_LAYER

#: Work (element updates times the kernel's ``cost``) from which a kernel runs its parallel version. Measured
#: on a quiet 2-core machine (``python asv_bench/parallel_threshold.py``, both versions interleaved, two runs):
#: a ``workqueue`` launch costs ~0.2 ms there, and the parallel version first wins clearly from 8.4M updates
#: for ``linear_scan`` (cost 1, the unit; it is memory-bound), 16.8M for the recurrence and Vandermonde kernels
#: (cost 0.5), 4.2M for the selective scan's per-channel kernels (cost 2) and 8.4M for its channels-innermost
#: kernel (cost 1, since the bounded exp made it faster per update), 131k for the Cauchy kernel (cost 64) and
#: 65k for the S4 kernel's Cauchy sum (cost 128). Backward kernels weigh as their forward times the passes they
#: make.
#: ``STATESPACE_PARALLEL_MIN_WORK`` overrides it (0: always parallel).
PARALLEL_MIN_WORK = int(os.environ.get("STATESPACE_PARALLEL_MIN_WORK", 1 << 23))

#: Serial kernel decorator (compile once, cache on disk, release the GIL).
jit = functools.partial(numba.njit, cache=True, nogil=True)
#: Parallel kernel decorator (``prange`` over channels); prefer :func:`kernel`, which adds the serial path.
pjit = functools.partial(numba.njit, cache=True, nogil=True, parallel=True)


def helper(func=None, **options):
    """Decorate a function called only from kernels (jit ``options`` as for :func:`numba.njit`).

    A helper is compiled into each kernel that calls it, for that kernel's argument types (an
    ``overload`` of the plain function), and cached with that kernel. Unlike a ``jit`` function it
    has no CPython wrapper, no disk-cache entry and no object file of its own, each of which costs
    Numba 0.1–0.2 s at first use per helper. It stays a plain Python function outside jitted code.
    """
    if func is None:
        return functools.partial(helper, **options)
    numba.extending.overload(func, jit_options={"nogil": True, **options}, strict=False)(lambda *args: func)
    return func


def per_thread(shape, dtype=np.float64, *, zeroed=False):
    """Scratch for a kernel: one ``shape`` array per configured thread, ``(threads,) + shape``.

    Kernels index it with ``numba.get_thread_id()`` (``0`` in the serial version), so they allocate
    nothing themselves (each allocation inside a kernel is a function Numba compiles at first use).
    """
    make = np.zeros if zeroed else np.empty
    return make((numba.get_num_threads(), *shape), dtype)


_POOL = threading.Lock()


@helper
def copy_into(dst, src):  # pragma: no cover - compiled
    """``dst[...] = src`` for arrays of one shape, as a loop.

    A slice assignment between arrays compiles Numba's shape-mismatch error message (its string
    formatting): about 4 s of first-use compile time, for a check the wrappers have already made.
    """
    for index in np.ndindex(dst.shape):
        dst[index] = src[index]


def _renamed(func, suffix: str):
    """A copy of ``func`` under another qualified name (its own entry in Numba's disk cache)."""
    copy = types.FunctionType(
        func.__code__, func.__globals__, func.__name__ + suffix, func.__defaults__, func.__closure__
    )
    copy.__qualname__ = func.__qualname__ + suffix
    copy.__module__ = func.__module__
    copy.__doc__ = func.__doc__
    return copy


class Kernel:
    """A ``prange`` loop compiled on demand as a serial and a parallel function; called with ``work=``."""

    def __init__(self, func, cost: float, options: dict):
        self.__wrapped__ = func
        self.__name__ = func.__name__
        self.__doc__ = func.__doc__
        self.serial = jit(**options)(_renamed(func, "__serial"))
        self.parallel = pjit(**options)(func)
        self.cost = cost

    def runs_parallel(self, work: float) -> bool:
        """Whether a call with this much work is meant for the parallel version (given tasks and a free pool)."""
        return work * self.cost >= PARALLEL_MIN_WORK and numba.get_num_threads() > 1

    def __call__(self, *args, work: float, tasks: int):
        if tasks > 1 and self.runs_parallel(work):
            if _POOL.acquire(blocking=False):
                try:
                    return self.parallel(*args)
                finally:
                    _POOL.release()
        return self.serial(*args)

    @property
    def dispatchers(self):
        """The serial and the parallel Numba dispatchers (for :func:`compile_all`)."""
        return self.serial, self.parallel


def kernel(func=None, *, cost: float = 1.0, **options):
    """Decorate a ``prange`` loop as a :class:`Kernel` (``cost``: weight of one element update, see
    :data:`PARALLEL_MIN_WORK`: the threshold over the kernel's measured serial/parallel crossover)."""
    if func is None:
        return functools.partial(kernel, cost=cost, **options)
    return Kernel(func, cost, options)


def compile_all(progress=None, *, parallel: bool | None = None) -> int:
    """Compile (or load from the disk cache) every kernel of the engine ahead of time; return the count.

    Kernels otherwise compile lazily, on their first call, for that call's dtype and only in the version
    (serial or parallel) that call needs: the library stays silent and pays only for what is used. This
    function is for the opposite wish: pay the whole first-use cost now (``statespace compile``, a
    Docker image build, before a benchmark).

    Parameters
    ----------
    progress : callable, optional
        ``progress(done, total, label, seconds)``: called before each step with ``seconds=None`` and after
        it with the step's duration.
    parallel : bool, optional
        Compile the parallel versions too; default: when more than one thread is configured.

    Returns
    -------
    int
        The number of compile steps run.

    Examples
    --------
    >>> from statespace._engines.numba import compile_all
    >>> compile_all(lambda done, total, label, seconds: None) > 0  # doctest: +SKIP
    True
    """
    import time

    from .warm import calls

    global PARALLEL_MIN_WORK
    versions = [("serial", 1 << 62)]
    if parallel if parallel is not None else numba.get_num_threads() > 1:
        versions.append(("parallel", 0))
    steps = [(f"{label} ({version})", threshold, thunk) for label, thunk in calls() for version, threshold in versions]
    default = PARALLEL_MIN_WORK
    try:
        for done, (label, threshold, thunk) in enumerate(steps):
            if progress is not None:
                progress(done, len(steps), label, None)
            start = time.perf_counter()
            PARALLEL_MIN_WORK = threshold
            thunk()
            if progress is not None:
                progress(done + 1, len(steps), label, time.perf_counter() - start)
    finally:
        PARALLEL_MIN_WORK = default
    return len(steps)
