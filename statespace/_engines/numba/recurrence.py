"""Numba kernel for diagonal (modal) LTI recurrences with a fused output projection.

Layout: channels innermost. Channels are independent, so a block of
``_BLOCK`` channels forms the SIMD lanes: parameters and state are stored as
``(blocks, N2, _BLOCK)`` (mode-major inside a block, channels padded with zeros
to a whole block), split in real and imaginary parts, and the innermost loop
runs over the channels of a block. Every lane carries its own recurrence and
its own output sum ``Σ_n C_n x_n`` (accumulated mode by mode, in the order of a
scalar loop), so the update vectorises without reassociating anything.
The modes-innermost alternative reduces over modes inside one lane, which does
not vectorise without reassociation and measured 3–5× slower.

Each ``prange`` iteration owns one block: its parameters and state stay in L1/L2,
the input is staged ``_CHUNK`` steps at a time into a ``(time, channel)``
buffer (the transposition happens there, in cache, rather than as a separate
pass over ``u``), and outputs are written back the same way, both by the 8×8
register transposes of :mod:`._tiles` (measured 9.2 → 8.3 ms at H=256, L=4096
and 13.8 → 12.3 ms at H=16, L=65536, ``asv_bench/perf19.py few``, one run
each); the state over time is never stored. When a channel's modes are split over
several lanes (few channels, :func:`_layout`), each input tile is transposed once and
stored once per lane group (:func:`~._tiles.transpose_spread`), and the groups' outputs are
added as the tiles are loaded for the write-back (:func:`~._tiles.transpose_summed`), in group
order, with no pass of its own: at H=16, L=65536 one thread 18.9 → 16.3 ms, two 10.4 → 9.3 ms
(minima of 15 and 41 runs interleaved with the per-group copies), bitwise the same output. The
factor 2 of a conjugate-pair system's ``2 Re(C x)`` rides on the output basis
(:func:`_output_basis`), so no output is multiplied in the kernels.

``STEPS`` (4) consecutive steps are advanced per pass over the modes, so each parameter is loaded
once per four updates (the last ``L mod 4`` steps one at a time). The pass is
:func:`~._modal.modal_steps`, written as LLVM vector code: for each vector of lanes the four
output sums stay in registers through the mode loop. As a numba loop over the lanes inside the
mode loop, they were loaded and stored again for every mode; the explicit vectors took one
thread at H = 16, L = 65536 from 11.3 to 9.5 ms and two from 8.2 to 5.2 ms (minima of 21 runs
interleaved with the loop; medians 11.6 → 9.6 and 10.4 → 6.9 ms), and at H = 256, L = 4096 from
11.1 to 9.2 and 6.1 to 5.0 ms, bitwise the same output. Complex input and complex output are
optional parts of the same pass (compiled away when unused); they had a numba loop of their own,
one step per pass, 2.5–3× slower than the pass (H = 16, L = 65536, complex input, one thread: 33.7
→ 13.3 ms). The output weights are made real by a change of basis of each mode
(:func:`_output_basis`): an output term costs one multiply-add (~10% faster), or one addition
when the final state is not returned (10–25% faster again). Multiply-add contraction is on
(``fastmath={"contract"}``: one rounding instead of two per multiply-add); nothing else of fastmath.

The update is parenthesised for its dependency chain (the pass keeps the order the numba loop had):
the four steps of a pass are serial, so a step's latency, not the multiply-add count, bounds a pass. Written
``a_r x_r − (a_i x_i − b_r v)`` and ``a_r x_i + (a_i x_r + b_i v)``, the input term is off the chain
and each new state part is two dependent multiply-adds from the old one (8 cycles at a 4-cycle
multiply-add); written left to right, ``a_r x_r − a_i x_i + b_r v``, LLVM fused the input product
instead and left a multiply, a multiply-add and a multiply-add on the chain (11 cycles). Measured on
one thread at H = 16, L = 65536 (N/2 = 32, complex128) 17.5 → 16.3 ms and at H = 256, L = 4096
14.6 → 13.1 ms (minima of 15 interleaved runs); the results differ in the last bits only (a
different rounding of the same sum, ≤ 7e-16 relative here).
"""

from __future__ import annotations

import math

import numpy as np

from . import kernel, numba, per_thread
from ._modal import STEPS, modal_step, modal_steps, vector_lanes
from ._tiles import transpose_spread, transpose_summed

__all__ = ["diag"]

#: Channels per SIMD block when there are many (see :func:`_layout`; 32 to 128 measured alike).
_BLOCK = 64
#: Fewest modes per group when few channels split their modes across lanes (see :func:`_layout`).
_MIN_GROUP_MODES = 4
#: Time steps staged per block (input and output buffers of ``_CHUNK × _BLOCK``).
_CHUNK = 64


def _part(marker, array, index):
    """``array[index]``, or ``None`` when ``marker`` is ``None``: a part of the pass a call does not use (the
    output weights, the imaginary input or output) stays ``None``, decided at compile time."""
    return None if marker is None else array[index]


@numba.extending.overload(_part, jit_options={"nogil": True})
def _part_overload(marker, array, index):
    if isinstance(marker, numba.types.NoneType):
        return lambda marker, array, index: None
    return lambda marker, array, index: array[index]


@kernel(cost=0.5, fastmath={"contract"})
def _diag_kernel(ar, ai, br, bi, cmag, ur, ui, xr0, xi0, yr, yi, groups, scratch):  # pragma: no cover - compiled
    """Every step of every block: ``STEPS`` per pass over the modes (:func:`~._modal.modal_steps`), the last
    ``L mod STEPS`` one at a time.

    ``cmag`` (the output weights, ``None`` for unit weights), ``ui`` (the imaginary input, ``None`` for real input)
    and ``yi`` (the imaginary output, ``None`` when only the real part is wanted) are compiled away when ``None``.
    ``scratch`` ``(threads, planes, _CHUNK, block)``: each thread's staging buffers, real input and output, then
    (four planes, when ``ui`` or ``yi`` is used) imaginary input and output.
    """
    nblocks, block = ar.shape[0], ar.shape[2]
    channels, length = ur.shape
    per_block = block // groups  # channels per block; lane g * per_block + j holds mode group g of channel j
    for blk in numba.prange(nblocks):
        h0 = blk * per_block
        nb = min(per_block, channels - h0)
        a_r, a_i, b_r, b_i, xr, xi = ar[blk], ai[blk], br[blk], bi[blk], xr0[blk], xi0[blk]
        w = _part(cmag, cmag, blk)
        buffers = scratch[numba.get_thread_id()]
        u_r, o_r, u_i, o_i = buffers[0], buffers[1], _part(ui, buffers, 2), _part(yi, buffers, 3)
        if nb < per_block:  # padding lanes, never staged in this block: zeroed once (the buffers are reused)
            for s in range(_CHUNK):
                for j in range(block):
                    u_r[s, j] = 0
            if ui is not None:
                for s in range(_CHUNK):
                    for j in range(block):
                        u_i[s, j] = 0
        for t0 in range(0, length, _CHUNK):
            steps = min(_CHUNK, length - t0)
            transpose_spread(ur, h0, t0, u_r, 0, 0, nb, steps, groups, per_block)  # once per mode group
            if ui is not None:
                transpose_spread(ui, h0, t0, u_i, 0, 0, nb, steps, groups, per_block)
            whole = steps - steps % STEPS
            for first in range(0, whole, STEPS):
                modal_steps(a_r, a_i, b_r, b_i, w, xr, xi, u_r, u_i, o_r, o_i, first)
            for first in range(whole, steps):
                modal_step(a_r, a_i, b_r, b_i, w, xr, xi, u_r, u_i, o_r, o_i, first)
            transpose_summed(o_r, 0, 0, yr, h0, t0, steps, nb, groups, per_block)
            if yi is not None:
                transpose_summed(o_i, 0, 0, yi, h0, t0, steps, nb, groups, per_block)


def _layout(channels: int, nmodes: int, parallel: bool, smallest: int) -> tuple[int, int]:
    """``(block, groups)``: SIMD lanes per block, and the mode groups each channel is split into.

    Many channels: blocks of ``_BLOCK`` channels, one group. Fewer channels: blocks shrink, by halves
    while some thread would get none (down to ``smallest`` lanes, one vector of the machine), and to the
    channels' own lanes rounded up to a multiple of ``smallest``. Still too few channels (some thread without
    a block, or a block mostly padding): each channel's modes are split into ``groups`` groups of consecutive
    modes, each on its own lane of the same block, and the block sums its lanes' outputs per channel at
    write-back. The output is linear in the modes, so nothing else changes, and no
    thread ever writes another thread's channels.

    A block is as good as the lanes it fills: the pass (:func:`~._modal.modal_steps`) costs the same per
    vector of lanes and mode, however the lanes are grouped, so splitting a channel's modes buys only full
    vectors and costs the grouped staging. Measured at H = 16, N/2 = 32, L = 65536 (complex128, minima of 15
    interleaved runs, one thread): 64 lanes as four groups of 16 channels 9.9 ms, 32 as two 9.2 ms, 16 channels
    unsplit 8.9 ms; two threads (``asv_bench/perf19.py blocks``): two blocks of 8 channels 4.8 ms, of 8 × 2
    groups 5.0 ms, of 8 × 4 groups 5.6 ms. (The numba loop the pass replaced paid an aliasing check per pass and
    lost to it below 32 lanes, the smallest block then.)
    """
    threads = numba.get_num_threads() if parallel else 1
    block = _BLOCK
    while block > smallest and -(-channels // block) < threads:
        block //= 2
    block = min(block, -(-channels // smallest) * smallest)  # no more lanes than the channels fill
    groups = 1
    while (
        block % (2 * groups) == 0
        and nmodes >= 2 * groups * _MIN_GROUP_MODES
        and (-(-channels * groups // block) < threads or channels * groups < block)
    ):
        groups *= 2
    return block, groups


def _blocked(m, shape, dtype, block, groups=1):
    """``m`` broadcast to ``batch + (N2,)`` as ``(blocks, N2/groups, block)``, zero-padded.

    Lane ``g·(block/groups) + j`` of block ``k`` holds modes ``g·P … g·P + P − 1`` (``P = ⌈N2/groups⌉``) of
    channel ``k·(block/groups) + j``; padding lanes and modes are zero (they stay zero and add nothing).
    """
    channels, nmodes = math.prod(shape[:-1]), shape[-1]
    per_group, per_block = -(-nmodes // groups), block // groups
    nblocks = -(-channels // per_block)
    out = np.zeros((nblocks * per_block, groups * per_group), dtype)
    rows = m if np.shape(m) == shape else np.broadcast_to(m, shape)  # no broadcast view when nothing to do
    out[:channels, :nmodes] = rows.reshape(channels, nmodes)
    out = out.reshape(nblocks, per_block, groups, per_group).transpose(0, 3, 2, 1)
    return np.ascontiguousarray(out.reshape(nblocks, per_group, block))


def _unblocked(x, shape, groups=1):
    """Inverse of :func:`_blocked`."""
    channels, nmodes = math.prod(shape[:-1]), shape[-1]
    nblocks, per_group, block = x.shape
    per_block = block // groups
    x = x.reshape(nblocks, per_group, groups, per_block).transpose(0, 3, 2, 1)
    return x.reshape(nblocks * per_block, groups * per_group)[:channels, :nmodes].reshape(shape)


def _output_basis(c, unit: bool, scale: float):
    """``(s, w)``: the kernel runs in the basis ``x' = s·x`` with real output weights ``w`` (``scale · C x = w x'``).

    ``unit=False``, every ``c`` finite and of moderate size (``0`` or within ``2^±(emax/4)``): ``s = scale·c`` and
    ``w = None``, unit weights, so an output term is one addition (measured 10–25% faster at H = 16,
    L = 65536); the state cannot be read back where ``c = 0``, so this basis is for calls that do not
    return it. Otherwise ``s = c/|c|`` (``1`` where ``c`` is 0 or not finite) and ``w = scale·|c|``: ``|s| = 1``
    keeps ``x'`` on the scale of ``x`` (nothing can under- or overflow), and the state returns as ``s̄ x'``.
    Either way ``x'_k = a x'_{k−1} + (s b) u_k`` and an output term costs no complex product. ``scale`` (1,
    or 2 for a conjugate-pair system's ``2 Re(C x)``) is a power of two: carried by the basis or the weights it
    scales every term exactly (results in the subnormal range aside), and the kernels need no multiply per
    output.
    """
    magnitude = np.abs(c)
    if not unit:
        emax = np.finfo(magnitude.dtype).maxexp // 4
        moderate = (magnitude == 0) | ((magnitude >= 2.0**-emax) & (magnitude <= 2.0**emax))
        if moderate.all():
            return scale * c, None
    unusable = ~(magnitude > 0) | np.isinf(magnitude)  # 0, NaN or inf
    with np.errstate(divide="ignore", invalid="ignore"):
        rotation = c / magnitude
    rotation[unusable] = 1
    return rotation, scale * magnitude


def diag(Ab, Bb, C, u, x0, batch, conj, want_state=True):
    """Fused diagonal recurrence for validated NumPy operands; returns ``(y, final_state)``.

    ``want_state=False`` returns ``(y, None)``, sparing the state's rotation back and unblocking.
    """
    nmodes, length = Ab.shape[-1], u.shape[-1]
    common = np.result_type(Ab, Bb, C, u, *(() if x0 is None else (x0,)))
    cdtype = np.result_type(common, np.complex64)
    real = np.empty(0, cdtype).real.dtype
    mode_shape = batch + (nmodes,)
    channels = math.prod(batch)
    work = channels * length * nmodes
    full = batch + (length,)
    uf = (u if u.shape == full else np.broadcast_to(u, full)).reshape(channels, length)
    system_real = common.kind != "c"
    want_imag = not conj and not system_real
    block, groups = _layout(channels, nmodes, _diag_kernel.runs_parallel(work), vector_lanes(real))
    a, b, c = (_blocked(m, mode_shape, cdtype, block, groups) for m in (Ab, Bb, C))
    scale = 2.0 if conj and not system_real else 1.0  # the output is 2 Re(C x) for conjugate pairs
    rotation, cmag = _output_basis(c, unit=want_state, scale=scale)
    if x0 is None:
        xr, xi = np.zeros(a.shape, real), np.zeros(a.shape, real)
    else:
        xc = rotation * _blocked(x0, mode_shape, cdtype, block, groups)
        xr, xi = np.ascontiguousarray(xc.real), np.ascontiguousarray(xc.imag)  # fresh copies: the kernel writes back
    ur = np.ascontiguousarray(uf.real, dtype=real)
    ui = np.ascontiguousarray(uf.imag, dtype=real) if uf.dtype.kind == "c" else None
    yr = np.empty(ur.shape, real)
    yi = np.empty(ur.shape, real) if want_imag else None
    if yr.size and nmodes:
        parts = [np.ascontiguousarray(p) for m in (a, rotation * b) for p in (m.real, m.imag)]
        scratch = per_thread((2 if ui is None and yi is None else 4, _CHUNK, block), real)
        _diag_kernel(*parts, cmag, ur, ui, xr, xi, yr, yi, groups, scratch, work=work, tasks=a.shape[0])
    elif yr.size:
        yr[...] = 0
        if yi is not None:
            yi[...] = 0
    y = yr + 1j * yi if want_imag else yr
    if not want_state:
        return y.reshape(batch + (length,)), None
    state = (xr + 1j * xi) * rotation.conj()  # back from the rotated basis
    state = state.real if system_real else state.astype(cdtype, copy=False)
    return y.reshape(batch + (length,)), np.ascontiguousarray(_unblocked(state, mode_shape, groups))
