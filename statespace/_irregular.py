r"""Continuous LTI systems sampled at irregular times, and free evolution for forecasting.

A continuous system :math:`x'(t) = A x(t) + B u(t)`, :math:`y = C x + D u`, observed at
timestamps :math:`t_0 < t_1 < \dots < t_{L-1}` is discretized once per interval
:math:`\Delta_k = t_k - t_{k-1}` and run through the scan view.

Input convention (the one of :func:`statespace.discretize` and :func:`statespace.recurrence`):
the sample :math:`u_k` is the input held over the interval *ending* at :math:`t_k`,
:math:`u(t) = u_k` for :math:`t \in (t_{k-1}, t_k]`, and :math:`x_k = x(t_k)`.  For ZOH

.. math::

    x_k = e^{\Delta_k A} x_{k-1} + \int_0^{\Delta_k} e^{sA}\,ds\, B\, u_k,
    \qquad y_k = C x_k + D u_k ,

so with every :math:`\Delta_k = \Delta` this *is* the LTI recurrence of
``discretize(A, B, Δ, "zoh")``, step for step.  The initial state ``x0`` sits at time
``start`` (:math:`t_{-1}`); without ``start`` it sits at :math:`t_0` itself, the first
interval has length 0, :math:`x_0 = x_0^{\text{given}}` and :math:`u_0` acts only through
``D``.  Passing ``steps=`` instead gives the intervals directly, :math:`\Delta_0` being the
time from ``x0`` to the first sample.
"""

from __future__ import annotations

from ._backend import device_of, float_dtype, is_complex, namespace, real_dtype
from ._discretize import discretize, discretize_diag, resolve_method
from ._dispatch import capabilities
from ._engines import resolve_engine
from ._expm import expm
from ._recurrence import add_skip, dense_prepare, diag_prepare, output_part, system_structure
from ._scan import associative_scan, linear_scan
from ._validation import broadcast_shapes, check_choice, check_flag

__all__ = ["irregular_response", "evolve"]

#: Methods whose per-interval pair (Ā_k, B̄_k) alone advances the state (foh couples two
#: consecutive inputs through a shifted state; dss normalizes by a fixed-step kernel length).
IRREGULAR_METHODS = ("euler", "backward_euler", "bilinear", "gbt", "zoh", "impulse", "zoh_simplified")
_WHY = " (foh couples consecutive inputs through a shifted state and dss normalizes by a fixed-step kernel length)"


# --------------------------------------------------------------------------------------
# arguments
# --------------------------------------------------------------------------------------
def _unpack(system, structure):
    """``(A, B, C, D, kind)`` from ``(A, B, C[, D])``; ``kind`` is ``"dense"`` or ``"diag"``."""
    if not isinstance(system, (tuple, list)) or len(system) not in (3, 4):
        raise TypeError(
            "system must be a tuple (A, B, C) or (A, B, C, D) (dense) or (Lambda, B, C[, D]) (diagonal), "
            f"got {type(system).__name__}" + (f" of length {len(system)}" if isinstance(system, (tuple, list)) else "")
        )
    A, B, C = system[:3]
    D = system[3] if len(system) == 4 else None
    for name, arr in (("A/Lambda", A), ("B", B), ("C", C)):
        if not hasattr(arr, "shape"):
            raise TypeError(f"system's {name} must be an array, got {type(arr).__name__}")
    if structure is not None:
        check_choice(structure, "structure", ("dense", "diag"))
    return A, B, C, D, system_structure(A, B, C, structure, names=("A/Lambda", "B", "C"))


def _real_axis_array(xp, value, name, device):
    """``value`` as a real array with a last (time) axis; finite."""
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise TypeError(f"{name} must be an array (..., L) of the system's array library, got {type(value).__name__}")
    if is_complex(xp, value):
        raise TypeError(f"{name} must be real, got dtype {value.dtype}")
    if value.ndim < 1:
        raise ValueError(f"{name} must have a time axis (..., L), got a 0-d array")
    value = xp.asarray(value, dtype=float_dtype(xp, value, names=(name,)), device=device)
    if not bool(xp.all(xp.isfinite(value))):
        raise ValueError(f"{name} must be finite, got non-finite values")
    return value


def _intervals(xp, times, steps, start, device):
    """Interval lengths ``Δ_k ≥ 0`` (``(..., L)``, in the timestamps' precision) from ``times`` or ``steps``."""
    if (times is None) == (steps is None):
        raise ValueError(
            "pass exactly one of times= (sample timestamps) or steps= (interval lengths), not "
            + ("both" if times is not None else "neither")
        )
    if steps is not None:
        if start is not None:
            raise ValueError("start applies to times= only; with steps= the first step is the time from x0")
        steps = _real_axis_array(xp, steps, "steps", device)
        if not bool(xp.all(steps > 0)):
            raise ValueError(f"steps must be positive, got min {float(xp.min(steps))}")
        return steps
    times = _real_axis_array(xp, times, "times", device)
    gaps = times[..., 1:] - times[..., :-1]
    if not bool(xp.all(gaps > 0)):
        raise ValueError(f"times must be strictly increasing along the last axis, got a gap of {float(xp.min(gaps))}")
    if times.shape[-1] == 0:
        return times
    if start is None:
        first = xp.zeros_like(times[..., :1])
    else:
        if not isinstance(start, (int, float)):
            start = _real_axis_array(xp, xp.expand_dims(xp.asarray(start, device=device), axis=-1), "start", device)
        first = times[..., :1] - start
        if not bool(xp.all(first > 0)):
            raise ValueError(
                f"start must be earlier than times[..., 0], got start − times[..., 0] = {-float(xp.min(first))}"
            )
    batch = _batch([first.shape[:-1], gaps.shape[:-1]], ["start", "times"])
    return xp.concat([xp.broadcast_to(first, batch + (1,)), xp.broadcast_to(gaps, batch + (gaps.shape[-1],))], axis=-1)


def _sampling_batch(batch, intervals, times):
    """The batch shape of the system and ``u`` broadcast with that of the timestamps/steps."""
    try:
        return tuple(broadcast_shapes(batch, tuple(intervals.shape[:-1])))
    except ValueError:
        raise ValueError(
            f"the batch axes of {'times' if times is not None else 'steps'} {tuple(intervals.shape[:-1])} do not "
            f"broadcast against the system's and u's {batch}"
        ) from None


def _check_length(intervals, length, times):
    if intervals.shape[-1] != length:
        name = "times" if times is not None else "steps"
        raise ValueError(f"{name} has {intervals.shape[-1]} samples on its last axis but u has {length}")


# --------------------------------------------------------------------------------------
# response at the samples
# --------------------------------------------------------------------------------------
@capabilities(engines={"diag": ("xp", "numba"), "dense": ("xp",)}, dask="xp", methods=IRREGULAR_METHODS)
def irregular_response(
    system,
    u,
    *,
    times=None,
    steps=None,
    start=None,
    method="zoh",
    alpha=None,
    x0=None,
    conj: bool = True,
    structure=None,
    return_state: bool = False,
    engine=None,
):
    r"""Output of a continuous LTI system whose input is sampled at irregular times.

    Parameters
    ----------
    system : tuple
        ``(A, B, C)`` or ``(A, B, C, D)`` with dense ``A (..., N, N)``, ``B (..., N)`` or
        ``(..., N, M)``, ``C (..., N)`` or ``(..., P, N)``; or a diagonal (modal) system
        ``(Lambda, B, C[, D])`` with ``Lambda``, ``B``, ``C`` all ``(..., N2)``.  ``D`` is the
        feed-through, broadcasting against the output's batch shape (a dense system with M
        inputs takes a matrix ``D (..., P, M)``, ``P = 1`` for ``C (..., N)``).
    u : array (..., L)
        Input samples (``(..., M, L)`` for a dense system with M inputs); ``u_k`` is the value
        held over the interval ending at the ``k``-th timestamp.
    times : array (..., L), optional
        Strictly increasing timestamps :math:`t_k` (batch axes broadcast against the
        system's and ``u``'s).  Exactly one of ``times`` and ``steps``.
    steps : array (..., L), optional
        Positive interval lengths :math:`\Delta_k = t_k - t_{k-1}` instead of timestamps;
        ``steps[..., 0]`` is the time from ``x0`` to the first sample.  Time is the last
        axis and the leading axes are batch axes of the system (the
        :ref:`step-size rule <conventions-steps>`: one step per system and sample).
    start : float or array, optional
        With ``times``: the time :math:`t_{-1} < t_0` of ``x0``.  Default: ``x0`` is the
        state at :math:`t_0` (a first interval of length 0).
    method : str
        ``zoh`` (exact for inputs held over each interval), ``impulse``,
        ``zoh_simplified``, ``bilinear`` (``tustin``), ``euler``, ``backward_euler`` or
        ``gbt`` — each applied per interval as :func:`discretize` / :func:`discretize_diag`.
    alpha : float, optional
        The gbt parameter in [0, 1]; required for ``gbt``, ignored otherwise.
    x0 : array, optional
        Initial state ``(..., N)`` (dense) or ``(..., N2)`` (diagonal half state); zero by default.
    conj : bool
        As in :func:`recurrence`: diagonal modes stand for themselves and their conjugates
        and ``y = 2·Re(C x)``; dense ``y = Re(C x)``.  ``False``: complex outputs stay complex.
    structure : {None, "dense", "diag"}
        Override the shape rule (needed only when the shapes fit both).
    return_state : bool
        Also return the state at the last timestamp (``x0``, or zeros, when ``L = 0``),
        the starting point of :func:`evolve`.
    engine : {None, "auto", "xp", "numba"}
        Engine of the diagonal scan (:func:`linear_scan`); dense systems run the
        array-API associative scan (``"xp"``).

    Returns
    -------
    y : array (..., L)
        Outputs at the timestamps (``(..., P, L)`` for P outputs).
    state : array
        Final state, only with ``return_state=True``.

    Raises
    ------
    ValueError
        Both or neither of ``times``/``steps``; timestamps that do not strictly increase,
        non-positive ``steps``, ``start`` not before the first timestamp, non-finite values;
        a number of samples that differs from ``u``'s; an unknown or inapplicable method
        (``foh``, ``dss``); shapes that match no system or do not broadcast.
    TypeError
        ``system`` not a tuple of arrays, complex ``times``/``steps``, a complex ``u`` with
        ``conj=True``, an engine that cannot take these arrays.

    Notes
    -----
    With :math:`\Delta_k` the interval before sample :math:`k` and the input held at
    :math:`u_k` over it (ZOH),

    .. math::

        x_k = e^{\Delta_k A} x_{k-1} + \int_0^{\Delta_k} e^{sA} ds\,B\,u_k = \bar A_k x_{k-1} + \bar B_k u_k,
        \qquad y_k = C x_k + D u_k .

    The first interval: with ``times`` and ``start``, :math:`\Delta_0 = t_0 - t_{\text{start}}`
    (``x0`` is the state at ``start``); with ``times`` alone, :math:`\Delta_0 = 0`, so
    :math:`x_0 = x_0^{\text{given}}` (``x0`` is the state at :math:`t_0`, and :math:`u_0` reaches
    :math:`y_0` only through ``D``); with ``steps``, :math:`\Delta_0` = ``steps[..., 0]``.

    The other methods replace :math:`(\bar A_k, \bar B_k)` by their per-step pair.  Evenly
    spaced samples give exactly the per-step pair of :func:`discretize` /
    :func:`discretize_diag` with that :math:`\Delta`, so the LTI recurrence up to the rounding
    of the scan (NumPy 2.4 even gives them bit for bit for diagonal systems with ``steps=``, but
    NumPy does not promise that an operation rounds alike on a broadcast scalar and on an array).
    Diagonal systems discretize elementwise on a ``(..., N2, L)`` grid (the
    gates and inputs of :func:`linear_scan`, so memory grows with ``N2·L`` per channel — fine
    for modest sizes) and scan with the chosen engine.  Dense systems build
    :math:`\bar A_k` ``(..., L, N, N)`` in one batched :func:`discretize` call and compose the
    affine maps :math:`x \mapsto \bar A_k x + \bar B_k u_k` with :func:`associative_scan`
    (matrix products; :math:`O(L N^3)` work, :math:`O(\log L)` depth).

    Examples
    --------
    A decaying mode :math:`x' = -x + u` fed ``u = 1`` from ``x0 = 0`` at ``t = 0``: ZOH is exact,
    :math:`x(t) = 1 - e^{-t}` at any times.

    >>> system = (np.array([-1.0 + 0j]), np.array([1.0 + 0j]), np.array([0.5 + 0j]))
    >>> t = np.array([0.1, 0.5, 0.6, 2.0])
    >>> y = statespace.irregular_response(system, np.ones(4), times=t, start=0.0)
    >>> bool(np.allclose(y, 1 - np.exp(-t)))
    True
    """
    check_flag(conj, "conj")
    check_flag(return_state, "return_state")
    A, B, C, D, kind = _unpack(system, structure)
    for name, value in (("u", u), ("times", times), ("steps", steps)):
        if value is not None and not hasattr(value, "shape"):
            raise TypeError(f"{name} must be an array (..., L), got {type(value).__name__}")
    xp = namespace(A, B, C, u, D, x0, times, steps, start)
    if conj and is_complex(xp, u):
        raise TypeError(
            "a complex u needs conj=False (with every mode); with conj=True the system is real, "
            "so run the real and imaginary parts of u separately"
        )
    name, alpha = resolve_method(method, alpha, IRREGULAR_METHODS, "irregularly sampled", _WHY)
    intervals = _intervals(xp, times, steps, start, device_of(u))
    if kind == "diag":
        return _diag_response(xp, A, B, C, D, u, x0, intervals, times, name, alpha, conj, return_state, engine)
    resolve_engine(engine, xp, func="irregular_response", variant="dense")
    return _dense_response(xp, A, B, C, D, u, x0, intervals, times, name, alpha, conj, return_state)


def _safe(xp, intervals, dtype):
    """Intervals in the working precision with zero-length ones replaced by 1, and the mask of positive ones."""
    intervals = xp.astype(intervals, real_dtype(xp, dtype))
    positive = intervals > 0
    return xp.where(positive, intervals, xp.ones_like(intervals)), positive


def _diag_response(xp, Lambda, B, C, D, u, x0, intervals, times, name, alpha, conj, return_state, engine):
    Lambda, B, C, u, D, x0, batch, nmodes, dtype = diag_prepare(xp, Lambda, B, C, u, D, x0)
    _check_length(intervals, u.shape[-1], times)
    length = u.shape[-1]
    batch = _sampling_batch(batch, intervals, times)
    step, positive = _safe(xp, xp.broadcast_to(intervals, batch + (length,)), dtype)
    grid = batch + (nmodes, length)
    Ab, Bb = discretize_diag(
        xp.broadcast_to(Lambda[..., None], grid), B[..., None], step[..., None, :], name, alpha=alpha, per_mode=True
    )
    gate = xp.where(positive[..., None, :], Ab, xp.ones_like(Ab))
    drive = xp.where(positive[..., None, :], Bb, xp.zeros_like(Bb)) * u[..., None, :]
    states, last = linear_scan(gate, drive, x0=x0, engine=engine, return_state=True)
    y = xp.sum(C[..., None] * states, axis=-2)
    if conj and is_complex(xp, y):
        y = 2 * xp.real(y)
    y = add_skip(xp, y, D, u, batch)
    return (y, last) if return_state else y


def _dense_response(xp, A, B, C, D, u, x0, intervals, times, name, alpha, conj, return_state):
    multi_in = B.ndim == A.ndim
    A, B, C2, u_in, D, x0, batch, dtype, multi_out = dense_prepare(xp, A, B, C, u, D, x0)
    length, n = u_in.shape[-1], A.shape[-1]
    _check_length(intervals, length, times)
    batch = _sampling_batch(batch, intervals, times)
    step, positive = _safe(xp, xp.broadcast_to(intervals, batch + (length,)), dtype)
    A, B = (xp.broadcast_to(M, batch + tuple(M.shape[-2:]))[..., None, :, :] for M in (A, B))
    Ab, Bb = discretize(A, B, step, name, alpha=alpha)  # (..., L, N, N|M)
    keep = positive[..., None, None]
    eye = xp.eye(n, dtype=Ab.dtype, device=device_of(Ab))
    Ab = xp.where(keep, Ab, eye)
    drive = xp.where(keep, Bb, xp.zeros_like(Bb)) @ xp.moveaxis(u_in, -1, -2)[..., None]  # (..., L, N, 1)
    shape = batch + (length, n)
    Ab, drive = xp.broadcast_to(Ab, shape + (n,)), xp.broadcast_to(drive, shape + (1,))
    if x0 is not None and length:
        first = Ab[..., :1, :, :] @ xp.broadcast_to(x0, batch + (n,))[..., None, :, None] + drive[..., :1, :, :]
        drive = xp.concat([first, drive[..., 1:, :, :]], axis=-3)
    if length:
        _, states = associative_scan(_compose, (Ab, drive), axis=-3)
    else:
        states = xp.zeros(shape + (1,), dtype=dtype, device=device_of(u_in))
    y = xp.moveaxis((C2[..., None, :, :] @ states)[..., 0], -1, -2)  # (..., P, L)
    y = output_part(xp, y, conj)
    if not multi_out:
        y = y[..., 0, :]
    if D is not None and multi_in:
        y = y + _feedthrough(xp, D, u_in, C2.shape[-2], multi_out)
    elif D is not None:
        y = add_skip(xp, y, D, u_in if multi_out else u_in[..., 0, :], tuple(y.shape[:-1]))
    if not return_state:
        return y
    if length:
        last = states[..., -1, :, 0]
    else:
        last = (
            xp.zeros(batch + (n,), dtype=dtype, device=device_of(u_in))
            if x0 is None
            else xp.broadcast_to(x0, batch + (n,))
        )
    return y, last


def _feedthrough(xp, D, u_in, outputs, multi_out):
    """``D u`` for M inputs: ``D (..., P, M)`` times ``u (..., M, L)``, a matrix product per sample."""
    if D.ndim < 2 or tuple(D.shape[-2:]) != (outputs, u_in.shape[-2]):
        raise ValueError(
            f"with M = {u_in.shape[-2]} inputs D must be a matrix (..., P, M) = (..., {outputs}, {u_in.shape[-2]}), "
            f"got shape {tuple(D.shape)}"
        )
    Du = D @ u_in  # (..., P, L)
    return Du if multi_out else Du[..., 0, :]


def _compose(earlier, later):
    """Affine maps ``x ↦ A x + b``: first ``earlier``, then ``later``."""
    (A1, b1), (A2, b2) = earlier, later
    return A2 @ A1, A2 @ b1 + b2


# --------------------------------------------------------------------------------------
# free evolution
# --------------------------------------------------------------------------------------
@capabilities(dask="xp")
def evolve(system, x, delta, *, conj: bool = True, structure=None, return_state: bool = False):
    r"""Output (and state) of a continuous LTI system at later times, without input: forecasting.

    Parameters
    ----------
    system : tuple
        ``(A, B, C[, D])`` dense or ``(Lambda, B, C[, D])`` diagonal, as in
        :func:`irregular_response` (``B`` and ``D`` only decide the structure: the input is 0).
    x : array
        State at the reference time: ``(..., N)`` dense, ``(..., N2)`` diagonal (half state),
        e.g. the ``state`` of :func:`irregular_response` at the last sample.
    delta : float or array (..., K)
        Non-negative times after the reference time (a scalar counts as ``K = 1``).
    conj : bool
        As in :func:`irregular_response`.
    structure : {None, "dense", "diag"}
        Override the shape rule.
    return_state : bool
        Also return the states.

    Returns
    -------
    y : array (..., K)
        :math:`C e^{A\delta_j} x` (``(..., P, K)`` for P outputs).
    states : array (..., N, K)
        :math:`e^{A\delta_j} x` (``(..., N2, K)`` diagonal), only with ``return_state=True``.

    Raises
    ------
    ValueError
        Negative or non-finite ``delta``, an ``x`` whose last axis is not the state size,
        shapes that match no system or do not broadcast.
    TypeError
        ``system`` not a tuple of arrays, complex ``delta``.

    Notes
    -----
    Zero input after the reference time: :math:`x(t + \delta) = e^{A\delta} x(t)`, elementwise
    :math:`e^{\Lambda\delta}` for diagonal systems and one batched :func:`expm` per
    :math:`\delta_j` for dense ones.  ``delta = 0`` returns ``x`` itself; evolving by
    :math:`\delta_1` then :math:`\delta_2` equals evolving by :math:`\delta_1 + \delta_2`.

    Examples
    --------
    >>> system = (np.array([-1.0 + 0j]), np.array([1.0 + 0j]), np.array([0.5 + 0j]))
    >>> y = statespace.evolve(system, np.array([1.0 + 0j]), np.array([0.0, 1.0, 2.0]))
    >>> np.round(y, 6).tolist()           # 2 Re(0.5 e^{-δ})
    [1.0, 0.367879, 0.135335]
    """
    check_flag(conj, "conj")
    check_flag(return_state, "return_state")
    A, B, C, _, kind = _unpack(system, structure)
    xp = namespace(A, B, C, x, delta)
    dtype = float_dtype(xp, A, C, x, names=("A", "C", "x"))
    dev = device_of(x) if device_of(x) is not None else device_of(A)
    delta = _delays(xp, delta, dtype, dev)
    A, C, x = (xp.asarray(a, dtype=dtype, device=dev) for a in (A, C, x))
    size = A.shape[-1]
    if x.ndim < 1 or x.shape[-1] != size:
        raise ValueError(f"x must be (..., {size}) (the state of this system), got shape {tuple(x.shape)}")
    if kind == "diag":
        shapes = [A.shape[:-1], C.shape[:-1], x.shape[:-1], delta.shape[:-1]]
        _batch(shapes, ["Lambda", "C", "x", "delta"])  # a clear message; the products broadcast alike
        states = x[..., None] * xp.exp(A[..., None] * xp.expand_dims(delta, axis=-2))
        y = xp.sum(C[..., None] * states, axis=-2)
        y = 2 * xp.real(y) if conj and is_complex(xp, y) else y
    else:
        multi_out = C.ndim == A.ndim
        C2 = C if multi_out else xp.expand_dims(C, axis=-2)
        _batch([A.shape[:-2], C2.shape[:-2], x.shape[:-1], delta.shape[:-1]], ["A", "C", "x", "delta"])
        grown = expm(A[..., None, :, :] * delta[..., None, None]) @ x[..., None, :, None]  # (..., K, N, 1)
        states = xp.moveaxis(grown[..., 0], -1, -2)
        y = output_part(xp, xp.moveaxis((C2[..., None, :, :] @ grown)[..., 0], -1, -2), conj)
        y = y if multi_out else y[..., 0, :]
    return (y, states) if return_state else y


def _delays(xp, delta, dtype, device):
    if isinstance(delta, bool) or delta is None:
        raise TypeError(f"delta must be a non-negative real number or array, got {delta!r}")
    if isinstance(delta, (int, float)):
        delta = xp.asarray([delta], dtype=real_dtype(xp, dtype), device=device)
    elif not hasattr(delta, "dtype"):
        raise TypeError(f"delta must be a non-negative real number or array, got {type(delta).__name__}")
    elif is_complex(xp, delta):
        raise TypeError(f"delta must be real, got dtype {delta.dtype}")
    elif delta.ndim == 0:
        delta = xp.reshape(delta, (1,))
    delta = xp.asarray(delta, dtype=real_dtype(xp, dtype), device=device)
    if not bool(xp.all(xp.isfinite(delta))):
        raise ValueError("delta must be finite, got non-finite values")
    if not bool(xp.all(delta >= 0)):
        raise ValueError(f"delta must be non-negative (no evolution backwards), got min {float(xp.min(delta))}")
    return delta


def _batch(shapes, names):
    try:
        return tuple(broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        listing = ", ".join(f"{n} {tuple(s)}" for n, s in zip(names, shapes, strict=True))
        raise ValueError(f"batch shapes do not broadcast: {listing}") from None
