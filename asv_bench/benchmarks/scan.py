"""Scans and recurrences: ``linear_scan``, ``associative_scan``, diagonal ``recurrence``, ``selective_scan``.

Headlines (issue 5), on this 2-core machine:

- diagonal LTI recurrence with output projection, H=256, N/2=32, L=4096, complex128 (33.5 M state
  updates) against ``scipy.signal.lfilter`` once per (h, n) (target ≥ 30×) and ``jax.lax.scan``;
- ``selective_scan`` at batch 2, D=512, N=16, L=2048, float32 against a loop in the style of Mamba's
  reference (NumPy here, PyTorch when installed) and ``jax.lax.scan``.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from .common import (
    ENGINES,
    ERROR_UNIT,
    Benchmark,
    accepts,
    complex_normal,
    log_uniform,
    optional,
    ours,
    place,
    relative_error,
    rng,
    s4d_lin_modes,
    split_impl,
    warm_up,
)

# ------------------------------------------------------------------------------------------ linear_scan


def scan_data(channels: int, L: int, dtype=np.float32, low: float = 0.9):
    gen = rng(30)
    a = gen.uniform(low, 1.0, (channels, L)).astype(dtype)
    b = gen.standard_normal((channels, L)).astype(dtype)
    return a, b


def numpy_scan_loop(a, b):
    """``x_t = a_t x_{t−1} + b_t`` by a loop over time, vectorised over channels (in the inputs' dtype)."""
    a, b = np.broadcast_arrays(a, b)
    x = np.zeros(b.shape[:-1], np.result_type(a, b))
    out = np.empty(b.shape, x.dtype)
    for t in range(b.shape[-1]):
        x = a[..., t] * x + b[..., t]
        out[..., t] = x
    return out


def _jax_linear_scan(a, b):
    jax = optional("jax")

    def combine(x, y):
        return x[0] * y[0], y[0] * x[1] + y[1]

    fn = jax.jit(lambda a, b: jax.lax.associative_scan(combine, (a, b), axis=-1)[1])
    fn(a, b).block_until_ready()
    return lambda: fn(a, b).block_until_ready()


class LinearScanSetup(Benchmark):
    """Inputs and implementations shared by ``LinearScan`` (time) and ``LinearScanMemory`` (peak memory)."""

    def setup(self, impl, L):
        kind, name = split_impl(impl)
        a, b = scan_data(512, L)
        if kind == "ours":
            fn = ours("linear_scan", name)
            warm_up(fn, *place(name, *scan_data(2, 8)))
            args = place(name, a, b)
            self.run = lambda: fn(*args)
        elif name == "numpy loop":
            self.run = lambda: numpy_scan_loop(a, b)
        else:
            self.run = _jax_linear_scan(a, b)


class LinearScan(LinearScanSetup):
    """``linear_scan(a, b)`` with time-varying ``a``, 512 channels, float32."""

    params = ([*ENGINES, "numpy loop", "jax"], [1024, 16384])
    param_names = ("impl", "L")

    def time_linear_scan(self, impl, L):
        self.run()


class LinearScanMemory(LinearScanSetup):
    """Peak memory of ``linear_scan`` (512 × 16384, float32)."""

    params = (LinearScan.params[0], [16384])
    param_names = ("impl", "L")

    def peakmem_linear_scan(self, impl, L):
        self.run()


class LinearScanLTI(Benchmark):
    """Time-invariant ``a`` of shape (C, 1) (never expanded), 256 channels, float64, beside ``lfilter``."""

    params = ([*ENGINES, "scipy lfilter loop"], [4096, 65536])
    param_names = ("impl", "L")

    def setup(self, impl, L):
        kind, name = split_impl(impl)
        a, b = scan_data(256, L, np.float64)
        a = a[:, :1].copy()
        if kind == "ours":
            fn = ours("linear_scan", name)
            warm_up(fn, *place(name, a[:2], b[:2, :8]))
            args = place(name, a, b)
            self.run = lambda: fn(*args)
        else:
            self.run = lambda: [scipy.signal.lfilter([1.0], [1.0, -a[c, 0]], b[c]) for c in range(len(b))]

    def time_linear_scan_lti(self, impl, L):
        self.run()


class LinearScanAccuracy:
    """Float32 ``linear_scan`` with ``a`` ≈ 0.999 over L=16384 against a float64 loop (issue 5: ≤ 2e-6)."""

    params = (list(ENGINES),)
    param_names = ("engine",)
    unit = ERROR_UNIT

    def setup(self, engine):
        self.fn = ours("linear_scan", engine)
        a, b = scan_data(8, 16384, np.float64, low=0.998)
        self.args = place(engine, a.astype(np.float32), b.astype(np.float32))
        self.desired = numpy_scan_loop(a.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64))
        warm_up(self.fn, *self.args)

    def track_linear_scan_error(self, engine):
        return relative_error(self.fn(*self.args), self.desired)


class AssociativeScan(Benchmark):
    """``associative_scan`` (array-API parallel prefix) of the linear recurrence, 256×4096 float64."""

    params = (["xp", "cupy", "jax"],)
    param_names = ("impl",)

    def setup(self, impl):
        kind, name = split_impl(impl)
        a, b = scan_data(256, 4096, np.float64)
        if kind == "peer":
            self.run = _jax_linear_scan(a, b)
            return
        fn = ours("associative_scan", name, engine_kw=False)
        args = place(name, a, b)
        self.run = lambda: fn(combine_linear, args)
        self.run()

    def time_associative_scan(self, impl):
        self.run()


def combine_linear(earlier, later):
    """The linear recurrence's monoid: ``(a₁, b₁) ∘ (a₂, b₂) = (a₁a₂, a₂b₁ + b₂)``."""
    return earlier[0] * later[0], later[0] * earlier[1] + later[1]


# ------------------------------------------------------------------------------------- diagonal recurrence


def recurrence_data(h: int, N2: int, L: int, dtype=np.complex128):
    """A discrete diagonal system (ZOH of S4D-Lin modes, per-channel steps) and a real input (H, L)."""
    gen = rng(31)
    real = np.float32 if dtype == np.complex64 else np.float64
    dtA = log_uniform(gen, (h, 1)) * s4d_lin_modes(h, N2)
    Ab = np.exp(dtA).astype(dtype)
    Bb = (np.expm1(dtA) / s4d_lin_modes(h, N2)).astype(dtype)
    C = complex_normal(gen, (h, N2), dtype)
    u = gen.standard_normal((h, L)).astype(real)
    return Ab, Bb, C, u


def numpy_recurrence_loop(Ab, Bb, C, u):
    """``x_l = Ā x_{l−1} + B̄ u_l``, ``y_l = 2·Re Σ_n C_n x_l``: loop over time, vectorised over (H, N/2)."""
    x = np.zeros(Ab.shape, np.result_type(Ab, Bb, u))
    y = np.empty(u.shape, u.dtype)
    for t in range(u.shape[-1]):
        x = Ab * x + Bb * u[:, t, None]
        y[:, t] = 2 * (C * x).sum(-1).real
    return y


def lfilter_recurrence(Ab, Bb, C, u):
    """One ``scipy.signal.lfilter`` call per (channel, mode), projected and summed."""
    y = np.zeros(u.shape)
    for h in range(Ab.shape[0]):
        for n in range(Ab.shape[1]):
            x = scipy.signal.lfilter([Bb[h, n]], [1.0, -Ab[h, n]], u[h])
            y[h] += 2 * (C[h, n] * x).real
    return y


def _jax_recurrence(Ab, Bb, C, u):
    jax = optional("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def run(Ab, Bb, C, u):
        def step(x, u_t):
            x = Ab * x + Bb * u_t[:, None]
            return x, 2 * (C * x).sum(-1).real

        return jax.lax.scan(step, jnp.zeros_like(Ab), u.T)[1].T

    fn = jax.jit(run)
    fn(Ab, Bb, C, u).block_until_ready()
    return lambda: fn(Ab, Bb, C, u).block_until_ready()


def diagonal_recurrence(engine: str):
    """``recurrence`` for diagonal systems (``structure="diag"`` where the function asks which structure)."""
    fn = ours("recurrence", engine)
    kwargs = {"structure": "diag"} if accepts("recurrence", "structure") else {}
    return lambda *args: fn(*args, **kwargs)


class DiagonalRecurrenceSetup(Benchmark):
    """Inputs and implementations shared by ``DiagonalRecurrence`` and ``DiagonalRecurrenceMemory``."""

    def setup(self, impl, L):
        kind, name = split_impl(impl)
        Ab, Bb, C, u = recurrence_data(256, 32, L)
        if kind == "ours":
            fn = diagonal_recurrence(name)
            warm_up(fn, *place(name, *recurrence_data(2, 2, 8)))
            args = place(name, Ab, Bb, C, u)
            self.run = lambda: fn(*args)
        elif name == "scipy lfilter loop":
            self.run = lambda: lfilter_recurrence(Ab, Bb, C, u)
        elif name == "numpy loop":
            self.run = lambda: numpy_recurrence_loop(Ab, Bb, C, u)
        else:
            self.run = _jax_recurrence(Ab, Bb, C, u)


class DiagonalRecurrence(DiagonalRecurrenceSetup):
    """``recurrence(Ab, Bb, C, u)`` of a diagonal system with output projection, H=256, N/2=32, complex128."""

    params = ([*ENGINES, "scipy lfilter loop", "numpy loop", "jax"], [1024, 4096])
    param_names = ("impl", "L")

    def time_recurrence_diag(self, impl, L):
        self.run()


class DiagonalRecurrenceMemory(DiagonalRecurrenceSetup):
    """Peak memory of the diagonal ``recurrence`` at the headline size (the state over time is never stored)."""

    params = (DiagonalRecurrence.params[0], [4096])
    param_names = ("impl", "L")

    def peakmem_recurrence_diag(self, impl, L):
        self.run()


class DiagonalRecurrenceAccuracy:
    """Diagonal ``recurrence`` (complex64 and complex128 systems) against a float64 loop."""

    params = (list(ENGINES), ["complex64", "complex128"])
    param_names = ("engine", "dtype")
    unit = ERROR_UNIT

    def setup(self, engine, dtype):
        self.fn = diagonal_recurrence(engine)
        system = recurrence_data(8, 32, 4096, np.dtype(dtype).type)
        self.args = place(engine, *system)
        self.desired = numpy_recurrence_loop(*(x.astype(np.result_type(x, np.float64)) for x in system))
        warm_up(self.fn, *self.args)

    def track_recurrence_diag_error(self, engine, dtype):
        return relative_error(self.fn(*self.args), self.desired)


# ---------------------------------------------------------------------------------------- selective_scan


def selective_data(batch: int, D: int, N: int, L: int, dtype=np.float32):
    """Mamba-shaped inputs: u, delta, z (B, D, L); A (D, N) real S4D-real; B, C (B, N, L); D, delta_bias (D,)."""
    gen = rng(32)
    u = gen.standard_normal((batch, D, L))
    delta = 0.1 * gen.standard_normal((batch, D, L))
    A = -np.broadcast_to(np.arange(1.0, N + 1), (D, N))
    Bm = gen.standard_normal((batch, N, L))
    Cm = gen.standard_normal((batch, N, L))
    Dv = np.ones(D)
    z = gen.standard_normal((batch, D, L))
    delta_bias = np.log(np.expm1(log_uniform(gen, (D,))))  # softplus⁻¹ of steps in [1e-3, 1e-1]
    return tuple(np.ascontiguousarray(x, dtype=dtype) for x in (u, delta, A, Bm, Cm, Dv, z, delta_bias))


def selective_kwargs(Dv, z, delta_bias):
    return {"D": Dv, "z": z, "delta_bias": delta_bias, "delta_softplus": True}


def numpy_selective_loop(u, delta, A, Bm, Cm, Dv, z, delta_bias):
    """Mamba's ``selective_scan_ref`` in NumPy: materialise ΔA and ΔB·u (B, D, L, N), loop over time."""
    delta = np.logaddexp(0, delta + delta_bias[:, None])
    dA = np.exp(delta[..., None] * A[:, None, :])
    dBu = (delta * u)[..., None] * Bm.transpose(0, 2, 1)[:, None]
    x = np.zeros(dA.shape[:2] + dA.shape[3:], u.dtype)
    y = np.empty(u.shape, u.dtype)
    for t in range(u.shape[-1]):
        x = dA[:, :, t] * x + dBu[:, :, t]
        y[:, :, t] = np.einsum("bdn,bn->bd", x, Cm[:, :, t])
    y = y + u * Dv[:, None]
    return y * (z / (1 + np.exp(-z)))


def _torch_selective(args):
    torch = optional("torch")
    u, delta, A, Bm, Cm, Dv, z, delta_bias = (torch.from_numpy(x) for x in args)

    def run():  # Mamba's selective_scan_ref, real A, variable B/C of shape (B, N, L)
        d = torch.nn.functional.softplus(delta + delta_bias[:, None])
        dA = torch.exp(torch.einsum("bdl,dn->bdln", d, A))
        dBu = torch.einsum("bdl,bnl,bdl->bdln", d, Bm, u)
        x = A.new_zeros((u.shape[0], A.shape[0], A.shape[1]))
        ys = []
        for t in range(u.shape[2]):
            x = dA[:, :, t] * x + dBu[:, :, t]
            ys.append(torch.einsum("bdn,bn->bd", x, Cm[:, :, t]))
        y = torch.stack(ys, dim=2) + u * Dv[:, None]
        return y * torch.nn.functional.silu(z)

    return run


def _jax_selective(args):
    jax = optional("jax")
    jnp = jax.numpy

    def run(u, delta, A, Bm, Cm, Dv, z, delta_bias):
        d = jax.nn.softplus(delta + delta_bias[:, None])

        def step(x, inputs):
            d_t, u_t, B_t, C_t = inputs  # (B, D), (B, D), (B, N), (B, N)
            x = jnp.exp(d_t[..., None] * A) * x + (d_t * u_t)[..., None] * B_t[:, None, :]
            return x, jnp.einsum("bdn,bn->bd", x, C_t)

        x0 = jnp.zeros((u.shape[0],) + A.shape, u.dtype)
        inputs = (jnp.moveaxis(d, -1, 0), jnp.moveaxis(u, -1, 0), jnp.moveaxis(Bm, -1, 0), jnp.moveaxis(Cm, -1, 0))
        y = jnp.moveaxis(jax.lax.scan(step, x0, inputs)[1], 0, -1) + u * Dv[:, None]
        return y * jax.nn.silu(z)

    fn = jax.jit(run)
    fn(*args).block_until_ready()
    return lambda: fn(*args).block_until_ready()


class SelectiveScanSetup(Benchmark):
    """Inputs and implementations shared by ``SelectiveScan`` (time) and ``SelectiveScanMemory`` (peak memory)."""

    timeout = 300

    def setup(self, impl, L):
        kind, name = split_impl(impl)
        data = selective_data(2, 512, 16, L)
        if kind == "ours":
            fn = ours("selective_scan", name)
            tiny = place(name, *selective_data(1, 2, 2, 8))
            warm_up(fn, *tiny[:5], **selective_kwargs(*tiny[5:]))
            args = place(name, *data)
            self.run = lambda: fn(*args[:5], **selective_kwargs(*args[5:]))
        elif name == "numpy loop":
            self.run = lambda: numpy_selective_loop(*data)
        elif name == "torch":
            self.run = _torch_selective(data)
        else:
            self.run = _jax_selective(data)


class SelectiveScan(SelectiveScanSetup):
    """``selective_scan`` (Mamba semantics with D, z, delta_bias, softplus), batch 2, D=512, N=16, float32."""

    params = ([*ENGINES, "numpy loop", "torch", "jax"], [512, 2048])
    param_names = ("impl", "L")

    def time_selective_scan(self, impl, L):
        self.run()


class SelectiveScanMemory(SelectiveScanSetup):
    """Peak memory of ``selective_scan`` at the headline size (the fused engine never forms (B, D, L, N))."""

    params = (SelectiveScan.params[0], [2048])
    param_names = ("impl", "L")

    def peakmem_selective_scan(self, impl, L):
        self.run()


class SelectiveScanAccuracy:
    """Float32 ``selective_scan`` against the float64 reference loop (batch 1, D=64, N=16, L=2048)."""

    params = (list(ENGINES),)
    param_names = ("engine",)
    unit = ERROR_UNIT

    def setup(self, engine):
        self.fn = ours("selective_scan", engine)
        data = selective_data(1, 64, 16, 2048)
        self.args = place(engine, *data)
        self.desired = numpy_selective_loop(*(x.astype(np.float64) for x in data))
        warm_up(self.fn, *self.args[:5], **selective_kwargs(*self.args[5:]))

    def track_selective_scan_error(self, engine):
        return relative_error(self.fn(*self.args[:5], **selective_kwargs(*self.args[5:])), self.desired)
