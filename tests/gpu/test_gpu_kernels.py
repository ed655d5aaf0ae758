"""Every CUDA kernel of the cupy engine against the xp engine on the same inputs.

The reference is the xp engine run in double precision on the very same
values (single-precision inputs widened exactly), cast back to the precision
under test; the kernels must be within the tolerance of their precision.

Sizes are tiny but cross every boundary the kernels have: several one-warp
blocks, rows not a multiple of the warp, several shared-memory tiles, several
time chunks of the chunked scan (its chunk and channel thresholds are
lowered here, so the recursion over chunk aggregates runs too), ``L = 1``, and
NaN.  Under ``NUMBA_ENABLE_CUDASIM=1`` the kernels run on NumPy arrays in the
simulator; on a GPU the same tests run on CuPy arrays.  Tolerances come from
:data:`statespace.testing.TOLERANCES`.
"""

from __future__ import annotations

import numpy as np
import pytest
from gpu_helpers import agree, narrow, widen

import statespace
from statespace._cauchy import cauchy_affine
from statespace._selective import _Weight

COMPLEX = {"float32": np.complex64, "float64": np.complex128}


@pytest.fixture
def rng():
    return np.random.default_rng(20261130)


def _engine(topic):
    from statespace._engines import engine_module

    return engine_module("cupy", topic)


# --------------------------------------------------------------------------- linear_scan
SCAN_CASES = {
    # name: (batch shape, L, CHUNK, MANY_CHANNELS, time-invariant gate)
    "many-channels": ((2, 20), 37, 16, 32, False),  # 40 channels ≥ MANY: one row per channel, 2 blocks, 2 tiles
    "chunked": ((3,), 150, 16, 64, False),  # 10 chunks of 16 (last partial), one carry pass
    "chunked-many-chunks": ((3,), 600, 8, 64, False),  # 75 chunks of 8
    "chunked-const-gate": ((2,), 100, 8, 64, True),
    "L=1": ((5,), 1, 16, 64, False),
}


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("case", list(SCAN_CASES))
def test_linear_scan(case, dtype, reverse, dev, rng, monkeypatch):
    batch, length, chunk, many, const = SCAN_CASES[case]
    scan = _engine("scan")
    monkeypatch.setattr(scan, "CHUNK", chunk)
    monkeypatch.setattr(scan, "MANY_CHANNELS", many)
    shape = (*batch, length)
    a = rng.uniform(0.8, 1.0, batch + ((1,) if const else (length,)))
    b = rng.normal(size=shape)
    x0 = rng.normal(size=batch)
    if dtype.startswith("complex"):
        a = a * np.exp(0.3j * rng.normal(size=a.shape))
        b = b + 1j * rng.normal(size=shape)
    a, b, x0 = (x.astype(dtype) for x in (a, b, x0))
    ref = narrow(statespace.linear_scan(widen(a), widen(b), x0=widen(x0), reverse=reverse, engine="xp"), dtype)
    got = scan.linear_scan(dev(a), dev(b), dev(x0), shape, reverse)
    agree(got, ref, "scan")
    assert type(got) is type(dev(b))


@pytest.mark.parametrize(("dtype", "reverse"), [("float32", False), ("complex128", True)])
def test_linear_scan_carry_pass_over_several_tiles(dtype, reverse, dev, rng, monkeypatch):
    """More chunks than the carry pass scans at once (CARRY_THREADS): its state crosses tiles."""
    scan = _engine("scan")
    monkeypatch.setattr(scan, "CHUNK", 2)
    monkeypatch.setattr(scan, "MANY_CHANNELS", 64)
    length = 2 * scan.CARRY_THREADS + 70  # 291 chunks of 2 for 256 threads per carry tile
    a = rng.uniform(0.9, 1.0, (2, length))
    b = rng.normal(size=(2, length))
    if dtype.startswith("complex"):
        a, b = a * np.exp(0.1j * rng.normal(size=a.shape)), b + 1j * rng.normal(size=b.shape)
    a, b, x0 = a.astype(dtype), b.astype(dtype), rng.normal(size=2).astype(dtype)
    ref = narrow(statespace.linear_scan(widen(a), widen(b), x0=widen(x0), reverse=reverse, engine="xp"), dtype)
    got = scan.linear_scan(dev(a), dev(b), dev(x0), a.shape, reverse)
    agree(got, ref, "scan")


@pytest.mark.parametrize("chunked", [False, True], ids=["direct", "chunked"])
def test_linear_scan_nan_propagates(chunked, dev, rng, monkeypatch):
    scan = _engine("scan")
    monkeypatch.setattr(scan, "CHUNK", 8)
    monkeypatch.setattr(scan, "MANY_CHANNELS", 64 if chunked else 1)
    a, b = rng.uniform(0.5, 1.0, (3, 60)), rng.normal(size=(3, 60))
    b[1, 20] = np.nan
    ref = statespace.linear_scan(a, b, engine="xp")
    got = scan.linear_scan(dev(a), dev(b), None, b.shape, False)
    agree(got, ref, "scan")
    assert np.isnan(statespace.testing.to_host(got)[1, 20:]).all()


# --------------------------------------------------------------------------- selective_scan
def _selective_inputs(rng, batch, dim, length, nstate, groups, a_complex, variable, dtype):
    real = np.dtype(dtype)
    u = rng.normal(size=(batch, dim, length)).astype(real)
    delta = rng.uniform(0.05, 1.0, size=(batch, dim, length)).astype(real)
    A = -rng.uniform(0.5, 1.0, (dim, nstate))
    if a_complex:
        A = A + 1j * rng.normal(size=(dim, nstate))
    A = A.astype(COMPLEX[dtype] if a_complex else real)

    def weight():
        shape = (batch, groups, nstate, length) if variable else (dim, nstate)
        w = rng.normal(size=shape) + (1j * rng.normal(size=shape) if a_complex else 0)
        return w.astype(A.dtype)

    x0 = rng.normal(size=(batch, dim, nstate)) + (1j * rng.normal(size=(batch, dim, nstate)) if a_complex else 0)
    return dict(
        u=u, delta=delta, A=A, B=weight(), C=weight(), D=rng.normal(size=dim).astype(real),
        z=rng.normal(size=(batch, dim, length)).astype(real), delta_bias=rng.normal(size=dim).astype(real),
        x0=x0.astype(A.dtype),
    )  # fmt: skip


SELECTIVE_CASES = {
    # name: (batch, D, L, N, groups, variable B/C, gated)
    "groups": (2, 34, 37, 3, 2, True, True),  # 68 rows: 3 blocks, 2 time tiles, 17 channels per group
    "time-invariant-BC": (1, 33, 35, 2, 1, False, True),
    "N=17-no-gate": (1, 5, 33, 17, 1, True, False),  # a state capacity of 32
    "L=1": (3, 2, 1, 4, 1, True, True),
}


@pytest.mark.parametrize("softplus", [True, False], ids=["softplus", "no-softplus"])
@pytest.mark.parametrize("a_complex", [False, True], ids=["real-A", "complex-A"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(SELECTIVE_CASES))
def test_selective_scan(case, dtype, a_complex, softplus, dev, rng):
    batch, dim, length, nstate, groups, variable, gated = SELECTIVE_CASES[case]
    args = _selective_inputs(rng, batch, dim, length, nstate, groups, a_complex, variable, dtype)
    if not gated:
        args["z"] = None
    wide = {k: widen(v) for k, v in args.items()}
    ref, ref_last = statespace.selective_scan(**wide, delta_softplus=softplus, return_state=True, engine="xp")
    ref, ref_last = narrow(ref, dtype), narrow(ref_last, dtype)
    B = _Weight(dev(args["B"]), variable, groups if variable else dim)
    C = _Weight(dev(args["C"]), variable, groups if variable else dim)
    d = {k: dev(args[k]) for k in ("u", "delta", "A", "D", "z", "delta_bias", "x0")}
    out, last = _engine("selective").selective_scan(
        d["u"], d["delta"], d["A"], B, C, d["D"], d["z"], d["delta_bias"], softplus, d["x0"]
    )
    agree(out, ref, "scan")
    agree(last, ref_last, "scan")


def test_selective_scan_nan_propagates(dev, rng):
    args = _selective_inputs(rng, 1, 3, 40, 2, 1, False, True, "float64")
    args["u"][0, 1, 10] = np.nan
    ref = statespace.selective_scan(**args, engine="xp")
    B, C = _Weight(dev(args["B"]), True, 1), _Weight(dev(args["C"]), True, 1)
    d = {k: dev(args[k]) for k in ("u", "delta", "A", "D", "z", "delta_bias", "x0")}
    out, _ = _engine("selective").selective_scan(
        d["u"], d["delta"], d["A"], B, C, d["D"], d["z"], d["delta_bias"], False, d["x0"]
    )
    agree(out, ref, "scan")


# --------------------------------------------------------------------------- diagonal recurrence
RECURRENCE_CASES = {
    # name: (batch, N2, L)
    "blocks-and-tiles": ((2, 17), 3, 37),
    "N2=17": ((3,), 17, 5),
    "L=1": ((4,), 2, 1),
}


@pytest.mark.parametrize("kind", ["conj", "complex-out", "complex-input", "real-system"], ids=lambda k: k)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(RECURRENCE_CASES))
def test_recurrence_diag(case, dtype, kind, dev, rng):
    batch, nmodes, length = RECURRENCE_CASES[case]
    ctype = COMPLEX[dtype]
    Ab = (rng.uniform(0.5, 0.99, (*batch, nmodes)) * np.exp(1j * rng.uniform(0, 1, (*batch, nmodes)))).astype(ctype)
    Bb = (rng.normal(size=nmodes) + 1j * rng.normal(size=nmodes)).astype(ctype)
    C = (rng.normal(size=(*batch, nmodes)) + 1j * rng.normal(size=(*batch, nmodes))).astype(ctype)
    u = rng.normal(size=(*batch, length)).astype(dtype)
    x0 = (rng.normal(size=(*batch, nmodes)) + 1j * rng.normal(size=(*batch, nmodes))).astype(ctype)
    conj = kind == "conj"
    if kind == "complex-input":
        u = (u + 1j * rng.normal(size=u.shape)).astype(ctype)
    if kind == "real-system":
        Ab, Bb, C, x0 = (x.real.copy() for x in (Ab, Bb, C, x0))
    ref, ref_state = statespace.recurrence(
        *map(widen, (Ab, Bb, C, u)), x0=widen(x0), conj=conj, structure="diag", return_state=True, engine="xp"
    )
    ref, ref_state = narrow(ref, dtype), narrow(ref_state, dtype)
    y, state = _engine("recurrence").diag(dev(Ab), dev(Bb), dev(C), dev(u), dev(x0), batch, conj)
    agree(y, ref, "scan")
    agree(state, ref_state, "scan")


# --------------------------------------------------------------------------- Cauchy and Vandermonde
def _cx(rng, *shape):
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


@pytest.mark.parametrize("conj", [True, False], ids=["conj", "plain"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cauchy(dtype, conj, dev, rng):
    ctype = COMPLEX[dtype]
    v, z, w = _cx(rng, 3, 1, 5), 2j * _cx(rng, 1, 4, 150), _cx(rng, 3, 4, 5) - 3.0  # 150 > one 128-thread block
    v, z, w = (x.astype(ctype) for x in (v, z, w))
    ref = narrow(statespace.cauchy(widen(v), widen(z), widen(w), conj=conj, engine="xp"), dtype)
    got = _engine("kernels").cauchy(dev(v), dev(z), dev(w), conj, (3, 4), np.dtype(ctype))
    agree(got, ref, "kernel")


@pytest.mark.parametrize("conj", [True, False], ids=["conj", "plain"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cauchy_affine(dtype, conj, dev, rng):
    """The singularity-free form of S4's kernel: ``a = 2(1 − ω)``, ``b = 1 + ω`` on the roots of unity."""
    ctype = COMPLEX[dtype]
    omega = np.exp(-2j * np.pi * np.arange(130) / 130)
    a, b = (2 * (1 - omega))[None, :], (1 + omega)[None, :]
    v, w = _cx(rng, 2, 6), -rng.uniform(0.1, 1.0, (2, 6)) + 1j * rng.normal(size=(2, 6))
    v, a, b, w = (x.astype(ctype) for x in (v, a, b, w))
    ref = narrow(cauchy_affine(*map(widen, (v, a, b, w)), conj=conj, engine="xp"), dtype)
    got = _engine("kernels").cauchy_affine(dev(v), dev(a), dev(b), dev(w), conj, (2,), np.dtype(ctype))
    agree(got, ref, "kernel")


@pytest.mark.parametrize("conj", [True, False], ids=["conj", "plain"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_vandermonde(dtype, conj, dev, rng):
    ctype = COMPLEX[dtype]
    v = _cx(rng, 3, 1, 5).astype(ctype)
    x = (-rng.uniform(0.0, 0.1, (3, 4, 5)) + 1j * rng.normal(size=(3, 4, 5))).astype(ctype)
    ref = narrow(statespace.vandermonde(widen(v), widen(x), 140, conj=conj, engine="xp"), dtype)
    out_dtype = np.dtype(dtype) if conj else np.dtype(ctype)
    got = _engine("kernels").vandermonde(dev(v), dev(x), 140, conj, (3, 4), out_dtype)
    agree(got, ref, "kernel")


def test_cauchy_nan_propagates(dev, rng):
    v, z, w = _cx(rng, 2, 4), _cx(rng, 2, 40), _cx(rng, 2, 4) - 3.0
    v[1, 2] = np.nan
    ref = statespace.cauchy(v, z, w, engine="xp")
    got = _engine("kernels").cauchy(dev(v), dev(z), dev(w), True, (2,), np.dtype(np.complex128))
    agree(got, ref, "kernel")


def test_numpy_arrays_refused_without_simulator(mode):
    """On a GPU the engine refuses host arrays (it never copies); under the simulator NumPy is its device."""
    if mode == "sim":
        pytest.skip("under the simulator NumPy arrays are the device arrays")
    with pytest.raises(TypeError, match="CuPy arrays"):
        _engine("scan").linear_scan(np.ones((2, 3)), np.ones((2, 3)), None, (2, 3), False)
