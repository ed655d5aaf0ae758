r"""PyTorch adapter: the fused engines as differentiable functions (``import statespace.torch``).

Each function takes CPU tensors, runs the statespace forward (numba engine by default) on
their memory, and registers the matching :mod:`statespace.vjp` function as its backward
through :class:`torch.autograd.Function`, so ``loss.backward()`` runs the fused backward
engines instead of tracing thousands of small operations::

    import statespace.torch as sst
    y, state = sst.selective_scan(u, delta, A, B, C, D=D, z=z, x0=x0, return_state=True)
    (y.square().sum() + state.abs().sum()).backward()

Complex convention: PyTorch's ``.grad`` of a complex tensor is
:math:`\partial\ell/\partial\,\mathrm{Re} + i\,\partial\ell/\partial\,\mathrm{Im}`, the
convention of :mod:`statespace.vjp`, so cotangents pass through unchanged (JAX's are their
conjugates; see :mod:`statespace.jax`). Tensors must live on the CPU: nothing is copied
between devices behind the caller's back. Higher derivatives are not supported (the backward
is not itself differentiable).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _kernels, _recurrence, _scan, _selective, _vandermonde, vjp
from ._engines import optional_library
from .vjp._selective import CHUNK

torch = optional_library("torch")  # the package reaches optional libraries through _engines only
if torch is None:
    raise ImportError("statespace.torch needs PyTorch: pip install torch")
Function: Any = torch.autograd.Function

__all__ = ["linear_scan", "selective_scan", "recurrence", "kernel_diag", "vandermonde"]


def _np(t):
    if t is None or not isinstance(t, torch.Tensor):
        return t
    if t.device.type != "cpu":
        raise TypeError(f"statespace.torch runs on CPU tensors, got a tensor on {t.device}; move it with .cpu()")
    return t.detach().resolve_conj().numpy()


def _tensor(a):
    return None if a is None else torch.from_numpy(np.require(a, requirements=["C", "W"]))


def _grads(ctx, grads: dict, names):
    """Cotangents as tensors, in argument order; ``None`` where an input needs none."""
    out = []
    for needs, name in zip(ctx.needs_input_grad, names, strict=False):
        g = grads.get(name) if name else None
        out.append(_tensor(np.asarray(g)) if needs and g is not None else None)
    return tuple(out) + (None,) * (len(ctx.needs_input_grad) - len(out))


class _LinearScan(Function):
    @staticmethod
    def forward(ctx, a, b, x0, reverse, engine):
        x = _scan.linear_scan(_np(a), _np(b), _np(x0), reverse=reverse, engine=engine)
        if x.shape[-1]:
            last = x[..., 0] if reverse else x[..., -1]
        else:
            last = np.broadcast_to(np.zeros((), x.dtype) if x0 is None else _np(x0), x.shape[:-1])
        x, last = _tensor(x), _tensor(np.array(last))
        ctx.save_for_backward(a, b, x0, x)
        ctx.options = (reverse, engine)
        return x, last

    @staticmethod
    def backward(ctx, gx, glast):
        a, b, x0, x = ctx.saved_tensors
        reverse, engine = ctx.options
        g = vjp.linear_scan(
            *(_np(t) for t in (a, b, x0)),
            grad_y=_np(gx),
            grad_state=_np(glast),
            reverse=reverse,
            states=_np(x),
            engine=engine,
        )
        return _grads(ctx, g, ("a", "b", "x0"))


def linear_scan(a, b, x0=None, *, reverse=False, return_state=False, engine=None):
    """Differentiable :func:`statespace.linear_scan` on CPU tensors (time last).

    Parameters
    ----------
    a, b, x0, reverse, engine
        As in :func:`statespace.linear_scan` (``engine`` runs the forward and the backward).
    return_state : bool
        Also return the final state (gradients flow out of it and into ``x0``).

    Returns
    -------
    x : torch.Tensor
        The states; with ``return_state=True`` the pair ``(x, last)``.

    Examples
    --------
    >>> import torch, statespace.torch as sst
    >>> a = torch.full((4,), 0.5, dtype=torch.float64, requires_grad=True)
    >>> x = sst.linear_scan(a, torch.ones(4, dtype=torch.float64))
    >>> x.sum().backward()
    >>> a.grad.tolist()
    [0.0, 1.75, 2.25, 1.75]
    """
    x, last = _LinearScan.apply(a, b, x0, reverse, engine)
    return (x, last) if return_state else x


_SELECTIVE = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias", None, "x0")


class _SelectiveScan(Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, x0, engine, chunk):
        arrays = [_np(t) for t in (u, delta, A, B, C, D, z, delta_bias)]
        out, last = _selective.selective_scan(
            *arrays, delta_softplus=delta_softplus, x0=_np(x0), return_state=True, engine=engine
        )
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, x0)
        ctx.options = (delta_softplus, engine, chunk)
        return _tensor(out), _tensor(np.asarray(last))

    @staticmethod
    def backward(ctx, gout, glast):
        u, delta, A, B, C, D, z, delta_bias, x0 = ctx.saved_tensors
        delta_softplus, engine, chunk = ctx.options
        g = vjp.selective_scan(
            *(_np(t) for t in (u, delta, A, B, C, D, z, delta_bias)),
            delta_softplus=delta_softplus,
            x0=_np(x0),
            grad_y=_np(gout),
            grad_state=_np(glast),
            engine=engine,
            chunk=chunk,
        )
        return _grads(ctx, g, _SELECTIVE)


def selective_scan(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    delta_softplus=False,
    x0=None,
    *,
    return_state=False,
    engine=None,
    chunk=CHUNK,
):
    """Differentiable :func:`statespace.selective_scan` (Mamba's layouts) on CPU tensors.

    Parameters
    ----------
    u, delta, A, B, C, D, z, delta_bias, delta_softplus, x0, engine
        As in :func:`statespace.selective_scan`.
    return_state : bool
        Also return the final state ``(batch, D, N)``.
    chunk : int
        Steps between the states the numba backward stores (:func:`statespace.vjp.selective_scan`).

    Returns
    -------
    out : torch.Tensor
        ``(batch, D, L)``; with ``return_state=True`` the pair ``(out, state)``.

    Examples
    --------
    >>> import torch, statespace.torch as sst
    >>> g = torch.Generator().manual_seed(0)
    >>> u = torch.randn(1, 2, 6, dtype=torch.float64, generator=g, requires_grad=True)
    >>> delta = torch.rand(1, 2, 6, dtype=torch.float64, generator=g)
    >>> A = torch.full((2, 3), -1.0, dtype=torch.float64, requires_grad=True)
    >>> B = torch.randn(1, 3, 6, dtype=torch.float64, generator=g)
    >>> C = torch.randn(1, 3, 6, dtype=torch.float64, generator=g)
    >>> sst.selective_scan(u, delta, A, B, C).sum().backward()
    >>> u.grad.shape, A.grad.shape
    (torch.Size([1, 2, 6]), torch.Size([2, 3]))
    """
    out, last = _SelectiveScan.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus, x0, engine, chunk)
    return (out, last) if return_state else out


class _Recurrence(Function):
    @staticmethod
    def forward(ctx, Ab, Bb, C, u, D, x0, conj, engine, chunk):
        y, state = _recurrence.recurrence(
            *(_np(t) for t in (Ab, Bb, C, u, D, x0)), conj=conj, structure="diag", return_state=True, engine=engine
        )
        ctx.save_for_backward(Ab, Bb, C, u, D, x0)
        ctx.options = (conj, engine, chunk)
        return _tensor(np.asarray(y)), _tensor(np.asarray(state))

    @staticmethod
    def backward(ctx, gy, gstate):
        Ab, Bb, C, u, D, x0 = ctx.saved_tensors
        conj, engine, chunk = ctx.options
        g = vjp.recurrence(
            *(_np(t) for t in (Ab, Bb, C, u, D, x0)),
            conj=conj,
            grad_y=_np(gy),
            grad_state=_np(gstate),
            engine=engine,
            chunk=chunk,
        )
        return _grads(ctx, g, ("Ab", "Bb", "C", "u", "D", "x0"))


def recurrence(Ab, Bb, C, u, D=None, x0=None, *, conj=True, return_state=False, engine=None, chunk=2048):
    """Differentiable diagonal :func:`statespace.recurrence` on CPU tensors (real ``u`` with ``conj=True``).

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
    y : torch.Tensor
        The output; with ``return_state=True`` the pair ``(y, state)``.

    Examples
    --------
    >>> import torch, statespace.torch as sst
    >>> Ab = torch.tensor([0.5 + 0.5j], requires_grad=True)
    >>> y = sst.recurrence(Ab, torch.tensor([1.0 + 0j]), torch.tensor([0.5 + 0j]), torch.ones(3))
    >>> y.sum().backward()
    >>> Ab.grad.shape
    torch.Size([1])
    """
    y, state = _Recurrence.apply(Ab, Bb, C, u, D, x0, conj, engine, chunk)
    return (y, state) if return_state else y


class _KernelDiag(Function):
    @staticmethod
    def forward(ctx, Lambda, B, C, dt, L, method, per_mode, engine):
        K = _kernels.kernel_diag(
            *(_np(t) for t in (Lambda, B, C, dt)), L, method=method, per_mode=per_mode, engine=engine
        )
        ctx.save_for_backward(Lambda, B, C, dt if isinstance(dt, torch.Tensor) else None)
        ctx.options = (dt, L, method, per_mode, engine)
        return _tensor(np.asarray(K))

    @staticmethod
    def backward(ctx, gK):
        Lambda, B, C, dt_t = ctx.saved_tensors
        dt, L, method, per_mode, engine = ctx.options
        dt = dt if dt_t is None else dt_t
        g = vjp.kernel_diag(
            *(_np(t) for t in (Lambda, B, C, dt)), L, method, per_mode=per_mode, grad_y=_np(gK), engine=engine
        )
        return _grads(ctx, g, ("Lambda", "B", "C", "dt"))


def kernel_diag(Lambda, B, C, dt, L, method="zoh", *, per_mode=False, engine=None):
    """Differentiable :func:`statespace.kernel_diag` (zoh, bilinear, zoh_simplified) on CPU tensors.

    Parameters
    ----------
    Lambda, B, C, dt, L, method, per_mode, engine
        As in :func:`statespace.kernel_diag`; ``dt`` may be a tensor (it then gets a gradient).

    Returns
    -------
    torch.Tensor
        The kernel ``(..., L)``.

    Examples
    --------
    >>> import torch, statespace.torch as sst
    >>> Lambda = torch.tensor([-0.5 + 1j], requires_grad=True)
    >>> K = sst.kernel_diag(Lambda, torch.ones(1, dtype=torch.complex128), torch.ones(1, dtype=torch.complex128),
    ...                     torch.tensor([0.1], dtype=torch.float64), 8)
    >>> K.sum().backward()
    >>> Lambda.grad.dtype
    torch.complex64
    """
    return _KernelDiag.apply(Lambda, B, C, dt, L, method, per_mode, engine)


class _Vandermonde(Function):
    @staticmethod
    def forward(ctx, v, x, L, conj, engine):
        ctx.save_for_backward(v, x)
        ctx.options = (L, conj, engine)
        return _tensor(np.asarray(_vandermonde.vandermonde(_np(v), _np(x), L, conj=conj, engine=engine)))

    @staticmethod
    def backward(ctx, gy):
        v, x = ctx.saved_tensors
        L, conj, engine = ctx.options
        g = vjp.vandermonde(_np(v), _np(x), L, conj, grad_y=_np(gy), engine=engine)
        return _grads(ctx, g, ("v", "x"))


def vandermonde(v, x, L, conj=True, *, engine=None):
    """Differentiable :func:`statespace.vandermonde` on CPU tensors.

    Parameters
    ----------
    v, x, L, conj, engine
        As in :func:`statespace.vandermonde`.

    Returns
    -------
    torch.Tensor
        The sums ``(..., L)``.

    Examples
    --------
    >>> import torch, statespace.torch as sst
    >>> v = torch.tensor([1.0 + 0j], dtype=torch.complex128, requires_grad=True)
    >>> sst.vandermonde(v, torch.tensor([-0.7 + 0j], dtype=torch.complex128), 3).sum().backward()
    >>> v.grad.shape
    torch.Size([1])
    """
    return _Vandermonde.apply(v, x, L, conj, engine)
