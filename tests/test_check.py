"""``statespace check``: the self-test passes here, prints its table, and fails loudly when a view is wrong."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

import statespace
from statespace._app import check as _check


def test_check_passes_and_prints_table(capsys):
    assert _check.run(argparse.Namespace(quiet=False)) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:4] == ["check", "backend", "engine", "dtype"] and header[-1] == "ok"
    for name in ("conv∘kernel_diag", "recurrence (dplr)", "selective_scan (LTI)", "linear_scan (diag)"):
        assert name in out
    for backend in ("numpy", "strict", "strict-device1"):
        assert f" {backend} " in out
    assert "float32" in out and "float64" in out and "FAIL" not in out
    summary = out.strip().splitlines()[-1]
    passed, total = summary.split()[0].split("/")
    assert passed == total and int(total) >= 9 * 3 * 2 and "FAILED" not in summary


def test_check_fails_on_a_wrong_view(monkeypatch, capsys):
    real_causal_conv = statespace.causal_conv
    # a convolution that drops the last tap's contribution: the kernel views go wrong by O(1)
    monkeypatch.setattr(statespace, "causal_conv", lambda u, K, **kw: real_causal_conv(u, K[..., :-1], **kw))
    assert _check.run(argparse.Namespace(quiet=True)) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "conv∘kernel_diag" in out and "FAILED" in out.splitlines()[-1]
    assert "recurrence (diag)" not in out  # quiet: only failures, and the recurrence is still right


def test_check_reports_an_exception_as_failure(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(statespace, "linear_scan", broken)
    assert _check.run(argparse.Namespace(quiet=True)) == 1
    assert "RuntimeError: boom" in capsys.readouterr().out


def test_check_catches_a_silent_host_round_trip(monkeypatch, capsys):
    pytest.importorskip("array_api_strict")
    real_recurrence = statespace.recurrence

    def to_default_device(*args, **kwargs):  # the right numbers, on the wrong device
        y = real_recurrence(*args, **kwargs)
        return type(y).__array_namespace__(y).asarray(np.asarray(statespace.testing.to_host(y)))

    monkeypatch.setattr(statespace, "recurrence", to_default_device)
    assert _check.run(argparse.Namespace(quiet=True)) == 1
    out = capsys.readouterr().out
    assert "[left " in out and "strict-device1" in out
