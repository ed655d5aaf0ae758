"""Smoke tests of ``statespace bench`` (timings are never asserted, only the table and its behaviour)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import subprocess
import sys

import pytest

import statespace
from statespace._app import bench as _bench
from statespace._app.cli import main as cli_main

HAS_NUMBA = importlib.util.find_spec("numba") is not None


def run_cli(*argv):
    """``statespace <argv>``: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli_main(list(argv))
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def quick_run():
    return run_cli("bench", "--quick", "--only", "cauchy", "linear_scan", "causal_conv")


def test_quick_table_has_machine_engines_peers_and_ratios(quick_run):
    status, out, _ = quick_run
    assert status == 0, out
    assert out.startswith("machine: ") and "GB/s" in out and "GFLOP/s" in out
    for name in ("cauchy", "linear_scan", "causal_conv"):
        assert re.search(rf"^{name} \[.*\]  bound \d", out, re.M), name
    assert "statespace xp" in out and "numpy broadcasting (ref)" in out and "scipy.signal.fftconvolve (ref)" in out
    assert ("statespace numba" in out) == HAS_NUMBA
    rows = re.findall(r"(\d+\.\d+) ms\s+(\d+\.\d+)×\s+(\d+\.\d+)×", out)
    assert len(rows) >= 7
    assert all(float(bound_ratio) > 0 and float(speedup) > 0 for _, bound_ratio, speedup in rows)


def test_progress_goes_to_stderr(quick_run):
    _, out, err = quick_run
    assert "[ 1/" in err and "cauchy: statespace xp" in err
    assert "[ 1/" not in out


def test_xp_engine_only_never_imports_numba():
    code = (
        "import sys; from statespace._app.cli import main; "
        "status = main(['bench', '--quick', '--engines', 'xp', '--only', 'linear_scan']); "
        "assert 'numba' not in sys.modules, 'numba imported'; sys.exit(status)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "statespace numba" not in done.stdout and "statespace xp" in done.stdout


def test_missing_function_is_reported_and_peers_still_run(monkeypatch):
    monkeypatch.delattr(statespace, "cauchy")
    status, out, _ = run_cli("bench", "--quick", "--engines", "xp", "--only", "cauchy")
    assert status == 0
    assert "statespace.cauchy not available in this version" in out
    assert "numpy broadcasting (ref)" in out and "statespace xp" not in out


def test_failing_implementation_is_shown_and_sets_exit_status(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("deliberately broken")

    monkeypatch.setattr(statespace, "linear_scan", broken)
    status, out, _ = run_cli("bench", "--quick", "--engines", "xp", "--only", "linear_scan")
    assert status == 1
    assert "error: RuntimeError: deliberately broken" in out


def test_bound_is_the_slowest_resource():
    machine = _bench.Machine(
        2, bandwidth=1e10, flops={"float64": 1e11, "float32": 2e11}, exps={"float64": 1e9, "float32": 2e9}
    )
    assert _bench.Work(bytes=1e10, flops=1e10).bound(machine) == (1.0, "memory")
    assert _bench.Work(bytes=1e9, flops=1e12).bound(machine) == (10.0, "flops")
    assert _bench.Work(bytes=1e9, exps=3e9).bound(machine) == (3.0, "exp")
    assert _bench.Work(flops=2e11, dtype="float32").bound(machine) == (1.0, "flops")


def test_unknown_function_is_refused():
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        cli_main(["bench", "--only", "no_such_function"])


@pytest.mark.slow
def test_full_quick_run_covers_every_hot_function():
    status, out, _ = run_cli("bench", "--quick")
    assert status == 0, out
    for name in ("cauchy", "kernel_diag", "kernel_dplr", "causal_conv", "linear_scan", "recurrence", "selective_scan"):
        assert re.search(rf"^{name}", out, re.M), name
    assert re.search(r"^(discretize|expm) \(ZOH\)", out, re.M)
