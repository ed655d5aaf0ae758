"""statespace.jax: jax.grad equals the conjugated VJP; jit; the state flows in and out."""

from __future__ import annotations

import numpy as np
import pytest
from vjp_checks import assert_same

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
ssj = pytest.importorskip("statespace.jax")

from statespace import vjp  # noqa: E402


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _loss_weights(rng, *shapes_dtypes):
    return [rng.normal(size=s) + (1j * rng.normal(size=s) if np.issubdtype(d, np.complexfloating) else 0)
            for s, d in shapes_dtypes]  # fmt: skip


def _real_loss(ws, outs):
    return sum(jnp.real(jnp.sum(jnp.conj(w) * y)) for w, y in zip(ws, outs, strict=True))


@pytest.mark.parametrize("kind", ["real", "complex"])
def test_linear_scan_grad_is_the_conjugate_vjp(kind):
    rng = np.random.default_rng(0)
    a, b, x0 = rng.uniform(-0.9, 0.9, (2, 6)), rng.normal(size=(2, 6)), rng.normal(size=2)
    if kind == "complex":
        a, b, x0 = a * np.exp(1j * rng.uniform(0, 6, a.shape)), b + 1j * rng.normal(size=b.shape), x0 + 0.5j
    gy, gs = _loss_weights(rng, (b.shape, b.dtype), (x0.shape, x0.dtype))

    def loss(a, b, x0):
        return _real_loss((gy, gs), ssj.linear_scan(a, b, x0, return_state=True))

    grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(a, b, x0)
    ours = vjp.linear_scan(a, b, x0, grad_y=gy, grad_state=gs)
    for name, g in zip(("a", "b", "x0"), grads, strict=True):
        assert_same(np.conj(np.asarray(g)), ours[name], name)


@pytest.mark.parametrize("kind", ["real", "complex"])
def test_selective_scan_grad_is_the_conjugate_vjp(kind):
    rng = np.random.default_rng(1)
    cplx = kind == "complex"
    length = 5
    inputs = dict(
        u=rng.normal(size=(2, 4, length)),
        delta=0.5 * rng.normal(size=(2, 4, length)),
        A=-rng.uniform(0.5, 1.5, (4, 3)) + (1j * rng.normal(size=(4, 3)) if cplx else 0),
        B=rng.normal(size=(2, 2, 3, 2 * length if cplx else length)),
        C=rng.normal(size=(1, 3, 2 * length if cplx else length)),
        D=rng.normal(size=4),
        z=rng.normal(size=(2, 4, length)),
        delta_bias=0.3 * rng.normal(size=4),
        x0=rng.normal(size=(2, 4, 3)) + (1j * rng.normal(size=(2, 4, 3)) if cplx else 0),
    )
    names = list(inputs)
    gy, gs = _loss_weights(rng, ((2, 4, length), np.float64), ((2, 4, 3), inputs["x0"].dtype))

    def loss(*arrays):
        outs = ssj.selective_scan(**dict(zip(names, arrays, strict=True)), delta_softplus=True, return_state=True)
        return _real_loss((gy, gs), outs)

    grads = jax.grad(loss, argnums=tuple(range(len(names))))(*inputs.values())
    ours = vjp.selective_scan(**inputs, delta_softplus=True, grad_y=gy, grad_state=gs)
    for name, g in zip(names, grads, strict=True):
        assert_same(np.conj(np.asarray(g)), ours[name], name)


def test_recurrence_and_kernel_diag_grads():
    rng = np.random.default_rng(2)
    Ab = rng.uniform(0.3, 0.9, (2, 3)) * np.exp(1j * rng.uniform(0, 3, (2, 3)))
    Bb, C = rng.normal(size=(2, 3)) + 1j * rng.normal(size=(2, 3)), rng.normal(size=(2, 3)) + 1j
    u, x0 = rng.normal(size=(2, 7)), rng.normal(size=(2, 3)) + 1j * rng.normal(size=(2, 3))
    gy, gs = rng.normal(size=(2, 7)), rng.normal(size=(2, 3)) + 1j * rng.normal(size=(2, 3))

    def loss(Ab, Bb, C, u, x0):
        return _real_loss((gy, gs), ssj.recurrence(Ab, Bb, C, u, x0=x0, return_state=True))

    grads = jax.grad(loss, argnums=(0, 1, 2, 3, 4))(Ab, Bb, C, u, x0)
    ours = vjp.recurrence(Ab, Bb, C, u, x0=x0, grad_y=gy, grad_state=gs)
    for name, g in zip(("Ab", "Bb", "C", "u", "x0"), grads, strict=True):
        assert_same(np.conj(np.asarray(g)), ours[name], name)

    Lambda, dt, w = -rng.uniform(0.1, 1, (2, 3)) + 1j * rng.normal(size=(2, 3)), rng.uniform(0.05, 0.3, 2), gy
    grads = jax.grad(lambda *a: jnp.sum(w * ssj.kernel_diag(*a, 7)), argnums=(0, 1, 2, 3))(Lambda, Bb, C, dt)
    ours = vjp.kernel_diag(Lambda, Bb, C, dt, 7, grad_y=w)
    for name, g in zip(("Lambda", "B", "C", "dt"), grads, strict=True):
        assert_same(np.conj(np.asarray(g)), ours[name], name)
