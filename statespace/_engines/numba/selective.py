"""Numba kernels for :func:`statespace.selective_scan`: discretization, scan and output fused.

``(batch, D, L, N)`` is never materialised. The cost is the ``batch·D·L·N``
gate exponentials ``exp(Δ_t A_dn)``; pip's numba has no SVML, so ``math.exp``
in a loop is one libm call per element and blocks vectorisation. Two ways
around it were weighed: (a) a vectorisable ``exp`` in plain arithmetic
(:mod:`._vecmath`, ≤ 2 ulp, inlined by LLVM) evaluated inside the fused loop,
or (b) NumPy's SIMD ``np.exp`` on bounded time chunks of gates followed by a
numba scan over each chunk. (a) is what runs: it keeps the gates in registers
(no ``(batch, D, chunk, N)`` buffer written and re-read) and runs on both cores
(NumPy's ufuncs are single-threaded). Measured side by side for batch 2,
D = 512, N = 16, L = 2048 float32 (one run, 2 shared cores, load average 2.3): (a) 0.022 s,
(b) 0.084 s with 16-step chunks (0.091 s with 64).

Real ``A`` has two kernels, chosen by the width of the state.

:func:`_channel_kernel` (lanes across the states, :mod:`._channel`) runs one (batch, channel) pair's whole sequence
per call, its ``N`` states (zero-padded to a power of two, or to whole vectors) in registers, ``B_t`` and ``C_t``
one vector load each, ``δ``, ``u``, ``z`` and ``y`` read and written where they lie: nothing is staged or
transposed. Its cost is the output sum across the lanes, done for a vector of steps at once by a tree of shuffles
and additions. It runs where the padded state is one or two vectors wide (float32 ``9 ≤ N ≤ 32`` with AVX-512,
Mamba's ``N = 16`` among them; float64 ``5 ≤ N ≤ 16``), and for every ``N`` when ``B`` or ``C`` is fixed in time. On
the issue-19 call (batch 2, D = 512, N = 16, L = 2048 float32), public calls interleaved with the channels-innermost
kernel below (40 rounds, load average 1.1): one thread 13.92 → 13.10 ms (minima), 16.50 → 15.15 ms (medians); two
threads 8.42 → 7.23 ms and 10.72 → 9.23 ms; float64, two threads, 20.43 → 19.74 ms and 26.47 → 23.24 ms. At float32
N = 32 (batch 2, D = 256, L = 1024, two threads) both measured alike (3.64 and 3.49 ms); at N = 64 (four vectors;
batch 1, D = 256, L = 4096) the channels-innermost kernel was faster by minima (one thread 21.10 against 21.87 ms,
two 12.67 and 13.00 against 14.00 and 13.98 ms) and alike by medians, so it keeps such states.

:func:`_lanes_kernel` (channels innermost) runs the other states with variable ``B`` and ``C``: narrower ones, where
a state is only part of a vector (N = 4 float32 at batch 2, D = 512, L = 2048, one thread: 7.90 ms against 13.08 ms
for the channel kernel; N = 8: 9.29 against 9.70 ms), and wider ones. A block of up to 128 float32 or 64 float64
channels (:func:`forward_block`) inside one B group and one C group forms the SIMD lanes: each lane carries its own
``N`` states and its own output sum, and ``B_t``/``C_t`` are scalars broadcast to all lanes. ``Δ`` and ``u`` are
staged ``_CHUNK`` steps at a time into ``(time, channel)`` buffers, and ``y`` written back, by the 8×8 register
transposes of :mod:`._tiles` (a scalar copy is one load and one store per element; on the issue-19 call they took
the kernel from 15.3 to 13.2 ms, minimum of 41 runs interleaved with the scalar-copy kernel, two threads); ``B`` and
``C`` are staged the same way into ``(time, state)`` buffers. Each step is then one call of
:func:`~._gated.selective_step`, LLVM vector code that does the step's per-channel work (the bias, softplus, ``Δ_t
u_t``, the skip term) and its state loop with ``Δ``, ``Δ u`` and the output sum in registers across the ``N``
states. The SiLU gate is applied as the output is written back (:func:`~._tiles.transpose_gated`), with ``z`` read
where it lies, in the output's layout: staging ``z`` was an 8 MiB transpose per call on the issue-19 call (public
calls interleaved with the staged version, minima of 61 and 31: two threads 7.26 → 6.71 ms, one thread 14.20 → 13.72
ms, bitwise the same output).

Before, the channels-innermost kernel's state loop was a numba loop over the states around a vectorised loop over
the lanes, storing and reloading the output row once per state, and the per-channel work was seven passes of
their own over each staged chunk; on the issue-19 call (B = 2, D = 512, N = 16, L = 2048 float32; public
calls interleaved with the previous kernel, minima of 15) one thread went from 15.47 to 14.00 ms and two
threads from 8.83 to 8.46 ms, with bitwise the same output.

A row's chunk is a few cache lines of its own (the rows lie ``L`` elements apart): too short a run for the
hardware's stream prefetchers, so each chunk's transposes waited on memory. The state loop hints them ahead
(:func:`~._tiles.prefetch_block`): at each step, its share of the rows of the next chunk's ``Δ`` and ``u`` and
of this chunk's ``z``, so that their lines arrive while the steps compute (when they were introduced, 41 runs
interleaved with the kernel without hints: one thread 16.6 → 14.9 ms (minimum), two threads 9.6 → 8.6 ms,
bitwise the same output). Hinting the output's rows for writing measured no faster, and storing them
non-temporally 1 ms slower on two threads. Multiply-add contraction is on (``fastmath={"contract"}``: one
rounding instead of two per multiply-add), and ``error_model="numpy"`` makes ``bound / max|A|`` of an all-zero
block infinite instead of an exception.

The gates ``exp(Δ_t A_n)`` are :func:`~._vecmath.vexp_product` of ``Δ_t`` and ``A log2 e`` (split in
two parts once per call, :func:`~._vecmath.log2e_split`): the product ``Δ_t A_n`` is never rounded on
its own, it enters the exponential's argument reduction exactly, so every gate is within 1 ulp of
``exp`` of the exact product (``exp`` of the rounded product, as before, is off by up to ``|Δ A|``
half-ulps of its argument: 64 ulp at ``|Δ A|`` = 80), and the multiply that formed the argument is
gone: 14 operations on the multiply-add pipes per lane update instead of 15. On the issue-19 call,
41 runs interleaved with the kernel that exponentiated the rounded product: one thread 15.5 → 14.7 ms,
two threads 7.8 → 7.4 ms (minima); outputs change by ≤ 1.3e-7 relative. The channel kernel and the
gradient's channels-innermost kernel evaluate their gates the same way.

The exponentials (gates, softplus, SiLU) use the bounded forms (:func:`~._vecmath.vexp_product_bounded`,
:func:`~._vecmath.vexp_bounded`) for each vector of lanes whose arguments all lie within ``EXP_BOUNDED_LIMIT``
(checked on ``Δ`` against ``limit / max|A|`` of the block or channel, on ``Δ + bias`` before softplus and on
``z``; a NaN fails the check), else the careful forms: bitwise the same results, so the checks choose a speed,
never a value (see :mod:`._gated`, :func:`~._tiles.transpose_gated`, :mod:`._channel`). Mamba's arguments always
qualify (``Δ > 0``, ``A < 0``, ``|Δ A|`` of order 1). When they were introduced (then checked per chunk), on the
issue-19 call on two threads: 28.7 → 17.7 ms for the channels-innermost kernel, bitwise the same output (with
``_CHUNK`` 32 → 64, which alone gave 10%).

Complex ``A`` runs one ``prange`` iteration per (batch, channel) pair walking time once with its ``N`` states in
a small local buffer.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernel, numba, per_thread
from ._channel import Lanes, selective_channel, state_width
from ._gated import selective_step
from ._modal import vector_lanes
from ._tiles import prefetch_block, transpose_block, transpose_gated
from ._vecmath import (
    EXP_BOUNDED_LIMIT,
    log2e_split,
    vexp,
    vsoftplus,
)

__all__ = ["selective_scan"]

#: Most channels per SIMD block of the channels-innermost kernel's gradient, and of the forward kernel when a
#: wider block would leave a thread idle.
_BLOCK = 64
#: Most bytes per lane row of the forward kernel's SIMD blocks: sixteen AVX2 vectors, 128 float32 or 64 float64
#: channels (see :func:`forward_block`).
_BLOCK_BYTES = 512
#: Time steps staged per block (``_CHUNK × block`` and ``_CHUNK × N`` buffers, see :func:`_lanes_kernel`).
_CHUNK = 64


@kernel(cost=1.0, fastmath={"contract"}, error_model="numpy")  # crossover 8.4M (see PARALLEL_MIN_WORK)
def _lanes_kernel(
    u, delta, bias, softplus, A_high, A_low, B, C, Dskip, z, xb, out, restart, scratch, columns, bound, largest
):  # pragma: no cover
    """Real A, variable B and C: channels innermost, one ``prange`` item per (batch, channel block).

    ``B`` and ``C`` are ``(batch or 1, groups, N, L)`` as the public function gives them. ``A_high + A_low``
    ``(blocks, N, block)`` is ``A log2 e`` (:func:`log2e_split`), the operand of the gates
    :func:`~._vecmath.vexp_product`; it and the state ``xb`` ``(batch, blocks, N, block)`` (updated in place) are
    in block layout; ``scratch`` ``(threads, 3, _CHUNK, block)`` holds each thread's ``(time, lane)`` buffers of
    ``δ``, ``u`` and ``y``, and ``columns`` ``(threads, 2, _CHUNK, N)`` its ``(time, state)`` buffers of ``B`` and
    ``C``; the gate ``z`` is read where it lies, as the output is written back (:func:`~._tiles.transpose_gated`);
    ``bound`` is :data:`~._vecmath.EXP_BOUNDED_LIMIT` in the kernel's precision and ``largest``
    ``(blocks,)`` each block's ``max|A|`` (NaN if its ``A`` has a NaN): steps with ``|Δ| ≤ bound / max|A|`` keep
    every gate argument within the bound (no step passes against a NaN).
    """
    batch, dim, length = u.shape
    nblk, nstate, block = A_high.shape
    b_per, c_per = dim // B.shape[1], dim // C.shape[1]
    for item in numba.prange(batch * nblk):
        b, blk = item // nblk, item % nblk
        d0 = blk * block
        bb, bg = (b if B.shape[0] > 1 else 0), d0 // b_per
        cb, cg = (b if C.shape[0] > 1 else 0), d0 // c_per
        x, a_high, a_low = xb[b, blk], A_high[blk], A_low[blk]
        step_limit = bound / largest[blk]  # a zero max|A|: inf, every step passes
        buffers, staged = scratch[numba.get_thread_id()], columns[numba.get_thread_id()]
        deltas, us, outs = buffers[0], buffers[1], buffers[2]
        delta_b, u_b, out_b, B_b, C_b = delta[b], u[b], out[b], B[bb, bg], C[cb, cg]
        for t0 in range(0, length, _CHUNK):
            steps = min(_CHUNK, length - t0)
            transpose_block(delta_b, d0, t0, deltas, 0, 0, block, steps)
            transpose_block(u_b, d0, t0, us, 0, 0, block, steps)
            transpose_block(B_b, 0, t0, staged[0], 0, 0, nstate, steps)
            transpose_block(C_b, 0, t0, staged[1], 0, 0, nstate, steps)
            ahead = min(_CHUNK, length - t0 - _CHUNK)  # steps of the next chunk (≤ 0: none)
            for s in range(steps):
                # this step's share of the rows that the next chunk's transposes will read, and of this chunk's
                # gate, read as the output is written back (memory hints: see the module docstring)
                first = d0 + s * block // steps
                rows = d0 + (s + 1) * block // steps - first
                prefetch_block(delta_b, first, t0 + _CHUNK, rows, ahead)
                prefetch_block(u_b, first, t0 + _CHUNK, rows, ahead)
                if z is not None:
                    prefetch_block(z[b], first, t0, rows, steps)
                if restart is not None and restart[b if restart.shape[0] > 1 else 0, t0 + s]:  # a sequence starts
                    for n in range(nstate):
                        for j in range(block):
                            x[n, j] = 0
                selective_step(deltas, us, bias, Dskip, d0, a_high, a_low, x, staged[0], staged[1], outs, s,
                               step_limit, softplus)  # fmt: skip
            if z is not None:
                transpose_gated(outs, 0, 0, out_b, d0, t0, steps, block, z[b])
            else:
                transpose_block(outs, 0, 0, out_b, d0, t0, steps, block)


@kernel(cost=1.0, fastmath={"contract"}, error_model="numpy")  # crossover: see PARALLEL_MIN_WORK
def _channel_kernel(
    u, delta, bias, softplus, A_high, A_low, B, C, Dskip, z, gate, state, out, restart, restarted, bound, largest, width
):  # pragma: no cover
    """Real ``A``: one ``prange`` item per (batch, channel), its whole sequence one
    :func:`~._channel.selective_channel` call.

    ``A_high + A_low`` ``(D, W)`` is ``A log2 e`` (:func:`log2e_split`) and ``state`` ``(batch, D, W)`` the state,
    updated in place, both zero-padded to ``W`` lanes (``width``, a :class:`~._channel.Lanes`: the kernel is
    compiled per width); ``B`` and ``C`` are ``(batch or 1, groups, L or 1, W)``; ``z`` and ``restart`` are read
    only when ``gate`` and ``restarted`` are ``True`` (``None``: empty stand-ins); ``bound`` is
    :data:`~._vecmath.EXP_BOUNDED_LIMIT` in the kernel's precision and ``largest`` ``(D,)`` each channel's
    ``max|A|`` (NaN if its ``A`` has a NaN): steps with ``|Δ| ≤ bound / max|A|`` keep every gate argument within
    the bound (no step passes against a NaN).
    """
    batch, dim = u.shape[:2]
    b_per, c_per = dim // B.shape[1], dim // C.shape[1]
    for item in numba.prange(batch * dim):
        b, d = item // dim, item % dim
        bb, cb = (b if B.shape[0] > 1 else 0), (b if C.shape[0] > 1 else 0)
        flags = restart[b if restart.shape[0] > 1 else 0]
        selective_channel(
            delta[b, d], u[b, d], z[b, d], out[b, d], A_high[d], A_low[d], state[b, d], B[bb, d // b_per],
            C[cb, d // c_per], flags, bias[d], Dskip[d], bound / largest[d], width, softplus, gate, restarted,
        )  # fmt: skip


@kernel(cost=4.0)
def _complex_kernel(
    u, delta, bias, softplus, Ar, Ai, Br, Bi, Cr, Ci, Dskip, z, state_r, state_i, out, restart, gates
):  # pragma: no cover
    """Complex ``A`` (real and imaginary parts split), one ``prange`` item per (batch, channel); the state's
    parts ``(batch, D, N)`` are updated in place and ``gates`` ``(threads, 2, N)`` is each thread's scratch."""
    batch, dim, length = u.shape
    nstate = Ar.shape[1]
    b_per, c_per = dim // Br.shape[1], dim // Cr.shape[1]
    for bd in numba.prange(batch * dim):
        b, d = bd // dim, bd % dim
        bb, bg, b_var = (b if Br.shape[0] > 1 else 0), d // b_per, Br.shape[2] > 1
        cb, cg, c_var = (b if Cr.shape[0] > 1 else 0), d // c_per, Cr.shape[2] > 1
        xr, xi = state_r[b, d], state_i[b, d]
        gr, gi = gates[numba.get_thread_id(), 0], gates[numba.get_thread_id(), 1]
        for t in range(length):
            if restart is not None and restart[b if restart.shape[0] > 1 else 0, t]:  # a packed sequence starts
                for n in range(nstate):
                    xr[n] = 0
                    xi[n] = 0
            dt = delta[b, d, t] + bias[d]
            if softplus is not None:
                dt = vsoftplus(dt, vexp(-abs(dt)))
            du = dt * u[b, d, t]
            for n in range(nstate):
                mag = math.exp(dt * Ar[d, n])
                phase = dt * Ai[d, n]
                gr[n] = mag * math.cos(phase)
                gi[n] = mag * math.sin(phase)
            tb, tc = (t if b_var else 0), (t if c_var else 0)
            acc = xr[0] * 0
            for n in range(nstate):
                nr = gr[n] * xr[n] - gi[n] * xi[n] + du * Br[bb, bg, tb, n]
                ni = gr[n] * xi[n] + gi[n] * xr[n] + du * Bi[bb, bg, tb, n]
                xr[n], xi[n] = nr, ni
                acc += nr * Cr[cb, cg, tc, n] - ni * Ci[cb, cg, tc, n]
            y = 2 * acc + Dskip[d] * u[b, d, t]
            if z is not None:
                zt = z[b, d, t]
                y = y * (zt / (1 + math.exp(-zt)))
            out[b, d, t] = y


def layout(w, real, width=None):
    """Weight as ``(batch or 1, groups, L or 1, N)`` contiguous, in ``real`` or the matching complex dtype; with
    ``width``, its states zero-padded to ``width``."""
    value = w.value
    if not w.variable:  # (D, N): one "group" per channel, constant in time
        value = value[None, :, None, :]
    else:
        value = np.swapaxes(value, -1, -2)
    return _padded(value, width) if width is not None else np.ascontiguousarray(value)


def _padded(value, width, dtype=None):
    """A fresh C-contiguous copy of ``value`` in ``dtype`` (default: its own), its last axis zero-padded to
    ``width`` (the kernel updates a state in place: never the caller's ``x0``)."""
    if value.shape[-1] == width:  # one pass, not a fill and a copy
        return np.array(value, dtype or value.dtype, order="C", copy=True)
    padded = np.zeros((*value.shape[:-1], width), dtype or value.dtype)
    padded[..., : value.shape[-1]] = value
    return padded


def lane_block(dim, B, C, most=_BLOCK):
    """Channels per SIMD block of the channels-innermost kernels: the largest power of two up to ``most`` that
    divides the channels of one B group and of one C group; 0 (per-channel kernels) unless B and C vary."""
    if not (B.variable and C.variable):
        return 0
    return math.gcd(dim // B.groups, dim // C.groups, most)


def forward_block(dim, B, C, itemsize, batch, threads):
    """Channels per SIMD block of :func:`_lanes_kernel`: up to :data:`_BLOCK_BYTES` of lanes, or up to
    :data:`_BLOCK` channels when the wider blocks would give fewer ``(batch, block)`` items than ``threads``.

    The state loop runs once per step and state over a block's lanes, with a fixed cost per pass (its
    pointers, the exponential's constants reloaded from the stack): sixteen vectors per pass instead of eight
    measured, on the issue-19 call (batch 2, D = 512, N = 16, L = 2048 float32) on one thread, 27.1 → 24.8 ms
    (minima of nine interleaved runs; 32 vectors 24.1 ms, but the state and ``A`` of a block then fill L1),
    at N = 64 38.4 → 36.0 ms and at batch 1, D = 256, L = 4096 12.1 → 11.6 ms; in float64, where 64 channels
    already fill sixteen vectors, 128 measured 2–3% slower. Bitwise the same outputs (channels are independent).
    """
    block = lane_block(dim, B, C, _BLOCK_BYTES // itemsize)
    if block > _BLOCK and batch * (dim // block) < threads:
        block = lane_block(dim, B, C)
    return block


def selective_scan(u, delta, A, B, C, D, z, bias, use_softplus, x0, restart=None):
    """Fused selective scan for validated NumPy operands (see :func:`statespace.selective_scan`).

    ``restart`` (``(batch or 1, L)`` bool, optional) zeroes the state before the flagged steps
    (the starts of packed sequences).

    The optional features reach the kernels as ``None`` when unused: the gate ``z``, ``restart``, and
    ``softplus`` (``True`` or ``None``). Numba prunes the branches of an argument typed ``None`` at compile
    time, so a call compiles only the features it uses (the plain scan compiles ~30% faster than one with
    every feature; each combination used is compiled once, on first use, and cached).
    """
    restart = None if restart is None else np.ascontiguousarray(restart, np.bool_)
    softplus = True if use_softplus else None
    batch, dim, length = u.shape
    nstate = A.shape[1]
    real = u.dtype
    bias = np.zeros(dim, real) if bias is None else bias
    Dskip = np.zeros(dim, real) if D is None else D
    out = np.empty((batch, dim, length), real)
    work = out.size * nstate
    if not np.iscomplexobj(A):
        if not (out.size and nstate):
            last = np.zeros((batch, dim, nstate), real) if x0 is None else np.array(x0, real)
            _empty_case(out, last, last, D, u, z)
            return out, last
        lanes = vector_lanes(real)
        if not lanes <= state_width(nstate, real) <= 2 * lanes:  # across channels if B, C vary (module docstring)
            threads = numba.get_num_threads() if _lanes_kernel.runs_parallel(work) else 1
            block = forward_block(dim, B, C, real.itemsize, batch, threads)
            if block:
                return _across_channels(u, delta, A, B, C, Dskip, z, bias, softplus, x0, restart, out, block, work)
        return _by_channel(u, delta, A, B, C, Dskip, z, bias, softplus, x0, restart, out, work)
    x = np.zeros((batch, dim, nstate), A.dtype) if x0 is None else x0
    if out.size and nstate:
        lastr, lasti = np.array(x.real, real, order="C"), np.array(x.imag, real, order="C")  # updated in place
        Bl, Cl = layout(B, real), layout(C, real)
        _complex_kernel(
            u, delta, bias, softplus,
            np.ascontiguousarray(A.real), np.ascontiguousarray(A.imag),
            np.ascontiguousarray(Bl.real), np.ascontiguousarray(Bl.imag) if np.iscomplexobj(Bl) else np.zeros_like(Bl),
            np.ascontiguousarray(Cl.real), np.ascontiguousarray(Cl.imag) if np.iscomplexobj(Cl) else np.zeros_like(Cl),
            Dskip, z, lastr, lasti, out, restart, per_thread((2, nstate), real), work=work, tasks=batch * dim,
        )  # fmt: skip
        last = lastr + 1j * lasti
    else:
        last = np.array(x, dtype=A.dtype, copy=True)
        _empty_case(out, last, x, D, u, z)
    return out, last.astype(A.dtype, copy=False)


def _by_channel(u, delta, A, B, C, Dskip, z, bias, softplus, x0, restart, out, work):
    """:func:`_channel_kernel`, the states zero-padded to the kernel's width: the output ``out``, filled, and the
    last state."""
    batch, dim, _ = u.shape
    nstate, real = A.shape[1], u.dtype
    width = state_width(nstate, real)
    state = np.zeros((batch, dim, width), real) if x0 is None else _padded(x0, width, real)
    _channel_kernel(
        np.ascontiguousarray(u), np.ascontiguousarray(delta), np.ascontiguousarray(bias), softplus,
        *log2e_split(_padded(A, width)), layout(B, real, width), layout(C, real, width), np.ascontiguousarray(Dskip),
        np.zeros((batch, dim, 0), real) if z is None else np.ascontiguousarray(z), None if z is None else True,
        state, out, np.zeros((1, 0), np.bool_) if restart is None else restart, None if restart is None else True,
        real.type(EXP_BOUNDED_LIMIT[real]), np.abs(A).max(axis=1), Lanes(width), work=work, tasks=batch * dim,
    )  # fmt: skip
    return out, (state if width == nstate else np.ascontiguousarray(state[..., :nstate]))


def _across_channels(u, delta, A, B, C, Dskip, z, bias, softplus, x0, restart, out, block, work):
    """:func:`_lanes_kernel` on blocks of ``block`` channels: the output ``out``, filled, and the last state."""
    batch, dim, _ = u.shape
    nstate, real, nblk = A.shape[1], u.dtype, dim // block
    u, delta, z = (None if v is None else np.ascontiguousarray(v) for v in (u, delta, z))  # rows for the tiles
    bias, Dskip = np.ascontiguousarray(bias), np.ascontiguousarray(Dskip)  # read as vectors (D=1.0: stride 0)
    if x0 is None:
        blocked = np.zeros((batch, nblk, nstate, block), real)
    else:  # a fresh copy in block layout: the kernel updates the state in place
        blocked = np.array(np.swapaxes(x0.reshape(batch, nblk, block, nstate), 2, 3), real, order="C")
    Ab = np.ascontiguousarray(A.reshape(nblk, block, nstate).transpose(0, 2, 1))
    _lanes_kernel(
        u, delta, bias, softplus, *log2e_split(Ab), np.ascontiguousarray(B.value), np.ascontiguousarray(C.value),
        Dskip, z, blocked, out, restart, per_thread((3, _CHUNK, block), real), per_thread((2, _CHUNK, nstate), real),
        real.type(EXP_BOUNDED_LIMIT[real]), np.abs(Ab).max(axis=(1, 2)), work=work, tasks=batch * nblk,
    )  # fmt: skip
    return out, np.swapaxes(blocked, 2, 3).reshape(batch, dim, nstate)


def _empty_case(out, last, x, D, u, z):
    """``L = 0`` or ``N = 0``: no state contribution, the state stays ``x0``."""
    last[...] = x
    y = np.zeros_like(out) if D is None else D[:, None] * u
    if z is not None:
        y = y * (z / (1 + np.exp(-z)))
    out[...] = y
