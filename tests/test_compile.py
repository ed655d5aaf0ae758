"""Compile ahead of time: ``compile_all``, ``statespace compile`` and the progress lines of the command line."""

from __future__ import annotations

import importlib
import io
import time

import pytest

from statespace._app import cli
from statespace._app.progress import Progress


def test_progress_announces_only_slow_steps():
    stream = io.StringIO()
    progress = Progress(stream, after=0.2)
    with progress.step("quick"):
        pass
    assert stream.getvalue() == ""
    with progress.step("slow"):
        time.sleep(0.5)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("slow …") and lines[1].startswith("slow: done in")


def test_progress_callback_lines():
    stream = io.StringIO()
    progress = Progress(stream)
    progress(0, 12, "cauchy float32 (serial)", None)  # start of a step: nothing
    progress(1, 12, "cauchy float32 (serial)", 1.25)
    assert stream.getvalue() == "[ 1/12] cauchy float32 (serial): 1.2 s\n"


def test_compile_command_reports_progress(monkeypatch, capsys):
    engine = pytest.importorskip("statespace._engines.numba")
    seen = {}

    def fake_compile_all(progress=None, *, parallel=None):
        seen["parallel"] = parallel
        for done, label in enumerate(("a (serial)", "b (serial)")):
            progress(done, 2, label, None)
            progress(done + 1, 2, label, 0.5)
        return 2

    monkeypatch.setattr(engine, "compile_all", fake_compile_all)
    assert cli.main(["compile", "--serial-only"]) == 0
    out, err = capsys.readouterr()
    assert seen["parallel"] is False
    assert "[1/2] a (serial): 0.5 s" in err and "[2/2] b (serial): 0.5 s" in err
    assert out.startswith("2 kernels compiled or loaded in")


@pytest.mark.slow
def test_compile_all_compiles_every_kernel(capfd):
    """Every serial and parallel kernel of the engine has a compiled signature afterwards; nothing printed."""
    engine = pytest.importorskip("statespace._engines.numba")
    steps = []
    count = engine.compile_all(lambda done, total, label, seconds: steps.append(label), parallel=True)
    assert count == len(steps) // 2
    assert engine.compile_all(parallel=False) == count // 2
    assert capfd.readouterr() == ("", "")
    for topic in (
        "kernels",
        "scan",
        "recurrence",
        "selective",
        "scan_vjp",
        "recurrence_vjp",
        "selective_vjp",
        "vandermonde_vjp",
    ):
        module = importlib.import_module(f"statespace._engines.numba.{topic}")
        for name, kernel in vars(module).items():
            if isinstance(kernel, engine.Kernel):
                assert kernel.serial.signatures and kernel.parallel.signatures, f"{topic}.{name} not compiled"
