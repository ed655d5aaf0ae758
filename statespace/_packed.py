r"""Packed variable-length sequences: several sequences back to back on one time axis.

Two markings, as in Mamba-2 and FlashAttention:

``seq_idx``
    an integer per position naming its sequence (``(..., L)``, broadcasting against the
    data): a new sequence starts wherever the value changes. The state restarts from
    zero there; ``x0`` is the state before position 0 (the first sequence's).
``cu_seqlens``
    cumulative lengths ``[0, L_0, L_0 + L_1, ..., L]`` (``S + 1`` integers, empty
    sequences allowed), one packing for every row. Each sequence may start from its own
    initial state (``x0`` of shape ``(S, *state)``), and ``return_state=True`` returns
    each sequence's final state ``(S, *state)`` (its ``x0``, or zero, when it is empty).

For the linear recurrence the restart is a change of gates, exact and engine-free: at a
sequence start :math:`t`, :math:`x_t = a_t x^{(s)}_{-1} + b_t` is the step
:math:`(a_t, b_t) \to (0,\; b_t + a_t x^{(s)}_{-1})`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from ._backend import device_of

__all__: list[str] = []


@dataclass(frozen=True)
class Packing:
    """Where sequences start on a time axis of length ``L``.

    ``restart`` is a boolean ``(..., L)`` array, true where the state restarts (never at
    position 0 for ``seq_idx``, where ``x0`` applies; at every non-empty sequence's first
    position for ``cu_seqlens``). ``bounds`` are the cumulative lengths (``cu_seqlens``
    only) and ``owner`` the sequence of each position ``(L,)`` (``cu_seqlens`` only).
    """

    restart: Any
    bounds: tuple | None = None
    owner: Any = None

    @property
    def count(self) -> int:
        assert self.bounds is not None, "count is defined for cu_seqlens packings only"
        return len(self.bounds) - 1


def packing(xp, seq_idx, cu_seqlens, length: int, device) -> Packing | None:
    """Validate ``seq_idx`` / ``cu_seqlens`` for a time axis of ``length``; ``None`` when neither is given."""
    if seq_idx is not None and cu_seqlens is not None:
        raise ValueError("pass either seq_idx or cu_seqlens, not both")
    if seq_idx is not None:
        if not hasattr(seq_idx, "dtype") or not xp.isdtype(seq_idx.dtype, "integral"):
            raise TypeError(f"seq_idx must be an integer array (..., L), got {getattr(seq_idx, 'dtype', seq_idx)!r}")
        if seq_idx.ndim < 1 or seq_idx.shape[-1] != length:
            raise ValueError(f"seq_idx must have the time length L = {length} on its last axis, got {seq_idx.shape}")
        change = seq_idx[..., 1:] != seq_idx[..., :-1]
        first = xp.zeros(tuple(seq_idx.shape[:-1]) + (min(length, 1),), dtype=xp.bool, device=device_of(seq_idx))
        return Packing(xp.concat([first, change], axis=-1))
    if cu_seqlens is None:
        return None
    bounds = tuple(int(v) for v in cu_seqlens)
    if len(bounds) < 2 or bounds[0] != 0 or bounds[-1] != length:
        raise ValueError(f"cu_seqlens must run from 0 to the time length L = {length} (S + 1 values), got {bounds}")
    if any(b1 < b0 for b0, b1 in itertools.pairwise(bounds)):
        raise ValueError(f"cu_seqlens must be nondecreasing (sequence lengths >= 0), got {bounds}")
    t = xp.arange(length, device=device)
    ends = xp.asarray(bounds[1:], dtype=t.dtype, device=device)
    owner = xp.searchsorted(ends, t, side="right")  # the sequence of each position
    starts = xp.take(xp.asarray(bounds[:-1], dtype=t.dtype, device=device), owner)
    return Packing(t == starts, bounds, owner)


def check_initial(x0, pack: Packing | None, state_shape: tuple, name: str = "x0"):
    """``x0``'s shape: per sequence ``(S, *state)`` with ``cu_seqlens``, the state shape otherwise."""
    if x0 is None or pack is None or pack.bounds is None:
        return
    want = (pack.count, *state_shape)
    if tuple(x0.shape) != want:
        raise ValueError(f"with cu_seqlens, {name} holds one initial state per sequence: shape {want}, got {x0.shape}")


def restart_gates(xp, a, b, pack: Packing, x0):
    """Gates and inputs with the restarts folded in (time last): ``a → 0`` and ``b → b + a·x0_s`` at starts.

    ``x0`` is per sequence ``(S, *state)`` (``cu_seqlens``) or ``None`` (restart from zero).
    """
    zero = xp.zeros((), dtype=a.dtype, device=device_of(a))
    gates = xp.where(pack.restart, zero, a)
    if x0 is None:
        return gates, b
    initial = xp.moveaxis(xp.take(x0, pack.owner, axis=0), 0, -1)  # (*state, L): the owner's x0 at every step
    return gates, b + xp.where(pack.restart, a * initial, zero)


def final_states(xp, x, pack: Packing, x0):
    """Each sequence's final state ``(S, *state)`` from the states ``x (*state, L)`` (``cu_seqlens``)."""
    bounds = pack.bounds
    assert bounds is not None, "final states per sequence come with cu_seqlens"
    ends = xp.asarray([max(e - 1, 0) for e in bounds[1:]], device=device_of(x))
    empty = xp.asarray([e == s for s, e in itertools.pairwise(bounds)], device=device_of(x))
    if x.shape[-1]:
        last = xp.moveaxis(xp.take(x, ends, axis=-1), -1, 0)
    else:
        last = xp.zeros((pack.count, *x.shape[:-1]), dtype=x.dtype, device=device_of(x))
    start = xp.zeros_like(last) if x0 is None else xp.broadcast_to(xp.asarray(x0, dtype=x.dtype), last.shape)
    return xp.where(xp.reshape(empty, (-1,) + (1,) * (last.ndim - 1)), start, last)


def packed_run(run, u, x0, seq_idx, cu_seqlens, return_state):
    """Run ``run(u_part, x_start) -> (y_part, x_end)`` over packed sequences, one call per boundary.

    ``cu_seqlens``: one call per sequence from its own ``x0[s]``; the final states are stacked
    ``(S, *state)``. ``seq_idx``: the time axis is cut wherever any row restarts, the state
    carried across the cuts and zeroed in the rows that restart there.
    """
    from ._backend import namespace

    xp = namespace(u, x0, seq_idx)
    length = u.shape[-1]
    pack = packing(xp, seq_idx, cu_seqlens, length, device_of(u))
    outs, lasts = [], []
    if pack.bounds is not None:
        if x0 is not None and x0.shape[0] != pack.count:
            raise ValueError(f"with cu_seqlens, x0 holds one initial state per sequence: {pack.count} on its "
                             f"first axis, got shape {tuple(x0.shape)}")  # fmt: skip
        for s, (t0, t1) in enumerate(itertools.pairwise(pack.bounds)):
            y, x = run(u[..., t0:t1], None if x0 is None else x0[s, ...])
            outs.append(y)
            lasts.append(x)
        y = xp.concat(outs, axis=-1)
        return (y, xp.stack(lasts, axis=0)) if return_state else y
    restart = pack.restart
    anywhere = xp.any(xp.reshape(restart, (-1, length)), axis=0) if length else restart[..., :0]
    edges = [0, *(int(t) for t in xp.nonzero(anywhere)[0]), length]
    x = x0
    for t0, t1 in itertools.pairwise(edges):
        if t0 > 0:
            rows = restart[..., t0]
            x = xp.where(rows[..., None], xp.zeros((), dtype=x.dtype, device=device_of(x)), x)
        y, x = run(u[..., t0:t1], x)
        outs.append(y)
    y = xp.concat(outs, axis=-1)
    return (y, x) if return_state else y
