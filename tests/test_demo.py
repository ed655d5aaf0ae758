"""``statespace demo`` through the command line entry point."""

from __future__ import annotations

import importlib.util
import math
import re

import numpy as np
import pytest

from statespace import hippo_basis
from statespace._app import demo
from statespace._app.cli import main


def _number(label, text):
    match = re.search(re.escape(label) + r"[^:]*:\s*([0-9.e+-]+)", text)
    assert match, f"{label!r} not in output:\n{text}"
    return float(match.group(1))


def test_demo_prints_errors_and_writes_png(tmp_path, capsys):
    path = tmp_path / "memory.png"
    assert main(["demo", "--output", str(path)]) == 0
    out = capsys.readouterr().out
    reconstruction = _number("reconstruction error from the final state", out)
    projection = _number("best possible with 64 coefficients", out)
    nplr_error = _number("NPLR reconstruction error of LegS N=64", out)
    assert projection < reconstruction < 1e-3
    assert nplr_error <= 1e-12  # issue 2: NPLR reconstruction ≤ 1e-12 in float64
    # the picture's story: a larger state remembers more (N/4, N/2 beside N), each near its projection floor
    smaller = re.findall(r"N=(\d+): ([0-9.e+-]+) \(best ([0-9.e+-]+)\)", out)
    assert [int(n) for n, _, _ in smaller] == [16, 32]
    errors = [float(e) for _, e, _ in smaller] + [reconstruction]
    assert errors[0] > errors[1] > errors[2]
    assert all(float(best) <= float(e) for _, e, best in smaller)
    if importlib.util.find_spec("matplotlib") is None:
        assert "no plot" in out and not path.exists()
    else:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert str(path) in out


def test_demo_without_matplotlib_skips_the_plot_quietly(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(demo, "_matplotlib_available", lambda: False)
    path = tmp_path / "never.png"
    assert main(["demo", "--output", str(path), "--length", "200"]) == 0
    assert "matplotlib is not installed" in capsys.readouterr().out
    assert not path.exists()


def test_demo_no_plot_option(tmp_path, capsys):
    path = tmp_path / "never.png"
    assert main(["demo", "--no-plot", "--N", "16", "--length", "300", "--output", str(path)]) == 0
    assert "N = 16" in capsys.readouterr().out
    assert not path.exists()


@pytest.mark.parametrize("argv", [["--N", "7"], ["--N", "0"], ["--length", "1"]])
def test_demo_bad_options(argv):
    with pytest.raises(SystemExit, match=r"--N|--length"):
        main(["demo", "--no-plot", *argv])


def test_legs_memory_is_second_order():
    """The log-time trapezoidal recurrence converges to the exact projection like 1/L²."""
    N = 32
    nodes, weights = np.polynomial.legendre.leggauss(200)
    nodes, weights = (nodes + 1) / 2, weights / 2
    exact = (weights * demo.demo_signal(nodes)) @ hippo_basis("legs", N, nodes)
    errors = []
    for L in (250, 1000):
        state = demo.legs_memory(demo.demo_signal(np.arange(L + 1) / L), N)
        errors.append(np.max(np.abs(state - exact)) / np.max(np.abs(exact)))
    order = math.log(errors[0] / errors[1]) / math.log(4)
    assert order > 1.8, (errors, order)
