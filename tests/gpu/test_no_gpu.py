"""With CuPy installed and no GPU, the package behaves as without CuPy; ``show_config`` says so.

CuPy is not installed on the CI machines, so its "installed, no device"
behaviour is reproduced with a stand-in module whose runtime raises the way
CuPy's does without a driver (``cupy.is_available()`` is then False).
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import statespace


class CUDARuntimeError(RuntimeError):
    pass


@pytest.fixture
def cupy_without_gpu(monkeypatch):
    def no_device():
        raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device))
    fake.is_available = lambda: False
    monkeypatch.setitem(sys.modules, "cupy", fake)
    import statespace._engines as engines

    real_installed = engines.installed

    def installed(name):  # CuPy "installed"; everything else as it really is
        return name == "cupy" or real_installed(name)

    config_module = sys.modules[statespace.show_config.__module__]
    monkeypatch.setattr(config_module, "installed", installed)
    monkeypatch.setattr(engines, "installed", installed)
    return fake


def test_show_config_says_cupy_installed_no_gpu(cupy_without_gpu, capsys):
    statespace.show_config()
    gpu_line = [line for line in capsys.readouterr().out.splitlines() if line.startswith("gpu:")]
    assert gpu_line == [
        "gpu: CuPy installed, no GPU (CUDARuntimeError: cudaErrorNoDevice: no CUDA-capable device is detected)"
    ]


def test_numpy_arrays_never_reach_the_cupy_engine(cupy_without_gpu):
    """Engine choice for NumPy arrays is unchanged by an installed CuPy: numba or xp, never cupy."""
    from statespace._engines import resolve_engine

    chosen = resolve_engine(None, np, func="linear_scan")
    assert chosen in ("xp", "numba")
    x = statespace.linear_scan(np.full(4, 0.5), np.ones(4))
    np.testing.assert_allclose(x, [1.0, 1.5, 1.75, 1.875])


def test_installed_cupy_without_a_device(capsys):
    """The real CuPy (tox -e cupy-nogpu): no device means "CuPy installed, no GPU", and NumPy work is unchanged."""
    cupy = pytest.importorskip("cupy")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:
        count = 0
    if count:
        pytest.skip("a GPU is present")
    statespace.show_config()
    gpu_line = [line for line in capsys.readouterr().out.splitlines() if line.startswith("gpu:")]
    assert len(gpu_line) == 1 and gpu_line[0].startswith("gpu: CuPy installed, no GPU"), gpu_line
    np.testing.assert_allclose(statespace.linear_scan(np.full(3, 0.5), np.ones(3)), [1.0, 1.5, 1.75])
