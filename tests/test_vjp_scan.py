"""statespace.vjp.linear_scan: adjoint identity, finite differences, PyTorch autograd, numba = xp."""

from __future__ import annotations

import numpy as np
import pytest
from vjp_checks import HAS_TORCH, assert_same, check_adjoint, check_finite_differences, torch_autograd

import statespace
from statespace import vjp

ENGINES = ["xp", pytest.param("numba", marks=pytest.mark.numba)]


def _inputs(kind, const_gate, seed=0):
    rng = np.random.default_rng(seed)
    shape = (2, 3, 6)
    a = rng.uniform(-0.95, 0.95, size=(3, 1) if const_gate else shape)
    b, x0 = rng.normal(size=shape), rng.normal(size=(2, 3))
    if kind == "complex":
        a = a * np.exp(1j * rng.uniform(0, 2 * np.pi, a.shape))
        b, x0 = b + 1j * rng.normal(size=shape), x0 + 1j * rng.normal(size=(2, 3))
    return {"a": a, "b": b, "x0": x0}


def _forward(reverse, engine="xp"):
    def f(a, b, x0):
        x = statespace.linear_scan(a, b, x0, reverse=reverse, engine=engine)
        return x, (x[..., 0] if reverse else x[..., -1])

    return f


def _vjp(reverse, engine):
    def g(inputs, ws):
        return vjp.linear_scan(**inputs, grad_y=ws[0], grad_state=ws[1], reverse=reverse, engine=engine)

    return g


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("const_gate", [False, True])
@pytest.mark.parametrize("kind", ["real", "complex"])
def test_adjoint_identity(kind, const_gate, reverse, engine):
    check_adjoint(_forward(reverse), _vjp(reverse, engine), _inputs(kind, const_gate), ["a", "b", "x0"])


@pytest.mark.parametrize("kind", ["real", "complex"])
def test_finite_differences(kind):
    check_finite_differences(_forward(False), _vjp(False, "xp"), _inputs(kind, False), ["a", "b", "x0"])


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
@pytest.mark.filterwarnings("ignore:torch.asarray:UserWarning")
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("kind", ["real", "complex"])
def test_agrees_with_torch_autograd_through_xp(kind, reverse):
    inputs = _inputs(kind, False, seed=3)
    ws, ours = check_adjoint(_forward(reverse), _vjp(reverse, "xp"), inputs, [])
    theirs = torch_autograd(_forward(reverse), inputs, ["a", "b", "x0"], ws)
    for name in theirs:
        assert_same(ours[name], theirs[name], name)


@pytest.mark.numba
@pytest.mark.parametrize("kind", ["real", "complex"])
def test_numba_matches_xp(kind):
    inputs = _inputs(kind, True, seed=4)
    rng = np.random.default_rng(5)
    gy = rng.normal(size=(2, 3, 6)) + (1j * rng.normal(size=(2, 3, 6)) if kind == "complex" else 0)
    for reverse in (False, True):
        xp_, nb = (vjp.linear_scan(**inputs, grad_y=gy, reverse=reverse, engine=e) for e in ("xp", "numba"))
        for name in xp_:
            assert_same(nb[name], xp_[name], name)


def test_time_axis_broadcasting_and_defaults():
    rng = np.random.default_rng(6)
    a, b = rng.uniform(0.1, 0.9, size=(5, 1)), rng.normal(size=(5, 4))  # time on axis 0, a broadcast over 4
    g = vjp.linear_scan(a, b, axis=0, grad_y=np.ones((5, 4)), engine="xp")
    moved = vjp.linear_scan(a.T, b.T, grad_y=np.ones((4, 5)), engine="xp")
    assert_same(g["a"], moved["a"].T, "a")
    assert_same(g["b"], moved["b"].T, "b")
    assert g["x0"].shape == (4,)
    empty = vjp.linear_scan(np.ones(0), np.ones(0), np.array(2.0), grad_y=np.ones(0), grad_state=np.array(3.0))
    assert empty["b"].shape == (0,) and float(empty["x0"]) == 3.0


def test_float32_cotangents_stay_float32():
    rng = np.random.default_rng(7)
    a, b = rng.uniform(0.5, 0.99, size=(3, 50)).astype(np.float32), rng.normal(size=(3, 50)).astype(np.float32)
    g32 = vjp.linear_scan(a, b, grad_y=np.ones((3, 50), np.float32))
    g64 = vjp.linear_scan(a.astype(np.float64), b.astype(np.float64), grad_y=np.ones((3, 50)))
    assert g32["a"].dtype == np.float32 and g32["b"].dtype == np.float32
    assert_same(g32["a"], g64["a"], "a", tol=statespace.testing.TOLERANCES["views"]["float32"])
