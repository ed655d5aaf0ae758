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

Real ``A`` with variable ``B`` and ``C`` (Mamba's case) runs
:func:`_lanes_kernel`: channels innermost. A block of up to 128 float32 or 64 float64
channels (:func:`forward_block`) inside one B group and one C group forms the SIMD lanes: each lane carries its
own ``N`` states and its own output sum, so the loop over channels vectorises
(exp included) with no reassociation; ``B_t``/``C_t`` are scalars broadcast to
all lanes. ``Δ``, ``u`` and ``z`` are staged ``_CHUNK`` steps at a time into ``(time, channel)``
buffers, and ``y`` written back, by the 8×8 register transposes of :mod:`._tiles` (a scalar
copy is one load and one store per element; on the issue-19 call below they took the kernel
from 15.3 to 13.2 ms, minimum of 41 runs interleaved with the scalar-copy kernel, two threads).
A row's chunk is a few cache lines of its own (the rows lie ``L`` elements apart): too short a run for
the hardware's stream prefetchers, so each chunk's transposes waited on memory. The state loop hints
them ahead (:func:`~._tiles.prefetch_block`): at each step, its share of the rows of the next chunk's
``Δ`` and ``u`` and of this chunk's ``z``, which is staged after the state loop, where the gate reads
it, so that its lines too arrive while the state loop computes. On the issue-19 call,
41 runs interleaved with the kernel without hints: one thread 16.6 → 14.9 ms (minimum), 17.3 → 15.7 ms
(median); two threads 9.6 → 8.6 ms and 9.9 → 8.9 ms; bitwise the same output. Hinting the output's
rows for writing measured no faster, and storing them non-temporally 1 ms slower on two threads.
Everything else is a flat pass over a staged chunk: the bias and the softplus range check,
softplus, ``Δ_t u_t`` with the gates' range check, and after the state loop the skip term and the
SiLU gate (the bias and ``D`` are repeated on every row of two more buffers, once per block, so
that no pass walks row by row). The gate ran on the output rows before, reading ``z`` where it is
stored: 64-element loops per channel and ``z`` read one strided row at a time; staged, the same
call went from 27.7 to 25.1 ms on one thread and 16.6 to 13.7 ms on two (minima of 15 and 41 runs
interleaved), bitwise the same output. A range count inside the loop that evaluates the
exponential kept LLVM from vectorising it (2.4× slower per element), so the checks are passes of
their own. Multiply-add contraction is on
(``fastmath={"contract"}``: one rounding instead of two per multiply-add), and
``error_model="numpy"`` lets the SiLU division vectorise (its denominator is ≥ 1).

The gates ``exp(Δ_t A_n)`` are :func:`~._vecmath.vexp_product` of ``Δ_t`` and ``A log2 e`` (split in
two parts once per call, :func:`~._vecmath.log2e_split`): the product ``Δ_t A_n`` is never rounded on
its own, it enters the exponential's argument reduction exactly, so every gate is within 1 ulp of
``exp`` of the exact product (``exp`` of the rounded product, as before, is off by up to ``|Δ A|``
half-ulps of its argument: 64 ulp at ``|Δ A|`` = 80), and the multiply that formed the argument is
gone: 14 operations on the multiply-add pipes per lane update instead of 15. On the issue-19 call,
41 runs interleaved with the kernel that exponentiated the rounded product: one thread 15.5 → 14.7 ms,
two threads 7.8 → 7.4 ms (minima); outputs change by ≤ 1.3e-7 relative. The per-channel kernel
(:func:`_real_kernel`) and the gradient's channels-innermost kernel evaluate their gates the same way.

The exponentials of a chunk (gates, softplus, SiLU) use the bounded forms
(:func:`~._vecmath.vexp_product_bounded`, :func:`~._vecmath.vexp_bounded`) when
every argument of that chunk lies within ``EXP_BOUNDED_LIMIT`` (checked on the staged ``Δ``
against ``limit / max|A|`` of the block, on ``Δ + bias`` before softplus and on the staged ``z``;
a NaN fails the check):
bitwise the result of the careful forms there, with no range handling and one scale factor,
and their constants are loaded into registers once per block (:func:`~._vecmath.exp_constants`,
:func:`~._vecmath.exp_product_constants`).
Mamba's arguments always qualify (``Δ > 0``, ``A < 0``, ``|Δ A|`` of order 1); a chunk that does
not (underflowing gates, a NaN) runs the same loops with the careful forms. Measured on the
issue-19 call (batch 2, D = 512, N = 16, L = 2048 float32, two threads): 28.7 → 17.7 ms for the
kernel, bitwise the same output (with ``_CHUNK`` 32 → 64, which alone gave 10%).
Other layouts (time-invariant B/C, complex ``A``) run one ``prange``
iteration per (batch, channel) pair walking time once with its ``N`` states
in a small local buffer.
"""

from __future__ import annotations

import math

import numpy as np

from . import helper, kernel, numba, per_thread
from ._tiles import prefetch_block, transpose_block
from ._vecmath import (
    EXP_BOUNDED_LIMIT,
    exp_constants,
    exp_product_constants,
    log2e_split,
    vexp,
    vexp_bounded,
    vexp_product,
    vexp_product_bounded,
    vsoftplus,
)

__all__ = ["selective_scan"]

#: Most channels per SIMD block of the channels-innermost kernel's gradient, and of the forward kernel when a
#: wider block would leave a thread idle.
_BLOCK = 64
#: Most bytes per lane row of the forward kernel's SIMD blocks: sixteen AVX2 vectors, 128 float32 or 64 float64
#: channels (see :func:`forward_block`).
_BLOCK_BYTES = 512
#: Time steps staged per block (seven ``_CHUNK × block`` buffers, see :func:`_lanes_kernel`).
_CHUNK = 64


@helper
def _within(values, count, limit):  # pragma: no cover - compiled
    """Whether ``|values[i]| ≤ limit`` for every ``i < count`` (a NaN is not).

    A pass of its own: counting inside a loop that also evaluates an exponential kept LLVM from vectorising
    that loop (measured 2.4× slower per element).
    """
    over = 0
    for i in range(count):
        over += 0 if abs(values[i]) <= limit else 1
    return over == 0


@helper(fastmath={"contract"}, error_model="numpy")
def _softplus(raw, steps, count, bounded, constants):  # pragma: no cover - compiled
    """``steps ← log(1 + e^raw)`` for the first ``count`` entries (``raw`` itself above 20; NaN stays NaN), with
    the bounded exp when ``bounded`` (every ``|raw|`` allows it).

    Two passes, ``e^{-|raw|}`` into ``steps``, then the series from it: in one loop the chain of dependent
    operations per element (the exponential, a division, the series' Horner steps) was longer than the
    processor's reordering window could overlap across iterations (measured alone on one core: 0.99 → 0.78 ns
    per element, bitwise the same). Source and destination differ: written in place, ``v if v > 20 else soft``
    would store back the value it loaded, which LLVM turns into a masked store (``vmaskmovps``, slow on AMD).
    """
    if bounded:
        for i in range(count):
            steps[i] = vexp_bounded(-abs(raw[i]), constants)
    else:
        for i in range(count):
            steps[i] = vexp(-abs(raw[i]))
    for i in range(count):
        steps[i] = vsoftplus(raw[i], steps[i])


@helper(fastmath={"contract"}, error_model="numpy")
def _skip_and_gate(y, u, skip, z, out, count, bound, constants):  # pragma: no cover - compiled
    """``out ← (y + D u) · z σ(z)`` (the skip term, then Mamba's output gate) for the first ``count`` entries, with
    the bounded exp when every ``|z|`` allows it; ``e^{-z}`` first, in a pass of its own (as in :func:`_softplus`)."""
    one = bound / bound  # in the kernel's precision: a literal 1 would promote float32 to float64
    if _within(z, count, bound):
        for i in range(count):
            out[i] = vexp_bounded(-z[i], constants)
    else:
        for i in range(count):
            out[i] = vexp(-z[i])
    for i in range(count):
        out[i] = (y[i] + skip[i] * u[i]) * (z[i] / (one + out[i]))


@kernel(cost=1.0, fastmath={"contract"}, error_model="numpy")  # crossover 8.4M (see PARALLEL_MIN_WORK)
def _lanes_kernel(
    u, delta, bias, softplus, A_high, A_low, B, C, Dskip, z, xb, out, restart, scratch, bound, largest
):  # pragma: no cover
    """Real A, variable B and C: channels innermost, one ``prange`` item per (batch, channel block).

    ``B`` and ``C`` are ``(batch or 1, groups, N, L)`` as the public function gives them (each step reads
    one column: no transposed copy). ``A_high + A_low`` ``(blocks, N, block)`` is ``A log2 e`` (:func:`log2e_split`),
    the operand of the gates :func:`~._vecmath.vexp_product`; it and the state ``xb``
    ``(batch, blocks, N, block)`` (updated in place) are in block layout; ``scratch``
    ``(threads, 7, _CHUNK, block)`` holds each thread's ``(time, lane)`` buffers; ``bound`` is
    :data:`~._vecmath.EXP_BOUNDED_LIMIT` in the kernel's precision and ``largest`` ``(blocks,)`` each block's
    ``max|A|`` (NaN if its ``A`` has a NaN): steps with ``|Δ| ≤ bound / max|A|`` keep every gate argument
    within the bound (no step passes against a NaN).
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
        constants, gate_constants = exp_constants(bound), exp_product_constants(bound)
        # (time, lane) buffers: Δ as staged (then Δ_t u_t), the steps (then the output), u, z, Σ C x, and the
        # bias and skip weights repeated on every row; also as flat rows, so that every pass over a chunk is one loop
        buffers = scratch[numba.get_thread_id()]
        flat = buffers.reshape(buffers.shape[0], buffers[0].size)
        raw, dts, us, zs, ys = buffers[0], buffers[1], buffers[2], buffers[3], buffers[4]
        raw_f, dts_f, us_f, zs_f = flat[0], flat[1], flat[2], flat[3]
        ys_f, biases_f, skips_f = flat[4], flat[5], flat[6]
        for s in range(_CHUNK):
            for j in range(block):
                buffers[5, s, j] = bias[d0 + j]
                buffers[6, s, j] = Dskip[d0 + j]
        steps_in, steps_in_f = (raw, raw_f) if softplus is not None else (dts, dts_f)  # Δ as staged
        delta_b, u_b, out_b = delta[b], u[b], out[b]
        for t0 in range(0, length, _CHUNK):
            steps = min(_CHUNK, length - t0)
            count = steps * block
            transpose_block(delta_b, d0, t0, steps_in, 0, 0, block, steps)
            transpose_block(u_b, d0, t0, us, 0, 0, block, steps)
            raw_over = 0  # Δ + bias outside vexp_bounded's range (or NaN): softplus's exp arguments
            for i in range(count):
                v = steps_in_f[i] + biases_f[i]
                steps_in_f[i] = v
                raw_over += 0 if abs(v) <= bound else 1
            if softplus is not None:
                _softplus(raw_f, dts_f, count, raw_over == 0, constants)
            gate_over = 0  # steps Δ_t with some gate argument Δ_t A_n outside the bounded exps' range (or NaN)
            for i in range(count):  # one pass over the chunk (one aliasing check instead of one per step)
                gate_over += 0 if abs(dts_f[i]) <= step_limit else 1
                raw_f[i] = dts_f[i] * us_f[i]
                ys_f[i] = 0
            bounded_gates = gate_over == 0
            ahead = min(_CHUNK, length - t0 - _CHUNK)  # steps of the next chunk (≤ 0: none)
            for s in range(steps):
                t = t0 + s
                # this step's share of the rows that the next chunk's transposes of Δ and u, and this chunk's of z,
                # will read (memory hints: see the module docstring)
                first = d0 + s * block // steps
                rows = d0 + (s + 1) * block // steps - first
                prefetch_block(delta_b, first, t0 + _CHUNK, rows, ahead)
                prefetch_block(u_b, first, t0 + _CHUNK, rows, ahead)
                if z is not None:
                    prefetch_block(z[b], first, t0, rows, steps)
                if restart is not None and restart[b if restart.shape[0] > 1 else 0, t]:  # a packed sequence starts
                    for n in range(nstate):
                        for j in range(block):
                            x[n, j] = 0
                dt, du, yt = dts[s], raw[s], ys[s]
                for n in range(nstate):
                    bv, cv = B[bb, bg, n, t], C[cb, cg, n, t]
                    xn_, ah, al = x[n], a_high[n], a_low[n]
                    if bounded_gates:  # written out here: as a helper this loop measured 40% slower
                        for j in range(block):
                            xn = vexp_product_bounded(dt[j], ah[j], al[j], gate_constants) * xn_[j] + du[j] * bv
                            xn_[j] = xn
                            yt[j] += xn * cv
                    else:
                        for j in range(block):
                            xn = vexp_product(dt[j], ah[j], al[j]) * xn_[j] + du[j] * bv
                            xn_[j] = xn
                            yt[j] += xn * cv
            if z is not None:  # the output into the steps' buffer, free now
                transpose_block(z[b], d0, t0, zs, 0, 0, block, steps)
                _skip_and_gate(ys_f, us_f, skips_f, zs_f, dts_f, count, bound, constants)
            else:
                for i in range(count):
                    dts_f[i] = ys_f[i] + skips_f[i] * us_f[i]
            transpose_block(dts, 0, 0, out_b, d0, t0, steps, block)


@kernel(cost=2.0)
def _real_kernel(
    u, delta, bias, softplus, A_high, A_low, B, C, Dskip, z, state, out, restart, gates
):  # pragma: no cover
    """Real ``A``, one ``prange`` item per (batch, channel); ``A_high + A_low`` ``(D, N)`` is ``A log2 e``
    (:func:`log2e_split`), ``state`` ``(batch, D, N)`` is updated in place and ``gates`` ``(threads, N)`` is each
    thread's scratch."""
    batch, dim, length = u.shape
    nstate = A_high.shape[1]
    b_per, c_per = dim // B.shape[1], dim // C.shape[1]
    for bd in numba.prange(batch * dim):
        b, d = bd // dim, bd % dim
        bb, bg, b_var = (b if B.shape[0] > 1 else 0), d // b_per, B.shape[2] > 1
        cb, cg, c_var = (b if C.shape[0] > 1 else 0), d // c_per, C.shape[2] > 1
        x, gate = state[b, d], gates[numba.get_thread_id()]
        for t in range(length):
            if restart is not None and restart[b if restart.shape[0] > 1 else 0, t]:  # a packed sequence starts
                for n in range(nstate):
                    x[n] = 0
            dt = delta[b, d, t] + bias[d]
            if softplus is not None:
                dt = vsoftplus(dt, vexp(-abs(dt)))
            du = dt * u[b, d, t]
            for n in range(nstate):
                gate[n] = vexp_product(dt, A_high[d, n], A_low[d, n])
            tb, tc = (t if b_var else 0), (t if c_var else 0)
            acc = x[0] * 0
            for n in range(nstate):
                x[n] = gate[n] * x[n] + du * B[bb, bg, tb, n]
                acc += x[n] * C[cb, cg, tc, n]
            y = acc + Dskip[d] * u[b, d, t]
            if z is not None:
                zt = z[b, d, t]
                y = y * (zt / (1 + math.exp(-zt)))
            out[b, d, t] = y


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


def layout(w, real):
    """Weight as ``(batch or 1, groups, L or 1, N)`` contiguous, in ``real`` or the matching complex dtype."""
    value = w.value
    if not w.variable:  # (D, N): one "group" per channel, constant in time
        value = value[None, :, None, :]
    else:
        value = np.swapaxes(value, -1, -2)
    return np.ascontiguousarray(value)


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
        x = np.zeros((batch, dim, nstate), real) if x0 is None else np.ascontiguousarray(x0)
        last = np.array(x, real, order="C")  # a fresh copy: the kernels update the state in place
        threads = numba.get_num_threads() if _lanes_kernel.runs_parallel(work) else 1
        block = forward_block(dim, B, C, real.itemsize, batch, threads)
        if out.size and nstate and block:
            nblk = dim // block
            u, delta, z = (None if v is None else np.ascontiguousarray(v) for v in (u, delta, z))  # rows for tiles
            blocked = np.array(np.swapaxes(x.reshape(batch, nblk, block, nstate), 2, 3), order="C")  # a fresh copy
            Ab = np.ascontiguousarray(A.reshape(nblk, block, nstate).transpose(0, 2, 1))
            _lanes_kernel(
                u, delta, bias, softplus, *log2e_split(Ab), np.ascontiguousarray(B.value),
                np.ascontiguousarray(C.value), Dskip,
                z, blocked, out, restart,
                per_thread((7, _CHUNK, block), real), real.type(EXP_BOUNDED_LIMIT[real]),
                np.abs(Ab).max(axis=(1, 2)), work=work, tasks=batch * nblk,
            )  # fmt: skip
            last[...] = np.swapaxes(blocked, 2, 3).reshape(batch, dim, nstate)
        elif out.size and nstate:
            Bl, Cl = layout(B, real), layout(C, real)
            _real_kernel(
                u,
                delta,
                bias,
                softplus,
                *log2e_split(A),
                Bl,
                Cl,
                Dskip,
                z,
                last,
                out,
                restart,
                per_thread((nstate,), real),
                work=work,
                tasks=batch * dim,
            )
        else:
            _empty_case(out, last, x, D, u, z)
        return out, last
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


def _empty_case(out, last, x, D, u, z):
    """``L = 0`` or ``N = 0``: no state contribution, the state stays ``x0``."""
    last[...] = x
    y = np.zeros_like(out) if D is None else D[:, None] * u
    if z is not None:
        y = y * (z / (1 + np.exp(-z)))
    out[...] = y
