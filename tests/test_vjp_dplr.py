"""statespace.vjp.kernel_dplr: adjoint identity, finite differences, PyTorch autograd through the xp engine."""

from __future__ import annotations

import numpy as np
import pytest
from vjp_checks import HAS_TORCH, assert_same, check_adjoint, check_finite_differences, torch_autograd

import statespace
from statespace import vjp

H, N2 = 2, 3
NAMES = ["Lambda", "P", "B", "C", "dt"]


def _inputs(rank, dt_shape=(H,), x0=False, real_b=False, seed=0, ctilde=True):
    """A small stable DPLR system: H channels, N2 modes, rank ``rank`` (P shared by the channels).

    With ``ctilde=False`` the steps are larger: the forward's C̃ = C − (Ā^L)ᵀ C cancels to about
    L·Δ·|A| of |C| when Ā^L ≈ I, and that rounding, amplified by the difference quotients' 1/h,
    would sit above the checks' 1e-10 (the cotangents themselves match autograd to ~1e-14 there).
    """
    rng = np.random.default_rng(seed)
    inputs = {
        "Lambda": -rng.uniform(0.1, 1.0, (H, N2)) + 1j * rng.normal(size=(H, N2)),
        "P": 0.5 * (rng.normal(size=(rank, N2)) + 1j * rng.normal(size=(rank, N2))),
        "B": rng.normal(size=(N2,)) if real_b else rng.normal(size=(N2,)) + 1j * rng.normal(size=(N2,)),
        "C": rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2)),
        "dt": rng.uniform(0.05, 0.3, dt_shape) if ctilde else rng.uniform(0.5, 1.0, dt_shape),
    }
    if x0:
        inputs["x0"] = rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2))
    return inputs


def _pair(L, per_mode=False, ctilde=True):
    def forward(**inputs):
        return statespace.kernel_dplr(**inputs, L=L, per_mode=per_mode, ctilde=ctilde, engine="xp")

    def g(inputs, ws):
        state = {"grad_state": ws[1]} if len(ws) > 1 else {}
        return vjp.kernel_dplr(**inputs, L=L, per_mode=per_mode, ctilde=ctilde, grad_y=ws[0], **state, engine="xp")

    return forward, g


@pytest.mark.parametrize("ctilde", [True, False])
@pytest.mark.parametrize("L", [8, 7])
@pytest.mark.parametrize("rank", [1, 2])
def test_adjoint_identity(rank, L, ctilde):
    forward, g = _pair(L, ctilde=ctilde)
    check_adjoint(forward, g, _inputs(rank, ctilde=ctilde), NAMES)


@pytest.mark.parametrize("ctilde", [True, False])
@pytest.mark.parametrize("L", [8, 7])
@pytest.mark.parametrize("rank", [1, 2])
def test_adjoint_identity_with_initial_state(rank, L, ctilde):
    forward, g = _pair(L, ctilde=ctilde)
    check_adjoint(forward, g, _inputs(rank, x0=True, seed=1, ctilde=ctilde), NAMES + ["x0"])


@pytest.mark.parametrize("ctilde", [True, False])
@pytest.mark.parametrize("dt_shape", [(), (1,), (H, N2)])
def test_adjoint_identity_step_shapes(dt_shape, ctilde):
    """A shared step, a broadcast one and a per-mode one: the step cotangent sums what shares a step."""
    forward, g = _pair(8, per_mode=len(dt_shape) == 2, ctilde=ctilde)
    check_adjoint(forward, g, _inputs(2, dt_shape=dt_shape, x0=True, seed=2, ctilde=ctilde), NAMES + ["x0"])


def test_adjoint_identity_rank_three_and_real_b():
    """Rank above 2 (the forward's batched r×r solve) and a real input vector (real cotangent)."""
    forward, g = _pair(8)
    inputs = _inputs(3, real_b=True, seed=3)
    _, grads = check_adjoint(forward, g, inputs, NAMES)
    assert grads["B"].dtype == np.float64


@pytest.mark.parametrize(("rank", "L", "ctilde"), [(1, 8, True), (2, 7, True), (2, 8, False), (1, 7, False)])
def test_finite_differences(rank, L, ctilde):
    forward, g = _pair(L, ctilde=ctilde)
    check_finite_differences(forward, g, _inputs(rank, x0=True, seed=4, ctilde=ctilde), NAMES + ["x0"])


def test_grad_state_omitted_is_zero():
    inputs = _inputs(1, x0=True, seed=5)
    w = np.random.default_rng(6).normal(size=(H, 8))
    omitted = vjp.kernel_dplr(**inputs, L=8, grad_y=w)
    zero = vjp.kernel_dplr(**inputs, L=8, grad_y=w, grad_state=np.zeros((H, 8)))
    for name in NAMES + ["x0"]:
        assert_same(omitted[name], zero[name], name)
    assert vjp.kernel_dplr(**_inputs(1), L=8, grad_y=w)["x0"] is None


@pytest.mark.numba
def test_numba_forward_sums_give_the_same_cotangents():
    inputs = _inputs(2, x0=True, seed=7)
    rng = np.random.default_rng(8)
    w, ws = rng.normal(size=(H, 8)), rng.normal(size=(H, 8))
    xp_g = vjp.kernel_dplr(**inputs, L=8, grad_y=w, grad_state=ws, engine="xp")
    numba_g = vjp.kernel_dplr(**inputs, L=8, grad_y=w, grad_state=ws, engine="numba")
    for name in NAMES + ["x0"]:
        assert_same(numba_g[name], xp_g[name], name)


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
@pytest.mark.filterwarnings("ignore:torch.asarray:UserWarning")
@pytest.mark.parametrize(
    ("rank", "L", "x0", "ctilde"), [(1, 8, False, True), (2, 7, True, True), (2, 8, True, True), (2, 7, True, False)]
)
def test_agrees_with_torch_autograd_through_xp(rank, L, x0, ctilde):
    forward, g = _pair(L, ctilde=ctilde)
    inputs = _inputs(rank, x0=x0, seed=9, ctilde=ctilde)
    names = NAMES + (["x0"] if x0 else [])
    ws, ours = check_adjoint(forward, g, inputs, [])
    theirs = torch_autograd(forward, inputs, names, ws)
    for name in names:
        assert_same(ours[name], theirs[name], name)


@pytest.mark.parametrize("L", [1, 2, 16])
def test_raw_c_is_ctilde_then_kernel(L):
    """ctilde=False at L = 1, 2, 16: the identity holds; B (not in C̃) gets the cotangent of the C̃ form."""
    inputs = _inputs(2, seed=10, ctilde=False)
    w = np.random.default_rng(11).normal(size=(H, L))
    raw = vjp.kernel_dplr(**inputs, L=L, ctilde=False, grad_y=w)
    ct = statespace.dplr_ctilde(inputs["Lambda"], inputs["P"], inputs["C"], inputs["dt"], L)
    through = vjp.kernel_dplr(**{**inputs, "C": ct}, L=L, grad_y=w)
    forward, g = _pair(L, ctilde=False)
    check_adjoint(forward, g, inputs, NAMES)
    assert raw["B"].shape == through["B"].shape
    assert_same(raw["B"], through["B"], "B (does not enter C̃)")


@pytest.mark.parametrize("L", [8, 7])
def test_rank_zero_raw_c_is_the_diagonal_bilinear_kernel(L):
    """Rank 0 with the raw C is S4D's bilinear kernel: the cotangents equal vjp.kernel_diag's (Vandermonde sums)."""
    inputs = _inputs(1, seed=12)
    inputs["P"] = np.zeros((0, N2), complex)
    w = np.random.default_rng(13).normal(size=(H, L))
    ours = vjp.kernel_dplr(**inputs, L=L, ctilde=False, grad_y=w)
    diagonal = {k: v for k, v in inputs.items() if k != "P"}
    theirs = vjp.kernel_diag(**diagonal, L=L, method="bilinear", grad_y=w)
    for name in theirs:
        assert_same(ours[name], theirs[name], name)
    assert ours["P"].shape == (0, N2)
