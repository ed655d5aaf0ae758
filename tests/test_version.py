"""One source for the version: ``statespace/_version.py``, which pyproject.toml reads (dynamic version)."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import statespace

ROOT = Path(__file__).resolve().parents[1]
DIST = "statespace-ssm"


def test_version_is_pep440():
    # PEP 440 public version (the subset used here: release, optional pre/post/dev).
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?", statespace.__version__)


def test_pyproject_reads_the_version_from_the_package():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"], "the version is written twice"
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "statespace._version.__version__"}
    assert pyproject["project"]["name"] == DIST


def test_installed_metadata_matches_the_package():
    try:
        installed = importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{DIST} is not installed (running from a source tree)")
    assert installed == statespace.__version__


def test_cli_version():
    out = subprocess.run(
        [sys.executable, "-m", "statespace", "--version"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == f"statespace {statespace.__version__}"
