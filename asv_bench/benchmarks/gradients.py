"""Backward passes: forward + backward of ``selective_scan``, ``linear_scan`` and ``kernel_diag`` (issue 17).

Headlines, side by side in one run (``cd asv_bench && python -m benchmarks.gradients`` prints the table):

- ``selective_scan`` forward + backward (cotangents of all 8 inputs), batch 2, D=512, N=16, L=2048,
  float32: our numba forward and ``vjp.selective_scan`` against PyTorch autograd through a loop in the
  style of Mamba's ``selective_scan_ref`` (target ≥ 20×) and ``jax.grad`` of a ``jax.lax.scan``
  implementation (target ≥ 3×);
- ``linear_scan`` forward + backward, 512 × 16384 float32, against its forward alone (target ≤ 3×);
- ``kernel_diag`` gradient (Lambda, B, C, dt), H=256, N/2=32, L=4096, against PyTorch autograd through
  the xp engine (target ≥ 10×);
- peak memory of the numba ``selective_scan`` backward at batch 2, D=512, N=16, L=16384 float32
  (target < 4× the inputs and outputs).
"""

from __future__ import annotations

import numpy as np

from .common import Benchmark, optional, require_engine, rng, split_impl, warm_up
from .kernels import diag_system
from .scan import scan_data, selective_data

SELECTIVE_NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def _vjp():
    try:
        from statespace import vjp
    except ImportError as exc:
        raise NotImplementedError(f"statespace.vjp does not exist at this commit: {exc}") from exc
    return vjp


# --------------------------------------------------------------------------------------- selective_scan


def ours_selective_grad(engine, args, grad_y):
    """Forward (as a training step runs it) then every cotangent."""
    require_engine(engine)
    import statespace

    vjp = _vjp()
    inputs = dict(zip(SELECTIVE_NAMES, args, strict=True))

    def run():
        statespace.selective_scan(**inputs, delta_softplus=True, engine=engine)
        return vjp.selective_scan(**inputs, delta_softplus=True, grad_y=grad_y, engine=engine)

    return run


def torch_selective_grad(args, grad_y):
    """PyTorch autograd through Mamba's ``selective_scan_ref`` (real A, B/C ``(B, N, L)``)."""
    torch = optional("torch")
    tensors = [torch.from_numpy(x).requires_grad_(True) for x in args]
    gy = torch.from_numpy(grad_y)

    def run():
        u, delta, A, Bm, Cm, Dv, z, delta_bias = tensors
        d = torch.nn.functional.softplus(delta + delta_bias[:, None])
        dA = torch.exp(torch.einsum("bdl,dn->bdln", d, A))
        dBu = torch.einsum("bdl,bnl,bdl->bdln", d, Bm, u)
        x = A.new_zeros((u.shape[0], A.shape[0], A.shape[1]))
        ys = []
        for t in range(u.shape[2]):
            x = dA[:, :, t] * x + dBu[:, :, t]
            ys.append(torch.einsum("bdn,bn->bd", x, Cm[:, :, t]))
        y = (torch.stack(ys, dim=2) + u * Dv[:, None]) * torch.nn.functional.silu(z)
        return torch.autograd.grad(y, tensors, gy)

    return run


def jax_selective_grad(args, grad_y):
    """``jax.grad`` (jitted) of a ``jax.lax.scan`` implementation of the same function."""
    jax = optional("jax")
    jnp = jax.numpy

    def forward(u, delta, A, Bm, Cm, Dv, z, delta_bias):
        d = jax.nn.softplus(delta + delta_bias[:, None])

        def step(x, inputs):
            d_t, u_t, B_t, C_t = inputs
            x = jnp.exp(d_t[..., None] * A) * x + (d_t * u_t)[..., None] * B_t[:, None, :]
            return x, jnp.einsum("bdn,bn->bd", x, C_t)

        x0 = jnp.zeros((u.shape[0],) + A.shape, u.dtype)
        inputs = (jnp.moveaxis(d, -1, 0), jnp.moveaxis(u, -1, 0), jnp.moveaxis(Bm, -1, 0), jnp.moveaxis(Cm, -1, 0))
        y = jnp.moveaxis(jax.lax.scan(step, x0, inputs)[1], 0, -1) + u * Dv[:, None]
        return jnp.sum(grad_y * y * jax.nn.silu(z))

    fn = jax.jit(jax.grad(forward, argnums=tuple(range(8))))
    jax.block_until_ready(fn(*args))
    return lambda: jax.block_until_ready(fn(*args))


class SelectiveScanGradSetup(Benchmark):
    def setup(self, impl, L):
        kind, name = split_impl(impl)
        args = selective_data(2, 512, 16, L)
        grad_y = rng(40).standard_normal((2, 512, L)).astype(np.float32)
        if kind == "ours":
            tiny = selective_data(1, 2, 2, 8)
            warm_up(ours_selective_grad(name, tiny, np.ones((1, 2, 8), np.float32)))
            self.run = ours_selective_grad(name, args, grad_y)
        elif name == "torch":
            self.run = torch_selective_grad(args, grad_y)
        elif name == "jax":
            self.run = jax_selective_grad(args, grad_y)
        else:
            raise NotImplementedError(f"no gradient implementation {impl!r}")


class SelectiveScanGrad(SelectiveScanGradSetup):
    """``selective_scan`` forward + backward (all 8 inputs), batch 2, D=512, N=16, float32."""

    params = (["xp", "numba", "torch", "jax"], [2048])
    param_names = ("impl", "L")
    timeout = 600

    def time_selective_scan_grad(self, impl, L):
        self.run()


class SelectiveScanGradMemory(SelectiveScanGradSetup):
    """Peak memory of forward + backward at L=16384 (the numba engine stores one state per 2048 steps)."""

    params = (["numba"], [16384])
    param_names = ("impl", "L")
    timeout = 600

    def peakmem_selective_scan_grad(self, impl, L):
        self.run()


# ----------------------------------------------------------------------------------------- linear_scan


class LinearScanGrad(Benchmark):
    """``linear_scan`` forward alone and forward + backward, 512 channels × 16384 float32 (numba engine)."""

    params = (["forward", "forward+backward"],)
    param_names = ("pass",)

    def setup(self, which):
        require_engine("numba")
        import statespace

        vjp = _vjp()
        a, b = scan_data(512, 16384)
        g = rng(41).standard_normal(b.shape).astype(np.float32)
        warm_up(vjp.linear_scan, *scan_data(2, 8), grad_y=np.ones((2, 8), np.float32), engine="numba")
        warm_up(statespace.linear_scan, *scan_data(2, 8), engine="numba")

        def both():
            x = statespace.linear_scan(a, b, engine="numba")
            return vjp.linear_scan(a, b, grad_y=g, states=x, engine="numba")

        self.run = both if which == "forward+backward" else (lambda: statespace.linear_scan(a, b, engine="numba"))

    def time_linear_scan_grad(self, which):
        self.run()


# ----------------------------------------------------------------------------------------- kernel_diag


def torch_kernel_diag_grad(system, L, grad_y):
    """PyTorch autograd through our xp engine on torch tensors."""
    torch = optional("torch")
    import statespace

    tensors = [torch.from_numpy(np.ascontiguousarray(x)).requires_grad_(True) for x in system]
    gy = torch.from_numpy(grad_y)

    def run():
        K = statespace.kernel_diag(*tensors, L, "zoh", engine="xp")
        return torch.autograd.grad(K, tensors, gy)

    return run


class KernelDiagGrad(Benchmark):
    """``kernel_diag`` ZOH gradient (Lambda, B, C, dt), H=256, N/2=32, L=4096, complex128."""

    params = (["xp", "numba", "torch"],)
    param_names = ("impl",)

    def setup(self, impl):
        kind, name = split_impl(impl)
        system, L = diag_system(32), 4096
        grad_y = rng(42).standard_normal((256, L))
        if kind == "ours":
            require_engine(name)
            import statespace

            vjp = _vjp()
            warm_up(vjp.kernel_diag, *diag_system(2, h=2), 8, grad_y=np.ones((2, 8)), engine=name)

            def run():
                statespace.kernel_diag(*system, L, "zoh", engine=name)
                return vjp.kernel_diag(*system, L, "zoh", grad_y=grad_y, engine=name)

            self.run = run
        else:
            self.run = torch_kernel_diag_grad(system, L, grad_y)

    def time_kernel_diag_grad(self, impl):
        self.run()


# ------------------------------------------------------------------------------------ side-by-side run


def _best(run, repeat=3):
    import time

    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def _memory_ratio():
    """tracemalloc peak of the numba backward at L=16384 against the bytes of its inputs and outputs."""
    import tracemalloc

    import statespace

    vjp = _vjp()
    args = selective_data(2, 512, 16, 16384)
    grad_y = rng(40).standard_normal((2, 512, 16384)).astype(np.float32)
    inputs = dict(zip(SELECTIVE_NAMES, args, strict=True))
    out = statespace.selective_scan(**inputs, delta_softplus=True, engine="numba")
    tracemalloc.start()
    grads = vjp.selective_scan(**inputs, delta_softplus=True, grad_y=grad_y, engine="numba")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    io = (
        sum(x.nbytes for x in args)
        + out.nbytes
        + grad_y.nbytes
        + sum(g.nbytes for g in grads.values() if g is not None)
    )
    return peak, io


def main():
    """Print the side-by-side table, one row as soon as it is measured (best of 3; torch loops once)."""

    def row(name, value, note=""):
        print(f"{name:<52}  {value:>10}  {note}", flush=True)

    sel = {}
    for impl in ("numba", "torch", "jax"):
        setup = SelectiveScanGradSetup()
        try:
            setup.setup(impl, 2048)
        except NotImplementedError as exc:
            row(f"selective_scan fwd+bwd 2x512x16x2048 f32 [{impl}]", "skipped", str(exc))
            continue
        sel[impl] = _best(setup.run, repeat=1 if impl == "torch" else 3)
        row(f"selective_scan fwd+bwd 2x512x16x2048 f32 [{impl}]", f"{sel[impl]:.3f} s")
    for peer in ("torch", "jax"):
        if peer in sel and "numba" in sel:
            row(f"  ratio {peer} / numba", f"{sel[peer] / sel['numba']:.1f}x")
    lin = {}
    for which in LinearScanGrad.params[0]:
        bench = LinearScanGrad()
        bench.setup(which)
        lin[which] = _best(bench.run)
        row(f"linear_scan {which} 512x16384 f32 [numba]", f"{lin[which]:.3f} s")
    row("  ratio (fwd+bwd) / fwd", f"{lin['forward+backward'] / lin['forward']:.2f}x")
    ker = {}
    for impl in ("numba", "torch"):
        bench = KernelDiagGrad()
        bench.setup(impl)
        ker[impl] = _best(bench.run, repeat=1 if impl == "torch" else 3)
        row(f"kernel_diag grad H=256 N2=32 L=4096 c128 [{impl}]", f"{ker[impl]:.3f} s")
    row("  ratio torch(xp) / numba", f"{ker['torch'] / ker['numba']:.1f}x")
    peak, io = _memory_ratio()
    row("selective_scan bwd peak (tracemalloc) L=16384", f"{peak / 2**20:.0f} MiB")
    row("  inputs + outputs", f"{io / 2**20:.0f} MiB", f"ratio {peak / io:.2f}")


if __name__ == "__main__":
    main()
