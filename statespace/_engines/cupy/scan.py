"""CUDA kernels for :func:`statespace.linear_scan`: ``x_t = a_t x_{t−1} + b_t`` along the last axis.

One kernel, :func:`_rows_kernel`, scans *rows*: a row is a stretch of
``chunk`` consecutive steps of one channel, and every thread walks one row
sequentially (one warp per block owns :data:`~statespace._engines.cupy.WARP`
rows; tiles of :data:`~statespace._engines.cupy.TILE` steps go through
shared memory so that global loads and stores are coalesced).  The state is
carried in double precision (float64/complex128) whatever the data
precision, as in the numba engine.

* **Many channels** (at least :data:`MANY_CHANNELS`, or short sequences):
  one row per channel, ``chunk = L``; one pass, reads ``a`` and ``b`` once
  and writes ``x`` once.
* **Few channels, long sequences**: a chunked parallel scan with a carry pass.
  Each channel is cut into chunks of :data:`CHUNK` steps; (1) every chunk is
  scanned from a zero state, keeping only its aggregate
  :math:`(\\prod_t a_t,\\ x_{\\text{end}})` (the composed affine map of the
  chunk); (2) :func:`_carry_kernel` scans the aggregates of each channel from
  ``x0`` (one block per channel, a parallel Hillis–Steele scan of the affine
  maps in shared memory, :data:`CARRY_THREADS` chunks at a time), giving the
  state leaving every chunk; (3) every chunk is scanned again from the state
  entering it, writing ``x``.  Three launches whatever the length; the traffic
  is two reads of ``a`` and ``b`` and one write of ``x``.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from . import GROUP, TILE, WARP, array_module, cuda, launch

__all__ = ["linear_scan", "CHUNK", "MANY_CHANNELS", "CARRY_THREADS"]

#: Steps per chunk of the chunked scan.
CHUNK = 1024
#: Channel count from which one thread per channel fills the GPU (the chunked scan runs below it).
MANY_CHANNELS = 1 << 14
#: Threads of the carry pass: chunk aggregates scanned in parallel per tile (one block per channel).
CARRY_THREADS = 256
#: Shared tile of WARP rows × TILE steps (padded by one column against bank conflicts).
_TILE_SHAPE = (WARP, TILE + 1)


@functools.cache
def _rows_kernel(is_complex: bool):
    """The row-scan kernel with its shared tiles and state in ``complex128`` or ``float64``."""
    carry_type = numba.complex128 if is_complex else numba.float64

    def kernel(a, b, length, chunk, nchunks, reverse, x0, ends, out, agg_a, agg_x):  # pragma: no cover - compiled
        """Rows ``r = channel·nchunks + k``: steps ``k·chunk … k·chunk + chunk − 1`` of ``channel``.

        The state entering row ``(channel, k)`` is ``ends[channel, k − 1]`` for
        ``k > 0`` when ``ends`` is given (else ``(0, 0)``), ``x0[channel]`` for
        ``k = 0``, and 0 everywhere when ``x0`` is empty.  ``out`` (``(0, 0)``: not
        written) receives the states, ``agg_a``/``agg_x`` (size 0: not written)
        the row's gate product and final state.  Step ``p`` is time ``p``, or
        ``length − 1 − p`` when ``reverse``.  ``a``/``b`` have time length 1
        (time-invariant, read at 0) or ``length``.
        """
        tid = cuda.threadIdx.x
        r0 = cuda.blockIdx.x * WARP
        nrows = a.shape[0] * nchunks  # a: (channels, 1 | length)
        a_const = a.shape[1] == 1
        b_const = b.shape[1] == 1
        sa = cuda.shared.array(_TILE_SHAPE, carry_type)
        sb = cuda.shared.array(_TILE_SHAPE, carry_type)
        row_channel = cuda.shared.array(WARP, numba.int64)  # the block's rows: channel, first step, step count
        row_first = cuda.shared.array(WARP, numba.int64)
        row_count = cuda.shared.array(WARP, numba.int64)
        va = cuda.local.array(GROUP, carry_type)
        vb = cuda.local.array(GROUP, carry_type)
        row = r0 + tid
        active = row < nrows
        mine = min(row, nrows - 1)
        channel = mine // nchunks
        k = mine - channel * nchunks  # this thread's chunk of its channel
        first = k * chunk
        count = min(chunk, length - first) if active else 0
        row_channel[tid], row_first[tid], row_count[tid] = channel, first, count
        if x0.shape[0] == 0:
            x = carry_type(0)
        elif k == 0 or ends.shape[0] == 0:
            x = carry_type(x0[channel])
        else:
            x = carry_type(ends[channel, k - 1])
        prod = carry_type(1)
        cuda.syncthreads()
        for s0 in range(0, chunk, TILE):
            s = s0 + tid  # the step this thread loads and stores in every row of the tile
            for i0 in range(0, WARP, GROUP):  # GROUP rows' loads issued together, then stored to shared memory
                for k in range(GROUP):
                    i = i0 + k
                    p = row_first[i] + s
                    t = length - 1 - p if reverse else p
                    t = t if s < row_count[i] else 0  # a valid address; the value is not used
                    va[k] = a[row_channel[i], 0 if a_const else t]
                    vb[k] = b[row_channel[i], 0 if b_const else t]
                for k in range(GROUP):
                    sa[i0 + k, tid] = va[k]
                    sb[i0 + k, tid] = vb[k]
            cuda.syncthreads()
            if active and s0 + TILE <= count:  # a whole tile: no bounds test in the recurrence
                for j in range(TILE):
                    gate = sa[tid, j]
                    x = gate * x + sb[tid, j]
                    prod = prod * gate
                    sb[tid, j] = x
            elif active:
                for j in range(count - s0):
                    gate = sa[tid, j]
                    x = gate * x + sb[tid, j]
                    prod = prod * gate
                    sb[tid, j] = x
            cuda.syncthreads()
            if out.shape[0] > 0:
                for i in range(WARP):
                    if s < row_count[i]:
                        p = row_first[i] + s
                        out[row_channel[i], length - 1 - p if reverse else p] = sb[i, tid]
            cuda.syncthreads()
        if active and agg_a.shape[0] > 0:
            agg_a[row] = prod
            agg_x[row] = x

    return cuda.jit(kernel)


@functools.cache
def _carry_kernel(is_complex: bool):
    """The carry pass: per channel, the inclusive scan of the chunk aggregates ``x ↦ A_k x + X_k`` from ``x0``."""
    carry_type = numba.complex128 if is_complex else numba.float64

    def kernel(agg_a, agg_x, x0, ends):  # pragma: no cover - compiled
        """``ends[c, k]``: the state leaving chunk ``k`` of channel ``c`` (block ``c``)."""
        channel = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        nchunks = agg_a.shape[1]
        maps_a = cuda.shared.array(CARRY_THREADS, carry_type)
        maps_x = cuda.shared.array(CARRY_THREADS, carry_type)
        state = cuda.shared.array(1, carry_type)
        if tid == 0:
            state[0] = x0[channel]
        for base in range(0, nchunks, CARRY_THREADS):
            k = base + tid
            a = agg_a[channel, k] if k < nchunks else carry_type(1)  # past the end: the identity map
            x = agg_x[channel, k] if k < nchunks else carry_type(0)
            maps_a[tid], maps_x[tid] = a, x
            cuda.syncthreads()
            offset = 1
            while offset < CARRY_THREADS:  # Hillis–Steele: compose with the map `offset` chunks earlier
                earlier_a, earlier_x = a, x
                if tid >= offset:
                    earlier_a, earlier_x = maps_a[tid - offset], maps_x[tid - offset]
                cuda.syncthreads()
                if tid >= offset:
                    a, x = a * earlier_a, a * earlier_x + x
                    maps_a[tid], maps_x[tid] = a, x
                cuda.syncthreads()
                offset *= 2
            if k < nchunks:
                ends[channel, k] = a * state[0] + x
            cuda.syncthreads()
            if tid == CARRY_THREADS - 1:  # the tile's composed map carries the state to the next tile
                state[0] = a * state[0] + x
            cuda.syncthreads()

    return cuda.jit(kernel)


def _scan(xp, a2, b2, carry, out, reverse):
    """Scan ``(channels, 1 | L)`` gates/inputs from ``carry (channels,)`` into ``out (channels, L)``."""
    channels, length = out.shape
    is_complex = carry.dtype.kind == "c"
    kernel = _rows_kernel(is_complex)
    state = carry.dtype
    none, no_ends = xp.empty(0, state), xp.empty((0, 0), state)
    if channels >= MANY_CHANNELS or length <= 2 * CHUNK:
        launch(kernel, channels, a2, b2, length, length, 1, reverse, carry, no_ends, out, none, none)
        return
    nchunks = -(-length // CHUNK)
    rows = channels * nchunks
    agg_a, agg_x = xp.empty(rows, state), xp.empty(rows, state)
    nothing = xp.empty((0, 0), out.dtype)
    launch(kernel, rows, a2, b2, length, CHUNK, nchunks, reverse, none, no_ends, nothing, agg_a, agg_x)
    ends = xp.empty((channels, nchunks), state)  # the state leaving each chunk
    aggregates = (agg_a.reshape(channels, nchunks), agg_x.reshape(channels, nchunks))
    launch(_carry_kernel(is_complex), channels * CARRY_THREADS, *aggregates, carry, ends, threads=CARRY_THREADS)
    launch(kernel, rows, a2, b2, length, CHUNK, nchunks, reverse, carry, ends, out, none, none)


def _channels(xp, x, batch, length):
    """``x`` broadcast over the batch and flattened to ``(channels, 1 or L)`` (time never expanded)."""
    time = 1 if x.shape[-1] == 1 and length != 1 else length
    return xp.ascontiguousarray(xp.broadcast_to(x, batch + (time,))).reshape(-1, time)


def linear_scan(a, b, x0, shape, reverse):
    """States of ``x_t = a_t x_{t−1} + b_t`` for device arrays already validated and promoted.

    Same contract as :func:`statespace._engines.numba.scan.linear_scan`: ``a``/``b`` have
    time last and broadcast to ``shape``; ``x0`` is ``None`` or broadcasts to ``shape[:-1]``.
    """
    xp = array_module(b)
    batch, length = tuple(shape[:-1]), shape[-1]
    dtype = np.result_type(a.dtype, b.dtype)
    out = xp.empty(shape, dtype=dtype)
    if out.size == 0:
        return out
    a2 = _channels(xp, a.astype(dtype, copy=False), batch, length)
    b2 = _channels(xp, b.astype(dtype, copy=False), batch, length)
    state = np.complex128 if np.dtype(dtype).kind == "c" else np.float64
    if x0 is None:
        carry = xp.zeros(math.prod(batch), state)
    else:
        carry = xp.ascontiguousarray(xp.broadcast_to(x0, batch).astype(state)).reshape(-1)
    _scan(xp, a2, b2, carry, out.reshape(-1, length), reverse)
    return out
