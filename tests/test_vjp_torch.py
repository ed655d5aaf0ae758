"""statespace.torch: gradcheck (float64, real and complex) of every wrapped function; state in and out."""

from __future__ import annotations

import numpy as np
import pytest
from vjp_checks import assert_same

torch = pytest.importorskip("torch")
sst = pytest.importorskip("statespace.torch")

pytestmark = pytest.mark.filterwarnings("ignore:torch.asarray:UserWarning")


def _t(x, grad=True):
    return torch.tensor(np.asarray(x), requires_grad=grad)


ENGINES = ["xp", pytest.param("numba", marks=pytest.mark.numba)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["real", "complex"])
def test_linear_scan_gradcheck(kind, engine):
    rng = np.random.default_rng(0)
    a, b, x0 = rng.uniform(-0.9, 0.9, (2, 5)), rng.normal(size=(2, 5)), rng.normal(size=2)
    if kind == "complex":
        a, b, x0 = a * np.exp(1j * rng.uniform(0, 6, a.shape)), b + 1j * rng.normal(size=b.shape), x0 + 1j

    def f(a, b, x0):
        return sst.linear_scan(a, b, x0, return_state=True, engine=engine)

    assert torch.autograd.gradcheck(f, (_t(a), _t(b), _t(x0)))
    assert torch.autograd.gradcheck(lambda a, b, x0: sst.linear_scan(a, b, x0, reverse=True, engine=engine),
                                    (_t(a), _t(b), _t(x0)))  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["real", "complex"])
def test_selective_scan_gradcheck(kind, engine):
    rng = np.random.default_rng(1)
    batch, dim, nstate, length = 1, 2, 2, 4
    cplx = kind == "complex"
    A = -rng.uniform(0.5, 1.5, (dim, nstate)) + (1j * rng.normal(size=(dim, nstate)) if cplx else 0)
    inputs = [
        rng.normal(size=(batch, dim, length)),
        0.5 * rng.normal(size=(batch, dim, length)),
        A,
        rng.normal(size=(batch, 2, nstate, 2 * length if cplx else length)),  # 2 groups
        rng.normal(size=(batch, nstate, 2 * length if cplx else length)),
        rng.normal(size=dim),
        rng.normal(size=(batch, dim, length)),
        0.3 * rng.normal(size=dim),
    ]
    x0 = rng.normal(size=(batch, dim, nstate)) + (1j * rng.normal(size=(batch, dim, nstate)) if cplx else 0)

    def f(u, delta, A, B, C, D, z, bias, x0):
        return sst.selective_scan(u, delta, A, B, C, D, z, bias, True, x0, return_state=True, engine=engine, chunk=3)

    assert torch.autograd.gradcheck(f, tuple(_t(x) for x in inputs) + (_t(x0),))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("conj", [True, False])
def test_recurrence_gradcheck(conj, engine):
    rng = np.random.default_rng(2)
    Ab = rng.uniform(0.3, 0.9, (2, 3)) * np.exp(1j * rng.uniform(0, 3, (2, 3)))
    Bb, C = rng.normal(size=(2, 3)) + 1j * rng.normal(size=(2, 3)), rng.normal(size=(2, 3)) + 1j
    u, D, x0 = rng.normal(size=(2, 5)), rng.normal(size=2), rng.normal(size=(2, 3)) + 1j * rng.normal(size=(2, 3))

    def f(*args):
        return sst.recurrence(*args, conj=conj, return_state=True, engine=engine, chunk=2)

    assert torch.autograd.gradcheck(f, tuple(_t(x) for x in (Ab, Bb, C, u, D, x0)))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("method", ["zoh", "bilinear", "zoh_simplified"])
def test_kernel_diag_and_vandermonde_gradcheck(method, engine):
    rng = np.random.default_rng(3)
    Lambda = -rng.uniform(0.1, 1.0, (2, 3)) + 1j * rng.normal(size=(2, 3))
    B, C = rng.normal(size=(2, 3)) + 1j * rng.normal(size=(2, 3)), rng.normal(size=(2, 3)) + 1j
    dt = rng.uniform(0.05, 0.3, 2)
    assert torch.autograd.gradcheck(lambda *a: sst.kernel_diag(*a, 6, method, engine=engine),
                                    tuple(_t(x) for x in (Lambda, B, C, dt)))  # fmt: skip
    assert torch.autograd.gradcheck(lambda v, x: sst.vandermonde(v, x, 6, engine=engine), (_t(B), _t(Lambda * 0.1)))


@pytest.mark.numba
def test_state_flows_in_and_out_of_a_chain():
    """Two selective scans chained through the state equal one scan over the joined sequence, gradients included."""
    rng = np.random.default_rng(4)
    u, delta = _t(rng.normal(size=(1, 2, 8))), _t(rng.uniform(0.1, 1.0, (1, 2, 8)))
    A, B, C = _t(-rng.uniform(0.5, 1.5, (2, 3))), _t(rng.normal(size=(1, 3, 8))), _t(rng.normal(size=(1, 3, 8)))
    whole = sst.selective_scan(u, delta, A, B, C).square().sum()
    grads_whole = torch.autograd.grad(whole, (u, A, B))
    first, state = sst.selective_scan(u[..., :5], delta[..., :5], A, B[..., :5], C[..., :5], return_state=True)
    second = sst.selective_scan(u[..., 5:], delta[..., 5:], A, B[..., 5:], C[..., 5:], x0=state)
    grads_split = torch.autograd.grad(first.square().sum() + second.square().sum(), (u, A, B))
    for g_whole, g_split in zip(grads_whole, grads_split, strict=True):
        assert_same(g_split.numpy(), g_whole.numpy(), "chained gradient")


def test_tensors_off_the_cpu_are_refused_by_name():
    meta = torch.empty(4, device="meta")
    with pytest.raises(TypeError, match="CPU tensors"):
        sst.linear_scan(meta, meta)
