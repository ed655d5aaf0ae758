"""Every function that takes a step size links to the Conventions page (#14), and the page is in the guide."""

from __future__ import annotations

import pathlib

import pytest

import statespace as ss

STEP_TAKING = [
    ss.discretize,
    ss.cont2discrete,
    ss.discretize_diag,
    ss.discretize_dplr,
    ss.kernel_diag,
    ss.kernel_dplr,
    ss.dplr_ctilde,
    ss.dplr_ctilde_inverse,
    ss.dplr_ctilde_double,
    ss.irregular_response,
    ss.selective_scan,
]
DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "user_guide"


@pytest.mark.parametrize("func", STEP_TAKING, ids=[f.__name__ for f in STEP_TAKING])
def test_step_taking_docstrings_link_to_the_conventions_page(func):
    assert ":ref:`step-size rule <conventions-steps>`" in func.__doc__


def test_the_conventions_page_is_in_the_guide():
    assert (DOCS / "conventions.rst").is_file()
    assert "\n   conventions\n" in (DOCS / "index.rst").read_text()
    assert ".. _conventions-steps:" in (DOCS / "conventions.rst").read_text()
