"""Argument checks that produce the error messages promised in DESIGN.md §5.

Every message names the argument, says what was expected and shows what came.
"""

from __future__ import annotations

import math
import numbers

__all__ = [
    "check_choice",
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
    value = check_nonnegative_int(value, name)
    if value == 0:
        raise ValueError(f"{name} must be positive, got 0")
    return value


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
