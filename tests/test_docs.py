"""Every public name is documented: each parameter in its numpydoc Parameters section, with Returns and Examples.

The docstrings are the API reference of the documentation site (``docs/``), so an undocumented
parameter is a documentation bug this test turns into a failure.
"""

from __future__ import annotations

import inspect

import pytest

import statespace

docscrape = pytest.importorskip(
    "numpydoc.docscrape", reason="numpydoc is not installed (pip install 'statespace-ssm[docs]'); docstrings not parsed"
)

PUBLIC = [name for name in statespace.__all__ if callable(getattr(statespace, name))]


def _documented_names(entries) -> set[str]:
    """Names of a numpydoc Parameters/Attributes section; ``"alpha, beta"`` counts for both."""
    names = set()
    for entry in entries:
        names.update(part.strip().lstrip("*") for part in entry.name.split(","))
    return names - {""}


def _signature_names(obj) -> list[str]:
    """Parameters a user passes: not ``self``, not private (``_name``, e.g. internal dataclass fields)."""
    return [name for name in inspect.signature(obj).parameters if name != "self" and not name.startswith("_")]


def _returns_nothing(obj) -> bool:
    return inspect.signature(obj).return_annotation in (None, "None")


def test_public_names_are_found():
    assert PUBLIC, "statespace.__all__ lists no callables"


@pytest.mark.parametrize("name", PUBLIC)
def test_every_parameter_is_documented(name):
    obj = getattr(statespace, name)
    if inspect.isclass(obj):
        doc = docscrape.ClassDoc(obj, config={"show_class_members": False})
        documented = _documented_names(doc["Parameters"]) | _documented_names(doc["Attributes"])
    else:
        doc = docscrape.FunctionDoc(obj)
        documented = _documented_names(doc["Parameters"])
    parameters = _signature_names(obj)
    missing = [p for p in parameters if p not in documented]
    assert not missing, f"statespace.{name}: parameters not in its docstring's Parameters section: {missing}"
    stale = sorted(documented - set(parameters))
    assert not stale, f"statespace.{name}: documents parameters its signature does not have: {stale}"


@pytest.mark.parametrize("name", PUBLIC)
def test_sections_exist(name):
    obj = getattr(statespace, name)
    is_class = inspect.isclass(obj)
    doc = docscrape.ClassDoc(obj, config={"show_class_members": False}) if is_class else docscrape.FunctionDoc(obj)
    absent = []
    if _signature_names(obj) and not (doc["Parameters"] or (is_class and doc["Attributes"])):
        absent.append("Parameters" + (" (or Attributes)" if is_class else ""))
    if not is_class and not _returns_nothing(obj) and not (doc["Returns"] or doc["Yields"]):
        absent.append("Returns")
    if not doc["Examples"]:
        absent.append("Examples")
    assert not absent, f"statespace.{name}: docstring lacks the section(s) {', '.join(absent)}"
