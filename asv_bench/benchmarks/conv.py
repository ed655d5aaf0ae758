"""FFT convolution: ``causal_conv(u, K)`` beside ``scipy.signal.fftconvolve``, ``scipy.fft`` and NumPy.

Headline (issue 5): B=8, H=256, L=4096, float64; target no slower than the best peer.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.fft
import scipy.signal

from .common import ERROR_UNIT, Benchmark, optional, ours, place, relative_error, rng, split_impl

H = 256


def conv_data(batch: int, L: int, h: int = H, dtype=np.float64):
    gen = rng(20)
    u = gen.standard_normal((batch, h, L)).astype(dtype)
    K = (gen.standard_normal((h, L)) * np.exp(-np.arange(L) / (L / 8))).astype(dtype)
    return u, K


def scipy_fft_conv(u, K, workers=None):
    L = u.shape[-1]
    n = scipy.fft.next_fast_len(2 * L, real=True)
    U = scipy.fft.rfft(u, n, workers=workers)
    return scipy.fft.irfft(U * scipy.fft.rfft(K, n, workers=workers), n, workers=workers)[..., :L]


def numpy_fft_conv(u, K):
    L = u.shape[-1]
    return np.fft.irfft(np.fft.rfft(u, 2 * L) * np.fft.rfft(K, 2 * L), 2 * L)[..., :L]


def _torch_conv(u, K):
    torch = optional("torch")
    tu, tK = torch.from_numpy(u), torch.from_numpy(K)
    L = u.shape[-1]

    def run():
        return torch.fft.irfft(torch.fft.rfft(tu, 2 * L) * torch.fft.rfft(tK, 2 * L), 2 * L)[..., :L]

    return run


PEERS = ["scipy fftconvolve", "scipy.fft workers", "numpy.fft", "torch"]


class CausalConvSetup(Benchmark):
    """Inputs and implementations shared by ``CausalConv`` (time) and ``CausalConvMemory`` (peak memory)."""

    def setup(self, impl, batch, L):
        kind, name = split_impl(impl)
        u, K = conv_data(batch, L)
        if kind == "ours":
            fn = ours("causal_conv", name, engine_kw=False)
            args = place(name, u, K)
            self.run = lambda: fn(*args)
            self.run()  # warm-up: FFT plans (and cupy kernels)
        elif name == "scipy fftconvolve":
            self.run = lambda: scipy.signal.fftconvolve(u, K[None], axes=-1)[..., :L]
        elif name == "scipy.fft workers":
            self.run = lambda: scipy_fft_conv(u, K, workers=os.cpu_count())
        elif name == "numpy.fft":
            self.run = lambda: numpy_fft_conv(u, K)
        else:
            self.run = _torch_conv(u, K)


class CausalConv(CausalConvSetup):
    """``causal_conv(u, K)``: u (B, H, L), K (H, L) broadcast over the batch, float64."""

    params = (["xp", "cupy", *PEERS], [1, 8], [1024, 4096])
    param_names = ("impl", "B", "L")

    def time_causal_conv(self, impl, batch, L):
        self.run()


class CausalConvMemory(CausalConvSetup):
    """Peak memory of ``causal_conv`` at the headline size (B=8, H=256, L=4096)."""

    params = (CausalConv.params[0], [8], [4096])
    param_names = ("impl", "B", "L")

    def peakmem_causal_conv(self, impl, batch, L):
        self.run()


class CausalConvAccuracy:
    """``causal_conv`` in float32 and float64 against a direct float64 ``np.convolve`` (truncated)."""

    params = (["float32", "float64"],)
    param_names = ("dtype",)
    unit = ERROR_UNIT

    def setup(self, dtype):
        self.fn = ours("causal_conv", "xp", engine_kw=False)
        u, K = conv_data(1, 2048, h=4)
        self.args = (u.astype(dtype), K.astype(dtype))
        self.desired = np.stack([np.convolve(u[0, h], K[h])[:2048] for h in range(4)])[None]

    def track_causal_conv_error(self, dtype):
        return relative_error(self.fn(*self.args), self.desired)
