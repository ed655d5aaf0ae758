r"""JAX adapter: the fused numba engines as differentiable JAX functions (``import statespace.jax``).

Each function is a :func:`jax.custom_vjp` whose forward and backward call the statespace
forward (numba engine on the CPU by default) and the matching :mod:`statespace.vjp`
function through :func:`jax.pure_callback`, so they work under ``jax.jit`` and
``jax.grad``; ``vmap`` runs the callback once per batch element. Arrays must be on the CPU
(the callbacks see them as NumPy arrays). Only the time-last layout is taken.

Complex convention: a JAX cotangent is the complex conjugate of the cotangents of
:mod:`statespace.vjp` (``jax.grad`` of a real loss returns
:math:`\partial\ell/\partial\,\mathrm{Re} - i\,\partial\ell/\partial\,\mathrm{Im}`), so the
backward conjugates the output cotangents on the way in and the input cotangents on the
way out; real arrays are unaffected. Higher derivatives are not supported.

Examples
--------
>>> import jax, jax.numpy as jnp, statespace.jax as ssj
>>> grad = jax.grad(lambda a: ssj.linear_scan(a, jnp.ones(4)).sum())(jnp.full(4, 0.5))
>>> [round(float(v), 6) for v in grad]
[0.0, 1.75, 2.25, 1.75]
"""

from __future__ import annotations

import functools

import numpy as np

from . import _kernels, _recurrence, _scan, _selective, vjp
from ._engines import optional_library
from .vjp._selective import CHUNK

jax, jnp = optional_library("jax"), optional_library("jax.numpy")  # optional libraries come through _engines only
if jax is None or jnp is None:
    raise ImportError("statespace.jax needs JAX: pip install jax")

__all__ = ["linear_scan", "selective_scan", "recurrence", "kernel_diag"]


def _spec(shape, dtype):
    return jax.ShapeDtypeStruct(tuple(shape), jnp.dtype(dtype))


def _conj(x):
    return np.conj(x) if np.iscomplexobj(x) else x


@functools.cache
def _function(forward, backward, shapes, names, options):
    """A ``custom_vjp`` over the arrays ``names`` (``None`` inputs dropped), with static ``options``."""
    opts = dict(options)

    def run_forward(*arrays):
        arrays = (np.asarray(a) for a in arrays)
        return tuple(np.asarray(y) for y in forward(**dict(zip(names, arrays, strict=True)), **opts))

    @jax.custom_vjp
    def f(*arrays):
        return jax.pure_callback(run_forward, shapes(*arrays, **opts), *arrays, vmap_method="sequential")

    def fwd(*arrays):
        return f(*arrays), arrays

    def bwd(arrays, cts):
        def run_backward(*values):
            values = [np.asarray(v) for v in values]
            inputs = dict(zip(names, values[: len(names)], strict=True))
            grads = backward(inputs, tuple(_conj(np.asarray(c)) for c in values[len(names) :]), **opts)
            return tuple(np.asarray(_conj(grads[n]), dtype=np.asarray(inputs[n]).dtype) for n in names)

        specs = tuple(_spec(a.shape, a.dtype) for a in arrays)
        return jax.pure_callback(run_backward, specs, *arrays, *cts, vmap_method="sequential")

    f.defvjp(fwd, bwd)
    return f


def _call(forward, backward, shapes, arrays: dict, **options):
    names = tuple(k for k, v in arrays.items() if v is not None)
    f = _function(forward, backward, shapes, names, tuple(sorted(options.items())))
    return f(*(jnp.asarray(arrays[n]) for n in names))


# ---------------------------------------------------------------------------------- linear_scan
def _scan_forward(a, b, x0=None, *, reverse, engine):
    x = _scan.linear_scan(a, b, x0, reverse=reverse, engine=engine)
    last = (
        (x[..., 0] if reverse else x[..., -1])
        if x.shape[-1]
        else np.broadcast_to(np.zeros((), x.dtype) if x0 is None else x0, x.shape[:-1])
    )
    return x, np.array(last, dtype=x.dtype)


def _scan_backward(inputs, cts, *, reverse, engine):
    return vjp.linear_scan(**inputs, grad_y=cts[0], grad_state=cts[1], reverse=reverse, engine=engine)


def _scan_shapes(a, b, x0=None, **_):
    shape = np.broadcast_shapes(a.shape, b.shape)
    dtype = jnp.result_type(*(x.dtype for x in (a, b, x0) if x is not None))
    return _spec(shape, dtype), _spec(shape[:-1], dtype)


def linear_scan(a, b, x0=None, *, reverse=False, return_state=False, engine=None):
    """Differentiable :func:`statespace.linear_scan` (time last) for JAX arrays on the CPU.

    Parameters
    ----------
    a, b, x0, reverse, engine
        As in :func:`statespace.linear_scan`.
    return_state : bool
        Also return the final state.

    Returns
    -------
    x : jax.Array
        The states; with ``return_state=True`` the pair ``(x, last)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, statespace.jax as ssj
    >>> g = jax.grad(lambda x0: ssj.linear_scan(jnp.full(3, 0.5), jnp.ones(3), x0, return_state=True)[1])(1.0)
    >>> float(g)  # d x_2 / d x0 = 0.5**3
    0.125
    """
    x, last = _call(_scan_forward, _scan_backward, _scan_shapes, dict(a=a, b=b, x0=x0), reverse=reverse, engine=engine)
    return (x, last) if return_state else x


# ------------------------------------------------------------------------------- selective_scan
def _selective_forward(u, delta, A, B, C, D=None, z=None, delta_bias=None, x0=None, *, delta_softplus, engine, chunk):
    out, last = _selective.selective_scan(
        u, delta, A, B, C, D, z, delta_bias, delta_softplus=delta_softplus, x0=x0, return_state=True, engine=engine
    )
    return out, last


def _selective_backward(inputs, cts, *, delta_softplus, engine, chunk):
    return vjp.selective_scan(
        **inputs, delta_softplus=delta_softplus, grad_y=cts[0], grad_state=cts[1], engine=engine, chunk=chunk
    )


def _selective_shapes(u, delta, A, B, C, D=None, z=None, delta_bias=None, x0=None, **_):
    reals = [jnp.float32] + [
        jnp.finfo(x.dtype).dtype for x in (u, delta, A, B, C, D, z, delta_bias, x0) if x is not None
    ]
    real = jnp.result_type(*reals)
    state = jnp.result_type(real, jnp.complex64) if jnp.iscomplexobj(A) else real
    return _spec(u.shape, u.dtype), _spec((u.shape[0], u.shape[1], A.shape[1]), state)


def selective_scan(
    u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, x0=None, *,
    return_state=False, engine=None, chunk=CHUNK,
):  # fmt: skip
    """Differentiable :func:`statespace.selective_scan` (Mamba's layouts) for JAX arrays on the CPU.

    Parameters
    ----------
    u, delta, A, B, C, D, z, delta_bias, delta_softplus, x0, engine
        As in :func:`statespace.selective_scan`.
    return_state : bool
        Also return the final state.
    chunk : int
        Steps between the states the numba backward stores.

    Returns
    -------
    out : jax.Array
        ``(batch, D, L)``; with ``return_state=True`` the pair ``(out, state)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np, statespace.jax as ssj
    >>> rng = np.random.default_rng(0)
    >>> u, delta = jnp.asarray(rng.normal(size=(1, 2, 5)), jnp.float32), jnp.full((1, 2, 5), 0.5, jnp.float32)
    >>> B, C = (jnp.asarray(rng.normal(size=(1, 3, 5)), jnp.float32) for _ in range(2))
    >>> gA = jax.grad(lambda A: ssj.selective_scan(u, delta, A, B, C).sum())(-jnp.ones((2, 3), jnp.float32))
    >>> gA.shape
    (2, 3)
    """
    arrays = dict(u=u, delta=delta, A=A, B=B, C=C, D=D, z=z, delta_bias=delta_bias, x0=x0)
    out, last = _call(
        _selective_forward, _selective_backward, _selective_shapes, arrays,
        delta_softplus=bool(delta_softplus), engine=engine, chunk=int(chunk),
    )  # fmt: skip
    return (out, last) if return_state else out


# ---------------------------------------------------------------------------------- recurrence
def _recurrence_forward(Ab, Bb, C, u, D=None, x0=None, *, conj, engine, chunk):
    return _recurrence.recurrence(Ab, Bb, C, u, D, x0, conj=conj, structure="diag", return_state=True, engine=engine)


def _recurrence_backward(inputs, cts, *, conj, engine, chunk):
    return vjp.recurrence(**inputs, conj=conj, grad_y=cts[0], grad_state=cts[1], engine=engine, chunk=chunk)


def _recurrence_shapes(Ab, Bb, C, u, D=None, x0=None, *, conj, **_):
    batch = np.broadcast_shapes(Ab.shape[:-1], Bb.shape[:-1], C.shape[:-1], u.shape[:-1])
    dtype = jnp.result_type(*(x.dtype for x in (Ab, Bb, C, u, D, x0) if x is not None))
    complex_state = jnp.issubdtype(dtype, jnp.complexfloating)
    out = jnp.finfo(dtype).dtype if conj and complex_state else dtype
    return _spec(batch + (u.shape[-1],), out), _spec(batch + (Ab.shape[-1],), dtype)


def recurrence(Ab, Bb, C, u, D=None, x0=None, *, conj=True, return_state=False, engine=None, chunk=2048):
    """Differentiable diagonal :func:`statespace.recurrence` for JAX arrays on the CPU (real ``u`` with ``conj``).

    Parameters
    ----------
    Ab, Bb, C, u, D, x0, conj, engine
        As in :func:`statespace.recurrence` for a diagonal system.
    return_state : bool
        Also return the final state.
    chunk : int
        Steps between the states the numba backward stores.

    Returns
    -------
    y : jax.Array
        The output; with ``return_state=True`` the pair ``(y, state)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, statespace.jax as ssj
    >>> Ab, Bb, C = jnp.array([0.5 + 0.5j]), jnp.array([1.0 + 0j]), jnp.array([0.5 + 0j])
    >>> g = jax.grad(lambda u: ssj.recurrence(Ab, Bb, C, u)[-1])(jnp.ones(3))
    >>> [round(float(v), 6) for v in g]
    [0.0, 0.5, 1.0]
    """
    arrays = dict(Ab=Ab, Bb=Bb, C=C, u=u, D=D, x0=x0)
    y, state = _call(
        _recurrence_forward, _recurrence_backward, _recurrence_shapes, arrays,
        conj=bool(conj), engine=engine, chunk=int(chunk),
    )  # fmt: skip
    return (y, state) if return_state else y


# --------------------------------------------------------------------------------- kernel_diag
def _kernel_forward(Lambda, B, C, dt, *, L, method, per_mode, engine):
    return (_kernels.kernel_diag(Lambda, B, C, dt, L, method=method, per_mode=per_mode, engine=engine),)


def _kernel_backward(inputs, cts, *, L, method, per_mode, engine):
    return vjp.kernel_diag(**inputs, L=L, method=method, per_mode=per_mode, grad_y=cts[0], engine=engine)


def _kernel_shapes(Lambda, B, C, dt, *, L, per_mode, **_):
    batch = Lambda.shape[:-1]
    dt_batch = dt.shape[:-1] if per_mode else dt.shape
    batch = np.broadcast_shapes(batch, B.shape[:-1], C.shape[:-1], dt_batch)
    dtype = jnp.result_type(Lambda.dtype, B.dtype, C.dtype, jnp.complex64)
    return (_spec(batch + (L,), jnp.finfo(dtype).dtype),)


def kernel_diag(Lambda, B, C, dt, L, method="zoh", *, per_mode=False, engine=None):
    """Differentiable :func:`statespace.kernel_diag` (zoh, bilinear, zoh_simplified) for JAX arrays.

    Parameters
    ----------
    Lambda, B, C, dt, L, method, per_mode, engine
        As in :func:`statespace.kernel_diag`.

    Returns
    -------
    jax.Array
        The kernel ``(..., L)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, statespace.jax as ssj
    >>> B = C = jnp.ones(1, jnp.complex64)
    >>> g = jax.grad(lambda dt: ssj.kernel_diag(jnp.array([-0.5 + 1j]), B, C, dt, 8).sum())(jnp.array([0.1]))
    >>> g.shape
    (1,)
    """
    arrays = dict(Lambda=Lambda, B=B, C=C, dt=jnp.asarray(dt))
    options = dict(L=int(L), method=method, per_mode=bool(per_mode), engine=engine)
    return _call(_kernel_forward, _kernel_backward, _kernel_shapes, arrays, **options)[0]
