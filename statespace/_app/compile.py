"""``statespace compile``: compile every numba kernel now, with progress, instead of on first use."""

from __future__ import annotations

import importlib.util
import os
import time

from .progress import Progress

__all__ = ["add_arguments", "run"]


def add_arguments(parser) -> None:
    parser.add_argument("--serial-only", action="store_true", help="skip the parallel versions of the kernels")


def run(args) -> int:
    if importlib.util.find_spec("numba") is None:
        print("numba is not installed: nothing to compile (pip install 'statespace[numba]')")
        return 1
    from statespace._engines import numba as engine

    start = time.perf_counter()
    count = engine.compile_all(Progress(), parallel=False if args.serial_only else None)
    cache = os.environ.get("NUMBA_CACHE_DIR", "next to the installed package (__pycache__)")
    print(f"{count} kernels compiled or loaded in {time.perf_counter() - start:.1f} s; cache: {cache}")
    return 0
