"""Checks shared by the tests/test_vjp_*.py files: the adjoint identity, engines, and PyTorch autograd.

Inner products are real: ``⟨a, b⟩ = Re Σ conj(a)·b`` (the convention of :mod:`statespace.vjp`).
The Jacobian–vector product ``J v`` is a central difference with one Richardson step,
``(4 D(h/2) − D(h)) / 3`` with ``D(h) = (f(x + h v) − f(x − h v)) / (2h)``: its truncation
error is O(h⁴) ≈ 1e-16 relative at h = 1e-4, below the 1e-10 of the identity.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from statespace.testing import TOLERANCES

#: Adjoint identity and FD checks in float64 (the issue's 1e-10).
ADJOINT = TOLERANCES["views"]["float64"]
#: Two exact evaluations of one VJP (engines, autograd) in float64: rounding only.
SAME = TOLERANCES["scan"]["float64"]
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None


def inner(a, b) -> float:
    """``Re Σ conj(a)·b`` of two arrays (broadcast) or tuples of arrays."""
    if isinstance(a, (tuple, list)):
        return sum(inner(x, y) for x, y in zip(a, b, strict=True))
    return float(np.real(np.sum(np.conj(np.asarray(a)) * np.asarray(b))))


def like(rng, x):
    """A random array of ``x``'s shape, complex when ``x`` is."""
    x = np.asarray(x)
    out = rng.normal(size=x.shape)
    if np.iscomplexobj(x):
        out = out + 1j * rng.normal(size=x.shape)
    return out


def outputs(value):
    return tuple(value) if isinstance(value, tuple) else (value,)


def jvp(forward, inputs: dict, name: str, v, h: float = 1e-4):
    """``J v`` of ``forward(**inputs)`` along input ``name`` (Richardson-extrapolated central difference)."""

    def at(step):
        return outputs(forward(**{**inputs, name: inputs[name] + step * v}))

    def central(step):
        plus, minus = at(step), at(-step)
        return tuple((p - m) / (2 * step) for p, m in zip(plus, minus, strict=True))

    coarse, fine = central(h), central(h / 2)
    return tuple((4 * f - c) / 3 for f, c in zip(fine, coarse, strict=True))


def check_adjoint(forward, vjp_fn, inputs: dict, names, seed=0):
    """``⟨w, J v⟩ = ⟨Jᵀ w, v⟩`` for each input in ``names``; returns the cotangents for further checks.

    Relative to ``Σ|w|·|J v|``, the size of the terms the inner product adds (a small
    ``⟨w, J v⟩`` from cancelling terms does not tighten the test below rounding).

    ``forward(**inputs)`` returns the output or a tuple of outputs (the final state last);
    ``vjp_fn(inputs, ws)`` returns the dict of cotangents for output cotangents ``ws``.
    """
    rng = np.random.default_rng(seed)
    ws = tuple(like(rng, y) for y in outputs(forward(**inputs)))
    grads = vjp_fn(inputs, ws)
    for name in names:
        v = like(rng, inputs[name])
        jv = jvp(forward, inputs, name, v)
        lhs, rhs = inner(ws, jv), inner(grads[name], v)
        scale = inner(tuple(np.abs(w) for w in ws), tuple(np.abs(y) for y in jv))  # Σ|w||Jv|: no cancellation
        assert abs(lhs - rhs) <= ADJOINT * scale, f"{name}: <w, Jv> = {lhs!r}, <J^T w, v> = {rhs!r} (scale {scale})"
        assert np.shape(grads[name]) == np.shape(inputs[name]), name
        assert np.asarray(grads[name]).dtype == np.asarray(inputs[name]).dtype, name
    return ws, grads


def check_finite_differences(forward, vjp_fn, inputs: dict, names, seed=1):
    """Each cotangent, entry by entry, against central differences of the scalar loss ``⟨w, f(x)⟩``.

    Same Richardson-extrapolated central difference as :func:`jvp`, along each unit vector
    (and ``i`` times it for complex inputs); compared relative to the largest entry.
    """
    rng = np.random.default_rng(seed)
    ws = tuple(like(rng, y) for y in outputs(forward(**inputs)))
    grads = vjp_fn(inputs, ws)
    for name in names:
        x = np.asarray(inputs[name])
        numeric = np.zeros(x.shape, dtype=x.dtype)
        for index in np.ndindex(x.shape):
            for direction in (1.0, 1j) if np.iscomplexobj(x) else (1.0,):
                e = np.zeros(x.shape, dtype=x.dtype)
                e[index] = direction
                numeric[index] += inner(ws, jvp(forward, inputs, name, e)) * direction
        assert_same(grads[name], numeric, f"{name} against finite differences", tol=ADJOINT)


def torch_autograd(forward_xp, inputs: dict, names, ws):
    """Cotangents of ``⟨w, forward_xp(**inputs)⟩`` by PyTorch autograd through the xp engine (torch arrays)."""
    import torch

    tensors = {k: (torch.tensor(np.asarray(v), requires_grad=k in names) if hasattr(v, "shape") else v)
               for k, v in inputs.items()}  # fmt: skip
    outs = outputs(forward_xp(**tensors))
    loss = sum(torch.real(torch.sum(torch.conj(torch.as_tensor(w)) * y)) for w, y in zip(ws, outs, strict=True))
    grads = torch.autograd.grad(loss, [tensors[k] for k in names])
    return {k: g.numpy() for k, g in zip(names, grads, strict=True)}


def assert_same(actual, desired, what, tol=SAME):
    actual, desired = np.asarray(actual), np.asarray(desired)
    scale = max(float(np.max(np.abs(desired))) if desired.size else 0.0, 1e-300)
    error = float(np.max(np.abs(actual - desired))) / scale if desired.size else 0.0
    assert error <= tol, f"{what}: relative difference {error:.2e} > {tol:.0e}"
