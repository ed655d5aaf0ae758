"""``show_config``: what this installation can run on (``statespace info`` on the CLI)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

from .._engines import ENGINES, ENV_VAR, gpus, installed, threads
from .._version import __version__

__all__ = ["show_config", "config"]

_LIBRARIES = ("numpy", "scipy", "array-api-compat", "numba", "llvmlite", "cupy", "array-api-strict", "torch", "jax")


def _version(dist: str):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def config() -> dict:
    """The configuration as a dictionary (what :func:`show_config` prints)."""
    return {
        "statespace": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": {name: _version(name) for name in _LIBRARIES},
        "engines": {name: installed(name) for name in ENGINES},
        "default_engine": os.environ.get(ENV_VAR, "auto"),
        "threads": threads(),
        "gpu": gpus(),
    }


def show_config() -> None:
    """Print versions, available engines, thread counts and GPU presence.

    Examples
    --------
    >>> import statespace
    >>> statespace.show_config()  # doctest: +ELLIPSIS
    statespace ...
    """
    cfg = config()
    print(f"statespace {cfg['statespace']} on Python {cfg['python']} ({cfg['platform']})")
    print("libraries:")
    for name, version in cfg["libraries"].items():
        print(f"  {name:18s} {version or '-'}")
    print("engines:")
    for name, ok in cfg["engines"].items():
        print(f"  {name:18s} {'available' if ok else 'not installed'}")
    print(f"default engine ({ENV_VAR}): {cfg['default_engine']}")
    print("threads:")
    for name, value in cfg["threads"].items():
        print(f"  {name:18s} {value}")
    print(f"gpu: {cfg['gpu']}")
