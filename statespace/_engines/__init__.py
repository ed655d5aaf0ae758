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
"""

from __future__ import annotations

import importlib
import importlib.util
import os

import array_api_compat

from .._validation import check_choice

__all__ = ["ENGINES", "ENV_VAR", "resolve_engine", "engine_module", "installed"]

ENGINES = ("xp", "numba", "cupy")
ENV_VAR = "STATESPACE_ENGINE"
_INSTALL_HINT = {"numba": "pip install 'statespace-ssm[numba]'", "cupy": "pip install 'statespace-ssm[cupy]'"}


def installed(engine: str) -> bool:
    """Whether the library an engine needs is installed (found without importing it)."""
    if engine == "xp":
        return True
    return importlib.util.find_spec(engine) is not None


def _serves(engine: str, xp) -> bool:
    if engine == "xp":
        return True
    if engine == "numba":
        return array_api_compat.is_numpy_namespace(xp)
    return array_api_compat.is_cupy_namespace(xp)


def resolve_engine(engine, xp, *, supported=("xp", "numba"), func: str = "this function") -> str:
    """Return the engine that will run ``func`` on arrays of namespace ``xp``.

    Parameters
    ----------
    engine : {None, "auto", "xp", "numba", "cupy"}
        The caller's request; ``None``/``"auto"`` chooses (see the module docstring).
    xp : namespace
        The arrays' namespace, from :func:`statespace._backend.namespace`.
    supported : tuple of str
        The engines ``func`` has.
    func : str
        Name used in error messages.

    Raises
    ------
    ValueError
        Unknown engine name, or one that ``func`` does not have.
    TypeError
        The engine cannot serve arrays of this library (e.g. numba with CuPy arrays).
    ImportError
        The engine's library is not installed.
    """
    if engine is not None and engine != "auto":
        check_choice(engine, "engine", ("auto",) + ENGINES)
        if engine not in supported:
            raise ValueError(f"{func} has no {engine!r} engine; it supports {', '.join(map(repr, supported))}")
        if not _serves(engine, xp):
            kind = "NumPy" if engine == "numba" else "CuPy"
            raise TypeError(
                f"engine={engine!r} runs on {kind} arrays only, got arrays of {xp.__name__}; "
                "pass engine='xp' (portable) or convert the arrays yourself"
            )
        if not installed(engine):
            raise ImportError(f"engine={engine!r} needs {engine}, which is not installed: {_INSTALL_HINT[engine]}")
        return engine

    preferred = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if preferred not in ("auto",) + ENGINES:
        raise ValueError(
            f"environment variable {ENV_VAR}={preferred!r} is not an engine; "
            f"expected one of 'auto', {', '.join(map(repr, ENGINES))}"
        )
    if preferred != "auto" and preferred in supported and _serves(preferred, xp) and installed(preferred):
        return preferred
    for candidate in ("numba", "cupy"):
        if candidate in supported and _serves(candidate, xp) and installed(candidate):
            return candidate
    return "xp"


def engine_module(engine: str, topic: str):
    """Import ``statespace._engines.<engine>.<topic>`` (the only place optional libraries load)."""
    return importlib.import_module(f"{__name__}.{engine}.{topic}")
