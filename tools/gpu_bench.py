"""Benchmark table of the cupy engine beside its peers on one GPU (issue #16); part of ``tools/gpu_check.sh``.

Each row times one implementation on device-resident inputs (generated on the
GPU, shared with PyTorch and JAX through DLPack, so nothing crosses the bus):
one warm-up call (which also compiles), then the median of ``--repeats``
calls, each bracketed by a device synchronisation.  Any failure of one row is
recorded in it (``error``) and the run goes on.  Results go to
``<out>/bench.json`` (rows, the issue's targets with their measured ratios,
and the machine) and ``<out>/bench.md`` (the table).

``--dry`` runs every row at tiny sizes on the CPU: the kernels under Numba's
CUDA simulator (NumPy arrays stand in for CuPy's), PyTorch and JAX on the
CPU; it exists to catch Python errors in this script before the GPU run.

Targets (issue #16, H200): ``linear_scan`` at 2^15 channels × L = 2^14 float32
≥ 60 % of the device-to-device copy bandwidth; the chunked scan at 8 × 2^22
≥ 30 %; ``selective_scan`` at B=8, D=1536, N=16, L=4096 float32 ≥ 10× a
PyTorch reference loop and ≥ 2× ``jax.lax.associative_scan``; ``cauchy`` at
H=1024, N/2=64, L=16384 ≥ 5× PyTorch broadcasting, extra memory O(H·L).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
import traceback

import numpy as np

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX must not take 75 % of the GPU up front

FULL = dict(
    scan=(1 << 15, 1 << 14), chunked=(8, 1 << 22), selective=(8, 1536, 16, 4096), cauchy=(1024, 64, 16384),
    conv=(1024, 16384), recurrence=(8192, 32, 4096),
)  # fmt: skip
DRY = dict(
    scan=(40, 70), chunked=(2, 3000), selective=(2, 8, 4, 40), cauchy=(4, 3, 50), conv=(4, 64), recurrence=(8, 3, 40)
)


class Bench:
    """Device, array helpers and the rows measured so far."""

    def __init__(self, dry: bool, repeats: int):
        self.dry, self.repeats, self.rows = dry, repeats, []
        if dry:
            os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
            self.xp = np
            self._allow_numpy_in_cupy_engine()
        else:
            import cupy

            self.xp = cupy
        self.sizes = DRY if dry else FULL

    @staticmethod
    def _allow_numpy_in_cupy_engine():
        """Dry run only: let ``engine="cupy"`` take NumPy arrays (the simulator's device arrays)."""
        import statespace._engines as engines

        engines._serves = lambda engine, xp: True
        engines.installed = lambda engine: True

    def sync(self):
        if not self.dry:
            self.xp.cuda.runtime.deviceSynchronize()

    def rand(self, shape, dtype="float32", low=None, high=None, seed=0):
        """Random device array (normal, or uniform in ``[low, high)``)."""
        rs = self.xp.random.RandomState(seed)
        if low is not None:
            x = rs.uniform(low, high, shape)
        else:
            x = rs.standard_normal(shape) if self.dry else rs.standard_normal(shape, dtype=np.float32)
        return x.astype(dtype, copy=False)

    def torch(self, x):
        import torch

        return torch.from_numpy(x) if self.dry else torch.from_dlpack(x)

    def torch_sync(self):
        import torch

        if not self.dry:
            torch.cuda.synchronize()

    def jax(self, x):
        import jax
        import jax.numpy as jnp

        return jnp.asarray(x) if self.dry else jax.dlpack.from_dlpack(x)

    def time(self, group, impl, fn, *, sync=None, bytes_moved=None, extra=None):
        """Warm up, then the median of ``repeats`` timed calls; errors are recorded, not raised.

        The warm-up's result is kept (as ``row["_result"]``, never written out) for :meth:`compare`.
        """
        row = dict(group=group, impl=impl, seconds=None, times=[], error=None, **(extra or {}))
        sync = sync or self.sync
        try:
            row["_result"] = fn()
            sync()
            for _ in range(self.repeats):
                sync()
                t0 = time.perf_counter()
                result = fn()
                sync()
                row["times"].append(time.perf_counter() - t0)
                del result
            row["seconds"] = statistics.median(row["times"])
            if bytes_moved:
                row["GB/s"] = bytes_moved / row["seconds"] / 1e9
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"[:500]
            row["traceback"] = traceback.format_exc()[-2000:]
        self.rows.append(row)
        shown = f"{row['seconds'] * 1e3:10.3f} ms" if row["seconds"] else f"ERROR {row['error'][:100]}"
        print(f"{group:28s} {impl:34s} {shown}", flush=True)
        return row

    def compare(self, group, impl, reference):
        """Record ``max|ours − ref| / max|ref|`` of the kept results of two rows of ``group``; free them."""
        from statespace.testing import relative_error

        rows = {r["impl"]: r for r in self.rows if r["group"] == group and "_result" in r}
        try:
            ours, ref = rows[impl]["_result"], rows[reference]["_result"]
            if isinstance(ours, tuple):
                ours = ours[0]
            if isinstance(ref, tuple):
                ref = ref[0]
            rows[impl][f"relative error vs {reference}"] = relative_error(_host(ours), _host(ref))
        except Exception as exc:
            if impl in rows:
                rows[impl][f"relative error vs {reference}"] = f"{type(exc).__name__}: {exc}"[:300]
        for row in self.rows:
            if row["group"] == group:
                row.pop("_result", None)

    def guarded(self, group, fn):
        """Run a whole benchmark group; a failure in its setup is recorded as one row."""
        try:
            fn()
        except Exception as exc:
            self.rows.append(dict(group=group, impl="(setup)", seconds=None, error=f"{type(exc).__name__}: {exc}"))
            print(f"{group:28s} setup failed: {exc}", flush=True)
        finally:
            if not self.dry:  # hand memory back between groups (PyTorch's cache and CuPy's pool)
                try:
                    if "torch" in sys.modules:
                        sys.modules["torch"].cuda.empty_cache()
                    self.xp.get_default_memory_pool().free_all_blocks()
                except Exception:
                    pass


def _host(x):
    """A NumPy copy of a CuPy/torch/JAX/NumPy array (for the agreement checks only)."""
    if hasattr(x, "block_until_ready"):  # JAX
        return np.asarray(x)
    from statespace.testing import to_host

    return to_host(x)


# ---------------------------------------------------------------------------------------------------------------
def bench_copy_and_scan(b: Bench):
    import statespace as ss

    channels, length = b.sizes["scan"]
    x = b.rand((channels, length))
    y = b.xp.empty_like(x)
    b.time("copy (device-to-device)", "cupy copyto", lambda: b.xp.copyto(y, x), bytes_moved=2 * x.nbytes)
    a = b.rand((channels, length), low=0.9, high=1.0, seed=1)
    nbytes = 3 * x.nbytes  # a and b read, x written
    size = dict(size=f"{channels} x {length} float32")
    b.time("linear_scan (many channels)", "statespace cupy engine",
           lambda: ss.linear_scan(a, x, engine="cupy"), bytes_moved=nbytes, extra=size)  # fmt: skip
    b.time("linear_scan (many channels)", "statespace xp engine (cupy)",
           lambda: ss.linear_scan(a, x, engine="xp"), bytes_moved=nbytes, extra=size)  # fmt: skip
    _jax_linear_scan(b, "linear_scan (many channels)", a, x, nbytes, size)
    b.compare("linear_scan (many channels)", "statespace cupy engine", "statespace xp engine (cupy)")
    gate = b.xp.full((1, 1), 0.95, dtype=np.float32)
    b.time("linear_scan (constant gate)", "statespace cupy engine",
           lambda: ss.linear_scan(gate, x, engine="cupy"), bytes_moved=2 * x.nbytes, extra=size)  # fmt: skip

    def lfilter():
        import cupyx.scipy.signal as signal

        return signal.lfilter(np.array([1.0], np.float32), np.array([1.0, -0.95], np.float32), x, axis=-1)

    b.time("linear_scan (constant gate)", "cupyx.scipy.signal.lfilter", lfilter, bytes_moved=2 * x.nbytes, extra=size)
    b.compare("linear_scan (constant gate)", "statespace cupy engine", "cupyx.scipy.signal.lfilter")


def _jax_linear_scan(b, group, a, x, nbytes, size):
    try:
        import jax

        def combine(left, right):
            return right[0] * left[0], right[0] * left[1] + right[1]

        scan = jax.jit(lambda a_, b_: jax.lax.associative_scan(combine, (a_, b_), axis=-1)[1])
        ja, jb = b.jax(a), b.jax(x)
        _jax_time(b, group, "jax.lax.associative_scan", lambda: scan(ja, jb), bytes_moved=nbytes, extra=size)
    except Exception as exc:
        b.rows.append(dict(group=group, impl="jax.lax.associative_scan", seconds=None, error=repr(exc)[:500]))


def _jax_time(b, group, impl, fn, **kw):
    import jax

    def run():
        return jax.block_until_ready(fn())

    return b.time(group, impl, run, **kw)


def bench_chunked(b: Bench):
    import statespace as ss

    channels, length = b.sizes["chunked"]
    x = b.rand((channels, length))
    a = b.rand((channels, length), low=0.9, high=1.0, seed=1)
    y = b.xp.empty_like(x)
    b.time("copy (chunked size)", "cupy copyto", lambda: b.xp.copyto(y, x), bytes_moved=2 * x.nbytes)
    size = dict(size=f"{channels} x {length} float32")
    if b.dry:  # cross the chunk thresholds at the dry size
        from statespace._engines.cupy import scan

        scan.CHUNK, scan.MANY_CHANNELS = 64, 16
    b.time("linear_scan (few channels)", "statespace cupy engine", lambda: ss.linear_scan(a, x, engine="cupy"),
           bytes_moved=3 * x.nbytes, extra=size)  # fmt: skip
    b.time("linear_scan (few channels)", "statespace xp engine (cupy)", lambda: ss.linear_scan(a, x, engine="xp"),
           bytes_moved=3 * x.nbytes, extra=size)  # fmt: skip
    _jax_linear_scan(b, "linear_scan (few channels)", a, x, 3 * x.nbytes, size)
    b.compare("linear_scan (few channels)", "statespace cupy engine", "statespace xp engine (cupy)")


def bench_selective(b: Bench):
    import statespace as ss

    batch, dim, nstate, length = b.sizes["selective"]
    u, z = b.rand((batch, dim, length), seed=1), b.rand((batch, dim, length), seed=2)
    delta = b.rand((batch, dim, length), low=-4.0, high=-1.0, seed=3)  # softplus(delta) in (0.02, 0.3)
    A = -b.xp.exp(b.rand((dim, nstate), low=0.0, high=1.5, seed=4))
    B, C = b.rand((batch, nstate, length), seed=5), b.rand((batch, nstate, length), seed=6)
    D, bias = b.rand((dim,), seed=7), b.rand((dim,), low=-0.5, high=0.5, seed=8)
    size = dict(size=f"B={batch} D={dim} N={nstate} L={length} float32")
    group = "selective_scan"
    b.time(group, "statespace cupy engine", lambda: ss.selective_scan(
        u, delta, A, B, C, D=D, z=z, delta_bias=bias, delta_softplus=True, engine="cupy"), extra=size)  # fmt: skip

    def torch_part():
        import torch

        tu, tdelta, tA, tB, tC, tD, tz, tbias = map(b.torch, (u, delta, A, B, C, D, z, bias))

        def reference():  # Mamba's selective_scan_ref, as written there
            dt = torch.nn.functional.softplus(tdelta + tbias[:, None])
            deltaA = torch.exp(torch.einsum("bdl,dn->bdln", dt, tA))
            deltaB_u = torch.einsum("bdl,bnl,bdl->bdln", dt, tB, tu)
            x = tu.new_zeros((batch, dim, nstate))
            ys = []
            for i in range(length):
                x = deltaA[:, :, i] * x + deltaB_u[:, :, i]
                ys.append(torch.einsum("bdn,bn->bd", x, tC[:, :, i]))
            out = torch.stack(ys, dim=2) + tu * tD[:, None]
            return out * torch.nn.functional.silu(tz)

        b.time(group, "PyTorch reference loop (selective_scan_ref)", reference, sync=b.torch_sync, extra=size)

    def jax_part():
        import jax
        import jax.numpy as jnp

        def combine(left, right):
            return right[0] * left[0], right[0] * left[1] + right[1]

        @jax.jit
        def reference(u_, delta_, A_, B_, C_, D_, z_, bias_):
            dt = jax.nn.softplus(delta_ + bias_[:, None])
            deltaA = jnp.exp(jnp.einsum("bdl,dn->bdln", dt, A_))
            deltaB_u = jnp.einsum("bdl,bnl,bdl->bdln", dt, B_, u_)
            _, x = jax.lax.associative_scan(combine, (deltaA, deltaB_u), axis=2)
            y = jnp.einsum("bdln,bnl->bdl", x, C_) + u_ * D_[:, None]
            return y * jax.nn.silu(z_)

        args = tuple(map(b.jax, (u, delta, A, B, C, D, z, bias)))
        _jax_time(b, group, "jax.lax.associative_scan (materialised)", lambda: reference(*args), extra=size)

    for part in (torch_part, jax_part):
        try:
            part()
        except Exception as exc:
            b.rows.append(dict(group=group, impl=part.__name__, seconds=None, error=repr(exc)[:500]))
    b.compare(group, "statespace cupy engine", "PyTorch reference loop (selective_scan_ref)")


def _pool_bytes(b):
    if b.dry:
        return 0
    pool = b.xp.get_default_memory_pool()
    return pool.total_bytes()


def bench_cauchy(b: Bench):
    import statespace as ss

    H, N2, L = b.sizes["cauchy"]
    cx = np.complex64
    v = (b.rand((H, N2), seed=1) + 1j * b.rand((H, N2), seed=2)).astype(cx)
    w = (-b.rand((H, N2), low=0.1, high=1.0, seed=3) + 1j * b.rand((H, N2), seed=4)).astype(cx)
    z = (1j * b.xp.linspace(-10, 10, L, dtype=np.float32)).astype(cx)
    size = dict(size=f"H={H} N/2={N2} L={L} complex64")
    group = "cauchy (conj=True)"
    if not b.dry:
        b.xp.get_default_memory_pool().free_all_blocks()
    before = _pool_bytes(b)
    row = b.time(group, "statespace cupy engine", lambda: ss.cauchy(v, z, w, engine="cupy"), extra=size)
    if not b.dry:  # what the memory pool grew by beyond the output (temporaries included: the pool keeps them)
        row["pool_bytes_over_output"] = _pool_bytes(b) - before - H * L * 8
        row["H*L*8"] = H * L * 8
    b.time(group, "statespace xp engine (cupy)", lambda: ss.cauchy(v, z, w, engine="xp"), extra=size)

    def torch_part():
        tv, tz, tw = b.torch(v), b.torch(z), b.torch(w)

        def broadcast():
            zz = tz[None, None, :]
            terms = tv[:, :, None] / (zz - tw[:, :, None]) + tv.conj()[:, :, None] / (zz - tw.conj()[:, :, None])
            return terms.sum(dim=1)

        b.time(group, "PyTorch broadcasting", broadcast, sync=b.torch_sync, extra=size)

    try:
        torch_part()
    except Exception as exc:
        b.rows.append(dict(group=group, impl="PyTorch broadcasting", seconds=None, error=repr(exc)[:500]))
    b.compare(group, "statespace cupy engine", "PyTorch broadcasting")

    group = "vandermonde (conj=True)"
    x = (-b.rand((H, N2), low=0.001, high=0.1, seed=5) + 1j * b.rand((H, N2), seed=6)).astype(cx)
    b.time(group, "statespace cupy engine", lambda: ss.vandermonde(v, x, L, engine="cupy"), extra=size)
    b.time(group, "statespace xp engine (cupy)", lambda: ss.vandermonde(v, x, L, engine="xp"), extra=size)
    try:
        import torch

        tv, tx = b.torch(v), b.torch(x)
        steps = torch.arange(L, device=tv.device, dtype=torch.float32)

        def vander():
            return 2 * (tv[:, :, None] * torch.exp(tx[:, :, None] * steps)).sum(dim=1).real

        b.time(group, "PyTorch broadcasting", vander, sync=b.torch_sync, extra=size)
    except Exception as exc:
        b.rows.append(dict(group=group, impl="PyTorch broadcasting", seconds=None, error=repr(exc)[:500]))
    b.compare(group, "statespace cupy engine", "statespace xp engine (cupy)")


def bench_conv_and_recurrence(b: Bench):
    import statespace as ss

    H, L = b.sizes["conv"]
    u, K = b.rand((H, L), seed=1), b.rand((H, L), seed=2)
    size = dict(size=f"H={H} L={L} float32")
    group = "causal_conv (FFT)"
    b.time(group, "statespace (cupy FFT, xp engine)", lambda: ss.causal_conv(u, K), extra=size)
    try:
        import torch

        tu, tK = b.torch(u), b.torch(K)

        def torch_conv():
            n = 2 * L
            return torch.fft.irfft(torch.fft.rfft(tu, n=n) * torch.fft.rfft(tK, n=n), n=n)[..., :L]

        b.time(group, "torch.fft", torch_conv, sync=b.torch_sync, extra=size)
    except Exception as exc:
        b.rows.append(dict(group=group, impl="torch.fft", seconds=None, error=repr(exc)[:500]))
    b.compare(group, "statespace (cupy FFT, xp engine)", "torch.fft")

    H, N2, L = b.sizes["recurrence"]
    cx = np.complex64
    Ab = (b.rand((H, N2), low=0.9, high=0.999, seed=3) * b.xp.exp(1j * b.rand((H, N2), seed=4))).astype(cx)
    Bb = (b.rand((H, N2), seed=5) + 1j * b.rand((H, N2), seed=6)).astype(cx)
    C = (b.rand((H, N2), seed=7) + 1j * b.rand((H, N2), seed=8)).astype(cx)
    u = b.rand((H, L), seed=9)
    size = dict(size=f"H={H} N/2={N2} L={L} float32")
    group = "recurrence (diagonal)"
    b.time(group, "statespace cupy engine",
           lambda: ss.recurrence(Ab, Bb, C, u, structure="diag", engine="cupy"), extra=size)  # fmt: skip
    b.time(group, "statespace xp engine (cupy)",
           lambda: ss.recurrence(Ab, Bb, C, u, structure="diag", engine="xp"), extra=size)  # fmt: skip
    b.compare(group, "statespace cupy engine", "statespace xp engine (cupy)")


# ---------------------------------------------------------------------------------------------------------------
def _seconds(rows, group, impl):
    for row in rows:
        if row["group"] == group and row["impl"].startswith(impl) and row.get("seconds"):
            return row
    return None


def targets(rows):
    """The issue's targets with the measured values (``None`` where a row is missing)."""
    out = {}

    def ratio(num, den):
        return None if not (num and den) else num["seconds"] / den["seconds"]

    copy = _seconds(rows, "copy (device-to-device)", "cupy copyto")
    many = _seconds(rows, "linear_scan (many channels)", "statespace cupy")
    if copy and many:
        out["linear_scan 2^15 x 2^14: fraction of copy bandwidth (>= 0.60)"] = many["GB/s"] / copy["GB/s"]
    copy_c = _seconds(rows, "copy (chunked size)", "cupy copyto")
    few = _seconds(rows, "linear_scan (few channels)", "statespace cupy")
    if copy_c and few:
        out["chunked scan 8 x 2^22: fraction of copy bandwidth (>= 0.30)"] = few["GB/s"] / copy_c["GB/s"]
    sel = _seconds(rows, "selective_scan", "statespace cupy")
    out["selective_scan: speed-up over PyTorch loop (>= 10)"] = ratio(_seconds(rows, "selective_scan", "PyTorch"), sel)
    out["selective_scan: speed-up over jax associative_scan (>= 2)"] = ratio(
        _seconds(rows, "selective_scan", "jax"), sel
    )
    cau = _seconds(rows, "cauchy (conj=True)", "statespace cupy")
    out["cauchy: speed-up over PyTorch broadcasting (>= 5)"] = ratio(
        _seconds(rows, "cauchy (conj=True)", "PyTorch"), cau
    )
    if cau and "H*L*8" in cau:
        out["cauchy: pool bytes kept beyond the output / (H*L*8) (O(1))"] = cau["pool_bytes_over_output"] / cau["H*L*8"]
    return out


def machine(dry):
    info = dict(date=datetime.datetime.now(datetime.UTC).isoformat(), python=sys.version.split()[0],
                platform=platform.platform(), dry=dry)  # fmt: skip
    for name in ("numpy", "numba", "numba_cuda", "cupy", "torch", "jax", "statespace"):
        try:
            info[name] = __import__(name).__version__
        except Exception:
            info[name] = None
    if not dry:
        try:
            import cupy

            props = cupy.cuda.runtime.getDeviceProperties(0)
            info["gpu"] = props["name"].decode()
            info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        except Exception as exc:
            info["gpu"] = repr(exc)
    return info


def table(rows, goals):
    lines = ["| benchmark | implementation | size | median ms | GB/s | note |", "|---|---|---|---:|---:|---|"]
    for r in rows:
        ms = f"{r['seconds'] * 1e3:.3f}" if r.get("seconds") else "-"
        gbs = f"{r['GB/s']:.0f}" if r.get("GB/s") else ""
        errs = [f"rel. err. vs {k[len('relative error vs '):]}: {v:.1e}" if isinstance(v, float) else f"{k}: {v}"
                for k, v in r.items() if k.startswith("relative error vs ")]  # fmt: skip
        note = "; ".join([r.get("error") or "", *errs]).strip("; ")[:160].replace("|", "/")
        lines.append(f"| {r['group']} | {r['impl']} | {r.get('size', '')} | {ms} | {gbs} | {note} |")
    lines += ["", "| target | measured |", "|---|---:|"]
    lines += [f"| {k} | {'-' if v is None else f'{v:.3g}'} |" for k, v in goals.items()]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "gpu_results"))
    parser.add_argument("--dry", action="store_true", help="tiny sizes on the CPU (kernels under the simulator)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated groups: scan,chunked,selective,cauchy,conv")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    b = Bench(args.dry, args.repeats)
    groups = dict(scan=bench_copy_and_scan, chunked=bench_chunked, selective=bench_selective, cauchy=bench_cauchy,
                  conv=bench_conv_and_recurrence)  # fmt: skip
    chosen = [g for g in args.only.split(",") if g] or list(groups)
    for name in chosen:
        b.guarded(name, lambda fn=groups[name]: fn(b))
        with open(os.path.join(args.out, "bench.json"), "w") as f:  # after every group: a crash keeps what ran
            rows = [{k: v for k, v in row.items() if k != "_result"} for row in b.rows]
            json.dump(dict(machine=machine(args.dry), rows=rows, targets=targets(b.rows)), f, indent=1, default=str)
    goals = targets(b.rows)
    with open(os.path.join(args.out, "bench.md"), "w") as f:
        f.write(table(b.rows, goals))
    print(table(b.rows, goals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
