"""Real sequences (issue 18): Mamba-2's chunked scan (SSD), state forwarding, packed batches.

- ``ssd`` at batch 2, L = 4096, H = 16, P = 64, N = 64, chunk 256, float32 beside ``selective_scan``
  on the same problem (``A`` repeated over each head's channels and states); the one-run comparison
  with the machine's matmul rate is ``asv_bench/ssd_speed.py``;
- the state after a chunk, ``forward_state_diag`` (transposed Vandermonde) beside the recurrence's
  final state, H = 256, N/2 = 32, L = 4096;
- ``linear_scan`` over 64 packed sequences (``cu_seqlens``) beside the same batch unpacked.
"""

from __future__ import annotations

import numpy as np

from .common import Benchmark, function, ours, rng, warm_up


def ssd_problem(batch=2, L=4096, H=16, P=64, N=64):
    gen = rng(180)
    f = np.float32
    x = gen.standard_normal((batch, H, P, L)).astype(f)
    dt = (gen.standard_normal((batch, H, L)) - 4).astype(f)
    A = -np.exp(gen.uniform(size=H)).astype(f)
    B = gen.standard_normal((batch, 1, N, L)).astype(f)
    C = gen.standard_normal((batch, 1, N, L)).astype(f)
    return x, dt, A, B, C


class SSD(Benchmark):
    """``ssd`` (xp: matrix products) beside ``selective_scan`` (numba, xp) on Mamba-2's problem."""

    params = (["ssd", "selective_scan numba", "selective_scan xp"],)
    param_names = ("impl",)
    timeout = 300

    def setup(self, impl):
        x, dt, A, B, C = ssd_problem()
        if impl == "ssd":
            fn = function("ssd")
            warm_up(fn, *ssd_problem(L=16, H=2, P=2, N=2), chunk_size=8)
            self.run = lambda: fn(x, dt, A, B, C, dt_softplus=True, chunk_size=256)
            return
        fn = ours("selective_scan", impl.split()[1])
        batch, H, P, L = x.shape
        u, delta = x.reshape(batch, H * P, L), np.repeat(dt, P, axis=1)
        A_ch = np.repeat(A, P)[:, None] * np.ones((1, B.shape[2]), np.float32)
        warm_up(fn, u[:, :, :8], delta[:, :, :8], A_ch, B[..., :8], C[..., :8])
        self.run = lambda: fn(u, delta, A_ch, B, C, delta_softplus=True)

    def time_ssd(self, impl):
        self.run()


class ForwardState(Benchmark):
    """State of a diagonal system after 4096 steps: transposed Vandermonde vs the recurrence (numba, xp)."""

    params = (["forward_state_diag", "recurrence numba", "recurrence xp"],)
    param_names = ("impl",)

    def setup(self, impl):
        gen = rng(181)
        H, N2, L = 256, 32, 4096
        Lam = -gen.uniform(0.01, 0.5, (H, N2)) + 1j * gen.uniform(0, 10, (H, N2))
        B = gen.standard_normal((H, N2)) + 0j
        dt = np.exp(gen.uniform(np.log(1e-3), np.log(1e-1), H))
        u = gen.standard_normal((H, L))
        if impl == "forward_state_diag":
            fn = function("forward_state_diag")
            self.run = lambda: fn(Lam, B, dt, u)
            return
        Ab, Bb = function("discretize_diag")(Lam, B, dt, "zoh")
        fn = ours("recurrence", impl.split()[1])
        C = np.ones((H, N2), complex)
        warm_up(fn, Ab, Bb, C, u[:, :8], return_state=True)
        self.run = lambda: fn(Ab, Bb, C, u, return_state=True)

    def time_forward_state(self, impl):
        self.run()


class PackedScan(Benchmark):
    """``linear_scan`` of 512 channels over 64 packed sequences (total 16384 steps) vs one unpacked scan."""

    params = (["packed numba", "unpacked numba", "packed xp", "unpacked xp"],)
    param_names = ("impl",)

    def setup(self, impl):
        gen = rng(182)
        a = gen.uniform(0.9, 1.0, (512, 16384)).astype(np.float32)
        b = gen.standard_normal((512, 16384)).astype(np.float32)
        cuts = np.sort(gen.choice(np.arange(1, 16384), 63, replace=False))
        bounds = [0, *cuts.tolist(), 16384]
        packed, engine = impl.split()
        fn = ours("linear_scan", engine)
        warm_up(fn, a[:2, :8], b[:2, :8])
        if packed == "packed":
            warm_up(fn, a[:2, :8], b[:2, :8], cu_seqlens=[0, 3, 8])
            self.run = lambda: fn(a, b, cu_seqlens=bounds)
        else:
            self.run = lambda: fn(a, b)

    def time_packed_scan(self, impl):
        self.run()
