"""statespace.vjp.vandermonde and vjp.kernel_diag: adjoint identity, FD, torch autograd, numba = xp."""

from __future__ import annotations

import numpy as np
import pytest
from vjp_checks import HAS_TORCH, SAME, assert_same, check_adjoint, check_finite_differences, torch_autograd

import statespace
from statespace import vjp

L = 12


def _vandermonde_inputs(seed=0):
    rng = np.random.default_rng(seed)
    return {"v": rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4)),
            "x": -0.5 + 0.3 * (rng.normal(size=(1, 4)) + 1j * rng.normal(size=(1, 4)))}  # fmt: skip


def _kernel_inputs(dt_shape, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "Lambda": -rng.uniform(0.1, 1.0, (3, 4)) + 1j * rng.normal(size=(3, 4)),
        "B": rng.normal(size=(1, 4)) + 1j * rng.normal(size=(1, 4)),
        "C": rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4)),
        "dt": rng.uniform(0.05, 0.3, dt_shape),
    }


@pytest.mark.parametrize("engine", ["xp", pytest.param("numba", marks=pytest.mark.numba)])
@pytest.mark.parametrize("conj", [True, False])
def test_vandermonde_adjoint_identity(conj, engine):
    def forward(v, x):
        return statespace.vandermonde(v, x, L, conj=conj, engine="xp")

    def g(inputs, ws):
        return vjp.vandermonde(**inputs, L=L, conj=conj, grad_y=ws[0], engine=engine)

    check_adjoint(forward, g, _vandermonde_inputs(), ["v", "x"])
    check_finite_differences(forward, g, _vandermonde_inputs(seed=1), ["v", "x"])


@pytest.mark.parametrize("engine", ["xp", pytest.param("numba", marks=pytest.mark.numba)])
@pytest.mark.parametrize("dt_shape", [(3,), (3, 4)])
@pytest.mark.parametrize("method", ["zoh", "bilinear", "zoh_simplified"])
def test_kernel_diag_adjoint_identity(method, dt_shape, engine):
    per_mode = len(dt_shape) == 2

    def forward(**inputs):
        return statespace.kernel_diag(**inputs, L=L, method=method, per_mode=per_mode, engine="xp")

    def g(inputs, ws):
        return vjp.kernel_diag(**inputs, L=L, method=method, per_mode=per_mode, grad_y=ws[0], engine=engine)

    check_adjoint(forward, g, _kernel_inputs(dt_shape), ["Lambda", "B", "C", "dt"])


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
def test_kernel_diag_finite_differences(method):
    def forward(**inputs):
        return statespace.kernel_diag(**inputs, L=L, method=method, engine="xp")

    def g(inputs, ws):
        return vjp.kernel_diag(**inputs, L=L, method=method, grad_y=ws[0], engine="xp")

    check_finite_differences(forward, g, _kernel_inputs((3,), seed=2), ["Lambda", "B", "C", "dt"])


def test_kernel_diag_zoh_small_steps_have_no_cancellation():
    """φ1'(z) = e^z φ2(−z): at ΔΛ ~ 1e-6 the Λ cotangent is exact (a naive (e^z − φ1)/z loses half the digits).

    Reference: one mode, K_l = 2 Re f_l(Λ) with f_l = C B expm1(ΔΛ)/Λ e^{lΔΛ}, differentiated by
    mpmath at 40 digits: Λ̄ = 2 Σ_l w_l conj(f_l'(Λ)).
    """
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    lam, b, c, dt = -0.7 + 2.0j, 0.3 - 1.1j, 1.2 + 0.4j, 1e-6
    w = np.random.default_rng(3).normal(size=L)
    g = vjp.kernel_diag(np.array([lam]), np.array([b]), np.array([c]), np.array([dt]), L, method="zoh", grad_y=w)
    exact = 0
    for ell in range(L):
        derivative = mpmath.diff(lambda x, ell=ell: c * b * mpmath.expm1(dt * x) / x * mpmath.exp(ell * dt * x), lam)
        exact += 2 * w[ell] * complex(mpmath.conj(derivative))
    assert_same(g["Lambda"], np.array([exact]), "Lambda", tol=SAME)


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
@pytest.mark.filterwarnings("ignore:torch.asarray:UserWarning")
@pytest.mark.parametrize("method", ["zoh", "bilinear", "zoh_simplified"])
def test_kernel_diag_agrees_with_torch_autograd_through_xp(method):
    def forward(**inputs):
        return statespace.kernel_diag(**inputs, L=L, method=method, engine="xp")

    def g(inputs, ws):
        return vjp.kernel_diag(**inputs, L=L, method=method, grad_y=ws[0], engine="xp")

    inputs = _kernel_inputs((3,), seed=4)
    ws, ours = check_adjoint(forward, g, inputs, [])
    theirs = torch_autograd(forward, inputs, ["Lambda", "B", "C", "dt"], ws)
    for name in theirs:
        assert_same(ours[name], theirs[name], name)


def test_kernel_diag_refuses_dss():
    with pytest.raises(ValueError, match="method"):
        vjp.kernel_diag(**_kernel_inputs((3,)), L=L, method="dss", grad_y=np.ones((3, L)))
