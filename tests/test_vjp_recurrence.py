"""statespace.vjp.recurrence (diagonal): adjoint identity, FD, torch autograd, numba = xp."""

from __future__ import annotations

import numpy as np
import pytest
from vjp_checks import HAS_TORCH, assert_same, check_adjoint, check_finite_differences, torch_autograd

import statespace
from statespace import vjp

ALL = ["Ab", "Bb", "C", "u", "D", "x0"]
#: (conj, complex input, complex system)
CASES = [(True, False, True), (False, False, True), (False, True, True), (True, False, False)]


def _inputs(u_complex, system_complex, seed=0, channels=3, modes=4, length=9):
    rng = np.random.default_rng(seed)

    def c(shape, cplx):
        return rng.normal(size=shape) + (1j * rng.normal(size=shape) if cplx else 0)

    phase = np.exp(1j * rng.uniform(0, 3, (channels, modes))) if system_complex else 1
    return {
        "Ab": rng.uniform(0.3, 0.9, (channels, modes)) * phase,
        "Bb": c((1, modes), system_complex),  # broadcasts over channels
        "C": c((channels, modes), system_complex),
        "u": c((2, channels, length), u_complex),
        "D": rng.normal(size=channels),
        "x0": c((2, channels, modes), system_complex),
    }


def _forward(conj, engine="xp"):
    def f(**inputs):
        return statespace.recurrence(**inputs, conj=conj, return_state=True, engine=engine)

    return f


def _vjp(conj, engine, chunk=4):
    def g(inputs, ws):
        return vjp.recurrence(**inputs, conj=conj, grad_y=ws[0], grad_state=ws[1], engine=engine, chunk=chunk)

    return g


@pytest.mark.parametrize("engine", ["xp", pytest.param("numba", marks=pytest.mark.numba)])
@pytest.mark.parametrize(("conj", "u_complex", "system_complex"), CASES)
def test_adjoint_identity(conj, u_complex, system_complex, engine):
    check_adjoint(_forward(conj), _vjp(conj, engine), _inputs(u_complex, system_complex), ALL)


@pytest.mark.parametrize(("conj", "u_complex", "system_complex"), CASES[:2])
def test_finite_differences(conj, u_complex, system_complex):
    inputs = _inputs(u_complex, system_complex, seed=1, channels=2, modes=2, length=5)
    check_finite_differences(_forward(conj), _vjp(conj, "xp"), inputs, ALL)


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
@pytest.mark.filterwarnings("ignore:torch.asarray:UserWarning")
@pytest.mark.parametrize(("conj", "u_complex", "system_complex"), CASES)
def test_agrees_with_torch_autograd_through_xp(conj, u_complex, system_complex):
    inputs = _inputs(u_complex, system_complex, seed=2)
    ws, ours = check_adjoint(_forward(conj), _vjp(conj, "xp"), inputs, [])
    theirs = torch_autograd(_forward(conj), inputs, ALL, ws)
    for name in ALL:
        assert_same(ours[name], theirs[name], name)


@pytest.mark.numba
@pytest.mark.parametrize("chunk", [1, 4, 2048])
def test_numba_matches_xp(chunk):
    inputs = _inputs(False, True, seed=3, length=11)
    rng = np.random.default_rng(4)
    gy = rng.normal(size=(2, 3, 11))
    xp_ = vjp.recurrence(**inputs, grad_y=gy, engine="xp")
    nb = vjp.recurrence(**inputs, grad_y=gy, engine="numba", chunk=chunk)
    for name in ALL:
        assert_same(nb[name], xp_[name], name)


def test_dense_systems_and_complex_input_with_conj_are_refused():
    with pytest.raises(ValueError, match="diagonal"):
        vjp.recurrence(np.eye(2), np.ones(2), np.ones(2), np.ones(3), grad_y=np.ones(3))
    with pytest.raises(TypeError, match="real input"):
        vjp.recurrence(np.ones(2, complex), np.ones(2), np.ones(2), np.ones(3, complex), grad_y=np.ones(3))
