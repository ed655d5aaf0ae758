"""Engine resolution: how a hot loop runs (DESIGN.md §3).

An *engine* is independent of the caller's array library (the *backend*):

``"xp"``
    Portable array-API code, the ground truth; serves every backend.
``"numba"``
    Jitted, fused CPU loops (``statespace._engines.numba``); serves NumPy arrays.
``"cupy"``
    CUDA kernels (``statespace._engines.cupy``); serves CuPy arrays.

``engine=None`` means: the ``STATESPACE_ENGINE`` environment variable when it
names an engine that can serve the arrays (``"auto"`` or unset otherwise),
else automatic choice: numba for NumPy arrays when numba is installed, cupy
for CuPy arrays when that engine exists for the function, else xp.  An
engine requested explicitly that cannot serve the arrays raises; nothing is
ever converted silently.  Optional libraries are imported only here, lazily,
when an engine is first used.

Which engines a function has is read from its capability record
(:mod:`statespace._dispatch`); an engine's kernels for a topic live in
``statespace._engines.<engine>.<topic>`` and are reached with
:func:`engine_module`.  Adding an engine to a function is one kernel module
plus one name in its record.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

import array_api_compat

from .._dispatch import engines_for
from .._validation import check_choice

__all__ = [
    "ENGINES",
    "ENV_VAR",
    "resolve_engine",
    "requested_engine",
    "engine_module",
    "installed",
    "optional_library",
    "threads",
    "gpus",
    "backends",
]

ENGINES = ("xp", "numba", "cupy")
ENV_VAR = "STATESPACE_ENGINE"
_INSTALL_HINT = {"numba": "pip install 'statespace-ssm[numba]'", "cupy": "pip install 'statespace-ssm[cupy]'"}


def installed(engine: str) -> bool:
    """Whether the library an engine needs is installed (found without importing it)."""
    if engine == "xp" or engine in _FOUND:
        return True
    if engine == "cupy":  # the kernels are compiled by numba-cuda
        found = importlib.util.find_spec("cupy") is not None and importlib.util.find_spec("numba") is not None
    else:
        found = importlib.util.find_spec(engine) is not None
    if found:  # once found, found (a library installed later is still seen: absence is never remembered)
        _FOUND.add(engine)
    return found


#: Engines whose libraries :func:`installed` has found.
_FOUND: set = set()


def _serves(engine: str, xp) -> bool:
    if engine == "xp":
        return True
    if engine == "numba":
        return array_api_compat.is_numpy_namespace(xp)
    return array_api_compat.is_cupy_namespace(xp)


def requested_engine(engine) -> str:
    """The engine asked for: ``engine`` itself, else :data:`ENV_VAR`, else ``"auto"`` (validated)."""
    if engine is not None and engine != "auto":
        return check_choice(engine, "engine", ("auto",) + ENGINES)
    preferred = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if preferred not in ("auto",) + ENGINES:
        raise ValueError(
            f"environment variable {ENV_VAR}={preferred!r} is not an engine; "
            f"expected one of 'auto', {', '.join(map(repr, ENGINES))}"
        )
    return preferred


def resolve_engine(engine, xp, *, func: str, variant: str | None = None) -> str:
    """Return the engine that will run ``func`` on arrays of namespace ``xp``.

    Parameters
    ----------
    engine : {None, "auto", "xp", "numba", "cupy"}
        The caller's request; ``None``/``"auto"`` chooses (see the module docstring).
    xp : namespace
        The arrays' namespace, from :func:`statespace._backend.namespace`.
    func : str
        The public function; its engines come from its capability record.
    variant : str, optional
        The input variant when the record lists engines per variant (e.g. ``"diag"``).

    Raises
    ------
    ValueError
        Unknown engine name, or one that ``func`` does not have.
    TypeError
        The engine cannot serve arrays of this library (e.g. numba with CuPy arrays).
    ImportError
        The engine's library is not installed.
    """
    supported = engines_for(func, variant)
    if engine is not None and engine != "auto":
        check_choice(engine, "engine", ("auto",) + ENGINES)
        if engine not in supported:
            what = func if variant is None else f"{func} ({variant} systems)"
            raise ValueError(f"{what} has no {engine!r} engine; it supports {', '.join(map(repr, supported))}")
        if not _serves(engine, xp):
            kind = "NumPy" if engine == "numba" else "CuPy"
            raise TypeError(
                f"engine={engine!r} runs on {kind} arrays only, got arrays of {xp.__name__}; "
                "pass engine='xp' (portable) or convert the arrays yourself"
            )
        if not installed(engine):
            raise ImportError(f"engine={engine!r} needs {engine}, which is not installed: {_INSTALL_HINT[engine]}")
        return engine

    preferred = requested_engine(None)
    if preferred != "auto" and preferred in supported and _serves(preferred, xp) and installed(preferred):
        return preferred
    for candidate in ("numba", "cupy"):
        if candidate in supported and _serves(candidate, xp) and installed(candidate):
            return candidate
    return "xp"


def engine_module(engine: str, topic: str):
    """Import ``statespace._engines.<engine>.<topic>`` (the only place optional libraries load)."""
    module = _LOADED.get((engine, topic))
    if module is None:  # imported once, then remembered (a dict lookup instead of the import machinery per call)
        module = _LOADED[engine, topic] = importlib.import_module(f"{__name__}.{engine}.{topic}")
    return module


#: ``(engine, topic)`` → its module, fully imported (see :func:`engine_module`).
_LOADED: dict = {}


def optional_library(name: str):
    """The optional library ``name`` (numba, cupy, torch, jax, ...), imported; ``None`` when absent or broken.

    The one way for the rest of the package (the application face included) to reach an optional
    library: nothing outside ``statespace/_engines`` imports one itself.
    """
    if importlib.util.find_spec(name.partition(".")[0]) is None:
        return None
    try:
        return importlib.import_module(name)
    except Exception:  # a broken installation (e.g. a CUDA library missing) counts as absent
        return None


def threads() -> dict:
    """CPU count and, when numba is installed, its thread count and threading layer."""
    found = {"cpu_count": os.cpu_count()}
    numba = optional_library("numba") if installed("numba") else None
    if numba is not None:
        found["numba_threads"] = numba.config.NUMBA_NUM_THREADS
        found["numba_threading_layer"] = numba.config.THREADING_LAYER
    return found


def gpus() -> str:
    """The GPUs CuPy sees, or why there are none."""
    if not installed("cupy"):
        return "unknown (cupy not installed)"
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing, no device, ...
        return f"CuPy installed, no GPU ({type(exc).__name__}: {str(exc).strip() or 'no detail'})"
    if count == 0:
        return "CuPy installed, no GPU"
    return ", ".join(cupy.cuda.runtime.getDeviceProperties(i)["name"].decode() for i in range(count))


def backends() -> list:
    """``(name, xp, device)`` for each array library importable here (CuPy only with a GPU)."""
    import numpy as np

    found = [("numpy", importlib.import_module("array_api_compat.numpy"), None)]
    strict = optional_library("array_api_strict")
    if strict is not None:
        found.append(("strict", strict, None))
        if int(np.__version__.split(".")[0]) >= 2:  # array-api-strict's second device needs NumPy 2's asarray(copy=)
            found.append(("strict-device1", strict, strict.Device("device1")))
    torch = optional_library("torch")
    if torch is not None:
        found.append(("torch", importlib.import_module("array_api_compat.torch"), torch.device("cpu")))
    cupy = optional_library("cupy")
    if cupy is not None:
        try:
            if cupy.cuda.runtime.getDeviceCount() > 0:
                found.append(("cupy", importlib.import_module("array_api_compat.cupy"), None))
        except Exception:  # a CuPy without a usable GPU is not a backend here
            pass
    return found
