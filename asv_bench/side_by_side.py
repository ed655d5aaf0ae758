"""Our engines beside their peers in one process, best of 7: ``python asv_bench/side_by_side.py``.

The peers (PyTorch, JAX) are not dependencies of statespace: install ``torch`` and ``jax`` first.
The figures in docs/user_guide/performance.rst come from this script.
"""

import time

import numpy as np
import scipy.fft
import scipy.signal

import statespace as ss


def best(f, repeats=7):
    f()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def recurrence(rng, jax, jnp):
    """Diagonal LTI recurrence with output projection, H=256, N/2=32, L=4096, complex128."""
    H, N2, L = 256, 32, 4096
    Lam = -rng.uniform(0.01, 0.5, (H, N2)) + 1j * rng.uniform(0, 10, (H, N2))
    dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), H))
    B = rng.standard_normal((H, N2)) + 0j
    C = rng.standard_normal((H, N2)) + 1j * rng.standard_normal((H, N2))
    Ab, Bb = ss.discretize_diag(Lam, B, dt, "zoh")
    u = rng.standard_normal((H, L))

    def lfilter_loop():
        y = np.zeros((H, L))
        for h in range(H):
            for n in range(N2):
                x = scipy.signal.lfilter([Bb[h, n]], [1, -Ab[h, n]], u[h].astype(complex))
                y[h] += 2 * np.real(C[h, n] * x)
        return y

    @jax.jit
    def jax_scan(a, b, c, ut):
        def body(x, u_t):
            x = a * x + b * u_t[:, None]
            return x, 2 * jnp.real(jnp.sum(c * x, axis=-1))

        return jax.lax.scan(body, jnp.zeros_like(a), ut)[1]

    args = [jnp.asarray(v) for v in (Ab, Bb, C, u.T)]
    ours = best(lambda: ss.recurrence(Ab, Bb, C, u, structure="diag"))
    t_lfilter = best(lfilter_loop, 3)
    t_jax = best(lambda: jax_scan(*args).block_until_ready())
    err = rel_err(ss.recurrence(Ab, Bb, C, u, structure="diag"), lfilter_loop())
    print(
        f"recurrence: statespace {ours * 1e3:.1f} ms | lfilter loop {t_lfilter * 1e3:.0f} ms "
        f"({t_lfilter / ours:.1f}x) | jax.lax.scan {t_jax * 1e3:.1f} ms ({t_jax / ours:.1f}x) | rel err {err:.1e}"
    )


def selective(rng, jax, jnp, torch):
    """selective_scan, batch 2, D=512, N=16, L=2048, float32 (B/C per time step, D skip)."""
    Bt, D, N, L = 2, 512, 16, 2048
    u = rng.standard_normal((Bt, D, L)).astype(np.float32)
    delta = (0.5 * rng.uniform(size=(Bt, D, L))).astype(np.float32)
    A = -np.tile(np.arange(1, N + 1, dtype=np.float32), (D, 1))
    B = rng.standard_normal((Bt, N, L)).astype(np.float32)
    C = rng.standard_normal((Bt, N, L)).astype(np.float32)
    Dk = rng.standard_normal(D).astype(np.float32)
    tu, td, tA, tB, tC, tD = (torch.from_numpy(a) for a in (u, delta, A, B, C, Dk))

    def torch_reference():  # the loop of Mamba's selective_scan_ref
        deltaA = torch.exp(torch.einsum("bdl,dn->bdln", td, tA))
        deltaB_u = torch.einsum("bdl,bnl,bdl->bdln", td, tB, tu)
        x = tA.new_zeros((Bt, D, N))
        ys = []
        for i in range(L):
            x = deltaA[:, :, i] * x + deltaB_u[:, :, i]
            ys.append(torch.einsum("bdn,bn->bd", x, tC[:, :, i]))
        return torch.stack(ys, dim=2) + tu * tD[:, None]

    @jax.jit
    def jax_scan(u, delta, A, B, C, Dk):
        def body(x, t):
            u_t, d_t, b_t, c_t = t
            x = jnp.exp(d_t[..., None] * A) * x + (d_t * u_t)[..., None] * b_t[:, None, :]
            return x, jnp.sum(x * c_t[:, None, :], axis=-1)

        xs = tuple(jnp.moveaxis(v, -1, 0) for v in (u, delta, B, C))
        ys = jax.lax.scan(body, jnp.zeros((Bt, D, N), jnp.float32), xs)[1]
        return jnp.moveaxis(ys, 0, -1) + u * Dk[:, None]

    args = [jnp.asarray(v) for v in (u, delta, A, B, C, Dk)]
    ours = best(lambda: ss.selective_scan(u, delta, A, B, C, D=Dk))
    with torch.no_grad():
        t_torch = best(torch_reference, 3)
        ref = torch_reference().numpy()
    t_jax = best(lambda: jax_scan(*args).block_until_ready())
    err = rel_err(ss.selective_scan(u, delta, A, B, C, D=Dk), ref)
    print(
        f"selective_scan: statespace {ours * 1e3:.1f} ms | torch reference loop {t_torch * 1e3:.0f} ms "
        f"({t_torch / ours:.1f}x) | jax.lax.scan {t_jax * 1e3:.1f} ms ({t_jax / ours:.1f}x) | rel err {err:.1e}"
    )


def convolution(rng, torch):
    """causal_conv, B=8, H=256, L=4096, float64."""
    L = 4096
    u = rng.standard_normal((8, 256, L))
    K = rng.standard_normal((256, L))
    n = scipy.fft.next_fast_len(2 * L - 1, real=True)
    tu, tK = torch.from_numpy(u), torch.from_numpy(K)

    def scipy_fft():
        spectrum = scipy.fft.rfft(u, n, workers=-1) * scipy.fft.rfft(K, n, workers=-1)
        return scipy.fft.irfft(spectrum, n, workers=-1)[..., :L]

    def torch_fft():
        return torch.fft.irfft(torch.fft.rfft(tu, n=n) * torch.fft.rfft(tK, n=n), n=n)[..., :L]

    ours = best(lambda: ss.causal_conv(u, K))
    t_fftconvolve = best(lambda: scipy.signal.fftconvolve(u, K[None], axes=-1)[..., :L])
    t_scipy, t_torch = best(scipy_fft), best(torch_fft)
    print(
        f"causal_conv: statespace {ours * 1e3:.0f} ms | fftconvolve {t_fftconvolve * 1e3:.0f} ms "
        f"({t_fftconvolve / ours:.2f}x) | scipy.fft {t_scipy * 1e3:.0f} ms ({t_scipy / ours:.2f}x) | "
        f"torch.fft {t_torch * 1e3:.0f} ms ({t_torch / ours:.2f}x)"
    )


def cauchy(rng, torch):
    """cauchy, H=256, N/2=32, L=4096, complex128, conj=True."""
    v = rng.standard_normal((256, 32)) + 1j * rng.standard_normal((256, 32))
    w = -rng.uniform(0.1, 1, (256, 32)) + 1j * rng.uniform(-50, 50, (256, 32))
    z = np.exp(-2j * np.pi * np.arange(4096) / 4096)

    def broadcasting(v, z, w):
        return (v[:, :, None] / (z - w[:, :, None])).sum(1) + (v.conj()[:, :, None] / (z - w.conj()[:, :, None])).sum(1)

    tv, tz, tw = (torch.from_numpy(a) for a in (v, z, w))
    ours = best(lambda: ss.cauchy(v, z, w))
    t_numpy = best(lambda: broadcasting(v, z, w), 3)
    t_torch = best(lambda: broadcasting(tv, tz, tw), 3)
    err = rel_err(ss.cauchy(v, z, w), broadcasting(v, z, w))
    keops = _keops_cauchy(v, z, w, torch)
    if keops is not None:
        t_keops = best(keops, 3)
        print(f"cauchy: pykeops LazyTensor (CPU) {t_keops * 1e3:.0f} ms ({t_keops / ours:.1f}x ours)")
    print(
        f"cauchy: statespace {ours * 1e3:.1f} ms | numpy broadcasting {t_numpy * 1e3:.0f} ms "
        f"({t_numpy / ours:.0f}x) | torch broadcasting {t_torch * 1e3:.0f} ms ({t_torch / ours:.0f}x) | "
        f"rel err {err:.1e}"
    )


def _keops_cauchy(v, z, w, torch):
    """The Cauchy sum as a pykeops LazyTensor reduction over the conj-extended modes (None if absent)."""
    try:
        from pykeops.torch import LazyTensor
    except ImportError:
        return None
    H, n2 = v.shape
    tv = torch.from_numpy(np.concatenate([v, v.conj()], -1)).view(H, 1, 2 * n2, 1)
    tw = torch.from_numpy(np.concatenate([w, w.conj()], -1)).view(H, 1, 2 * n2, 1)
    tz = torch.from_numpy(z).view(1, z.shape[-1], 1, 1)

    def reduction():
        return (LazyTensor(tv) / (LazyTensor(tz) - LazyTensor(tw))).sum(dim=2)

    return reduction


def main():
    import jax
    import jax.numpy as jnp
    import torch

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    recurrence(rng, jax, jnp)
    selective(rng, jax, jnp, torch)
    convolution(rng, torch)
    cauchy(rng, torch)


if __name__ == "__main__":
    main()
