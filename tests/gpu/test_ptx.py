"""``compile_ptx`` succeeds for every cupy-engine kernel signature, for Hopper (9.0) and Ampere (8.0), with no GPU.

This catches what the simulator cannot: Numba's CUDA typing rules (the
simulator follows NumPy's), unsupported Python in kernels, shared/local array
shapes that are not compile-time constants.  The compilation runs in a
subprocess with the simulator off.  It runs in the ``gpusim`` tox env (or with
``STATESPACE_PTX=1``); it needs ``numba-cuda`` with its NVVM wheels.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("numba")
from gpu_ptx import signatures

CAPABILITIES = ("9.0", "8.0")

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM", "0") != "1" and os.environ.get("STATESPACE_PTX", "0") != "1",
    reason="the PTX compile check runs in the gpusim tox env (or with STATESPACE_PTX=1)",
)


@pytest.fixture(scope="module")
def compiled():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    root = pathlib.Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    script = pathlib.Path(__file__).with_name("gpu_ptx.py")
    proc = subprocess.run(
        [sys.executable, str(script), *CAPABILITIES], capture_output=True, text=True, env=env, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("cc", CAPABILITIES)
@pytest.mark.parametrize("name", [name for name, _, _ in signatures()])
def test_compile_ptx(compiled, name, cc):
    error = compiled[f"{name}@{cc}"]
    assert error is None, error
