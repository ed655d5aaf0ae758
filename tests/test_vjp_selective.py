"""statespace.vjp.selective_scan: every input, real and complex A, groups; adjoint, FD, torch, numba = xp."""

from __future__ import annotations

import numpy as np
import pytest
from vjp_checks import HAS_TORCH, assert_same, check_adjoint, check_finite_differences, torch_autograd

import statespace
from statespace import vjp
from statespace.testing import TOLERANCES

ALL = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias", "x0"]
#: (A kind, B/C layout): real/complex A; variable shared, variable in groups, time-invariant,
#: complex variable as interleaved real pairs or as complex arrays.
CASES = [
    ("real", "shared"),
    ("real", "groups"),
    ("real", "invariant"),
    ("complex", "shared"),
    ("complex", "groups"),
    ("complex", "invariant"),
    ("complex", "complex-groups"),
]


def _inputs(a_kind, layout, seed=0, batch=2, dim=4, nstate=3, length=7):
    rng = np.random.default_rng(seed)
    cplx = a_kind == "complex"

    def weight(wbatch):
        groups = 2 if "groups" in layout else 1
        if layout == "invariant":
            w = rng.normal(size=(dim, nstate))
            return w + 1j * rng.normal(size=(dim, nstate)) if cplx else w
        if layout == "complex-groups":
            return rng.normal(size=(wbatch, groups, nstate, length)) + 1j * rng.normal(
                size=(wbatch, groups, nstate, length)
            )
        w = rng.normal(size=(wbatch, groups, nstate, 2 * length if cplx else length))
        return w[:, 0] if layout == "shared" else w

    x0 = rng.normal(size=(batch, dim, nstate))
    return {
        "u": rng.normal(size=(batch, dim, length)),
        "delta": 0.5 * rng.normal(size=(batch, dim, length)),
        "A": -rng.uniform(0.5, 1.5, size=(dim, nstate)) + (1j * rng.normal(size=(dim, nstate)) if cplx else 0),
        "B": weight(batch),
        "C": weight(1),  # a batch of 1 broadcasts
        "D": rng.normal(size=dim),
        "z": rng.normal(size=(batch, dim, length)),
        "delta_bias": 0.3 * rng.normal(size=dim),
        "x0": x0 + 1j * rng.normal(size=x0.shape) if cplx else x0,
    }


def _forward(engine="xp", softplus=True):
    def f(**inputs):
        return statespace.selective_scan(**inputs, delta_softplus=softplus, return_state=True, engine=engine)

    return f


def _vjp(engine, softplus=True, chunk=3):
    def g(inputs, ws):
        return vjp.selective_scan(
            **inputs, delta_softplus=softplus, grad_y=ws[0], grad_state=ws[1], engine=engine, chunk=chunk
        )

    return g


@pytest.mark.parametrize("engine", ["xp", pytest.param("numba", marks=pytest.mark.numba)])
@pytest.mark.parametrize(("a_kind", "layout"), CASES)
def test_adjoint_identity(a_kind, layout, engine):
    check_adjoint(_forward(), _vjp(engine), _inputs(a_kind, layout), ALL)


def test_adjoint_identity_without_softplus_and_options():
    inputs = {k: v for k, v in _inputs("real", "shared", seed=1).items() if k in ("u", "delta", "A", "B", "C")}
    inputs["delta"] = np.abs(inputs["delta"])
    check_adjoint(_forward(softplus=False), _vjp("xp", softplus=False), inputs, list(inputs))


@pytest.mark.parametrize("a_kind", ["real", "complex"])
def test_finite_differences(a_kind):
    inputs = _inputs(a_kind, "groups", seed=2, batch=1, dim=2, nstate=2, length=4)
    check_finite_differences(_forward(), _vjp("xp"), inputs, ALL)


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
@pytest.mark.filterwarnings("ignore:torch.asarray:UserWarning")
@pytest.mark.parametrize(("a_kind", "layout"), [("real", "groups"), ("complex", "shared")])
def test_agrees_with_torch_autograd_through_xp(a_kind, layout):
    inputs = _inputs(a_kind, layout, seed=3)
    ws, ours = check_adjoint(_forward(), _vjp("xp"), inputs, [])
    theirs = torch_autograd(_forward(), inputs, ALL, ws)
    for name in ALL:
        assert_same(ours[name], theirs[name], name)


@pytest.mark.numba
@pytest.mark.parametrize("chunk", [1, 3, 2048])
@pytest.mark.parametrize(("a_kind", "layout"), CASES)
def test_numba_matches_xp(a_kind, layout, chunk):
    inputs = _inputs(a_kind, layout, seed=4)
    rng = np.random.default_rng(5)
    gy, gs = rng.normal(size=inputs["u"].shape), rng.normal(size=inputs["x0"].shape)
    xp_ = vjp.selective_scan(**inputs, delta_softplus=True, grad_y=gy, grad_state=gs, engine="xp")
    nb = vjp.selective_scan(**inputs, delta_softplus=True, grad_y=gy, grad_state=gs, engine="numba", chunk=chunk)
    for name in ALL:
        assert_same(nb[name], xp_[name], name)


@pytest.mark.numba
def test_numba_float32_close_to_float64():
    inputs = _inputs("real", "shared", seed=6, length=64)
    rng = np.random.default_rng(7)
    gy = rng.normal(size=inputs["u"].shape)
    g64 = vjp.selective_scan(**inputs, grad_y=gy, engine="numba", chunk=16)
    g32 = vjp.selective_scan(
        **{k: v.astype(np.float32) for k, v in inputs.items()}, grad_y=gy.astype(np.float32), engine="numba", chunk=16
    )
    for name in ALL:
        assert g32[name].dtype == np.float32
        assert_same(g32[name], g64[name], name, tol=TOLERANCES["views"]["float32"])


def test_absent_options_have_no_cotangent_and_x0_always_has_one():
    inputs = {k: v for k, v in _inputs("real", "shared").items() if k in ("u", "delta", "A", "B", "C")}
    g = vjp.selective_scan(**inputs, grad_y=np.ones(inputs["u"].shape), engine="xp")
    assert g["D"] is None and g["z"] is None and g["delta_bias"] is None
    assert g["x0"].shape == (2, 4, 3)


def test_bad_cotangent_shape_is_named():
    inputs = {k: v for k, v in _inputs("real", "shared").items() if k in ("u", "delta", "A", "B", "C")}
    with pytest.raises(ValueError, match="grad_y"):
        vjp.selective_scan(**inputs, grad_y=np.ones((2, 4, 5)))
