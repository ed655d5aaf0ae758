"""Fixtures of the GPU-engine tests: where the CUDA kernels run.

``mode`` is ``"sim"`` under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``:
kernels run on NumPy arrays, the ``gpusim`` tox env), ``"gpu"`` with CuPy and a
device, and the kernel tests skip otherwise (the plain CPU suite).
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest


def gpu_mode():
    """``"sim"``, ``"gpu"`` or ``None`` (see the module docstring)."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1":
        return "sim"
    if importlib.util.find_spec("cupy") is None or importlib.util.find_spec("numba") is None:
        return None
    try:
        import cupy

        return "gpu" if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except Exception:  # CuPy installed, no driver or no device
        return None


@pytest.fixture(scope="session")
def mode():
    found = gpu_mode()
    if found is None and os.environ.get("STATESPACE_REQUIRE_GPU") == "1":
        pytest.fail("STATESPACE_REQUIRE_GPU=1 but no usable GPU (CuPy with a device) was found")
    if found is None:
        pytest.skip("GPU kernels run under NUMBA_ENABLE_CUDASIM=1 (tox -e gpusim) or on a GPU with CuPy")
    return found


@pytest.fixture
def dev(mode):
    """Move a host array to where the kernels run (CuPy on a GPU; NumPy itself under the simulator)."""
    if mode == "sim":
        return lambda x: None if x is None else np.asarray(x)
    import cupy

    return lambda x: None if x is None else cupy.asarray(x)
