"""Run every Examples section of the public modules (against the installed package)."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

import numpy as np
import pytest

import statespace

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(statespace.__path__, prefix="statespace.")
    if "_engines" not in m.name and m.name != "statespace.__main__"
)


#: Adapter modules and the optional library they wrap (skipped where it is not installed).
NEEDS = {"statespace.torch": "torch", "statespace.jax": "jax"}


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    if name in NEEDS and importlib.util.find_spec(NEEDS[name]) is None:
        pytest.skip(f"{name} needs {NEEDS[name]}, which is not installed")
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs = {"np": np, "statespace": statespace}
    for test in finder.find(module, name, globs=dict(globs)):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} doctest example(s) failed in {name}"
