"""Shared pieces of the statespace benchmark suite: implementations, skips, data, accuracy.

Every timed class is parameterised by ``impl``: our engines (``"xp"``, ``"numba"``, ``"cupy"``) and the
peers (``"numpy"`` reference code, ``"scipy ..."``, ``"torch"``, ``"jax"``) side by side, so one dashboard
graph shows ours against theirs.  An implementation that cannot run here (a function this commit does not
have yet, numba or cupy not installed, no GPU, torch/jax absent) raises :class:`NotImplementedError` in
``setup``: asv records it as skipped, never as a failure.

Compilation (numba, cupy kernels, jax.jit) is triggered in ``setup`` by one call on tiny inputs of the
same dtypes and layouts, so it is never timed (``asv run --quick`` times exactly one call).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect

import numpy as np

with contextlib.suppress(ImportError):  # imported once by asv's fork server, not in every benchmark process
    import statespace  # noqa: F401

ENGINES = ("xp", "numba", "cupy")

#: Peers that need an optional library, and that library.
OPTIONAL_PEERS = {"torch": "torch", "jax": "jax"}

#: Accuracy metric of the ``track_`` benchmarks.
ERROR_UNIT = "relative error"


class Benchmark:
    """Timing defaults for the suite (inherit them; override per class where a case is slow).

    ``warmup_time = 0``: warm-up (JIT compile) is done explicitly in ``setup``. ``repeat = (1, 5, 4.0)``:
    at most 5 samples per round, stop after 4 s; ``rounds = 2`` (interleaved with other benchmarks).
    """

    timeout = 180
    warmup_time = 0.0
    repeat = (1, 5, 4.0)
    rounds = 2


# ----------------------------------------------------------------------------------------- availability


def accepts(name: str, keyword: str) -> bool:
    """Whether ``statespace.<name>`` takes ``keyword`` at this commit (the suite runs over history)."""
    return keyword in inspect.signature(function(name)).parameters


def function(name: str):
    """``statespace.<name>``, or skip when the installed commit does not have it."""
    try:
        import statespace
    except ImportError as exc:  # pragma: no cover - asv always installs it
        raise NotImplementedError(f"statespace is not importable: {exc}") from exc
    fn = getattr(statespace, name, None)
    if fn is None:
        raise NotImplementedError(f"statespace.{name} does not exist at this commit")
    return fn


def optional(module: str):
    """Import an optional library, or skip."""
    if importlib.util.find_spec(module) is None:
        raise NotImplementedError(f"{module} is not installed")
    return importlib.import_module(module)


def _gpu_available() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no driver, no device
        return False


def require_engine(engine: str) -> None:
    """Skip unless ``engine`` can run on this machine."""
    if engine == "numba" and importlib.util.find_spec("numba") is None:
        raise NotImplementedError("numba is not installed")
    if engine == "cupy" and not _gpu_available():
        raise NotImplementedError("cupy or a GPU is not available")


def ours(name: str, engine: str, engine_kw: bool = True):
    """A callable running ``statespace.<name>`` with ``engine`` (skips if impossible; ``"auto"``: engine=None).

    ``engine_kw=False`` for functions without an ``engine`` argument (they run their xp code on the
    arrays' namespace: ``"xp"`` on NumPy arrays, ``"cupy"`` on CuPy arrays, no ``"numba"``).  The result
    is synchronised on the GPU so the time is the device's.
    """
    require_engine(engine)
    fn = function(name)
    takes_engine = "engine" in inspect.signature(fn).parameters
    if engine_kw and takes_engine:
        chosen = None if engine == "auto" else engine  # "auto": the function's own choice (engine=None)

        def call(*args, **kwargs):
            return synchronize(fn(*args, engine=chosen, **kwargs))

        return call
    if engine == "numba":
        raise NotImplementedError(f"statespace.{name} has no engine argument at this commit")
    return lambda *args, **kwargs: synchronize(fn(*args, **kwargs))


def warm_up(fn, *args, **kwargs):
    """First call of one of our functions (compiles JIT engines); skips an engine the function lacks.

    An engine that the function does not have is answered with ``ValueError("... has no 'numba' engine")``
    (or "unknown engine"): that is a skip; any other error is a real failure and propagates.
    """
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        if "engine" in str(exc) and ("has no" in str(exc) or "unknown engine" in str(exc)):
            raise NotImplementedError(str(exc)) from exc
        raise


def synchronize(result):
    """Wait for the GPU when ``result`` lives there (no-op for host arrays)."""
    first = result[0] if isinstance(result, tuple) else result
    module = type(first).__module__.split(".")[0]
    if module == "cupy":
        import cupy

        cupy.cuda.get_current_stream().synchronize()
    elif module == "torch" and first.is_cuda:  # pragma: no cover - no GPU torch here
        import torch

        torch.cuda.synchronize()
    elif module in ("jax", "jaxlib"):
        first.block_until_ready()
    return result


def place(engine: str, *arrays) -> tuple:
    """Move NumPy inputs to the engine's library (CuPy for ``"cupy"``, unchanged otherwise)."""
    if engine != "cupy":
        return arrays
    import cupy

    return tuple(None if a is None else cupy.asarray(a) for a in arrays)


def split_impl(impl: str):
    """``("ours", engine)`` for our engines and ``"auto"``, ``("peer", name)`` otherwise (checking availability)."""
    if impl in ENGINES or impl == "auto":
        return "ours", impl
    if impl in OPTIONAL_PEERS:
        optional(OPTIONAL_PEERS[impl])
    return "peer", impl


# ----------------------------------------------------------------------------------------------- data


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def s4d_lin_modes(H: int, N2: int, dtype=np.complex128) -> np.ndarray:
    """S4D-Lin modes ``-1/2 + iπn`` (stable, the standard diagonal init), repeated over ``H`` channels."""
    n = np.arange(N2)
    return np.broadcast_to(-0.5 + 1j * np.pi * n, (H, N2)).astype(dtype)


def complex_normal(gen: np.random.Generator, shape, dtype=np.complex128) -> np.ndarray:
    return ((gen.standard_normal(shape) + 1j * gen.standard_normal(shape)) / np.sqrt(2)).astype(dtype)


def log_uniform(gen: np.random.Generator, shape, low: float = 1e-3, high: float = 1e-1) -> np.ndarray:
    return np.exp(gen.uniform(np.log(low), np.log(high), shape))


def legs_dense(N: int) -> np.ndarray:
    """HiPPO-LegS ``A`` (float64), written out here so peers never depend on our construction code."""
    q = np.sqrt(2.0 * np.arange(N) + 1.0)
    A = np.tril(np.outer(q, q), -1) + np.diag(np.arange(N) + 1.0)
    return -A


def random_stable(gen: np.random.Generator, batch: int, N: int, scale: float = 1.0) -> np.ndarray:
    """A batch of random dense ``(batch, N, N)`` matrices with spectrum shifted into the left half plane."""
    A = gen.standard_normal((batch, N, N)) / np.sqrt(N)
    return scale * (A - 1.5 * np.eye(N))


# ------------------------------------------------------------------------------------------- accuracy


def relative_error(actual, desired) -> float:
    """``max|a − d| / max|d|`` on the host in float64/complex128 (the suite's accuracy metric)."""
    a = np.asarray(to_host(actual))
    d = np.asarray(to_host(desired))
    a = a.astype(np.complex128 if np.iscomplexobj(a) else np.float64)
    d = d.astype(np.complex128 if np.iscomplexobj(d) else np.float64)
    return float(np.max(np.abs(a - d)) / np.max(np.abs(d)))


def to_host(x):
    """A NumPy copy of ``x`` (CuPy/torch/jax arrays included)."""
    module = type(x).__module__.split(".")[0]
    if module == "cupy":
        return x.get()
    if module == "torch":
        return x.detach().cpu().numpy()
    return np.asarray(x)
