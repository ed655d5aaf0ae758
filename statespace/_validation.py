"""Argument checks that produce the error messages promised in DESIGN.md §5.

Every message names the argument, says what was expected and shows what came.
"""

from __future__ import annotations

import math
import numbers

import array_api_compat

__all__ = [
    "broadcast_shapes",
    "broadcasts_to",
    "check_axis",
    "check_choice",
    "check_modal_step",
    "check_step",
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


def check_step(dt, xp, *, batch_shape: tuple, modes: bool, dtype, device=None, name: str = "dt"):
    """Validate a step size and shape it for broadcasting against a system.

    ``dt`` is a positive finite scalar or array.  Its shape broadcasts against
    the system's *batch* shape ``batch_shape`` (``Lambda.shape[:-1]`` for
    diagonal/DPLR systems, ``A.shape[:-2]`` for dense ones).  For systems with
    a mode axis (``modes=True``) an array with one more axis than the batch is
    per-mode (its last axis is the mode axis, size N/2 or 1); otherwise a
    trailing mode axis of size 1 is appended so a per-channel ``dt`` of shape
    ``(H,)`` scales every mode of channel ``h``.

    Returns the step as a real array of ``dtype`` on ``device`` (ready to
    multiply ``Lambda``: shape ``(..., 1)`` or ``(..., N2)``; for dense systems
    shape ``(..., 1, 1)``).

    Raises
    ------
    ValueError
        Non-positive or non-finite values, or a shape that does not broadcast.
    TypeError
        Complex or non-numeric ``dt``.
    """
    if isinstance(dt, bool) or dt is None:
        raise TypeError(f"{name} must be a positive real number or array, got {dt!r}")
    if isinstance(dt, (int, float)):
        check_positive_real(dt, name)
    step = xp.asarray(dt, dtype=dtype, device=device) if isinstance(dt, (int, float)) else dt
    if not isinstance(dt, (int, float)):
        if not hasattr(dt, "dtype"):
            raise TypeError(f"{name} must be a positive real number or array, got {type(dt).__name__}")
        if xp.isdtype(dt.dtype, "complex floating"):
            raise TypeError(f"{name} must be real, got dtype {dt.dtype}")
        step = xp.astype(dt, dtype)
        if not bool(xp.all(xp.isfinite(step))):
            raise ValueError(f"{name} must be finite, got non-finite values")
        if not bool(xp.all(step > 0)):
            raise ValueError(f"{name} must be positive, got min {float(xp.min(step))}")
    nb = len(batch_shape)
    extra = 1 if modes else 2
    if step.ndim > nb + (1 if modes else 0):
        raise ValueError(
            f"{name} has shape {tuple(step.shape)}: too many axes for a system with batch shape {tuple(batch_shape)}"
            + (" (at most one trailing per-mode axis)" if modes else "")
        )
    if not (modes and step.ndim == nb + 1 and nb >= 0 and step.ndim > 0):
        step = xp.reshape(step, tuple(step.shape) + (1,) * extra)
        per = tuple(step.shape[:-extra])
    else:
        per = tuple(step.shape[:-1])
    try:
        broadcast_shapes(per, tuple(batch_shape))
    except ValueError:
        raise ValueError(
            f"{name} of shape {tuple(dt.shape) if hasattr(dt, 'shape') else ()} does not broadcast against "
            f"the system's batch shape {tuple(batch_shape)}"
        ) from None
    return step


def broadcast_shapes(*shapes, names=None) -> tuple:
    """NumPy's broadcasting rule on shape tuples.

    Raises ``ValueError`` when they do not broadcast, naming the arguments
    (``names``, one per shape) when given.
    """
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(-ndim, 0):
        sizes = {s[axis] for s in shapes if len(s) >= -axis and s[axis] != 1}
        if len(sizes) > 1:
            if names is None:
                raise ValueError(f"shapes {', '.join(map(str, shapes))} do not broadcast")
            described = ", ".join(f"{n} {tuple(s)}" for n, s in zip(names, shapes, strict=True))
            raise ValueError(f"batch shapes do not broadcast: {described}")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def check_axis(axis: int, ndim: int, described: str) -> int:
    """``axis`` normalised to ``[0, ndim)``; ``ValueError`` naming ``described`` when out of range."""
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


def check_modal_step(dt, xp, Lambda, *, dtype, name: str = "dt"):
    """:func:`check_step` for a modal system ``Lambda (..., N2)``, plus the size of a per-mode axis (N2 or 1)."""
    step = check_step(
        dt,
        xp,
        batch_shape=tuple(Lambda.shape[:-1]),
        modes=True,
        dtype=dtype,
        device=array_api_compat.device(Lambda),
        name=name,
    )
    if step.shape[-1] not in (1, Lambda.shape[-1]):
        raise ValueError(
            f"{name} of shape {tuple(step.shape)} has a per-mode axis of size {step.shape[-1]}, "
            f"but Lambda of shape {tuple(Lambda.shape)} has {Lambda.shape[-1]} modes"
        )
    return step
