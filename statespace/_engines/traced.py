"""Values traced by a JAX transformation (``jax.jit``, ``vmap``, ...): detection, and the JAX code they need.

Python cannot read a traced value, so the array-API code cannot branch on it. The few functions that
would (``expm`` chooses its Padé degree and squarings from norms) hand traced input to JAX here; the
others skip host-side checks that cannot be decided (``kernel_diag``'s instability warning).
"""

from __future__ import annotations

import sys

__all__ = ["is_traced", "expm"]


def is_traced(x) -> bool:
    """Whether ``x`` is a value traced by a JAX transformation: Python cannot read its data."""
    jax = sys.modules.get("jax")  # never imported here: a traced value means JAX is running already
    return jax is not None and isinstance(x, jax.core.Tracer)


def expm(A):
    """``jax.scipy.linalg.expm`` (Higham 2005 with ``lax`` control flow; its squarings are capped at 16)."""
    import jax.scipy.linalg

    return jax.scipy.linalg.expm(A)
