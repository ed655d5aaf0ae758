r"""Vector–Jacobian products (backward passes) of the hot functions, as numerics of their own.

Each function here is named like the forward it differentiates and takes the forward's
arguments, then the cotangents of the forward's outputs as keywords (``grad_y`` for the
sequence output, ``grad_state`` for the final state where the forward returns one), and
returns a ``dict`` mapping each differentiable argument's name to its cotangent, of that
argument's shape and dtype (``None`` for an optional argument that was not given, except
initial states, whose cotangent is always returned)::

    g = statespace.vjp.linear_scan(a, b, x0, grad_y=gy, grad_state=gs)
    g["a"], g["b"], g["x0"]

No framework is needed: the functions are array-API code (``engine="xp"``) with fused
Numba engines (``engine="numba"``) for :func:`linear_scan`, :func:`selective_scan` and the
diagonal :func:`recurrence`. :mod:`statespace.torch` and :mod:`statespace.jax` hand them to
``loss.backward()`` and ``jax.grad``.

Complex convention
------------------
A cotangent is the gradient with respect to the real inner product
:math:`\langle a, b\rangle = \mathrm{Re}\sum \overline{a}\,b`: for a real loss :math:`\ell`
of a complex input :math:`z = x + iy`,

.. math::

    \bar z = \frac{\partial \ell}{\partial x} + i\,\frac{\partial \ell}{\partial y}
           = 2\,\frac{\partial \ell}{\partial \overline{z}},

so that :math:`\ell(z - \eta\bar z)` decreases for small :math:`\eta`, and the adjoint
identity :math:`\mathrm{Re}\langle w, J v\rangle = \mathrm{Re}\langle J^{*} w, v\rangle`
holds for every (real-linear) Jacobian :math:`J`. For a holomorphic map
:math:`y = f(z)` this gives :math:`\bar z = \overline{f'(z)}\,\bar y`. This is PyTorch's
``.grad`` convention; JAX's cotangents are the complex conjugate (``jax.grad`` of a real
loss returns :math:`\partial\ell/\partial x - i\,\partial\ell/\partial y`), which
:mod:`statespace.jax` applies on the way in and out. Real inputs get real cotangents.
"""

from ._conv import cauchy, causal_conv
from ._dplr import kernel_dplr
from ._kernels import kernel_diag, vandermonde
from ._recurrence import recurrence
from ._scan import linear_scan
from ._selective import selective_scan

__all__ = [
    "linear_scan",
    "selective_scan",
    "recurrence",
    "causal_conv",
    "cauchy",
    "vandermonde",
    "kernel_diag",
    "kernel_dplr",
]
