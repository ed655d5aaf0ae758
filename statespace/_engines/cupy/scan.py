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
  chunk); (2) the aggregates are scanned per channel from ``x0`` (the same
  routine, recursively, on ``ceil(L / CHUNK)`` steps), giving the state
  entering every chunk; (3) every chunk is scanned again from its entering
  state, writing ``x``.  The traffic is two reads of ``a`` and ``b`` and one
  write of ``x``.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from . import GROUP, TILE, WARP, array_module, cuda, launch

__all__ = ["linear_scan", "CHUNK", "MANY_CHANNELS"]

#: Steps per chunk of the chunked scan.
CHUNK = 1024
#: Channel count from which one thread per channel fills the GPU (the chunked scan runs below it).
MANY_CHANNELS = 1 << 14
#: Shared tile of WARP rows × TILE steps (padded by one column against bank conflicts).
_TILE_SHAPE = (WARP, TILE + 1)


@functools.cache
def _rows_kernel(is_complex: bool):
    """The row-scan kernel with its shared tiles and state in ``complex128`` or ``float64``."""
    carry_type = numba.complex128 if is_complex else numba.float64

    def kernel(a, b, length, chunk, nchunks, reverse, carry, out, agg_a, agg_x):  # pragma: no cover - compiled
        """Rows ``r = channel·nchunks + k``: steps ``k·chunk … k·chunk + chunk − 1`` of ``channel``.

        ``carry[r]`` is the state entering row ``r``; ``out`` (``(0, 0)``: not
        written) receives the states, ``agg_a``/``agg_x`` (size 0: not written)
        the row's gate product and final state.  Step ``p`` is time ``p``, or
        ``length − 1 − p`` when ``reverse``.  ``a``/``b`` have time length 1
        (time-invariant, read at 0) or ``length``.
        """
        tid = cuda.threadIdx.x
        r0 = cuda.blockIdx.x * WARP
        nrows = carry.shape[0]
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
        first = (mine - channel * nchunks) * chunk
        count = min(chunk, length - first) if active else 0
        row_channel[tid], row_first[tid], row_count[tid] = channel, first, count
        x = carry[mine]
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
            if active:
                for j in range(TILE):
                    if s0 + j < count:
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


def _scan(xp, a2, b2, carry, out, reverse):
    """Scan ``(channels, 1 | L)`` gates/inputs from ``carry (channels,)`` into ``out (channels, L)``."""
    channels, length = out.shape
    kernel = _rows_kernel(carry.dtype.kind == "c")
    state = carry.dtype
    none = xp.empty(0, state)
    if channels >= MANY_CHANNELS or length <= 2 * CHUNK:
        launch(kernel, channels, a2, b2, length, length, 1, reverse, carry, out, none, none)
        return
    nchunks = -(-length // CHUNK)
    rows = channels * nchunks
    agg_a, agg_x = xp.empty(rows, state), xp.empty(rows, state)
    nothing = xp.empty((0, 0), out.dtype)
    launch(kernel, rows, a2, b2, length, CHUNK, nchunks, reverse, xp.zeros(rows, state), nothing, agg_a, agg_x)
    ends = xp.empty((channels, nchunks), state)  # state leaving each chunk
    _scan(xp, agg_a.reshape(channels, nchunks), agg_x.reshape(channels, nchunks), carry, ends, False)
    entering = xp.concatenate([carry[:, None], ends[:, :-1]], axis=1).reshape(rows)
    launch(kernel, rows, a2, b2, length, CHUNK, nchunks, reverse, entering, out, none, none)


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
