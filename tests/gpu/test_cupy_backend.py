"""The public functions on CuPy arrays with a GPU: the cupy engine by default, results on the device.

Marked ``cupy``; skipped cleanly without CuPy or without a device (including
under the simulator, which has no CuPy arrays).  Every result is compared
with the xp engine on NumPy copies of the inputs and must come back as a CuPy
array on the inputs' device (nothing is moved to the host behind the caller's back).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import gpu_mode
from gpu_helpers import agree

import statespace

pytestmark = [
    pytest.mark.cupy,
    pytest.mark.skipif(gpu_mode() != "gpu", reason="needs CuPy and a GPU (the simulator has no CuPy arrays)"),
]


@pytest.fixture
def cp():
    import cupy

    return cupy


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def _on_device(cp, result, like):
    assert isinstance(result, cp.ndarray), type(result)
    assert result.device == like.device


def _cases(rng):
    a, b = rng.uniform(0.5, 1.0, (4, 3, 300)), rng.normal(size=(4, 3, 300))
    u, delta = rng.normal(size=(2, 8, 50)), rng.uniform(0.05, 1.0, (2, 8, 50))
    A, B, C = -rng.uniform(0.5, 1, (8, 4)), rng.normal(size=(2, 4, 50)), rng.normal(size=(2, 4, 50))
    Ab = rng.uniform(0.5, 0.99, (6, 5)) * np.exp(1j * rng.uniform(0, 1, (6, 5)))
    Bb, Cd, ud = rng.normal(size=5) + 1j * rng.normal(size=5), rng.normal(size=(6, 5)) + 0j, rng.normal(size=(6, 40))
    v, z = rng.normal(size=(3, 4)) + 1j, 1j * rng.normal(size=64)
    w = -rng.uniform(0.1, 1, (3, 4)) + 1j * rng.normal(size=(3, 4))
    s4 = statespace.nplr("legs", 16)
    Lam, P, Bs, Cs = s4.Lambda, s4.P, s4.B, rng.normal(size=(3, 8)) + 1j * rng.normal(size=(3, 8))
    dt = np.array(0.05)
    return {
        "linear_scan": (statespace.linear_scan, (a, b), {}, "scan"),
        "selective_scan": (statespace.selective_scan, (u, delta, A, B, C), {"delta_softplus": True}, "scan"),
        "recurrence(diag)": (statespace.recurrence, (Ab, Bb, Cd, ud), {"structure": "diag"}, "scan"),
        "cauchy": (statespace.cauchy, (v, z, w), {}, "kernel"),
        "vandermonde": (statespace.vandermonde, (v, w / 10), {"L": 70}, "kernel"),
        "kernel_diag": (statespace.kernel_diag, (Lam, Bs, Cs, dt), {"L": 64}, "kernel"),
        "kernel_dplr": (statespace.kernel_dplr, (Lam, P, Bs, Cs, dt), {"L": 64}, "kernel"),
        "causal_conv (xp engine on CuPy)": (statespace.causal_conv, (ud, rng.normal(size=(6, 40))), {}, "views"),
    }  # fmt: skip


@pytest.mark.parametrize("name", list(_cases(np.random.default_rng(0))))
def test_public_functions_on_cupy(name, cp, rng):
    fn, args, kwargs, kind = _cases(rng)[name]
    expected = fn(*args, **kwargs, **({} if name.startswith("causal_conv") else {"engine": "xp"}))
    on_gpu = [cp.asarray(x) if isinstance(x, np.ndarray) else x for x in args]
    result = fn(*on_gpu, **kwargs)
    _on_device(cp, result, on_gpu[-1] if isinstance(on_gpu[-1], cp.ndarray) else on_gpu[0])
    agree(result, expected, kind)


def test_cupy_is_the_default_engine_for_cupy_arrays(cp):
    from statespace._engines import resolve_engine

    assert resolve_engine(None, cp, func="linear_scan") == "cupy"


def test_numba_engine_refuses_cupy_arrays(cp):
    with pytest.raises(TypeError, match="NumPy arrays only"):
        statespace.linear_scan(cp.ones((2, 4)), cp.ones((2, 4)), engine="numba")


def test_selective_scan_return_state_on_device(cp, rng):
    u = cp.asarray(rng.normal(size=(1, 4, 20)))
    A = cp.asarray(-rng.uniform(0.5, 1, (4, 3)) + 1j * rng.normal(size=(4, 3)))
    B = cp.asarray(rng.normal(size=(1, 3, 20)) + 1j * rng.normal(size=(1, 3, 20)))
    out, last = statespace.selective_scan(u, cp.full_like(u, 0.1), A, B, B, return_state=True)
    _on_device(cp, out, u)
    _on_device(cp, last, u)
    assert last.dtype == cp.complex128
