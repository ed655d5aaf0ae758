"""statespace.vjp.causal_conv and vjp.cauchy: adjoint identity, finite differences, PyTorch autograd."""

from __future__ import annotations

import numpy as np
import pytest
from vjp_checks import HAS_TORCH, assert_same, check_adjoint, check_finite_differences, torch_autograd

import statespace
from statespace import vjp


def _conv_inputs(kind, taps, seed=0):
    rng = np.random.default_rng(seed)

    def c(shape):
        return rng.normal(size=shape) + (1j * rng.normal(size=shape) if kind == "complex" else 0)

    return {"u": c((2, 3, 7)), "K": c((3, taps)), "D": c((3,))}


def _conv_forward(u, K, D):
    return statespace.causal_conv(u, K, D)


def _conv_vjp(inputs, ws):
    return vjp.causal_conv(**inputs, grad_y=ws[0])


@pytest.mark.parametrize("taps", [4, 7, 9])
@pytest.mark.parametrize("kind", ["real", "complex"])
def test_causal_conv_adjoint_and_finite_differences(kind, taps):
    check_adjoint(_conv_forward, _conv_vjp, _conv_inputs(kind, taps), ["u", "K", "D"])
    check_finite_differences(_conv_forward, _conv_vjp, _conv_inputs(kind, taps, seed=1), ["u", "K", "D"])


def test_causal_conv_time_axis():
    rng = np.random.default_rng(2)
    u, K, g = rng.normal(size=(7, 3)), rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    moved = vjp.causal_conv(u.T, K.T, grad_y=g.T)
    got = vjp.causal_conv(u, K, axis=0, grad_y=g)
    assert_same(got["u"], moved["u"].T, "u")
    assert_same(got["K"], moved["K"].T, "K")


def _cauchy_inputs(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "v": rng.normal(size=(2, 3)) + 1j * rng.normal(size=(2, 3)),
        "z": rng.normal(size=(1, 5)) + 1j * rng.normal(size=(1, 5)) + 3.0,
        "w": -rng.uniform(0.2, 1, (2, 3)) + 1j * rng.normal(size=(2, 3)),
    }


@pytest.mark.parametrize("conj", [True, False])
def test_cauchy_adjoint_and_finite_differences(conj):
    def forward(v, z, w):
        return statespace.cauchy(v, z, w, conj=conj, engine="xp")

    def g(inputs, ws):
        return vjp.cauchy(**inputs, conj=conj, grad_y=ws[0])

    check_adjoint(forward, g, _cauchy_inputs(), ["v", "z", "w"])
    check_finite_differences(forward, g, _cauchy_inputs(seed=1), ["v", "z", "w"])


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
@pytest.mark.filterwarnings("ignore:torch.asarray:UserWarning")
@pytest.mark.parametrize("kind", ["real", "complex"])
def test_agree_with_torch_autograd_through_xp(kind):
    inputs = _conv_inputs(kind, 5, seed=3)
    ws, ours = check_adjoint(_conv_forward, _conv_vjp, inputs, [])
    theirs = torch_autograd(_conv_forward, inputs, ["u", "K", "D"], ws)
    for name in theirs:
        assert_same(ours[name], theirs[name], name)

    def forward(v, z, w):
        return statespace.cauchy(v, z, w, engine="xp")

    inputs = _cauchy_inputs(seed=4)
    ws, ours = check_adjoint(forward, lambda i, ws: vjp.cauchy(**i, grad_y=ws[0]), inputs, [])
    theirs = torch_autograd(forward, inputs, ["v", "z", "w"], ws)
    for name in theirs:
        assert_same(ours[name], theirs[name], name)
