"""Shared fixtures: backends (``xp``/``device``), dtypes, engines, hypothesis profiles.

Backends
    ``numpy`` always; ``array_api_strict`` on its default device and on
    ``device1`` (a silent host round-trip fails there); ``torch`` (CPU), ``jax``
    (CPU, 64-bit enabled) and ``cupy`` when installed and usable.  Tests build inputs in NumPy and move
    them with the ``asarray`` fixture, then compare on the host with
    :func:`statespace.testing.assert_close` (backend isolation, SciPy style).
Engines
    ``xp`` always; ``numba`` when installed (NumPy arrays only); ``cupy`` with a GPU.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from statespace.testing import to_host

# --- hypothesis profiles -------------------------------------------------------------
# "ci": bounded and derandomized so CI is reproducible; "thorough": the slow tox env.
settings.register_profile(
    "ci",
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=400,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("STATESPACE_HYPOTHESIS_PROFILE", "ci"))


# --- backends ------------------------------------------------------------------------
@dataclass(frozen=True)
class Backend:
    """One array library on one device, as the tests see it."""

    name: str
    xp: object
    device: object = None

    def asarray(self, x, dtype=None):
        """Move host data onto this backend/device; ``dtype`` is a dtype name or xp dtype."""
        if isinstance(dtype, str):
            dtype = getattr(self.xp, dtype)
        return self.xp.asarray(np.array(x), dtype=dtype, device=self.device)  # a writable copy (torch warns on views)

    def dtype(self, name: str):
        return getattr(self.xp, name)

    def __repr__(self):
        return self.name


def _backends():
    params = [pytest.param("numpy", id="numpy")]
    if importlib.util.find_spec("array_api_strict"):
        params.append(pytest.param("strict", id="strict"))
        # array-api-strict moves data between its devices with numpy.asarray(copy=...), which NumPy < 2
        # lacks: under NumPy 1.26 (the mindeps env) its second device cannot be used at all.
        if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
            params.append(pytest.param("strict-device1", id="strict-device1"))
    if importlib.util.find_spec("torch"):
        params.append(pytest.param("torch", id="torch"))
    if importlib.util.find_spec("jax"):
        params.append(pytest.param("jax", id="jax"))
    if importlib.util.find_spec("cupy"):
        params.append(pytest.param("cupy", id="cupy", marks=pytest.mark.cupy))
    return params


def make_backend(name: str) -> Backend:
    if name == "numpy":
        if np.lib.NumpyVersion(np.__version__) < "2.0.0":  # 1.26, the declared minimum (mindeps env): no
            import array_api_compat.numpy as npx  # device= keywords; array-api-compat's wrapper has them

            return Backend("numpy", npx)
        return Backend("numpy", np)
    if name.startswith("strict"):
        import array_api_strict as xps

        xps.set_array_api_strict_flags(api_version="2024.12")
        device = xps.Device("device1") if name.endswith("device1") else None
        return Backend(name, xps, device)
    if name == "torch":
        import array_api_compat.torch as xpt
        import torch

        torch.set_default_dtype(torch.float64)
        return Backend("torch", xpt, torch.device("cpu"))
    if name == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 inputs stay float64, as on every other backend
        import jax.numpy as jnp

        return Backend("jax", jnp, jax.devices("cpu")[0])
    if name == "cupy":
        import cupy

        try:
            if cupy.cuda.runtime.getDeviceCount() == 0:
                raise RuntimeError("no device")
        except Exception as exc:
            pytest.skip(f"cupy installed but no usable GPU: {exc}")
        return Backend("cupy", cupy)
    raise ValueError(name)


@pytest.fixture(params=_backends())
def backend(request):
    """Each available array backend (and array-api-strict's non-default device)."""
    if request.param != "torch":
        yield make_backend(request.param)
        return
    import torch

    default = torch.get_default_dtype()  # make_backend sets float64; later tests (doctests) expect the default
    try:
        yield make_backend(request.param)
    finally:
        torch.set_default_dtype(default)


@pytest.fixture
def xp(backend):
    return backend.xp


@pytest.fixture(params=["float32", "float64"])
def dtype_name(request) -> str:
    """Real precision under test, as a name (``backend.dtype(dtype_name)`` gives the dtype)."""
    return request.param


# --- engines -------------------------------------------------------------------------
def _engines(func: str | None = None):
    """pytest params of the engines that serve NumPy arrays, read from the capability records.

    ``func=None`` takes every engine some function has (the ``engine`` fixture); a name takes that
    function's engines (``@pytest.mark.parametrize("engine", _engines("cauchy"))``).  cupy's are
    tested in the cupy env.
    """
    import statespace  # noqa: F401  (fills the records)
    from statespace._dispatch import CAPABILITIES

    records = CAPABILITIES.values() if func is None else [CAPABILITIES[func]]
    names = dict.fromkeys(e for record in records for e in record.engines_for() if e != "cupy")
    params = []
    for name in names:
        marks = []
        if name != "xp":
            marks = [
                getattr(pytest.mark, name),
                pytest.mark.skipif(importlib.util.find_spec(name) is None, reason=f"{name} not installed"),
            ]
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def pytest_collection_modifyitems(config, items):
    """The hypothesis properties (tests/properties) leave the JAX backend out: every example draws new shapes
    and JAX compiles each (minutes per test); the backend-generic tests cover JAX (the ``jax`` tox env)."""
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        in_properties = "properties" in item.path.parts
        (drop if in_properties and params.get("backend") == "jax" else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_runtest_setup(item):
    """Tests marked ``numba`` (they call the numba engine directly) skip where numba is not installed."""
    if item.get_closest_marker("numba") and importlib.util.find_spec("numba") is None:
        pytest.skip("numba not installed")


@pytest.fixture(params=_engines())
def engine(request) -> str:
    """Each installed engine that runs on NumPy arrays (cupy's is tested in the cupy env)."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)


__all__ = ["Backend", "make_backend", "to_host"]
