"""Progress lines for the command line (``statespace compile``, ``statespace check``); the library stays silent."""

from __future__ import annotations

import contextlib
import sys
import threading
import time

__all__ = ["Progress"]


class Progress:
    """Report steps on ``stream`` (stderr): all of them, or only those still running after ``after`` seconds.

    Use it as :func:`statespace._engines.numba.compile_all`'s ``progress`` callback, or wrap a step in
    :meth:`step`. With ``after > 0`` a step is announced only once it has run that long (a timer), then
    its duration is printed when it ends: quick steps print nothing.
    """

    def __init__(self, stream=None, after: float = 0.0):
        self.stream = sys.stderr if stream is None else stream
        self.after = after
        self._lock = threading.Lock()

    def _print(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)

    def __call__(self, done: int, total: int, label: str, seconds: float | None) -> None:
        if seconds is not None:
            self._print(f"[{done:>{len(str(total))}}/{total}] {label}: {seconds:.1f} s")

    @contextlib.contextmanager
    def step(self, label: str):
        """Time the enclosed block; announce it if it is still running after ``after`` seconds."""
        announced = threading.Event()

        def announce():
            announced.set()
            self._print(f"{label} … (first use compiles kernels; `statespace compile` does it ahead of time)")

        timer = threading.Timer(self.after, announce)
        timer.daemon = True
        start = time.perf_counter()
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            if announced.is_set():
                self._print(f"{label}: done in {time.perf_counter() - start:.1f} s")
