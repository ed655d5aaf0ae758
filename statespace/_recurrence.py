"""The recurrent view: run a discrete LTI system over a sequence, or one step at a time.

Three structures share one signature, told apart by shapes (see :func:`recurrence`):

``"dense"``
    ``Ab (..., N, N)``, ``Bb (..., N)`` (one input) or ``(..., N, M)`` (M inputs),
    ``C (..., N)`` (one output) or ``(..., P, N)`` (P outputs).
``"diag"``
    Diagonal / modal: ``Ab``, ``Bb``, ``C`` all ``(..., N2)``; with ``conj=True`` each
    stored mode stands for itself and its conjugate and the output is ``2·Re``.
``"dplr"``
    A discrete DPLR record (``statespace.discretize_dplr``), recognised by its
    ``.transition(x)`` method and ``.Bb`` attribute: each step costs O(N·r).
"""

from __future__ import annotations

from ._backend import (
    asarray,
    complex_dtype,
    device_of,
    float_dtype,
    is_complex,
    namespace,
    quiet_floating_point,
    real_dtype,
)
from ._dispatch import capabilities
from ._engines import engine_module, resolve_engine
from ._packed import packed_run
from ._scan import linear_scan
from ._validation import broadcast_shapes, broadcasts_to, check_choice, check_flag

__all__ = ["recurrence", "step"]

STRUCTURES = ("dense", "diag", "dplr")
#: Elements of one ``(..., N2, chunk)`` state block in the xp diagonal engine (bounds its memory).
_XP_CHUNK_ELEMENTS = 1 << 21


def _is_dplr_record(Ab) -> bool:
    return callable(getattr(Ab, "transition", None)) and hasattr(Ab, "Bb")


def _dense_fits(Ab, Bb, C) -> bool:
    if Ab.ndim < 2 or Ab.shape[-1] != Ab.shape[-2]:
        return False
    n = Ab.shape[-1]
    b_ok = (Bb.ndim == Ab.ndim - 1 and Bb.shape[-1] == n) or (Bb.ndim == Ab.ndim and Bb.shape[-2] == n)
    c_ok = C.ndim in (Ab.ndim - 1, Ab.ndim) and C.shape[-1] == n
    return b_ok and c_ok


def _diag_fits(Ab, Bb, C) -> bool:
    return min(Ab.ndim, Bb.ndim, C.ndim) >= 1 and Ab.shape[-1] == Bb.shape[-1] == C.shape[-1]


def system_structure(Ab, Bb, C, structure, names=("Ab", "Bb", "C")) -> str:
    """The system's structure: the record test, then the shape rules of the module docstring.

    Shared with :func:`statespace.irregular_response`; ``names`` are the operands' names in errors.
    """
    if _is_dplr_record(Ab):
        if structure not in (None, "dplr"):
            raise ValueError(f"Ab is a DPLR record (it has .transition and .Bb) but structure={structure!r}")
        if Bb is not None:
            raise ValueError("Bb must be None when Ab is a DPLR record: the record carries its own Bb")
        return "dplr"
    if structure is not None:
        check_choice(structure, "structure", STRUCTURES)
        if structure == "dplr":
            raise TypeError(f"structure='dplr' needs a record with .transition and .Bb as Ab, got {type(Ab).__name__}")
    if Bb is None:
        raise ValueError("Bb is required unless Ab is a DPLR record (an object with .transition and .Bb)")
    a, b, c = names

    def shapes():  # for the error messages only (formatting them on every call costs more than the checks)
        return f"{a} {tuple(Ab.shape)}, {b} {tuple(Bb.shape)}, {c} {tuple(C.shape)}"

    dense, diag = _dense_fits(Ab, Bb, C), _diag_fits(Ab, Bb, C)
    if structure == "dense" and not dense:
        raise ValueError(
            f"structure='dense' needs {a} (..., N, N), {b} (..., N) or (..., N, M), {c} (..., N) or (..., P, N): "
            f"these do not form a dense system; got {shapes()}"
        )
    if structure == "diag" and not diag:
        raise ValueError(
            f"structure='diag' needs {a}, {b} and {c} all (..., N2) with one N2: "
            f"these do not form a diagonal system; got {shapes()}"
        )
    if structure is not None:
        return structure
    if dense and diag and Ab.ndim == Bb.ndim == C.ndim:
        raise ValueError(f"shapes {shapes()} fit both a dense and a diagonal system; pass structure='dense' or 'diag'")
    if not (dense or diag):
        raise ValueError(
            f"shapes match no system structure: expected dense {a} (..., N, N) with {b} (..., N) or (..., N, M) "
            f"and {c} (..., N) or (..., P, N) ({b}/{c} with {a}.ndim − 1 or {a}.ndim axes), or diagonal {a}, {b}, "
            f"{c} all (..., N2); got {shapes()}"
        )
    return "dense" if dense else "diag"


def _broadcast(shapes, names):
    try:
        return tuple(broadcast_shapes(*shapes))
    except ValueError:
        listing = ", ".join(f"{n} {tuple(s)}" for n, s in zip(names, shapes, strict=True))
        raise ValueError(f"batch shapes do not broadcast: {listing}") from None


def output_part(xp, y, real_out):
    return xp.real(y) if real_out and xp.isdtype(y.dtype, "complex floating") else y


def _as_skip(xp, D, dtype, device):
    """``D`` as an array of the working precision, complex only if given complex (keeps real outputs real)."""
    if D is None:
        return None
    D = xp.asarray(D, device=device)
    return xp.asarray(D, dtype=dtype if is_complex(xp, D) else real_dtype(xp, dtype))


def add_skip(xp, y, D, u, batch_shape):
    """``y + D·u`` with ``D`` broadcasting against the batch shape."""
    if D is None:
        return y
    if not broadcasts_to(tuple(D.shape), batch_shape):
        raise ValueError(
            f"D must broadcast to the output's batch shape {tuple(batch_shape)}, got shape {tuple(D.shape)}"
        )
    return y + xp.expand_dims(D, axis=-1) * u


@capabilities(
    engines={"diag": ("xp", "numba", "cupy"), "dense": ("xp",), "dplr": ("xp",)},
    dask="lazy",
    dask_note="diagonal systems, batch and time chunks (state carried)",
)
def recurrence(
    Ab,
    Bb,
    C,
    u,
    D=None,
    x0=None,
    *,
    conj: bool = True,
    structure: str | None = None,
    return_state: bool = False,
    engine: str | None = None,
    seq_idx=None,
    cu_seqlens=None,
):
    """Run a discrete LTI system ``x_k = Ā x_{k−1} + B̄ u_k``, ``y_k = C x_k + D u_k`` over a sequence.

    Parameters
    ----------
    Ab : array or DPLR record
        Dense ``(..., N, N)``, diagonal ``(..., N2)``, or a record from
        ``statespace.discretize_dplr`` (anything with ``.transition(x)`` applying Ā to a
        half state ``(..., N2)`` and ``.Bb (..., N2)``).
    Bb : array or None
        Dense ``(..., N)`` (one input; ``Ab.ndim − 1`` axes) or ``(..., N, M)`` (M inputs;
        ``Ab.ndim`` axes); diagonal ``(..., N2)``; ``None`` for a DPLR record.
    C : array
        Dense ``(..., N)`` or ``(..., P, N)`` (P outputs); diagonal / DPLR ``(..., N2)``.
    u : array
        Inputs ``(..., L)``; ``(..., M, L)`` for a dense system with M inputs.
    D : array or float, optional
        Feed-through, broadcasting against the output's batch shape (``(..., P)`` for P outputs).
    x0 : array, optional
        State before the first step: ``(..., N)`` dense, ``(..., N2)`` diagonal/DPLR (half state).
    conj : bool
        Diagonal/DPLR: each stored mode stands for itself and its conjugate, ``y = 2·Re(C x)``.
        Dense: the system is written in a conj-extended (or real) basis, ``y = Re(C x)``.
        ``False``: the stored system is the whole system and complex outputs stay complex.
    structure : {None, "dense", "diag", "dplr"}
        Override the shape rule (needed only when shapes fit both dense and diagonal,
        e.g. ``Ab (N, N), Bb (N, N), C (N, N)``).
    return_state : bool
        Also return the final state (``x0``, or zeros, when ``L = 0``).
    engine : {None, "auto", "xp", "numba", "cupy"}
        The diagonal structure has a fused numba engine (parallel over channels, inner
        loop over modes, the state never stored over time) and a fused CUDA kernel
        (``"cupy"``, CuPy arrays); dense and DPLR run sequentially in array-API code.
    seq_idx : array of int, optional, keyword-only
        Packed sequences (see :doc:`/user_guide/sequences`): ``(..., L)``, broadcasting
        against the output's batch, the sequence of each position; the state restarts
        from zero wherever it changes. ``x0`` belongs to the first sequence.
    cu_seqlens : sequence of int, optional, keyword-only
        Packed sequences by cumulative lengths ``[0, L_0, ..., L]`` (every row alike);
        ``x0``, if given, holds one initial state per sequence ``(S, *state)``, and
        ``return_state=True`` returns the final states ``(S, *state)``. Both markings run
        one engine call per sequence boundary, carrying the state across.

    Returns
    -------
    y : array
        ``(..., L)`` (``(..., P, L)`` for P outputs); real when ``conj=True`` or the system is real.
    state : array
        Final state, only with ``return_state=True``.

    Raises
    ------
    ValueError
        Shapes that match no structure (or both), batch shapes that do not broadcast,
        mis-shaped ``x0``/``D``/``u``, ``Bb`` given with a DPLR record.
    TypeError
        An engine that cannot take these arrays; ``return_state=True`` with ``conj=True``
        and a complex ``u``.

    Notes
    -----
    Shape rule: a record with ``.transition`` is DPLR; otherwise dense when ``Ab`` is
    square in its last two axes and ``Bb``/``C`` have ``Ab.ndim − 1`` or ``Ab.ndim`` axes
    with ``N`` in place (dense wins when the shapes also read as a diagonal system with
    ``Ab`` carrying extra batch axes), diagonal when ``Ab``, ``Bb``, ``C`` share their last
    axis; shapes that fit both with equal numbers of axes (``Ab (N, N)``, ``Bb (N, N)``,
    ``C (N, N)``) must name ``structure``. The diagonal output is fused,
    :math:`y_k = 2\\,\\mathrm{Re}\\sum_n C_n x_{k,n}`, never storing ``(..., N2, L)`` at once.
    With ``conj=True`` the system is real, so a complex input gives the complex output
    :math:`y(\\mathrm{Re}\\,u) + i\\,y(\\mathrm{Im}\\,u)`, as the convolution view does.

    Examples
    --------
    >>> import numpy as np
    >>> from statespace import recurrence
    >>> y = recurrence(np.array([0.5 + 0.5j]), np.array([1.0 + 0j]), np.array([0.5 + 0j]), np.ones(3))
    >>> np.round(y, 12).tolist()
    [1.0, 1.5, 1.5]
    """
    check_flag(conj, "conj")
    check_flag(return_state, "return_state")
    kind = system_structure(Ab, Bb, C, structure)
    if seq_idx is not None or cu_seqlens is not None:

        def run(part, start):
            return recurrence(Ab, Bb, C, part, D, start, conj=conj, structure=kind, return_state=True, engine=engine)

        return packed_run(run, u, x0, seq_idx, cu_seqlens, return_state)
    if conj and complex_input(u):
        # conj=True describes a real system; by linearity its response to a complex input is
        # y(Re u) + i·y(Im u) (the kernel view's answer), but the final state then has no conj-paired form.
        if return_state:
            raise TypeError(
                "return_state=True with conj=True needs a real input u: a complex input breaks the conjugate "
                "symmetry of the state, which then has no N/2-mode form; pass conj=False with every mode, or run "
                "the real and imaginary parts of u separately"
            )
        xp = namespace(u)
        parts = [
            recurrence(Ab, Bb, C, part, D, start, conj=True, structure=kind, engine=engine)
            for part, start in ((xp.real(u), x0), (xp.imag(u), None))
        ]
        return xp.astype(parts[0], complex_dtype(xp, parts[0].dtype)) + 1j * parts[1]
    if kind == "diag":
        return _diag(Ab, Bb, C, u, D, x0, conj, return_state, engine)
    xp = namespace(Ab.Bb if kind == "dplr" else Ab, Bb, C, u, D, x0)
    resolve_engine(engine, xp, func="recurrence", variant=kind)
    if kind == "dplr":
        return _dplr(xp, Ab, C, u, D, x0, conj, return_state)
    return _dense(xp, Ab, Bb, C, u, D, x0, conj, return_state)


def complex_input(u) -> bool:
    return isinstance(u, complex) or (hasattr(u, "dtype") and is_complex(namespace(u), u))


# --------------------------------------------------------------------------------------
# diagonal
# --------------------------------------------------------------------------------------
def diag_prepare(xp, Ab, Bb, C, u, D, x0):
    if u.ndim < 1:
        raise ValueError("u must be (..., L), got a 0-d array")
    dtype = float_dtype(xp, Ab, Bb, C, u, D, x0, names=("Ab", "Bb", "C", "u", "D", "x0"))
    dev = device_of(u)
    Ab, Bb, C = (asarray(a, xp, dtype=dtype, device=dev) for a in (Ab, Bb, C))
    u = asarray(u, xp, dtype=dtype if is_complex(xp, u) else real_dtype(xp, dtype), device=dev)
    modes = _broadcast([Ab.shape, Bb.shape, C.shape], ["Ab", "Bb", "C"])
    batch = _broadcast([modes[:-1], u.shape[:-1]], ["Ab/Bb/C (without modes)", "u (without time)"])
    if x0 is not None:
        x0 = xp.asarray(x0, dtype=dtype, device=dev)
        state_shape = batch + modes[-1:]
        if not broadcasts_to(tuple(x0.shape), state_shape):
            raise ValueError(f"x0 must broadcast to the state shape {state_shape} (batch, N2), got {tuple(x0.shape)}")
        x0 = xp.broadcast_to(x0, state_shape)
    D = _as_skip(xp, D, dtype, dev)
    return Ab, Bb, C, u, D, x0, batch, modes[-1], dtype


def _diag(Ab, Bb, C, u, D, x0, conj, return_state, engine):
    xp = namespace(Ab, Bb, C, u, D, x0)
    Ab, Bb, C, u, D, x0, batch, nmodes, dtype = diag_prepare(xp, Ab, Bb, C, u, D, x0)
    name = resolve_engine(engine, xp, func="recurrence", variant="diag")
    if name != "xp":  # the engine's kernel takes its own backend's arrays
        y, state = engine_module(name, "recurrence").diag(Ab, Bb, C, u, x0, batch, conj, want_state=return_state)
    else:
        with quiet_floating_point(xp):  # as quiet as the numba engine on overflow and inf - inf
            y, state = _diag_xp(xp, Ab, Bb, C, u, x0, batch, nmodes, dtype, conj)
    y = add_skip(xp, y, D, u, batch)
    if tuple(y.shape) != batch + (u.shape[-1],):
        y = xp.broadcast_to(y, batch + (u.shape[-1],))
    return (y, state) if return_state else y


def _diag_xp(xp, Ab, Bb, C, u, x0, batch, nmodes, dtype, conj):
    length = u.shape[-1]
    dev = device_of(u)
    state = xp.zeros(batch + (nmodes,), dtype=dtype, device=dev) if x0 is None else x0
    size = 1
    for s in batch + (nmodes,):
        size *= s
    chunk = max(1, _XP_CHUNK_ELEMENTS // max(1, size))
    gate, drive, out = Ab[..., None], Bb[..., None], C[..., None]
    ys = []
    for t0 in range(0, length, chunk):
        u_c = xp.expand_dims(u[..., t0 : min(length, t0 + chunk)], axis=-2)
        # the state has the full batch, C's axes included (as on the numba engine)
        inputs = xp.broadcast_to(drive * u_c, batch + (nmodes, u_c.shape[-1]))
        states, state = linear_scan(gate, inputs, x0=state, engine="xp", return_state=True)
        ys.append(xp.sum(out * states, axis=-2))
    if not ys:
        y = xp.zeros(batch + (0,), dtype=dtype, device=dev)
    else:
        y = xp.concat(ys, axis=-1) if len(ys) > 1 else ys[0]
    if conj and is_complex(xp, y):
        y = 2 * xp.real(y)
    return y, state


# --------------------------------------------------------------------------------------
# dense and DPLR: sequential in time
# --------------------------------------------------------------------------------------
def dense_prepare(xp, Ab, Bb, C, u, D, x0):
    dtype = float_dtype(xp, Ab, Bb, C, u, D, x0, names=("Ab", "Bb", "C", "u", "D", "x0"))
    dev = device_of(u)
    Ab, Bb, C = (xp.asarray(a, dtype=dtype, device=dev) for a in (Ab, Bb, C))
    u = xp.asarray(u, dtype=dtype if is_complex(xp, u) else real_dtype(xp, dtype), device=dev)
    n = Ab.shape[-1]
    multi_in = Bb.ndim == Ab.ndim
    if not multi_in:
        Bb = xp.expand_dims(Bb, axis=-1)
    if multi_in and (u.ndim < 2 or u.shape[-2] != Bb.shape[-1]):
        raise ValueError(
            f"with Bb of shape {tuple(Bb.shape)} (M = {Bb.shape[-1]} inputs) u must be (..., M, L), "
            f"got {tuple(u.shape)}"
        )
    u_in = u if multi_in else xp.expand_dims(u, axis=-2)  # (..., M, L)
    multi_out = C.ndim == Ab.ndim
    C2 = C if multi_out else xp.expand_dims(C, axis=-2)  # (..., P, N)
    batch = _broadcast([Ab.shape[:-2], Bb.shape[:-2], C2.shape[:-2], u_in.shape[:-2]], ["Ab", "Bb", "C", "u"])
    if x0 is not None:
        x0 = xp.asarray(x0, dtype=dtype, device=dev)
        if not broadcasts_to(tuple(x0.shape), batch + (n,)):
            raise ValueError(f"x0 must broadcast to the state shape {batch + (n,)}, got {tuple(x0.shape)}")
    D = _as_skip(xp, D, dtype, dev)
    return Ab, Bb, C2, u_in, D, x0, batch, dtype, multi_out


def _matvec(xp, M, v):
    return xp.matmul(M, v[..., None])[..., 0]


def _dense_step(xp, Ab, Bb, C2, x, u_t):
    x = _matvec(xp, Ab, x) + _matvec(xp, Bb, u_t)
    return _matvec(xp, C2, x), x


def _dense(xp, Ab, Bb, C, u, D, x0, conj, return_state):
    Ab, Bb, C2, u_in, D, x0, batch, dtype, multi_out = dense_prepare(xp, Ab, Bb, C, u, D, x0)
    n, length = Ab.shape[-1], u_in.shape[-1]
    x = xp.zeros(batch + (n,), dtype=dtype, device=device_of(u_in)) if x0 is None else xp.broadcast_to(x0, batch + (n,))
    ys = []
    for t in range(length):
        y_t, x = _dense_step(xp, Ab, Bb, C2, x, u_in[..., t])
        ys.append(y_t)
    p = C2.shape[-2]
    y = xp.stack(ys, axis=-1) if ys else xp.zeros(batch + (p, 0), dtype=dtype, device=device_of(u_in))
    y = output_part(xp, y, conj)
    if not multi_out:
        y = y[..., 0, :]
    if D is not None:
        u_skip = u_in if multi_out else u_in[..., 0, :]
        y = add_skip(xp, y, D, u_skip, tuple(y.shape[:-1]))
    return (y, x) if return_state else y


def _dplr(xp, rec, C, u, D, x0, conj, return_state):
    Bb = rec.Bb
    dtype = float_dtype(xp, Bb, C, u, D, x0, names=("Bb", "C", "u", "D", "x0"))
    dev = device_of(u)
    Bb, C = (xp.asarray(a, dtype=dtype, device=dev) for a in (Bb, C))
    u = xp.asarray(u, dtype=dtype if is_complex(xp, u) else real_dtype(xp, dtype), device=dev)
    if C.shape[-1] != Bb.shape[-1]:
        raise ValueError(
            f"C must have the record's N2 = {Bb.shape[-1]} modes on its last axis, got shape {tuple(C.shape)}"
        )
    batch = _broadcast([Bb.shape[:-1], C.shape[:-1], u.shape[:-1]], ["Bb (record)", "C", "u"])
    state_shape = batch + (Bb.shape[-1],)
    if x0 is None:
        x = xp.zeros(state_shape, dtype=dtype, device=dev)
    else:
        x0 = xp.asarray(x0, dtype=dtype, device=dev)
        try:
            x = xp.broadcast_to(x0, state_shape)
        except (ValueError, RuntimeError):
            raise ValueError(
                f"x0 must broadcast to the half state shape {state_shape}, got {tuple(x0.shape)}"
            ) from None
    ys = []
    for t in range(u.shape[-1]):
        y_t, x = _dplr_step(xp, rec, Bb, C, x, u[..., t : t + 1], conj)
        ys.append(y_t)
    y = xp.stack(ys, axis=-1) if ys else xp.zeros(batch + (0,), dtype=dtype, device=dev)
    y = add_skip(xp, y, _as_skip(xp, D, dtype, dev), u, batch)
    return (y, x) if return_state else y


def _dplr_step(xp, rec, Bb, C, x, u_t, conj):
    x = rec.transition(x) + Bb * u_t
    y = xp.sum(C * x, axis=-1)
    return (2 * xp.real(y) if conj else y), x


# --------------------------------------------------------------------------------------
# one step
# --------------------------------------------------------------------------------------
@capabilities(dask="xp")
def step(Ab, Bb, C, x, u_t, D=None, *, conj: bool = True, structure=None):
    """Advance a discrete LTI system by one step: ``x' = Ā x + B̄ u_t``, ``y_t = C x' + D u_t``.

    Parameters
    ----------
    Ab, Bb, C : array or DPLR record
        The system, with the shapes and structure rule of :func:`recurrence`.
    x : array
        Current state: ``(..., N)`` dense, ``(..., N2)`` diagonal/DPLR.
    u_t : array or float
        Input at this step: ``(...)`` (one input) or ``(..., M)`` (dense, M inputs).
    D : array or float, optional
        Feed-through.
    conj, structure
        As in :func:`recurrence`.

    Returns
    -------
    y_t : array
        Output ``(...)`` (``(..., P)`` for P outputs).
    x_new : array
        Next state, shaped like ``x`` (broadcast with the batch).

    Raises
    ------
    ValueError
        Shapes that match no structure, or do not broadcast.

    Notes
    -----
    Calling ``step`` L times from ``x0`` gives the outputs and final state of
    :func:`recurrence` (same rounding order for the dense and DPLR structures).

    Examples
    --------
    >>> import numpy as np
    >>> from statespace import step
    >>> y, x = step(np.array([0.5 + 0.5j]), np.array([1.0 + 0j]), np.array([0.5 + 0j]), np.zeros(1, complex), 1.0)
    >>> float(np.round(y, 12)), x.tolist()
    (1.0, [(1+0j)])
    """
    check_flag(conj, "conj")
    kind = system_structure(Ab, Bb, C, structure)
    if conj and complex_input(u_t):
        raise TypeError(
            "step with conj=True needs a real input u_t: a complex input breaks the conjugate symmetry of the state; "
            "pass conj=False with every mode, or step the real and imaginary parts of u separately"
        )
    xp = namespace(Ab.Bb if kind == "dplr" else Ab, Bb, C, x, u_t, D)
    dev = device_of(x)
    dtype = float_dtype(xp, Ab.Bb if kind == "dplr" else Ab, Bb, C, x, u_t, D, names=("Ab", "Bb", "C", "x", "u_t", "D"))
    u_t = xp.asarray(u_t, dtype=dtype, device=dev)
    x = xp.asarray(x, dtype=dtype, device=dev)
    D = _as_skip(xp, D, dtype, dev)
    if kind == "dense":
        Ab, Bb, C = (xp.asarray(a, dtype=dtype, device=dev) for a in (Ab, Bb, C))
        if x.ndim < 1 or x.shape[-1] != Ab.shape[-1]:
            raise ValueError(f"x must be (..., N) with N = {Ab.shape[-1]}, got shape {tuple(x.shape)}")
        multi_in, multi_out = Bb.ndim == Ab.ndim, C.ndim == Ab.ndim
        Bb2 = Bb if multi_in else xp.expand_dims(Bb, axis=-1)
        u2 = u_t if multi_in else xp.expand_dims(u_t, axis=-1)
        C2 = C if multi_out else xp.expand_dims(C, axis=-2)
        y, x = _dense_step(xp, Ab, Bb2, C2, x, u2)
        y = output_part(xp, y, conj)
        y = y if multi_out else y[..., 0]
    else:
        Bb_, C = (xp.asarray(a, dtype=dtype, device=dev) for a in ((Ab.Bb if kind == "dplr" else Bb), C))
        if x.ndim < 1 or x.shape[-1] != Bb_.shape[-1]:
            raise ValueError(f"x must be (..., N2) with N2 = {Bb_.shape[-1]}, got shape {tuple(x.shape)}")
        u2 = xp.expand_dims(u_t, axis=-1)
        if kind == "dplr":
            y, x = _dplr_step(xp, Ab, Bb_, C, x, u2, conj)
        else:
            x = xp.asarray(Ab, dtype=dtype, device=dev) * x + Bb_ * u2
            y = xp.sum(C * x, axis=-1)
            y = 2 * xp.real(y) if conj and is_complex(xp, y) else y
    if D is not None:
        y = y + D * u_t
    return y, x
