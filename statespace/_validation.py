"""Argument checks that produce the error messages promised in DESIGN.md §5.

Every message names the argument, says what was expected and shows what came.
"""

from __future__ import annotations

import math
import numbers
import sys

import array_api_compat

__all__ = [
    "broadcast_shapes",
    "broadcasts_to",
    "check_axis",
    "check_choice",
    "check_modal_step",
    "check_step",
    "check_flag",
    "deprecated_keyword",
    "step_array",
    "require_modes",
    "check_positive_int",
    "check_nonnegative_int",
    "check_even",
    "check_finite_real",
    "check_positive_real",
    "check_unit_interval",
]


def check_choice(value, name: str, choices) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    if not isinstance(value, str) or value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"unknown {name} {value!r}; expected one of {valid}")
    return value


def check_nonnegative_int(value, name: str) -> int:
    """Return ``int(value)`` for a non-negative integer; ``TypeError``/``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")
    return int(value)


def check_positive_int(value, name: str) -> int:
    """Return ``int(value)`` for a positive integer; ``TypeError``/``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def check_even(value: int, name: str, why: str = "modes come in conjugate pairs") -> int:
    """Require an even positive integer (``why`` explains the requirement)."""
    value = check_positive_int(value, name)
    if value % 2:
        raise ValueError(f"{name} must be even ({why}), got {value}")
    return value


def check_finite_real(value, name: str) -> float:
    """Return ``float(value)`` for a finite real number; refuse NaN and ±inf."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_positive_real(value, name: str) -> float:
    """Return ``float(value)`` for a finite, strictly positive real number."""
    value = check_finite_real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def check_unit_interval(value, name: str) -> float:
    """Return ``float(value)`` for a finite real in [0, 1]."""
    value = check_finite_real(value, name)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return value


def check_flag(value, name: str) -> bool:
    """Return ``value`` if it is a ``bool``; ``TypeError`` otherwise (``conj="False"`` is truthy, never a flag)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool (True or False), got {value!r} of type {type(value).__name__}")
    return value


def deprecated_keyword(new_value, old_value, *, new: str, old: str, func: str, default=False):
    """The value of keyword ``new`` when the caller may still spell it ``old`` (one release of grace).

    ``old_value`` is ``None`` when the old spelling was not used.  Using it warns
    with a ``DeprecationWarning`` that names the new spelling; using both refuses.
    """
    if old_value is None:
        return new_value
    import warnings

    if new_value is not default:
        raise TypeError(f"{func}() got both {new}= and its deprecated spelling {old}=; pass only {new}=")
    warnings.warn(
        f"{func}(): {old}= is deprecated and will be removed in 0.3; use {new}= instead",
        DeprecationWarning,
        stacklevel=outside_stacklevel(),
    )
    return old_value


def outside_stacklevel() -> int:
    """The ``stacklevel`` of a warning that points at the first caller outside :mod:`statespace`.

    The public functions reach their bodies through the dispatch decorator, so the number of
    package frames between the user and a warning is not fixed.
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("statespace."):
        frame, level = frame.f_back, level + 1
    return level


def step_array(dt, xp, *, dtype, device=None, name: str = "dt"):
    """``dt`` as a positive, finite, real array of ``dtype`` (scalars and sequences converted once)."""
    if dt is None or isinstance(dt, (bool, str)):
        raise TypeError(f"{name} must be a positive real number or array, got {dt!r}")
    if isinstance(dt, numbers.Real):
        check_positive_real(dt, name)
        return xp.asarray(float(dt), dtype=dtype, device=device)
    if isinstance(dt, complex):
        raise TypeError(f"{name} must be real, got the complex number {dt!r}")
    if not hasattr(dt, "dtype"):
        if not isinstance(dt, (list, tuple)):
            raise TypeError(f"{name} must be a positive real number or array, got {type(dt).__name__}")
        try:
            dt = xp.asarray(dt, device=device)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must be a positive real number or array, got the sequence {dt!r}") from error
    if xp.isdtype(dt.dtype, "bool"):
        raise TypeError(f"{name} must be a real array of step sizes, got a bool array of shape {tuple(dt.shape)}")
    if xp.isdtype(dt.dtype, "complex floating"):
        raise TypeError(f"{name} must be real, got dtype {dt.dtype}")
    if not xp.isdtype(dt.dtype, ("real floating", "integral")):
        raise TypeError(f"{name} must be a real array of step sizes, got dtype {dt.dtype}")
    step = xp.astype(dt, dtype)
    if not bool(xp.all(xp.isfinite(step))):
        raise ValueError(f"{name} must be finite, got non-finite values (shape {tuple(dt.shape)})")
    if step.ndim and step.shape and 0 in tuple(step.shape):
        return step
    if not bool(xp.all(step > 0)):
        raise ValueError(f"{name} must be positive, got min {float(xp.min(step))} (shape {tuple(dt.shape)})")
    return step


def check_step(
    dt, xp, *, batch_shape: tuple, modes: bool, dtype, device=None, per_mode: bool = False, name: str = "dt"
):
    """Validate a step size and shape it for broadcasting against a system: THE step-size rule.

    The rule (the user guide's Conventions page): without ``per_mode``, the
    whole shape of ``dt`` is a *batch* shape of systems.  It broadcasts (NumPy's
    rule) against the system's batch shape ``batch_shape`` (``Lambda.shape[:-1]``
    for modal systems, ``A.shape[:-2]`` for dense ones), and the result holds
    one discrete system per element of the broadcast batch: a ``dt (H,)`` with a
    shared ``Lambda (N2,)`` gives ``H`` systems ``(H, N2)``, whatever ``H`` and
    ``N2`` are.  With ``per_mode=True`` (modal systems only) the *last* axis of
    ``dt`` is the mode axis (size N2 or 1) and the axes before it are the batch.
    No shape is ever read two ways: the reading depends on the keyword only.

    Returns the step as a real array of ``dtype`` on ``device``, ready to
    multiply: ``dt.shape + (1,)`` for modal systems (``dt.shape`` with
    ``per_mode=True``), ``dt.shape + (1, 1)`` for dense ones.

    Raises
    ------
    ValueError
        Non-positive or non-finite values, a shape that does not broadcast
        (the message says how to write the other reading), ``per_mode`` for a
        dense system.
    TypeError
        Complex, bool or non-numeric ``dt``, a non-bool ``per_mode``.
    """
    check_flag(per_mode, "per_mode")
    step = step_array(dt, xp, dtype=dtype, device=device, name=name)
    given: tuple = tuple(step.shape) if isinstance(dt, (list, tuple)) else tuple(getattr(dt, "shape", ()))
    batch_shape = tuple(batch_shape)
    if per_mode:
        if not modes:
            raise ValueError(
                f"per_mode=True needs a modal (diagonal) system; {name} of a dense system is one per system"
            )
        if step.ndim < 1:
            raise ValueError(f"per_mode=True needs {name} with a trailing mode axis (..., N2), got a scalar")
        per = given[:-1]
    else:
        per = given
        step = xp.reshape(step, given + ((1,) if modes else (1, 1)))
    try:
        broadcast_shapes(per, batch_shape)
    except ValueError:
        hint = ""
        if modes and not per_mode and len(given) >= 1:
            hint = (
                f"; {name} is one step per system (its whole shape is a batch shape, see the Conventions page): "
                f"for one step per mode pass per_mode=True"
            )
        elif per_mode:
            hint = f"; with per_mode=True the last axis of {name} is the mode axis and the axes before it the batch"
        raise ValueError(
            f"{name} of shape {given} does not broadcast against the system's batch shape {batch_shape}{hint}"
        ) from None
    return step


def broadcast_shapes(*shapes, names=None) -> tuple:
    """NumPy's broadcasting rule on shape tuples.

    Raises ``ValueError`` when they do not broadcast, naming the arguments
    (``names``, one per shape) when given.
    """
    if shapes and all(s == shapes[0] for s in shapes):  # fast path: equal shapes broadcast to themselves
        return tuple(shapes[0])
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for shape in shapes:
        offset = ndim - len(shape)
        for i, size in enumerate(shape):
            if size != 1:
                seen = out[offset + i]
                if seen == 1:
                    out[offset + i] = size
                elif seen != size:
                    if names is None:
                        raise ValueError(f"shapes {', '.join(map(str, shapes))} do not broadcast")
                    described = ", ".join(f"{n} {tuple(s)}" for n, s in zip(names, shapes, strict=True))
                    raise ValueError(f"batch shapes do not broadcast: {described}")
    return tuple(out)


def check_axis(axis: int, ndim: int, described: str) -> int:
    """``axis`` normalised to ``[0, ndim)``; ``TypeError`` for a non-integer, ``ValueError`` out of range."""
    if type(axis) is not int and (isinstance(axis, bool) or not isinstance(axis, numbers.Integral)):
        raise TypeError(f"axis must be an integer, got {axis!r} of type {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for {described}")
    return axis % ndim


def broadcasts_to(shape, target) -> bool:
    """Whether ``shape`` broadcasts to exactly ``target`` (NumPy rules)."""
    try:
        return broadcast_shapes(tuple(shape), tuple(target)) == tuple(target)
    except ValueError:
        return False


def require_modes(x, name: str, n_modes: int | None = None, min_ndim: int = 1):
    """Check that ``x`` is an array with a trailing mode axis (of size ``n_modes`` when given)."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} axis/axes, got shape {tuple(x.shape)}")
    if n_modes is not None and x.shape[-1] != n_modes:
        raise ValueError(
            f"mode axes do not match: {name} has {x.shape[-1]} modes on its last axis (shape {tuple(x.shape)}), "
            f"expected {n_modes}"
        )


def check_modal_step(dt, xp, Lambda, *, dtype, per_mode: bool = False, name: str = "dt", operands: dict | None = None):
    """:func:`check_step` for a modal system ``Lambda (..., N2)``; a per-mode axis must have size N2 or 1.

    ``operands`` (name → array with a trailing mode axis, or a batch shape tuple) are
    the system's other arrays (``B``, ``C``, ...): the system's batch shape is that of
    ``Lambda`` broadcast with theirs, and a mismatch among them is reported by name.
    """
    shapes = {"Lambda": tuple(Lambda.shape[:-1])}
    for key, value in (operands or {}).items():  # arrays with a mode axis, or batch shapes given as tuples
        if value is not None:
            shapes[key] = value if isinstance(value, tuple) else tuple(value.shape[:-1])
    batch = broadcast_shapes(*shapes.values(), names=tuple(shapes))
    step = check_step(
        dt,
        xp,
        batch_shape=batch,
        modes=True,
        dtype=dtype,
        device=array_api_compat.device(Lambda),
        per_mode=per_mode,
        name=name,
    )
    if step.shape[-1] not in (1, Lambda.shape[-1]):
        raise ValueError(
            f"{name} of shape {tuple(step.shape)} has a per-mode axis (per_mode=True) of size {step.shape[-1]}, "
            f"but Lambda of shape {tuple(Lambda.shape)} has {Lambda.shape[-1]} modes; expected {Lambda.shape[-1]} or 1"
        )
    return step
