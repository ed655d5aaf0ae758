"""Capability records and the one dispatch point of the public functions.

Every public function is declared once, beside its definition, with::

    @capabilities(engines=("xp", "numba"), dask="lazy", methods=METHODS)
    def cauchy(...): ...

The record says which engines have a kernel for the function, how it treats Dask
arrays and which methods it accepts.  Engine resolution
(:func:`statespace._engines.resolve_engine`), the Dask route, the error for an
unsupported combination, the docs' capability table and the tests' parametrization
all read :data:`CAPABILITIES`; nothing else states what a function can do.

The decorator is also the dispatch point for Dask: when any argument is a Dask
array the call goes to the implementation that :mod:`statespace._dask` registers
for the function (imported on the first Dask array, never before), runs the
array-API code on Dask's namespace (``dask="xp"``) or raises
:class:`NotImplementedError`.  The topic modules never look at Dask themselves.

This module imports nothing from :mod:`statespace`; every other module may import it.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["Capabilities", "CAPABILITIES", "DASK_MODES", "capabilities", "dask_implementation", "engines_for"]

#: How a function treats Dask arrays: ``"lazy"`` a plug-in in :mod:`statespace._dask` builds a lazy graph
#: (chunked batch and time where the record's ``dask_note`` says so); ``"xp"`` the array-API code runs on
#: Dask's namespace and stays lazy; ``"no"`` refused with :class:`NotImplementedError`; ``None`` the function
#: takes no arrays.
DASK_MODES = ("lazy", "xp", "no", None)


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What one public function can do (read by dispatch, errors, docs and tests).

    Attributes
    ----------
    name : str
        The public name.
    engines : tuple of str, or mapping of variant to tuple of str
        Engines with a kernel for the function (``"xp"`` always); a mapping when the engines
        depend on a variant of the input (e.g. the structure of a system).
    dask : {"lazy", "xp", "no", None}
        See :data:`DASK_MODES`.
    dask_note : str
        What the Dask route needs or refuses (chunking), shown in docs and errors.
    methods : tuple of str
        The ``method=`` values it accepts (empty when it has no ``method``).
    """

    name: str
    engines: tuple | Mapping = ("xp",)
    dask: str | None = "no"
    dask_note: str = ""
    methods: tuple = ()

    def engines_for(self, variant: str | None = None) -> tuple:
        """The engines of ``variant`` (or of every variant together when ``None``)."""
        if not isinstance(self.engines, Mapping):
            return self.engines
        if variant is None:
            return tuple(dict.fromkeys(e for engines in self.engines.values() for e in engines))
        return self.engines[variant]


#: name -> record, filled as the topic modules are imported (``import statespace`` fills all of it).
CAPABILITIES: dict[str, Capabilities] = {}
_DASK_IMPLEMENTATIONS: dict[str, Callable] = {}


def engines_for(func: str, variant: str | None = None) -> tuple:
    """The engines of public function ``func`` (``"xp"`` alone for a name without a record)."""
    record = CAPABILITIES.get(func)
    return ("xp",) if record is None else record.engines_for(variant)


def capabilities(*, engines=("xp",), dask="no", dask_note: str = "", methods=(), name: str | None = None):
    """Declare a public function's capability record and route its Dask arrays (a decorator).

    ``name`` is the record's public name when it is not the function's own: a function of a public
    submodule is recorded under its dotted name (``"vjp.selective_scan"``), beside the top-level one.
    """
    if dask not in DASK_MODES:
        raise ValueError(f"dask must be one of {DASK_MODES}, got {dask!r}")
    engines = dict(engines) if isinstance(engines, Mapping) else tuple(engines)

    def decorate(fn):
        record = Capabilities(name or fn.__name__, engines, dask, dask_note, tuple(methods))
        CAPABILITIES[record.name] = record
        if dask is None:
            fn.capabilities = record
            return fn

        @functools.wraps(fn)
        def dispatch(*args, **kwargs):
            if "dask.array" in sys.modules and _any_dask(args, kwargs.values()):
                return _dask_route(record, fn, args, kwargs)
            return fn(*args, **kwargs)

        dispatch.capabilities = record
        return dispatch

    return decorate


def dask_implementation(name: str):
    """Register the Dask implementation of public function ``name`` (used by :mod:`statespace._dask`)."""

    def register(impl):
        _DASK_IMPLEMENTATIONS[name] = impl
        return impl

    return register


_PLAIN, _DASK, _SEQUENCE, _RECORD = range(4)
_KINDS: dict[type, int] = {}  # argument type -> how to look for Dask arrays in it (cached: this runs on every call)


def _kind(kind: type) -> int:
    found = _KINDS.get(kind)
    if found is None:
        if kind.__module__.startswith("dask.") and hasattr(kind, "dask"):
            found = _DASK
        elif issubclass(kind, (tuple, list)):
            found = _SEQUENCE
        elif dataclasses.is_dataclass(kind):
            found = _RECORD
        else:
            found = _PLAIN
        _KINDS[kind] = found
    return found


def _any_dask(*groups) -> bool:
    """A Dask array among the arguments, inside a tuple/list of them, or in a record's fields."""
    for group in groups:
        for x in group:
            kind = _kind(type(x))
            if kind == _DASK:
                return True
            if kind == _SEQUENCE and any(_kind(type(y)) == _DASK for y in x):
                return True
            if kind == _RECORD and any(_kind(type(getattr(x, f.name))) == _DASK for f in dataclasses.fields(x)):
                return True
    return False


def _dask_route(record: Capabilities, fn, args, kwargs):
    if record.dask == "xp":
        return fn(*args, **kwargs)
    if record.dask == "lazy":
        importlib.import_module("statespace._dask")  # registers the implementations on first use
        return _DASK_IMPLEMENTATIONS[record.name](*args, **kwargs)
    note = f" ({record.dask_note})" if record.dask_note else ""
    raise NotImplementedError(
        f"{record.name} is not supported on Dask arrays yet{note}; compute the inputs first "
        "(x.compute()) or pass NumPy/CuPy arrays"
    )
