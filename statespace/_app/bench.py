"""``statespace bench``: a one-minute benchmark of the hot functions, beside peers and the machine's bound.

For each hot function it times our engines and the peers available on this machine (SciPy, NumPy
reference code, PyTorch/JAX when installed) on one size, and prints a table of ratios:

* ``× bound``: time over the machine's bound for that work (1.0 would be at the limit). The bound is the
  largest of bytes / memory bandwidth, flops / matmul throughput and exponentials / ``exp`` throughput,
  all measured at the start on this machine with NumPy on every core (thread pool over chunks; BLAS
  threads for matmul), for the minimal work of the computation (each term of a sum evaluated once,
  inputs read and outputs written once), so it is a lower bound on the time of any implementation.
* ``speedup``: the reference peer's time over this row's time (higher is better; the reference peer is
  marked ``ref``).

Functions that this installation does not have are listed as such. The numba engine is used only when
numba is installed and selected; with ``--engines xp`` numba is never imported. Compilation (one call on
the benchmark's inputs) is never timed. ``--quick`` uses smaller sizes (about 15 s); the default sizes
are the headline sizes of the benchmark suite (about a minute on 2 cores).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._engines import installed, optional_library

__all__ = ["add_arguments", "run", "main", "measure_machine", "CASES"]


# ------------------------------------------------------------------------------------------ the machine


@dataclasses.dataclass(frozen=True)
class Machine:
    """Measured limits: bytes/s (copy), flop/s (matmul, per precision), exponentials/s (float32 and 64)."""

    cores: int
    bandwidth: float
    flops: dict
    exps: dict

    def describe(self) -> str:
        return (
            f"{self.cores} cores; memory bandwidth {self.bandwidth / 1e9:.1f} GB/s (NumPy copy); "
            f"matmul {self.flops['float64'] / 1e9:.1f} GFLOP/s float64, {self.flops['float32'] / 1e9:.1f} float32; "
            f"exp {self.exps['float64'] / 1e9:.2f} G/s float64, {self.exps['float32'] / 1e9:.2f} G/s float32"
        )


def _best_time(fn: Callable[[], object], repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _on_all_cores(pool: ThreadPoolExecutor, work: Callable[[int], object], cores: int) -> None:
    """Run ``work(i)`` for each core's chunk in the pool (NumPy releases the GIL in ufuncs and copies)."""
    list(pool.map(work, range(cores)))


def measure_machine(quick: bool = False) -> Machine:
    """Measure memory bandwidth, matmul throughput and ``exp`` throughput with NumPy on every core."""
    cores = os.cpu_count() or 1
    n = (4 if quick else 16) * 2**20 // cores  # float64 elements per core: 32 / 128 MiB in all
    src = [np.ones(n) for _ in range(cores)]
    dst = [np.empty(n) for _ in range(cores)]
    with ThreadPoolExecutor(cores) as pool:
        copy_time = _best_time(lambda: _on_all_cores(pool, lambda i: np.copyto(dst[i], src[i]), cores), 5)
        exps = {}
        for dtype in ("float32", "float64"):
            x = [np.linspace(-1, 1, n // 4, dtype=dtype) for _ in range(cores)]
            y = [np.empty_like(a) for a in x]
            exp_time = _best_time(lambda x=x, y=y: _on_all_cores(pool, lambda i: np.exp(x[i], out=y[i]), cores), 5)
            exps[dtype] = cores * (n // 4) / exp_time
    size = 512 if quick else 1024
    flops = {}
    for dtype in ("float32", "float64"):
        a = np.ones((size, size), dtype)
        flops[dtype] = 2 * size**3 / _best_time(lambda a=a: a @ a, 3)
    return Machine(cores, bandwidth=2 * 8 * n * cores / copy_time, flops=flops, exps=exps)


@dataclasses.dataclass(frozen=True)
class Work:
    """The minimal work of one call: bytes moved, floating-point operations, exponentials (complex exp = 1)."""

    bytes: float = 0.0
    flops: float = 0.0
    exps: float = 0.0
    dtype: str = "float64"  # precision of the arithmetic, to pick the matmul / exp throughput

    def bound(self, machine: Machine) -> tuple[float, str]:
        """The lower bound on the time and the resource that sets it."""
        limits = {
            "memory": self.bytes / machine.bandwidth,
            "flops": self.flops / machine.flops[self.dtype],
            "exp": self.exps / machine.exps[self.dtype],
        }
        resource = max(limits, key=limits.get)
        return limits[resource], resource


# ------------------------------------------------------------------------------------------------ cases


@dataclasses.dataclass
class Impl:
    """One implementation of a case: a label, a zero-argument callable, whether it is a peer."""

    label: str
    call: Callable[[], object]
    peer: bool = False
    reference: bool = False  # the peer the speedups are relative to


@dataclasses.dataclass
class Case:
    """A hot function at one size: its implementations and its minimal work."""

    name: str
    size: str
    work: Work
    impls: list
    missing: str = ""  # why our function is absent ("" when present)


def _ours(name: str):
    import statespace

    return getattr(statespace, name, None)


def _our_impls(fn, engines, call: Callable) -> list:
    """Our rows: one per engine (functions without ``engine`` run their single xp path)."""
    if "engine" not in inspect.signature(fn).parameters:
        return [Impl("statespace", lambda: call(fn))]
    return [Impl(f"statespace {e}", lambda e=e: call(lambda *a, **k: fn(*a, engine=e, **k))) for e in engines]


def _case(name, size, work, fn_name, engines, call, peers) -> Case:
    fn = _ours(fn_name)
    if fn is None:
        return Case(name, size, work, peers, missing=f"statespace.{fn_name} not available in this version")
    return Case(name, size, work, _our_impls(fn, engines, call) + peers)


def _rng():
    return np.random.default_rng(0)


def _modes(H: int, N2: int) -> np.ndarray:
    return np.broadcast_to(-0.5 + 1j * np.pi * np.arange(N2), (H, N2)).copy()


def _cnormal(gen, shape) -> np.ndarray:
    return (gen.standard_normal(shape) + 1j * gen.standard_normal(shape)) / np.sqrt(2)


def _broadcast_cauchy(v, z, w):
    """``Σ_n v/(z − w) + v̄/(z − w̄)`` by broadcasting (NumPy or torch arrays)."""
    zl = z[:, None]
    return (v[:, None, :] / (zl - w[:, None, :]) + v.conj()[:, None, :] / (zl - w.conj()[:, None, :])).sum(-1)


def cauchy_case(engines, quick) -> Case:
    H, N2, L = (64, 32, 2048) if quick else (256, 32, 4096)
    gen = _rng()
    v, w = _cnormal(gen, (H, N2)), _modes(H, N2)
    z = 0.1 + 1j * np.linspace(-L, L, L)
    work = Work(bytes=16 * H * L, flops=32 * H * L * N2)  # 2 terms × (sub 2 + div 12 + add 2)
    peers = [Impl("numpy broadcasting", lambda: _broadcast_cauchy(v, z, w), peer=True, reference=True)]
    torch = optional_library("torch")
    if torch is not None:
        tv, tz, tw = (torch.from_numpy(a) for a in (v, z, w))
        peers.append(Impl("torch broadcasting", lambda: _broadcast_cauchy(tv, tz, tw), peer=True))
        keops = optional_library("pykeops.torch")
        if keops is not None:  # the conj-extended modes as a LazyTensor reduction
            extended = (torch.from_numpy(np.concatenate([a, a.conj()], -1)).view(H, 1, 2 * N2, 1) for a in (v, w))
            (lv, lw), lz = (keops.LazyTensor(a) for a in extended), keops.LazyTensor(tz.view(1, L, 1, 1))
            peers.append(Impl("pykeops LazyTensor", lambda: (lv / (lz - lw)).sum(dim=2), peer=True))
    return _case("cauchy", f"H={H} N/2={N2} L={L} c128", work, "cauchy", engines, lambda f: f(v, z, w), peers)


def kernel_diag_case(engines, quick) -> Case:
    H, N2, L = (64, 32, 4096) if quick else (256, 32, 4096)
    gen = _rng()
    Lambda, B, C = _modes(H, N2), np.ones((H, N2), complex), _cnormal(gen, (H, N2))
    dt = np.exp(gen.uniform(np.log(1e-3), np.log(1e-1), H))

    def numpy_kernel():
        dtA = dt[:, None] * Lambda
        coef = C * B * np.expm1(dtA) / Lambda
        return 2 * (coef[..., None] * np.exp(dtA[..., None] * np.arange(L))).sum(-2).real

    work = Work(bytes=8 * H * L, flops=8 * H * L * N2)  # complex multiply-add per term (powers by recurrence)
    peers = [Impl("numpy broadcasting", numpy_kernel, peer=True, reference=True)]

    def call(f):
        return f(Lambda, B, C, dt, L, "zoh")

    return _case("kernel_diag", f"H={H} N/2={N2} L={L} zoh c128", work, "kernel_diag", engines, call, peers)


def kernel_dplr_case(engines, quick) -> Case:
    H, N, L = (64, 64, 4096) if quick else (256, 64, 16384)
    gen = _rng()
    N2 = N // 2
    Lambda, B, C = _modes(H, N2), _cnormal(gen, (H, N2)), _cnormal(gen, (H, N2))
    P = 0.3 * _cnormal(gen, (1, N2))
    dt = np.exp(gen.uniform(np.log(1e-3), np.log(1e-1), H))
    # rank 1: four Cauchy sums (B, P) × (C̃, P) at L/2+1 roots of unity, each 32 flops per term
    work = Work(bytes=8 * H * L, flops=4 * 32 * H * (L // 2 + 1) * N2)

    def call(f):
        return f(Lambda, P, B, C, dt, L)

    return _case("kernel_dplr", f"H={H} N={N} L={L} rank 1", work, "kernel_dplr", engines, call, [])


def causal_conv_case(engines, quick) -> Case:
    import scipy.fft
    import scipy.signal

    Bt, H, L = (8, 64, 4096) if quick else (8, 256, 4096)
    gen = _rng()
    u = gen.standard_normal((Bt, H, L))
    K = gen.standard_normal((H, L)) * np.exp(-np.arange(L) / (L / 8))
    n = scipy.fft.next_fast_len(2 * L, real=True)

    def scipy_fft():
        U, Kf = scipy.fft.rfft(u, n, workers=-1), scipy.fft.rfft(K, n, workers=-1)
        return scipy.fft.irfft(U * Kf, n, workers=-1)[..., :L]

    peers = [
        Impl("scipy.signal.fftconvolve", lambda: scipy.signal.fftconvolve(u, K[None], axes=-1)[..., :L], True, True),
        Impl("scipy.fft (all workers)", scipy_fft, peer=True),
    ]
    torch = optional_library("torch")
    if torch is not None:
        tu, tK = torch.from_numpy(u), torch.from_numpy(K)
        peers.append(Impl("torch.fft", lambda: torch.fft.irfft(torch.fft.rfft(tu, n) * torch.fft.rfft(tK, n), n), True))
    rows = Bt * H + H  # forward transforms; Bt*H inverse ones
    work = Work(bytes=8 * (2 * Bt * H * L + H * L), flops=2.5 * n * math.log2(n) * (rows + Bt * H) + 6 * Bt * H * n / 2)
    return _case("causal_conv", f"B={Bt} H={H} L={L} f64", work, "causal_conv", engines, lambda f: f(u, K), peers)


def linear_scan_case(engines, quick) -> Case:
    C, L = (512, 4096) if quick else (512, 16384)
    gen = _rng()
    a = gen.uniform(0.9, 1.0, (C, L)).astype(np.float32)
    b = gen.standard_normal((C, L)).astype(np.float32)

    def numpy_loop():
        x, out = np.zeros(C, np.float32), np.empty_like(b)
        for t in range(L):
            x = a[:, t] * x + b[:, t]
            out[:, t] = x
        return out

    work = Work(bytes=3 * 4 * C * L, flops=2 * C * L, dtype="float32")
    peers = [Impl("numpy loop over time", numpy_loop, peer=True, reference=True)]
    return _case("linear_scan", f"C={C} L={L} f32 time-varying", work, "linear_scan", engines, lambda f: f(a, b), peers)


def recurrence_case(engines, quick) -> Case:
    import scipy.signal

    H, N2, L = (64, 32, 4096) if quick else (256, 32, 4096)
    gen = _rng()
    dtA = np.exp(gen.uniform(np.log(1e-3), np.log(1e-1), (H, 1))) * _modes(H, N2)
    Ab, Bb, C = np.exp(dtA), np.expm1(dtA) / _modes(H, N2), _cnormal(gen, (H, N2))
    u = gen.standard_normal((H, L))

    def lfilter_loop():
        y = np.zeros((H, L))
        for h in range(H):
            for n in range(N2):
                y[h] += 2 * (C[h, n] * scipy.signal.lfilter([Bb[h, n]], [1.0, -Ab[h, n]], u[h])).real
        return y

    def numpy_loop():
        x, y = np.zeros((H, N2), complex), np.empty((H, L))
        for t in range(L):
            x = Ab * x + Bb * u[:, t, None]
            y[:, t] = 2 * (C * x).sum(-1).real
        return y

    work = Work(bytes=8 * 2 * H * L, flops=13 * H * N2 * L)  # Āx 6, B̄u 2, add 2, Re(Cx) accumulate 3
    peers = [
        Impl("scipy.signal.lfilter per (h, n)", lfilter_loop, peer=True, reference=True),
        Impl("numpy loop over time", numpy_loop, peer=True),
    ]
    jax = optional_library("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)  # complex128, as ours
        jnp = jax.numpy

        @jax.jit
        def jax_scan(a, b, c, ut):
            def body(x, u_t):
                x = a * x + b * u_t[:, None]
                return x, 2 * jnp.real(jnp.sum(c * x, axis=-1))

            return jax.lax.scan(body, jnp.zeros_like(a), ut)[1]

        args = [jnp.asarray(x) for x in (Ab, Bb, C, u.T)]
        peers.append(Impl("jax.lax.scan (jit)", lambda: jax_scan(*args).block_until_ready(), peer=True))

    fn = _ours("recurrence")
    structure = {"structure": "diag"} if fn is not None and "structure" in inspect.signature(fn).parameters else {}

    def call(f):
        return f(Ab, Bb, C, u, **structure)

    return _case("recurrence (diagonal)", f"H={H} N/2={N2} L={L} c128", work, "recurrence", engines, call, peers)


def selective_scan_case(engines, quick) -> Case:
    Bt, D, N, L = (2, 128, 16, 2048) if quick else (2, 512, 16, 2048)
    gen = _rng()
    f32 = np.float32
    u, delta, z = (gen.standard_normal((Bt, D, L)).astype(f32) for _ in range(3))
    delta *= 0.1
    A = -np.broadcast_to(np.arange(1, N + 1, dtype=f32), (D, N)).copy()
    Bm, Cm = (gen.standard_normal((Bt, N, L)).astype(f32) for _ in range(2))
    Dv = np.ones(D, f32)
    delta_bias = np.log(np.expm1(np.exp(gen.uniform(np.log(1e-3), np.log(1e-1), D)))).astype(f32)
    kwargs = {"D": Dv, "z": z, "delta_bias": delta_bias, "delta_softplus": True}

    def numpy_loop():  # Mamba's selective_scan_ref: ΔA and ΔB·u materialised, loop over time
        d = np.logaddexp(f32(0), delta + delta_bias[:, None])
        dA = np.exp(d[..., None] * A[:, None, :])
        dBu = (d * u)[..., None] * Bm.transpose(0, 2, 1)[:, None]
        x, y = np.zeros((Bt, D, N), f32), np.empty((Bt, D, L), f32)
        for t in range(L):
            x = dA[:, :, t] * x + dBu[:, :, t]
            y[:, :, t] = (x * Cm[:, None, :, t]).sum(-1)
        return (y + u * Dv[:, None]) * (z / (1 + np.exp(-z)))

    work = Work(
        bytes=4 * (6 * Bt * D * L + 2 * Bt * N * L), exps=Bt * D * L * N, flops=6 * Bt * D * L * N, dtype="float32"
    )
    peers = [Impl("numpy loop (Mamba ref)", numpy_loop, peer=True, reference=True)]
    jax = optional_library("jax")
    if jax is not None:
        jnp = jax.numpy

        @jax.jit
        def jax_scan(u, delta, A, B, C, z, Dv, bias):
            d = jax.nn.softplus(delta + bias[:, None])

            def body(x, t):
                u_t, d_t, b_t, c_t = t
                x = jnp.exp(d_t[..., None] * A) * x + (d_t * u_t)[..., None] * b_t[:, None, :]
                return x, jnp.sum(x * c_t[:, None, :], axis=-1)

            xs = tuple(jnp.moveaxis(v, -1, 0) for v in (u, d, B, C))
            ys = jnp.moveaxis(jax.lax.scan(body, jnp.zeros((Bt, D, N), jnp.float32), xs)[1], 0, -1)
            return (ys + u * Dv[:, None]) * jax.nn.silu(z)

        args = [jnp.asarray(a) for a in (u, delta, A, Bm, Cm, z, Dv, delta_bias)]
        peers.append(Impl("jax.lax.scan (jit)", lambda: jax_scan(*args).block_until_ready(), peer=True))

    def call(f):
        return f(u, delta, A, Bm, Cm, **kwargs)

    return _case("selective_scan", f"B={Bt} D={D} N={N} L={L} f32", work, "selective_scan", engines, call, peers)


def dense_zoh_case(engines, quick) -> Case:
    import scipy.linalg
    import scipy.signal

    batch, N = (64, 64) if quick else (256, 64)
    gen = _rng()
    A = gen.standard_normal((batch, N, N)) / np.sqrt(N) - 1.5 * np.eye(N)
    B = gen.standard_normal((batch, N, 1))
    C, D, dt = np.ones((1, N)), np.zeros((1, 1)), 0.05
    block = np.zeros((batch, N + 1, N + 1))
    block[:, :N, :N], block[:, :N, N:] = A * dt, B * dt

    peers = [
        Impl(
            "scipy cont2discrete loop",
            lambda: [scipy.signal.cont2discrete((a, b, C, D), dt) for a, b in zip(A, B)],
            peer=True,
            reference=True,
        ),
        Impl("scipy.linalg.expm on the stack", lambda: scipy.linalg.expm(block), peer=True),
    ]
    work = Work(bytes=8 * 2 * batch * (N + 1) ** 2, flops=14 * batch * (N + 1) ** 3)  # Padé-13: 6 products + solve
    fn_name = "discretize" if _ours("discretize") is not None else "expm"

    def call(f):
        return f(A, B, dt, "zoh") if fn_name == "discretize" else f(block)

    return _case(f"{fn_name} (ZOH)", f"{batch} dense {N}×{N}", work, fn_name, engines, call, peers)


CASES = {
    "cauchy": cauchy_case,
    "kernel_diag": kernel_diag_case,
    "kernel_dplr": kernel_dplr_case,
    "causal_conv": causal_conv_case,
    "linear_scan": linear_scan_case,
    "recurrence": recurrence_case,
    "selective_scan": selective_scan_case,
    "discretize": dense_zoh_case,
}


# -------------------------------------------------------------------------------------------- measuring


@dataclasses.dataclass
class Row:
    impl: Impl
    seconds: float = math.nan
    error: str = ""


def time_impl(impl: Impl, budget: float, warm: bool) -> float:
    """Best-of wall time of ``impl.call``: one untimed warm-up call (JIT compile, FFT plans) when ``warm``,
    then repeats until ``budget`` seconds are spent (at least one, at most five)."""
    if warm:
        impl.call()
    times, spent = [], 0.0
    while not times or (spent < budget and len(times) < 5):
        start = time.perf_counter()
        impl.call()
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return min(times)


class Progress:
    """A one-line progress indicator on stderr (rewritten in place on a terminal, one line per step otherwise)."""

    def __init__(self, total: int, stream=None):
        self.total, self.done, self.stream = total, 0, stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def step(self, text: str) -> None:
        self.done += 1
        line = f"[{self.done:2d}/{self.total}] {text}"
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


def measure_case(case: Case, progress: Progress, budget: float) -> list:
    rows = []
    for impl in case.impls:
        progress.step(f"{case.name}: {impl.label}")
        row = Row(impl)
        try:
            row.seconds = time_impl(impl, budget, warm=not impl.peer or "jax" in impl.label)
        except Exception as exc:  # report it in the table; the exit status says something failed
            row.error = f"{type(exc).__name__}: {exc}"[:80]
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------------ table


def _fmt_time(seconds: float) -> str:
    return f"{seconds * 1e3:9.2f} ms" if seconds < 10 else f"{seconds:9.2f} s "


def format_table(machine: Machine, results: list) -> str:
    """The results as a text table: per case, one row per implementation, ratios to bound and reference."""
    head = f"{'function':22s} {'implementation':38s} {'time':>12s} {'× bound':>9s} {'speedup':>9s}"
    lines = [f"machine: {machine.describe()}", "", head, "-" * len(head)]
    for case, rows in results:
        bound, resource = case.work.bound(machine)
        ref = next((r.seconds for r in rows if r.impl.reference and not r.error), math.nan)
        lines.append(f"{case.name} [{case.size}]  bound {_fmt_time(bound).strip()} ({resource})")
        if case.missing:
            lines.append(f"{'':22s} {case.missing}")
        if not any(not r.impl.peer for r in rows) and not case.missing:
            lines.append(f"{'':22s} (no engine selected)")
        if not any(r.impl.peer for r in rows):
            lines.append(f"{'':22s} (no peer installed on this machine)")
        for r in rows:
            label = r.impl.label + (" (ref)" if r.impl.reference else "")
            if r.error:
                lines.append(f"{'':22s} {label:38s} error: {r.error}")
                continue
            speedup = "-" if math.isnan(ref) else f"{ref / r.seconds:.2f}×"
            lines.append(f"{'':22s} {label:38s} {_fmt_time(r.seconds):>12s} {r.seconds / bound:8.1f}× {speedup:>9s}")
    lines += [
        "",
        "× bound: time / (the machine's lower bound for this work); speedup: reference peer time / this time.",
    ]
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------------- CLI


def _default_engines() -> list:
    return ["xp", "numba"] if installed("numba") else ["xp"]


def add_arguments(parser) -> None:
    """The options of ``statespace bench``."""
    parser.add_argument("--quick", action="store_true", help="smaller sizes, about 15 s in all")
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=("xp", "numba"),
        default=None,
        help="our engines to time (default: xp, and numba when installed)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=tuple(CASES),
        default=None,
        metavar="FUNCTION",
        help=f"time only these functions (of: {', '.join(CASES)})",
    )


def run(args) -> int:
    """Measure the machine, time every case, print the table; 1 if any implementation failed."""
    engines = args.engines or _default_engines()
    names = args.only or list(CASES)
    budget = 0.3 if args.quick else 1.0
    print("measuring the machine ...", file=sys.stderr, flush=True)
    machine = measure_machine(args.quick)
    cases = [CASES[name](engines, args.quick) for name in names]
    progress = Progress(sum(len(c.impls) for c in cases))
    results = [(case, measure_case(case, progress, budget)) for case in cases]
    progress.close()
    print(format_table(machine, results))
    return int(any(r.error for _, rows in results for r in rows))


def main(argv=None) -> int:
    """Stand-alone entry point (``python -m statespace._app.bench``), the same as ``statespace bench``."""
    import argparse

    parser = argparse.ArgumentParser(prog="statespace bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
