"""The backend/engine layer: namespaces, dtypes, engine resolution and its errors."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from statespace import _backend, show_config
from statespace._dispatch import CAPABILITIES, Capabilities
from statespace._engines import ENV_VAR, resolve_engine
from statespace.testing import assert_close, relative_error, rtol

HAVE_NUMBA = importlib.util.find_spec("numba") is not None


def test_import_does_not_load_optional_engines():
    code = "import sys, statespace; print('numba' in sys.modules, 'cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.skipif(os.environ.get("STATESPACE_EXPECT_NO_NUMBA") != "1", reason="only in the numba-free env")
def test_numba_really_absent_and_fallback_is_xp():
    assert not HAVE_NUMBA
    assert resolve_engine(None, _backend.namespace(np.ones(2)), func="linear_scan") == "xp"
    with pytest.raises(ImportError, match=r"pip install 'statespace-ssm\[numba\]'"):
        resolve_engine("numba", _backend.namespace(np.ones(2)), func="linear_scan")


def test_dtype_helpers(backend):
    xp = backend.xp
    x32 = backend.asarray([1.0], "float32")
    x64 = backend.asarray([1.0], "float64")
    assert _backend.complex_dtype(xp, xp.float32) == xp.complex64
    assert _backend.complex_dtype(xp, xp.float64) == xp.complex128
    assert _backend.real_dtype(xp, xp.complex64) == xp.float32
    assert _backend.float_dtype(xp, x32) == xp.float32
    assert _backend.float_dtype(xp, x32, x64) == xp.float64
    assert _backend.float_dtype(xp, backend.asarray([1], "int64")) == xp.float64
    assert _backend.float_dtype(xp, x32, None, 2.0) == xp.float32


def test_fast_paths_agree_with_the_general_code():
    """NumPy arrays skip array_api_compat, and dtype decisions are remembered: same answers, errors never kept."""
    import array_api_compat

    x = np.ones(3)
    xp = _backend.namespace(x, None, x)
    assert xp is array_api_compat.array_namespace(x)
    assert _backend.device_of(x) == array_api_compat.device(x)
    assert _backend.asarray(x, xp, dtype=xp.float64) is x
    assert _backend.asarray(x, xp, dtype=xp.float32).dtype == xp.float32
    for _ in range(2):  # first decided, then remembered
        assert _backend.float_dtype(xp, x.astype(np.float32), 1j) == xp.complex64
        assert _backend.float_dtype(xp, x.astype(np.float32), 1j, complex_ok=False) == xp.float32
        assert _backend.float_dtype(xp, x.astype(np.int8), x.astype(np.float32)) == xp.float64
        assert _backend.is_complex(xp, np.dtype(np.complex64)) and not _backend.is_complex(xp, x)
    half = x.astype(np.float16)
    for name in ("u", "delta"):  # a refused dtype raises every time, naming this call's argument
        with pytest.raises(TypeError, match=f"^{name} has dtype float16"):
            _backend.float_dtype(xp, half, names=(name,))


def test_place_keeps_namespace_device_precision(backend):
    for name in ("float32", "float64"):
        out = _backend.place(np.ones(3) + 1j, xp=backend.xp, dtype=backend.dtype(name), device=backend.device)
        assert out.dtype == _backend.complex_dtype(backend.xp, backend.dtype(name))
        if backend.device is not None:
            assert _backend.device_of(out) == backend.device


def test_place_rejects_non_float_dtype():
    with pytest.raises(TypeError, match="dtype"):
        _backend.place(np.ones(2), dtype=np.int64)


def test_namespace_errors():
    import array_api_strict as xps
    import numpy as np

    # scalars and lists are array_like (#14): without any array they are read in NumPy's namespace
    assert _backend.namespace(None, 1.0).__name__.endswith("numpy")
    assert _backend.namespace([1.0, 2.0]).__name__.endswith("numpy")
    with pytest.raises(TypeError, match="must come from one array library"):
        _backend.namespace(np.ones(2), xps.asarray([1.0]))


def test_to_numpy_refuses_foreign_arrays():
    import array_api_strict as xps

    with pytest.raises(TypeError, match="NumPy array"):
        _backend.to_numpy(xps.asarray([1.0]))


class TestResolveEngine:
    np_xp = _backend.namespace(np.ones(1))

    def test_unknown_engine_lists_valid(self):
        with pytest.raises(ValueError, match="'xp', 'numba', 'cupy'"):
            resolve_engine("fortran", self.np_xp, func="linear_scan")

    def test_unsupported_engine_for_function(self):
        with pytest.raises(ValueError, match="has no 'numba' engine"):
            resolve_engine("numba", self.np_xp, func="causal_conv")  # its record: xp only

    def test_numba_refuses_other_backends(self):
        import array_api_strict as xps

        with pytest.raises(TypeError, match="NumPy arrays only"):
            resolve_engine("numba", xps, func="linear_scan")

    def test_cupy_refuses_numpy(self, monkeypatch):
        monkeypatch.setitem(CAPABILITIES, "gpu_function", Capabilities("gpu_function", ("xp", "cupy")))
        with pytest.raises(TypeError, match="CuPy arrays only"):
            resolve_engine("cupy", self.np_xp, func="gpu_function")

    def test_engines_come_from_the_record(self, monkeypatch):
        variants = {"diag": ("xp", "numba"), "dense": ("xp",)}
        monkeypatch.setitem(CAPABILITIES, "two_structures", Capabilities("two_structures", variants))
        with pytest.raises(ValueError, match=r"two_structures \(dense systems\) has no 'numba' engine"):
            resolve_engine("numba", self.np_xp, func="two_structures", variant="dense")
        assert resolve_engine(None, self.np_xp, func="two_structures", variant="dense") == "xp"
        assert resolve_engine("xp", self.np_xp, func="two_structures", variant="diag") == "xp"

    def test_auto(self):
        expected = "numba" if HAVE_NUMBA else "xp"
        assert resolve_engine(None, self.np_xp, func="linear_scan") == expected
        assert resolve_engine("auto", self.np_xp, func="linear_scan") == expected
        assert resolve_engine(None, self.np_xp, func="causal_conv") == "xp"

    def test_strict_auto_is_xp(self):
        import array_api_strict as xps

        assert resolve_engine(None, xps, func="linear_scan") == "xp"

    def test_env_var(self, monkeypatch):
        monkeypatch.setenv(ENV_VAR, "xp")
        assert resolve_engine(None, self.np_xp, func="linear_scan") == "xp"
        monkeypatch.setenv(ENV_VAR, "bogus")
        with pytest.raises(ValueError, match=ENV_VAR):
            resolve_engine(None, self.np_xp, func="linear_scan")

    def test_env_var_does_not_force_unservable_engine(self, monkeypatch):
        import array_api_strict as xps

        monkeypatch.setenv(ENV_VAR, "numba")
        assert resolve_engine(None, xps, func="linear_scan") == "xp"


def test_tolerance_table():
    assert rtol(np.float32, "kernel") == 5e-5
    assert rtol(np.complex128, "scan") == 1e-12
    with pytest.raises(ValueError, match="unknown tolerance kind"):
        rtol(np.float64, "nonsense")
    with pytest.raises(TypeError):
        rtol(np.int64)


def test_assert_close_detects_differences():
    ref = np.linspace(1, 2, 10)
    assert_close(ref * (1 + 1e-14), ref)
    assert relative_error(ref + 1e-3, ref) == pytest.approx(5e-4)
    with pytest.raises(AssertionError, match="exceeds"):
        assert_close(ref + 1e-6, ref)
    with pytest.raises(AssertionError, match="NaN"):
        assert_close(ref * np.nan, ref)
    with pytest.raises(AssertionError, match="shape"):
        assert_close(ref[:3], ref)


def test_show_config(capsys):
    show_config()
    out = capsys.readouterr().out
    assert "engines:" in out and "numpy" in out and "gpu:" in out


def test_cli_info():
    out = subprocess.run([sys.executable, "-m", "statespace", "info"], capture_output=True, text=True, check=True)
    assert "engines:" in out.stdout
