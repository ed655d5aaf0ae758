"""Numba backward of :func:`statespace.selective_scan`: recompute, reverse scan and cotangents fused.

Memory is bounded the way Mamba's backward bounds it: a first forward pass per
channel keeps only the state before every ``chunk``-th step; the reverse pass
then walks the chunks from the last, recomputes each chunk's states and gates
from its stored state (``(chunk + 1) × N`` values), and runs the adjoint
recurrence ``λ_t = c·ȳ_t·conj(C_t) + conj(α_{t+1}) λ_{t+1}`` backwards through
it, writing ``ū``, ``δ̄``, ``z̄`` per step and accumulating ``Ā``, ``D̄``,
``bias̄`` per channel. Nothing of size ``batch × D × N × L`` is formed.

Variable B and C are shared by the channels of a group, so their cotangents are
sums over channels. Each ``prange`` item owns a block of channels inside one
B group and one C group and accumulates into its own slice of a
``(batch, blocks, L, N)`` float64 buffer (no two threads write one element);
the wrapper then sums the blocks of each group. A time-invariant B/C (per
channel) accumulates into ``(batch, D, 1, N)``.

Real ``A`` with variable B and C (Mamba's case) runs :func:`_lanes_vjp_kernel`,
laid out like the forward's channels-innermost kernel: a block of up to 64
channels inside one B group and one C group forms the SIMD lanes, gates are
evaluated with the vectorisable :func:`._vecmath.vexp`, inputs are staged a
chunk at a time into ``(time, channel)`` buffers, and the sums over the block's
channels for B̄ and C̄ are vectorised reductions (:func:`_lane_sum`, the one
place that reassociates). Other layouts and complex ``A`` run
:func:`_vjp_kernel` (one kernel for real and complex: Numba compiles one
specialisation per dtype; ``c = 2`` with complex ``A``, whose output is ``2·Re``),
channel by channel.
"""

from __future__ import annotations

import math

import numpy as np

from . import copy_into, helper, kernel, numba
from ._vecmath import log2e_split, vexp, vexp_product, vsoftplus
from .selective import lane_block, layout

__all__ = ["selective_scan_vjp"]


@kernel(cost=6.0, fastmath={"contract"})  # two forward passes + the adjoint: ~3 forward updates
def _vjp_kernel(
    u, delta, bias, softplus, A, B, C, Dskip, z, x0, gout, gs, cf, chunk, block,
    gu, gdelta, gz, gA, gB, gC, gD, gbias, gx0,
):  # pragma: no cover - compiled  # fmt: skip
    batch, dim, length = u.shape
    nstate = A.shape[1]
    b_per, c_per = dim // B.shape[1], dim // C.shape[1]
    b_var, c_var = B.shape[2] > 1, C.shape[2] > 1
    gated = z.shape[0] > 0
    nblk = dim // block
    nck = (length + chunk - 1) // chunk
    for item in numba.prange(batch * nblk):
        b, blk = item // nblk, item % nblk
        bb, cb = (b if B.shape[0] > 1 else 0), (b if C.shape[0] > 1 else 0)
        ck = np.empty((nck, nstate), x0.dtype)
        xs = np.empty((chunk + 1, nstate), x0.dtype)
        al = np.empty((chunk, nstate), x0.dtype)
        dts = np.empty(chunk, u.dtype)
        vs = np.empty(chunk, u.dtype)
        lam = np.empty(nstate, x0.dtype)
        for d in range(blk * block, (blk + 1) * block):
            bg, cg = d // b_per, d // c_per
            kb, kc = (blk if b_var else d), (blk if c_var else d)
            x = x0[b, d].copy()
            for t in range((nck - 1) * chunk):  # forward: keep the state before each chunk (the last needs none after)
                if t % chunk == 0:
                    copy_into(ck[t // chunk], x)
                v = delta[b, d, t] + bias[d]
                dt = v
                if softplus:
                    dt = vsoftplus(v, vexp(-abs(v)))
                du = dt * u[b, d, t]
                tb = t if b_var else 0
                for n in range(nstate):
                    x[n] = np.exp(dt * A[d, n]) * x[n] + du * B[bb, bg, tb, n]
            copy_into(ck[nck - 1], x)
            copy_into(lam, gs[b, d])
            acc_D = 0.0
            acc_bias = 0.0
            for c in range(nck - 1, -1, -1):
                t0 = c * chunk
                steps = min(chunk, length - t0)
                copy_into(xs[0], ck[c])
                for s in range(steps):  # recompute the chunk's gates and states
                    t = t0 + s
                    v = delta[b, d, t] + bias[d]
                    dt = v
                    if softplus:
                        dt = vsoftplus(v, vexp(-abs(v)))
                    vs[s], dts[s] = v, dt
                    du = dt * u[b, d, t]
                    tb = t if b_var else 0
                    for n in range(nstate):
                        a_ = np.exp(dt * A[d, n])
                        al[s, n] = a_
                        xs[s + 1, n] = a_ * xs[s, n] + du * B[bb, bg, tb, n]
                for s in range(steps - 1, -1, -1):
                    t = t0 + s
                    tb, tc = (t if b_var else 0), (t if c_var else 0)
                    dt, ut = dts[s], u[b, d, t]
                    du = dt * ut
                    go = gout[b, d, t]
                    if gated:
                        acc = 0.0
                        for n in range(nstate):
                            acc += (C[cb, cg, tc, n] * xs[s + 1, n]).real
                        yv = cf * acc + Dskip[d] * ut
                        zt = z[b, d, t]
                        sig = 1 / (1 + math.exp(-zt))
                        gz[b, d, t] = go * yv * sig * (1 + zt * (1 - sig))
                        gy = go * zt * sig
                    else:
                        gy = go
                    acc_D += gy * ut
                    gdu = 0.0
                    gdt = 0.0
                    for n in range(nstate):
                        ln = lam[n] + cf * gy * C[cb, cg, tc, n].conjugate()
                        gC[b, kc, tc, n] += cf * gy * xs[s + 1, n].conjugate()
                        gB[b, kb, tb, n] += ln * du
                        gdu += (ln * B[bb, bg, tb, n].conjugate()).real
                        ga = ln * (al[s, n] * xs[s, n]).conjugate()  # cotangent of Δ·A
                        gA[b, d, n] += ga * dt
                        gdt += (ga * A[d, n].conjugate()).real
                        lam[n] = al[s, n].conjugate() * ln
                    gdt += ut * gdu
                    gu[b, d, t] = gy * Dskip[d] + dt * gdu
                    v = vs[s]
                    if softplus and v <= 20:
                        gdt = gdt / (1 + math.exp(-v))
                    gdelta[b, d, t] = gdt
                    acc_bias += gdt
            copy_into(gx0[b, d], lam)
            gD[b, d] = acc_D
            gbias[b, d] = acc_bias


@helper(fastmath={"reassoc", "contract"})
def _lane_sum(v):  # pragma: no cover - compiled
    """Sum over the lanes of a block (reassociated so that it vectorises)."""
    total = v[0] * 0
    for j in range(v.shape[0]):
        total += v[j]
    return total


@kernel(cost=6.0, fastmath={"contract"}, error_model="numpy")
def _lanes_vjp_kernel(
    u, delta, bias, softplus, threshold, At, At_high, At_low, B, C, Dskip, z, xt, gout, gst, chunk, block,
    gu, gdelta, gz, gAt, gB, gC, gD, gbias, gxt,
):  # pragma: no cover - compiled  # fmt: skip
    """Real A, variable B and C: channels innermost, one ``prange`` item per (batch, channel block).

    ``threshold`` is softplus's (20) in the data's dtype, so that the comparison stays in float32 lanes;
    ``At_high + At_low`` is ``Aᵀ log2 e`` (:func:`~._vecmath.log2e_split`): the gates are the forward's,
    :func:`~._vecmath.vexp_product`.
    """
    batch, dim, length = u.shape
    nstate = At.shape[0]
    b_per, c_per = dim // B.shape[1], dim // C.shape[1]
    gated = z.shape[0] > 0
    nblk = dim // block
    nck = (length + chunk - 1) // chunk
    for item in numba.prange(batch * nblk):
        b, blk = item // nblk, item % nblk
        d0 = blk * block
        bb, bg = (b if B.shape[0] > 1 else 0), d0 // b_per
        cb, cg = (b if C.shape[0] > 1 else 0), d0 // c_per
        a = At[:, d0 : d0 + block].copy()
        a_high, a_low = At_high[:, d0 : d0 + block].copy(), At_low[:, d0 : d0 + block].copy()
        x = xt[b, :, d0 : d0 + block].copy()
        ck = np.empty((nck, nstate, block), u.dtype)
        xs = np.empty((chunk + 1, nstate, block), u.dtype)
        al = np.empty((chunk, nstate, block), u.dtype)
        dts, us, vs = (
            np.empty((chunk, block), u.dtype),
            np.empty((chunk, block), u.dtype),
            np.empty((chunk, block), u.dtype),
        )
        zs, gos = np.empty((chunk, block), u.dtype), np.empty((chunk, block), u.dtype)
        gus, gds, gzs = (
            np.empty((chunk, block), u.dtype),
            np.empty((chunk, block), u.dtype),
            np.empty((chunk, block), u.dtype),
        )
        du, gy, gdu, gdt = (
            np.empty(block, u.dtype),
            np.empty(block, u.dtype),
            np.empty(block, u.dtype),
            np.empty(block, u.dtype),
        )
        yv, tB, tC = np.empty(block, u.dtype), np.empty(block, u.dtype), np.empty(block, u.dtype)
        gA = np.zeros((nstate, block))
        accD, accbias = np.zeros(block), np.zeros(block)
        for c in range(nck):  # forward: keep the state before each chunk (nothing to run after the last one's)
            t0 = c * chunk
            steps = min(chunk, length - t0)
            copy_into(ck[c], x)
            if c == nck - 1:
                break
            for j in range(block):
                for s in range(steps):
                    dts[s, j] = delta[b, d0 + j, t0 + s] + bias[d0 + j]
                    us[s, j] = u[b, d0 + j, t0 + s]
            if softplus:
                for s in range(steps):
                    for j in range(block):
                        dts[s, j] = vsoftplus(dts[s, j], vexp(-abs(dts[s, j])))
            for s in range(steps):
                t = t0 + s
                for j in range(block):
                    du[j] = dts[s, j] * us[s, j]
                for n in range(nstate):
                    bv = B[bb, bg, t, n]
                    for j in range(block):
                        x[n, j] = vexp_product(dts[s, j], a_high[n, j], a_low[n, j]) * x[n, j] + du[j] * bv
        lam = gst[b, :, d0 : d0 + block].copy()
        for c in range(nck - 1, -1, -1):
            t0 = c * chunk
            steps = min(chunk, length - t0)
            for j in range(block):
                for s in range(steps):
                    vs[s, j] = delta[b, d0 + j, t0 + s] + bias[d0 + j]
                    us[s, j] = u[b, d0 + j, t0 + s]
                    gos[s, j] = gout[b, d0 + j, t0 + s]
            if gated:
                for j in range(block):
                    for s in range(steps):
                        zs[s, j] = z[b, d0 + j, t0 + s]
            for s in range(steps):
                for j in range(block):
                    v = vs[s, j]
                    dts[s, j] = vsoftplus(v, vexp(-abs(v))) if softplus else v
            copy_into(xs[0], ck[c])
            for s in range(steps):  # recompute the chunk's gates and states
                t = t0 + s
                for j in range(block):
                    du[j] = dts[s, j] * us[s, j]
                for n in range(nstate):
                    bv = B[bb, bg, t, n]
                    for j in range(block):
                        g_ = vexp_product(dts[s, j], a_high[n, j], a_low[n, j])
                        al[s, n, j] = g_
                        xs[s + 1, n, j] = g_ * xs[s, n, j] + du[j] * bv
            for s in range(steps - 1, -1, -1):
                t = t0 + s
                dt, ut = dts[s], us[s]
                for j in range(block):
                    du[j] = dt[j] * ut[j]
                    gdu[j] = 0
                    gdt[j] = 0
                if gated:
                    for j in range(block):
                        yv[j] = Dskip[d0 + j] * ut[j]
                    for n in range(nstate):
                        cv = C[cb, cg, t, n]
                        for j in range(block):
                            yv[j] += cv * xs[s + 1, n, j]
                    for j in range(block):
                        zt = zs[s, j]
                        sig = 1 / (1 + vexp(-zt))
                        gzs[s, j] = gos[s, j] * yv[j] * sig * (1 + zt * (1 - sig))
                        gy[j] = gos[s, j] * zt * sig
                else:
                    for j in range(block):
                        gy[j] = gos[s, j]
                for j in range(block):
                    accD[j] += gy[j] * ut[j]
                for n in range(nstate):
                    bv, cv = B[bb, bg, t, n], C[cb, cg, t, n]
                    for j in range(block):
                        ln = lam[n, j] + gy[j] * cv
                        tC[j] = gy[j] * xs[s + 1, n, j]
                        tB[j] = ln * du[j]
                        gdu[j] += ln * bv
                        ga = ln * al[s, n, j] * xs[s, n, j]
                        gA[n, j] += ga * dt[j]
                        gdt[j] += ga * a[n, j]
                        lam[n, j] = al[s, n, j] * ln
                    gB[b, blk, t, n] = _lane_sum(tB)
                    gC[b, blk, t, n] = _lane_sum(tC)
                for j in range(block):
                    total = gdt[j] + ut[j] * gdu[j]
                    gus[s, j] = gy[j] * Dskip[d0 + j] + dt[j] * gdu[j]
                    v = vs[s, j]
                    if softplus and v <= threshold:
                        total = total / (1 + vexp(-v))
                    gds[s, j] = total
                    accbias[j] += total
            for j in range(block):
                for s in range(steps):
                    gu[b, d0 + j, t0 + s] = gus[s, j]
                    gdelta[b, d0 + j, t0 + s] = gds[s, j]
            if gated:
                for j in range(block):
                    for s in range(steps):
                        gz[b, d0 + j, t0 + s] = gzs[s, j]
        copy_into(gxt[b, :, d0 : d0 + block], lam)
        copy_into(gAt[b, :, d0 : d0 + block], gA)  # a loop: a slice assignment compiles ~4 s of error formatting
        for j in range(block):
            gD[b, d0 + j] = accD[j]
            gbias[b, d0 + j] = accbias[j]


def _block(dim, B, C, target=16):
    """Channels per ``prange`` item: inside one group of every variable weight, ≥ ``target`` items if possible."""
    block = dim
    for w in (B, C):
        if w.variable:
            block = math.gcd(block, dim // w.groups)
    while block > 1 and dim // block < target:
        p = next(k for k in range(2, block + 1) if block % k == 0)
        block //= p
    return block


def _accumulator(w, batch, dim, nblk, length, nstate, acc):
    """Cotangent buffer of a weight: ``(batch, blocks, L, N)`` variable, ``(batch, D, 1, N)`` invariant."""
    return np.zeros((batch, nblk if w.variable else dim, length if w.variable else 1, nstate), acc)


def _grouped(g, w, dim, block):
    """Sum the block buffers of each group: → ``(batch, G, N, L)`` variable or ``(D, N)`` invariant."""
    if not w.variable:
        return g[:, :, 0, :].sum(axis=0)
    batch, _, length, nstate = g.shape
    per = (dim // w.groups) // block
    return np.swapaxes(g.reshape(batch, w.groups, per, length, nstate).sum(axis=2), -1, -2)


def selective_scan_vjp(u, delta, A, B, C, D, z, bias, use_softplus, x0, gout, gs, chunk):
    """Cotangents for validated NumPy operands (see :func:`statespace.vjp.selective_scan`)."""
    batch, dim, length = u.shape
    nstate = A.shape[1]
    real = u.dtype
    acc = np.complex128 if np.iscomplexobj(A) else np.float64
    cf = 2 if np.iscomplexobj(A) else 1
    lanes = 0 if np.iscomplexobj(A) else lane_block(dim, B, C)
    block = lanes or _block(dim, B, C)
    nblk = dim // block
    work = batch * dim * length * nstate
    Bl = layout(B, real)
    Cl = layout(C, real)
    gu, gdelta = np.zeros((batch, dim, length), real), np.zeros((batch, dim, length), real)
    gz = np.zeros((batch, dim, length) if z is not None else (0, 0, 0), real)
    gA, gx0 = np.zeros((batch, dim, nstate), acc), np.empty((batch, dim, nstate), A.dtype)
    gD, gbias = np.zeros((batch, dim)), np.zeros((batch, dim))
    gB = _accumulator(B, batch, dim, nblk, length, nstate, acc)
    gC = _accumulator(C, batch, dim, nblk, length, nstate, acc)
    if length and nstate and lanes:
        gAt, gxt = np.zeros((batch, nstate, dim)), np.empty((batch, nstate, dim), real)
        At = np.ascontiguousarray(A.T)
        _lanes_vjp_kernel(
            u, delta, np.zeros(dim, real) if bias is None else bias, use_softplus, real.type(20),
            At, *log2e_split(At), Bl, Cl,
            np.zeros(dim, real) if D is None else D, np.zeros((0, 0, 0), real) if z is None else z,
            np.array(np.swapaxes(x0, 1, 2), order="C"), np.ascontiguousarray(gout),
            np.array(np.swapaxes(gs, 1, 2), order="C"), max(1, min(int(chunk), length)), block,
            gu, gdelta, gz, gAt, gB, gC, gD, gbias, gxt, work=work, tasks=batch * nblk,
        )  # fmt: skip
        gA, gx0 = np.swapaxes(gAt, 1, 2), np.swapaxes(gxt, 1, 2)
    elif length and nstate:
        _vjp_kernel(
            u, delta, np.zeros(dim, real) if bias is None else bias, use_softplus, A, Bl, Cl,
            np.zeros(dim, real) if D is None else D, np.zeros((0, 0, 0), real) if z is None else z,
            np.ascontiguousarray(x0), np.ascontiguousarray(gout), np.ascontiguousarray(gs), cf,
            max(1, min(int(chunk), length)), block, gu, gdelta, gz, gA, gB, gC, gD, gbias, gx0, work=work,
            tasks=batch * nblk,
        )  # fmt: skip
    else:
        gx0[...] = gs
        _skip_only(u, D, z, gout, gu, gz, gD)
    return dict(
        u=gu, delta=gdelta, A=gA.sum(axis=0), B=_grouped(gB, B, dim, block), C=_grouped(gC, C, dim, block),
        D=None if D is None else gD.sum(axis=0), z=None if z is None else gz,
        bias=None if bias is None else gbias.sum(axis=0), x0=gx0,
    )  # fmt: skip


def _skip_only(u, D, z, gout, gu, gz, gD):
    """``L = 0`` or ``N = 0``: the output is ``D·u·SiLU(z)``."""
    y = np.zeros_like(u) if D is None else D[:, None] * u
    gy = gout
    if z is not None:
        sig = 1 / (1 + np.exp(-z))
        gz[...] = gout * y * sig * (1 + z * (1 - sig))
        gy = gout * z * sig
    if D is not None:
        gu[...] = gy * D[:, None]
        gD[...] = (gy * u).sum(axis=2)
