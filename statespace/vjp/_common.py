"""Shared pieces of the VJP family: undoing broadcasting, casting cotangents back to their input."""

from __future__ import annotations

from .._backend import device_of, is_complex


def unbroadcast(xp, g, shape):
    """Sum cotangent ``g`` over the axes that broadcasting added or stretched, so it has ``shape``.

    The adjoint of broadcasting is summation: an input used at many positions
    collects the cotangents of all of them.
    """
    shape = tuple(shape)
    extra = g.ndim - len(shape)
    if extra > 0:
        g = xp.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, (n, m) in enumerate(zip(shape, g.shape, strict=True)) if n == 1 and m != 1)
    if axes:
        g = xp.sum(g, axis=axes, keepdims=True)
    return xp.reshape(g, shape) if tuple(g.shape) != shape else g


def like(xp, g, x, dtype=None):
    """Cotangent ``g`` in the form of input ``x``: the real part for a real ``x``, ``x``'s shape and dtype.

    For a real input the cotangent with respect to the real inner product
    ``Re Σ conj(a)·b`` is the real part of the complex one.
    """
    if x is None:
        return None
    target = x.dtype if dtype is None else xp.empty((0,), dtype=dtype).dtype  # a dtype object, not a class
    if is_complex(xp, g) and not is_complex(xp, target):
        g = xp.real(g)
    g = unbroadcast(xp, g, x.shape)
    return xp.asarray(g, dtype=target, device=device_of(x))


def zeros_or(xp, g, shape, dtype, device):
    """``g`` broadcast to ``shape`` in ``dtype``; zeros when ``g`` is ``None``."""
    if g is None:
        return xp.zeros(shape, dtype=dtype, device=device)
    return xp.broadcast_to(xp.asarray(g, dtype=dtype, device=device), shape)


def conj(xp, x):
    """Complex conjugate (the identity on real arrays)."""
    return xp.conj(x) if is_complex(xp, x) else x
