"""Numba engine internals: the vectorisable exp, and the blocked kernels on sizes that cross their block edges."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from statespace import linear_scan, recurrence, selective_scan
from statespace.testing import assert_close

numba = pytest.importorskip("numba")
vecmath = pytest.importorskip("statespace._engines.numba._vecmath")
tiles = pytest.importorskip("statespace._engines.numba._tiles")
modal = pytest.importorskip("statespace._engines.numba._modal")
gated = pytest.importorskip("statespace._engines.numba._gated")
channel = pytest.importorskip("statespace._engines.numba._channel")

pytestmark = pytest.mark.numba


def _exp_loop(fastmath):
    """A jitted loop over ``vexp``; ``fastmath={"contract"}`` is how the kernels compile it (FMAs allowed)."""

    @numba.njit(fastmath=fastmath)
    def run(x, out):
        for i in range(x.size):
            out[i] = vecmath.vexp(x[i])

    return run


EXP_LOOPS = {"plain": _exp_loop(False), "contract": _exp_loop({"contract"})}
# (dtype, exact reference dtype, input range that covers underflow to 0, subnormals and overflow)
PRECISIONS = {"float32": (np.float32, np.float64, 110.0), "float64": (np.float64, np.longdouble, 750.0)}


def ulp_errors(x, out, exact_dtype):
    """|out − exp(x)| in units of the spacing of the correctly rounded result (subnormal spacing near 0)."""
    exact = np.exp(x.astype(exact_dtype))
    rounded = exact.astype(x.dtype)
    finite = np.isfinite(rounded)
    spacing = np.spacing(np.abs(rounded[finite])).astype(exact_dtype)
    return np.abs(out[finite].astype(exact_dtype) - exact[finite]) / spacing, rounded


@pytest.mark.parametrize("mode", sorted(EXP_LOOPS))
@pytest.mark.parametrize("precision", sorted(PRECISIONS))
def test_vexp_within_2_ulp_over_the_whole_range(mode, precision, rng):
    dtype, exact_dtype, span = PRECISIONS[precision]
    x = np.concatenate(
        [
            rng.uniform(-span, span, 300_000),
            rng.uniform(-1, 1, 100_000),
            np.linspace(-span, span, 100_001),
            np.log(np.finfo(dtype).max) + np.linspace(-1e-3, 1e-3, 1001),  # overflow edge
            np.log(np.finfo(dtype).smallest_subnormal) + np.linspace(-1, 1, 1001),  # underflow edge
        ]
    ).astype(dtype)
    out = np.empty_like(x)
    with np.errstate(over="ignore"):
        EXP_LOOPS[mode](x, out)
        errors, rounded = ulp_errors(x, out, exact_dtype)
    assert errors.max() <= 2.0, f"max error {errors.max():.3f} ulp"
    overflow = ~np.isfinite(rounded)
    assert np.all(np.isposinf(out[overflow])) and np.all(np.isfinite(out[~overflow]))


@pytest.mark.parametrize("mode", sorted(EXP_LOOPS))
def test_vexp_float32_every_bit_pattern_stride(mode):
    bits = np.arange(0, 2**32, 4099, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    out = np.empty_like(x)
    with np.errstate(over="ignore", invalid="ignore"):
        EXP_LOOPS[mode](x, out)
        errors, rounded = ulp_errors(x, out, np.float64)
    nan = np.isnan(x)
    assert np.all(np.isnan(out[nan]))
    assert errors.max() <= 2.0, f"max error {errors.max():.3f} ulp"
    assert np.array_equal(out[~nan & ~np.isfinite(rounded)], rounded[~nan & ~np.isfinite(rounded)])


@numba.njit(fastmath={"contract"})
def _bounded_exp_loop(x, out):
    constants = vecmath.exp_constants(x[0])
    for i in range(x.size):
        out[i] = vecmath.vexp_bounded(x[i], constants)


@pytest.mark.parametrize("precision", sorted(PRECISIONS))
def test_vexp_bounded_is_vexp_bitwise_within_its_range(precision, rng):
    """One scale factor instead of two and no clamps: within the limit nothing else changes, bit for bit."""
    dtype, exact_dtype, _ = PRECISIONS[precision]
    limit = vecmath.EXP_BOUNDED_LIMIT[np.dtype(dtype)]
    x = np.concatenate(
        [rng.uniform(-limit, limit, 400_000), rng.uniform(-1, 1, 100_000), np.linspace(-limit, limit, 100_001),
         [-limit, limit, 0.0, -0.0, np.nan]]
    ).astype(dtype)  # fmt: skip
    out, careful = np.empty_like(x), np.empty_like(x)
    _bounded_exp_loop(x, out)
    EXP_LOOPS["contract"](x, careful)
    np.testing.assert_array_equal(out, careful)  # NaN in the same places too
    finite = np.isfinite(x)
    errors, _ = ulp_errors(x[finite], out[finite], exact_dtype)
    assert errors.max() <= 2.0, f"max error {errors.max():.3f} ulp"


@numba.njit(fastmath={"contract"})
def _product_exp_loop(a, high, low, out):
    for i in range(a.size):
        out[i] = vecmath.vexp_product(a[i], high[i], low[i])


@numba.njit(fastmath={"contract"})
def _bounded_product_exp_loop(a, high, low, out):
    constants = vecmath.exp_product_constants(a[0])
    for i in range(a.size):
        out[i] = vecmath.vexp_product_bounded(a[i], high[i], low[i], constants)


def product_exp(a, b):
    """``vexp_product`` of ``a·b`` and its ulp errors against ``exp`` of the exact product (float32: the float64
    product is exact; float64: long double, 64-bit significand, whose product error is below 0.2 ulp here)."""
    exact_dtype = np.float64 if a.dtype == np.float32 else np.longdouble
    out = np.empty_like(a)
    _product_exp_loop(a, *vecmath.log2e_split(b), out)
    exact = np.exp(a.astype(exact_dtype) * b.astype(exact_dtype))
    rounded = exact.astype(a.dtype)
    finite = np.isfinite(rounded)
    spacing = np.spacing(np.abs(rounded[finite])).astype(exact_dtype)
    return out, np.abs(out[finite].astype(exact_dtype) - exact[finite]) / spacing, rounded


@pytest.mark.parametrize("precision", sorted(PRECISIONS))
def test_vexp_product_within_2_ulp_of_exp_of_the_exact_product(precision, rng):
    """``exp(a·b)`` with ``a·b`` never rounded: within 2 ulp of the exponential of the exact product over the whole
    range (underflow to 0, subnormal results and overflow included), where the exponential of the rounded
    product is off by up to ``|a·b|`` half-ulps of its argument (≈ 64 ulp at ``|a·b|`` = 80 in both precisions:
    the check below that it is, so that this test can tell the two apart)."""
    dtype, _, span = PRECISIONS[precision]
    a = np.concatenate([rng.uniform(0, 4, 300_000), rng.uniform(0, 0.05, 50_000), rng.uniform(0, 1, 10_001)])
    b = np.concatenate([rng.uniform(-span / 4, span / 4, 300_000), rng.uniform(-4, 4, 50_000), np.full(10_001, -1.0)])
    a, b = a.astype(dtype), b.astype(dtype)
    a[-10_001:] = np.log(np.finfo(dtype).smallest_subnormal) * -np.linspace(0.98, 1.02, 10_001)  # underflow edge
    with np.errstate(over="ignore", under="ignore"):
        out, errors, rounded = product_exp(a, b)
        naive = np.empty_like(a)
        EXP_LOOPS["contract"]((a * b).astype(dtype), naive)
    assert errors.max() <= 2.0, f"max error {errors.max():.3f} ulp"
    overflow = ~np.isfinite(rounded)
    assert overflow.any() and np.all(np.isposinf(out[overflow])) and np.all(np.isfinite(out[~overflow]))
    finite = np.isfinite(rounded)
    naive_errors = np.abs(naive[finite] - rounded[finite]) / np.spacing(np.abs(rounded[finite]))
    assert naive_errors.max() > 16  # the rounded product's exponential is this far off


@pytest.mark.parametrize("precision", sorted(PRECISIONS))
def test_vexp_product_bounded_is_vexp_product_bitwise_within_its_range(precision, rng):
    dtype = PRECISIONS[precision][0]
    limit = vecmath.EXP_BOUNDED_LIMIT[np.dtype(dtype)]
    a = rng.uniform(0, 2, 400_000).astype(dtype)
    b = (rng.uniform(-limit, limit, 400_000) / 2).astype(dtype)  # |a·b| ≤ limit
    a[:4], b[:4] = (1, 1, 0, np.nan), (-limit, limit, -3.0, -1.0)
    high, low = vecmath.log2e_split(b)
    out, careful = np.empty_like(a), np.empty_like(a)
    _bounded_product_exp_loop(a, high, low, out)
    _product_exp_loop(a, high, low, careful)
    np.testing.assert_array_equal(out, careful)  # NaN in the same places too


@pytest.mark.parametrize("precision", sorted(PRECISIONS))
def test_vexp_product_special_values(precision):
    dtype = PRECISIONS[precision][0]
    big = np.finfo(dtype).max / 2  # b log2 e finite: the domain of log2e_split
    a = np.array([np.nan, 1, 0, 1, np.inf, np.inf, 1e30, 1e30, 0, 0, 1, 1], dtype=dtype)
    b = np.array([-1, np.nan, -np.inf, -np.inf, -1, 1, -1, 1, 0, -big, 0, -0.0], dtype=dtype)
    out = np.empty_like(a)
    with np.errstate(invalid="ignore", over="ignore"):
        _product_exp_loop(a, *vecmath.log2e_split(b), out)
    assert np.isnan(out[:3]).all()  # NaN operands, 0·inf
    np.testing.assert_array_equal(out[3:], np.array([0, 0, np.inf, 0, np.inf, 1, 1, 1, 1], dtype=dtype))


@pytest.mark.parametrize("precision", sorted(PRECISIONS))
def test_log2e_split_is_b_log2e_to_twice_the_precision(precision, rng):
    dtype = PRECISIONS[precision][0]
    largest = np.finfo(dtype).max / 2  # its product with log2 e still finite
    b = np.concatenate([rng.normal(size=200) * 10.0 ** rng.integers(-30, 30, 200), [1.0, -3.0, 0.0, -largest]])
    b = b.astype(dtype)
    high, low = vecmath.log2e_split(b)
    assert high.dtype == low.dtype == dtype
    log2e = Fraction("1.442695040888963407359924681001892137426645954152985934135449407")  # 1 / ln 2
    bits = np.finfo(dtype).nmant + 1
    for v, h, lo in zip(b, high, low):
        exact = Fraction(float(v)) * log2e
        assert abs(Fraction(float(h)) + Fraction(float(lo)) - exact) <= abs(exact) * Fraction(1, 2 ** (2 * bits - 4))


@pytest.mark.parametrize("mode", sorted(EXP_LOOPS))
@pytest.mark.parametrize("precision", sorted(PRECISIONS))
def test_vexp_special_values(mode, precision):
    dtype = PRECISIONS[precision][0]
    x = np.array([np.nan, -np.inf, np.inf, 0.0, -0.0, -1e30, 1e30, 1.0, -1.0], dtype=dtype)
    out = np.empty_like(x)
    EXP_LOOPS[mode](x, out)
    assert np.isnan(out[0])
    np.testing.assert_array_equal(out[1:7], np.array([0.0, np.inf, 1.0, 1.0, 0.0, np.inf], dtype=dtype))
    np.testing.assert_allclose(out[7:], np.exp(x[7:]), rtol=2 * np.finfo(dtype).eps)


@numba.njit(fastmath={"contract"})
def _softplus_loop(v, out):
    for i in range(v.size):
        out[i] = vecmath.vsoftplus(v[i], vecmath.vexp(-abs(v[i])))


@pytest.mark.parametrize("precision", sorted(PRECISIONS))
def test_vsoftplus_within_4_ulp_of_log1p_exp(precision, rng):
    dtype, exact_dtype, span = PRECISIONS[precision]
    edges = [0.0, 20.0, np.nextafter(dtype(20), dtype(21))]  # 20 itself is below Mamba's threshold
    v = np.concatenate([rng.uniform(-span, 30, 100_000), rng.uniform(-2, 2, 100_000), rng.uniform(19, 21, 1000), edges])
    v = v.astype(dtype)
    out = np.empty_like(v)
    with np.errstate(under="ignore"):
        _softplus_loop(v, out)
        wide = v.astype(exact_dtype)
        exact = np.where(wide > 20, wide, np.log1p(np.exp(np.minimum(wide, 20))))  # Mamba's threshold
    rounded = exact.astype(dtype)
    nonzero = rounded != 0
    spacing = np.spacing(np.abs(rounded[nonzero])).astype(exact_dtype)
    assert np.max(np.abs(out[nonzero].astype(exact_dtype) - exact[nonzero]) / spacing) <= 4
    assert np.all(out[~nonzero] == 0)  # below the smallest subnormal: exactly 0 like the reference
    special = np.array([np.nan, np.inf, -np.inf], dtype)
    _softplus_loop(special, out[:3])
    np.testing.assert_array_equal(out[:3], np.array([np.nan, np.inf, 0.0], dtype))


def diag_loop(Ab, Bb, C, u, x0, conj):
    """Float64 reference: the recurrence one step at a time over all channels."""
    x = x0.astype(complex)
    ys = []
    for t in range(u.shape[-1]):
        x = Ab * x + Bb * u[..., t : t + 1]
        y = np.sum(C * x, axis=-1)
        ys.append(2 * y.real if conj else y)
    return np.stack(ys, axis=-1), x


@pytest.mark.parametrize("complex_input", [False, True])
@pytest.mark.parametrize("conj", [True, False])
def test_recurrence_across_channel_blocks(rng, conj, complex_input):
    # 70 channels: one full block of 64 and a padded one; 131 steps: staged chunks of 64 plus a remainder
    H, N2, L = 70, 5, 131
    Ab = np.exp(-rng.uniform(0.01, 0.3, (H, N2)) + 1j * rng.uniform(0, np.pi, (H, N2)))
    Bb, C, x0 = (rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2)) for _ in range(3))
    C[::3, 0] = 0  # modes that reach no output still carry their state
    u = rng.normal(size=(H, L)) + (1j * rng.normal(size=(H, L)) if complex_input else 0)
    if conj and complex_input:
        # a real (conj-paired) system: y(Re u) + i·y(Im u); the state has no conj-paired form, so none is returned
        y = recurrence(Ab, Bb, C, u, x0=x0, conj=True, engine="numba")
        want_y = diag_loop(Ab, Bb, C, u.real, x0, True)[0] + 1j * diag_loop(Ab, Bb, C, u.imag, 0 * x0, True)[0]
        assert_close(y, want_y, kind="scan")
        return
    y, state = recurrence(Ab, Bb, C, u, x0=x0, conj=conj, return_state=True, engine="numba")
    want_y, want_state = diag_loop(Ab, Bb, C, u, x0, conj)
    assert_close(y, want_y, kind="scan")
    assert_close(state, want_state, kind="scan")


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize(("H", "N2", "complex_input", "conj"), [
    (3, 37, False, True),  # modes not a multiple of the groups: padded modes
    (5, 40, True, False),  # channels not a multiple of a block's channels: padded lanes; complex in and out
    (1, 64, False, False),  # one channel, complex output
    (4, 32, False, True),  # issue 19's few-channel modes
])  # fmt: skip
def test_recurrence_few_channels_split_modes_across_lanes(rng, monkeypatch, parallel, H, N2, complex_input, conj):
    from statespace._engines import numba as engine
    from statespace._engines.numba import recurrence as kernels

    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 0 if parallel else 1 << 62)
    monkeypatch.setattr(kernels, "vector_lanes", lambda dtype: 8)  # the layouts of an AVX-512 machine, on any
    assert kernels._layout(H, N2, parallel, 8)[1] > 1  # the split layout is what runs here
    L = 70
    Ab = np.exp(-rng.uniform(0.01, 0.3, (H, N2)) + 1j * rng.uniform(0, np.pi, (H, N2)))
    Bb, C, x0 = (rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2)) for _ in range(3))
    u = rng.normal(size=(H, L)) + (1j * rng.normal(size=(H, L)) if complex_input else 0)
    y, state = recurrence(Ab, Bb, C, u, x0=x0, conj=conj, return_state=True, engine="numba")
    want_y, want_state = diag_loop(Ab, Bb, C, u, x0, conj)
    assert_close(y, want_y, kind="scan")
    assert_close(state, want_state, kind="scan")
    u[0, 5] = np.nan  # NaN reaches the outputs of its channel from its step on, and no other channel
    y = recurrence(Ab, Bb, C, u, x0=x0, conj=conj, engine="numba")
    assert np.isnan(y[0, 5:]).all() and not np.isnan(y[0, :5]).any() and not np.isnan(y[1:]).any()


@pytest.mark.parametrize("smallest", [4, 8, 16, 32])
@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_recurrence_layouts_are_whole(monkeypatch, smallest, threads):
    """Every layout the rule picks: whole groups per block, blocks of whole ``smallest`` lanes (whole vectors for
    the real kernel), no more than ``_BLOCK`` lanes, at least ``_MIN_GROUP_MODES`` modes per group once split; and
    no block wider than needed: never more lanes than the channels rounded up to ``smallest``."""
    from statespace._engines.numba import recurrence as kernels

    monkeypatch.setattr(kernels.numba, "get_num_threads", lambda: threads)
    for channels in [1, 2, 3, 5, 8, 9, 16, 33, 100, 256, 1000]:
        for nmodes in [1, 4, 7, 32, 64]:
            block, groups = kernels._layout(channels, nmodes, True, smallest)
            assert block % groups == 0 and block % smallest == 0 and block <= kernels._BLOCK
            assert groups == 1 or -(-nmodes // groups) >= kernels._MIN_GROUP_MODES
            assert block <= -(-channels // smallest) * smallest


@pytest.mark.parametrize("L", [1, 2, 3, 5, 66, 131])
def test_recurrence_lengths_not_a_multiple_of_four(rng, L):
    # the kernel steps in fours (modal_steps) and runs the last L mod 4 steps one at a time (modal_step)
    H, N2 = 5, 3
    Ab = np.exp(-rng.uniform(0.01, 0.3, (H, N2)) + 1j * rng.uniform(0, np.pi, (H, N2)))
    Bb, C, x0 = (rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2)) for _ in range(3))
    u = rng.normal(size=(H, L))
    want_y, want_state = diag_loop(Ab, Bb, C, u, x0, True)
    y, state = recurrence(Ab, Bb, C, u, x0=x0, return_state=True, engine="numba")
    assert_close(y, want_y, kind="scan")
    assert_close(state, want_state, kind="scan")
    assert_close(recurrence(Ab, Bb, C, u, x0=x0, engine="numba"), want_y, kind="scan")


@pytest.mark.parametrize("weights", ["plain", "zeros", "huge", "tiny", "nan"])
def test_recurrence_output_basis(rng, weights):
    """Without the state the kernel runs in the basis ``x' = C x`` (an output term is an addition), unless an
    output weight is zero-free-but-extreme or not finite; each case against the float64 loop."""
    from statespace._engines.numba import recurrence as kernels

    H, N2, L = 6, 5, 70
    Ab = np.exp(-rng.uniform(0.01, 0.3, (H, N2)) + 1j * rng.uniform(0, np.pi, (H, N2)))
    Bb, C, x0 = (rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2)) for _ in range(3))
    edit = {"plain": None, "zeros": 0.0, "huge": 1e250, "tiny": 1e-250, "nan": np.nan}[weights]
    if edit is not None:
        C[1, 2] = C[4, 0] = edit
    u = rng.normal(size=(H, L))
    unit = weights in ("huge", "tiny", "nan")
    assert (kernels._output_basis(C, unit=False, scale=1.0)[1] is not None) == unit  # the basis the case exercises
    want_y, _ = diag_loop(Ab, Bb, C, u, x0, True)
    y = recurrence(Ab, Bb, C, u, x0=x0, engine="numba")
    nan = np.isnan(want_y)
    np.testing.assert_array_equal(np.isnan(y), nan)
    assert_close(y[~nan], want_y[~nan], kind="scan")


def test_recurrence_across_channel_blocks_float32(rng):
    H, N2, L = 70, 6, 77
    Ab = np.exp(-rng.uniform(0.01, 0.3, (H, N2)) + 1j * rng.uniform(0, np.pi, (H, N2)))
    Bb, C = (rng.normal(size=(H, N2)) + 1j * rng.normal(size=(H, N2)) for _ in range(2))
    u = rng.normal(size=(H, L))
    as32 = [m.astype(np.complex64) for m in (Ab, Bb, C)]
    y = recurrence(*as32, u.astype(np.float32), engine="numba")
    assert y.dtype == np.float32
    want, _ = diag_loop(*(m.astype(complex) for m in as32), u.astype(np.float32).astype(float), np.zeros((H, N2)), True)
    assert_close(y, want, kind="kernel")


def mamba_reference(u, delta, A, B, C, D, z, bias, x0):
    """Float64 Mamba semantics (softplus on, variable grouped B/C), vectorised over channels, a loop over time."""
    batch, dim, length = u.shape
    dt = delta + bias[:, None]
    dt = np.where(dt <= 20, np.log1p(np.exp(np.minimum(dt, 20))), dt)
    Bc = np.repeat(B, dim // B.shape[1], axis=1)  # (batch, D, N, L)
    Cc = np.repeat(C, dim // C.shape[1], axis=1)
    x = x0.copy()
    out = np.empty((batch, dim, length))
    for t in range(length):
        x = np.exp(dt[:, :, t, None] * A) * x + (dt[:, :, t] * u[:, :, t])[..., None] * Bc[..., t]
        out[:, :, t] = np.sum(x * Cc[..., t], axis=-1) + D * u[:, :, t]
    return out * (z / (1 + np.exp(-z))), x


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_selective_scan_channel_blocks(rng, dtype_name):
    # D = 80 with B in 5 groups (16 channels each) and C shared: SIMD blocks of 16 channels within a group;
    # L = 75 crosses the staged chunk of 64 steps
    batch, dim, N, L, groups = 2, 80, 4, 75, 5
    u, z = rng.normal(size=(batch, dim, L)), rng.normal(size=(batch, dim, L))
    delta = rng.uniform(-3, 1, (batch, dim, L))
    A = -rng.uniform(0.5, 4, (dim, N))
    B, C = rng.normal(size=(batch, groups, N, L)), rng.normal(size=(batch, 1, N, L))
    D, bias, x0 = rng.normal(size=dim), rng.uniform(0, 0.5, dim), rng.normal(size=(batch, dim, N))
    operands = [np.asarray(a, dtype=dtype_name) for a in (u, delta, A, B, C, D, z, bias, x0)]
    out, last = selective_scan(
        *operands[:5], D=operands[5], z=operands[6], delta_bias=operands[7], delta_softplus=True, x0=operands[8],
        return_state=True, engine="numba",
    )  # fmt: skip
    want, want_last = mamba_reference(*(a.astype(np.float64) for a in operands))
    assert out.dtype == dtype_name
    assert_close(out, want, kind="kernel")
    assert_close(last, want_last, kind="kernel")


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_selective_scan_ragged_tiles_and_strided_inputs(rng, dtype_name):
    # C in 3 groups of 12 channels: SIMD blocks of gcd(12, 64) = 4 lanes, narrower than a tile, so the
    # transposes run their edge loops only (test_selective_scan_channel_blocks has full tiles and edges);
    # L = 70: a full chunk and a 6-step tail; u, delta and z are strided views (copied for the tiles)
    batch, dim, N, L = 2, 36, 3, 70
    wide = rng.normal(size=(2, batch, dim, 2 * L)).astype(dtype_name)
    u, z = wide[0, ..., ::2], wide[1, ..., 1::2]
    delta = rng.uniform(-3, 1, (batch, dim, 2 * L)).astype(dtype_name)[..., ::2]
    A = -rng.uniform(0.5, 4, (dim, N))
    B, C = rng.normal(size=(batch, 1, N, L)), rng.normal(size=(batch, 3, N, L))
    D, bias, x0 = rng.normal(size=dim), rng.uniform(0, 0.5, dim), rng.normal(size=(batch, dim, N))
    operands = [np.asarray(a, dtype=dtype_name) for a in (u, delta, A, B, C, D, z, bias, x0)]
    assert not any(operands[k].flags.c_contiguous for k in (0, 1, 6))
    out, last = selective_scan(
        *operands[:5], D=operands[5], z=operands[6], delta_bias=operands[7], delta_softplus=True, x0=operands[8],
        return_state=True, engine="numba",
    )  # fmt: skip
    want, want_last = mamba_reference(*(a.astype(np.float64) for a in operands))
    assert_close(out, want, kind="kernel")
    assert_close(last, want_last, kind="kernel")
    contiguous = [np.ascontiguousarray(a) for a in operands]
    again = selective_scan(
        *contiguous[:5], D=contiguous[5], z=contiguous[6], delta_bias=contiguous[7], delta_softplus=True,
        x0=contiguous[8], engine="numba",
    )  # fmt: skip
    np.testing.assert_array_equal(out, again)


def _rounded(value, dtype):
    """``value`` (a Fraction) correctly rounded to ``dtype`` (nearest, ties to even; no double rounding)."""
    near = dtype(float(value))
    candidates = [np.nextafter(near, dtype(-np.inf)), near, np.nextafter(near, dtype(np.inf))]
    errors = [abs(Fraction(float(c)) - value) for c in candidates]
    best = min(errors)
    ties = [c for c, e in zip(candidates, errors) if e == best]
    bits = {np.float32: np.int32, np.float64: np.int64}[dtype]
    return next((c for c in ties if not np.array([c]).view(bits)[0] & 1), ties[0])


def _modal_steps_exact(ar, ai, br, bi, w, xr, xi, vr, vi, complex_output, dtype):
    """The pass's documented rounding, operation by operation, with exact products and sums (Fractions):
    ``(y_r, y_i)`` (``y_i`` None without complex output); ``xr``, ``xi`` updated in place."""

    def exact(*values):
        return [Fraction(float(value)) for value in values]

    def product(a, b):
        a, b = exact(a, b)
        return _rounded(a * b, dtype)

    def fma(a, b, c):
        a, b, c = exact(a, b, c)
        return _rounded(a * b + c, dtype)

    def accumulate(total, n, j, value):
        return _rounded(sum(exact(total, value)), dtype) if w is None else fma(w[n, j], value, total)

    nmodes, lanes = ar.shape
    y_r = np.zeros((len(vr), lanes), dtype)
    y_i = np.zeros((len(vr), lanes), dtype) if complex_output else None
    for j in range(lanes):
        for n in range(nmodes):
            x_r, x_i = xr[n, j], xi[n, j]
            for k in range(len(vr)):
                if vi is None:
                    p_r, p_i = product(br[n, j], vr[k, j]), product(bi[n, j], vr[k, j])
                else:
                    p_r = fma(br[n, j], vr[k, j], -product(bi[n, j], vi[k, j]))
                    p_i = fma(br[n, j], vi[k, j], product(bi[n, j], vr[k, j]))
                s, s_ = fma(ai[n, j], x_i, -p_r), fma(ai[n, j], x_r, p_i)
                x_r, x_i = fma(ar[n, j], x_r, -s), fma(ar[n, j], x_i, s_)
                y_r[k, j] = accumulate(y_r[k, j], n, j, x_r)
                if complex_output:
                    y_i[k, j] = accumulate(y_i[k, j], n, j, x_i)
            xr[n, j], xi[n, j] = x_r, x_i
    return y_r, y_i


@numba.njit(fastmath={"contract"})
def _modal_steps(ar, ai, br, bi, w, xr, xi, vr, vi, yr, yi, first):
    modal.modal_steps(ar, ai, br, bi, w, xr, xi, vr, vi, yr, yi, first)


@numba.njit(fastmath={"contract"})
def _modal_step(ar, ai, br, bi, w, xr, xi, vr, vi, yr, yi, first):
    modal.modal_step(ar, ai, br, bi, w, xr, xi, vr, vi, yr, yi, first)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    ("complex_input", "complex_output"), [(False, False), (True, False), (False, True), (True, True)]
)
@pytest.mark.parametrize("steps", [modal.STEPS, 1])
def test_modal_steps_rounds_as_documented(rng, dtype, weighted, complex_input, complex_output, steps):
    """The recurrence's vector passes against their documented operation sequence evaluated exactly and rounded
    once per operation: every lane, whole vectors and the scalar remainder (21 lanes), bitwise, with each optional
    part (weights, imaginary input, imaginary output) used or not; the rows of the staging buffers outside the
    pass are left alone."""
    nmodes, lanes, rows, first = 3, 21, modal.STEPS + 3, 2
    ar, ai = rng.uniform(-0.9, 0.9, (2, nmodes, lanes)).astype(dtype)
    br, bi = rng.normal(size=(2, nmodes, lanes)).astype(dtype)
    w = rng.uniform(0.5, 2.0, (nmodes, lanes)).astype(dtype) if weighted else None
    xr, xi = rng.normal(size=(2, nmodes, lanes)).astype(dtype)
    vr = rng.normal(size=(rows, lanes)).astype(dtype)
    vi = rng.normal(size=(rows, lanes)).astype(dtype) if complex_input else None
    yr = np.full((rows, lanes), 7.0, dtype)
    yi = np.full((rows, lanes), 5.0, dtype) if complex_output else None
    want_xr, want_xi = xr.copy(), xi.copy()
    want_yr, want_yi = yr.copy(), None if yi is None else yi.copy()
    window = slice(first, first + steps)
    y_r, y_i = _modal_steps_exact(
        ar, ai, br, bi, w, want_xr, want_xi, vr[window], None if vi is None else vi[window], complex_output, dtype
    )
    want_yr[window] = y_r
    if complex_output:
        want_yi[window] = y_i
    run = _modal_steps if steps == modal.STEPS else _modal_step
    run(ar, ai, br, bi, w, xr, xi, vr, vi, yr, yi, first)
    np.testing.assert_array_equal(yr, want_yr)
    if complex_output:
        np.testing.assert_array_equal(yi, want_yi)
    np.testing.assert_array_equal(xr, want_xr)
    np.testing.assert_array_equal(xi, want_xi)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_modal_steps_nan_stays_in_its_lane(rng, dtype):
    """A NaN input reaches its own lane's outputs and state only (lanes are independent, in vectors or not)."""
    nmodes, lanes = 2, 19
    ar, ai, br, bi = rng.uniform(-0.9, 0.9, (4, nmodes, lanes)).astype(dtype)
    xr, xi = np.zeros((2, nmodes, lanes), dtype)
    inputs = rng.normal(size=(modal.STEPS, lanes)).astype(dtype)
    inputs[1, 3] = inputs[0, 17] = np.nan
    outputs = np.zeros_like(inputs)
    _modal_steps(ar, ai, br, bi, None, xr, xi, inputs, None, outputs, None, 0)
    poisoned = np.zeros((modal.STEPS, lanes), bool)
    poisoned[1:, 3] = poisoned[:, 17] = True
    np.testing.assert_array_equal(np.isnan(outputs), poisoned)
    np.testing.assert_array_equal(np.isnan(xr).any(axis=0), poisoned.any(axis=0))


@numba.extending.intrinsic
def _fma(typingctx, a, b, c):
    """``a·b + c`` rounded once, for the reference below (numba has no ``math.fma``)."""
    if not (a == b == c):
        return None
    return a(a, b, c), lambda context, builder, signature, args: vecmath.emit_fma(builder, *args)


@numba.njit(fastmath={"contract"})
def _selective_step_reference(delta, u, bias, skip, first, ah, al, x, b, c, out, row, softplus, zero):
    """The selective scan's step lane by lane, as the numba loops that :mod:`._gated` replaced computed it: the careful
    exponentials only (the bounded ones give their results bitwise where they apply), the multiply-adds explicit."""
    for j in range(ah.shape[1]):
        step = delta[row, j] + bias[first + j]
        if softplus:
            step = vecmath.vsoftplus(step, vecmath.vexp(-abs(step)))
        input_ = step * u[row, j]
        y = zero
        for n in range(ah.shape[0]):
            gated_state = vecmath.vexp_product(step, ah[n, j], al[n, j]) * x[n, j]
            state = _fma(input_, b[row, n], gated_state)
            x[n, j] = state
            y = _fma(state, c[row, n], y)
        out[row, j] = _fma(skip[first + j], u[row, j], y)


@numba.njit(fastmath={"contract"})
def _selective_step(delta, u, bias, skip, first, ah, al, x, b, c, out, row, limit, softplus):
    gated.selective_step(delta, u, bias, skip, first, ah, al, x, b, c, out, row, limit, softplus)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("softplus", [True, None])
def test_selective_step_is_the_lane_loop_bitwise(rng, dtype, softplus):
    """The selective scan's vector step against the lane loop it replaced, bitwise, on 37 lanes (whole vectors and a
    scalar remainder), with lanes that send their vector down every careful path: ``|δ + bias|`` beyond the bounded
    exponential's range and NaN (softplus), steps ``Δ`` past ``step_limit`` (gates that underflow to 0). The state
    and the output row are compared; the step's row of ``delta`` holds ``Δ`` afterwards, other rows stay untouched."""
    lanes, nstate, rows, row, first = 37, 3, 3, 1, 2
    delta = rng.uniform(-2, 2, (rows, lanes)).astype(dtype)
    scale = 1.0 if dtype == np.float32 else 10.0  # past the bounded exponential's range: 87 in float32, 708 in float64
    delta[row, [5, 20, 33, 7]] = [100.0 * scale, -95.0 * scale, np.nan, 60.0 * scale]
    u = rng.normal(size=(rows, lanes)).astype(dtype)
    bias, skip = rng.uniform(-0.5, 0.5, (2, lanes + first)).astype(dtype)
    A = -rng.uniform(0.5, 3.0, (nstate, lanes))
    ah, al = vecmath.log2e_split(A.astype(dtype))
    x = rng.normal(size=(nstate, lanes)).astype(dtype)
    b, c = rng.normal(size=(2, rows, nstate)).astype(dtype)
    limit = dtype(vecmath.EXP_BOUNDED_LIMIT[np.dtype(dtype)] / 3.0)
    out, want_out = np.full((rows, lanes), 7.0, dtype), np.full((rows, lanes), 7.0, dtype)
    want_x = x.copy()
    _selective_step_reference(delta, u, bias, skip, first, ah, al, want_x, b, c, want_out, row,
                              softplus is not None, dtype(0))  # fmt: skip
    staged = delta.copy()
    _selective_step(staged, u, bias, skip, first, ah, al, x, b, c, out, row, limit, softplus)
    np.testing.assert_array_equal(out, want_out)
    np.testing.assert_array_equal(x, want_x)
    assert np.isnan(out[row, 33])
    np.testing.assert_array_equal(staged[[0, 2]], delta[[0, 2]])


@numba.njit(fastmath={"contract"})
def _gated_reference(src, row, col, dst, dst_row, dst_col, rows, cols, z, one):
    """Mamba's output gate after a transposing copy, element by element with the careful exponential."""
    for r in range(rows):
        for c in range(cols):
            gate = z[dst_row + c, dst_col + r]
            dst[dst_row + c, dst_col + r] = src[row + r, col + c] * (gate / (one + vecmath.vexp(-gate)))


@numba.njit(fastmath={"contract"})
def _transpose_gated(src, row, col, dst, dst_row, dst_col, rows, cols, z):
    tiles.transpose_gated(src, row, col, dst, dst_row, dst_col, rows, cols, z)


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(8, 8), (64, 64), (13, 21), (3, 5), (16, 9), (0, 4)])
def test_transpose_gated_is_the_element_loop_bitwise(rng, dtype_name, shape):
    """The selective scan's write-back with the output gate: whole tiles (vectors of eight) and ragged edges
    (scalars), bitwise the element loop with the careful exponential, with gates beyond the bounded exponential's
    range and NaN sending their vector down the careful path; the destination outside the rectangle is left alone."""
    rows, cols = shape
    src = rng.normal(size=(rows + 5, cols + 7)).astype(dtype_name)
    src[1::4, 1::3] = np.nan
    z = rng.normal(size=(cols + 11, rows + 3)).astype(dtype_name)
    big = 100.0 if dtype_name == "float32" else 1000.0  # past 87 (float32) and 708 (float64)
    z[2::9, 1::7], z[5::11, 2::5], z[3::13, 4::6] = big, -big, np.nan
    dst = np.full_like(z, 7.0)
    want = dst.copy()
    _gated_reference(src, 3, 4, want, 2, 1, rows, cols, z, np.dtype(dtype_name).type(1))
    _transpose_gated(src, 3, 4, dst, 2, 1, rows, cols, z)
    np.testing.assert_array_equal(dst, want)


@numba.njit
def _transpose_block(src, row, col, dst, dst_row, dst_col, rows, cols):
    tiles.transpose_block(src, row, col, dst, dst_row, dst_col, rows, cols)


def test_transpose_network_transposes():
    rows = np.arange(64.0).reshape(8, 8)
    columns = tiles.transpose_network(list(rows), lambda a, b, mask: np.concatenate([a, b])[list(mask)])
    np.testing.assert_array_equal(np.array(columns), rows.T)


@numba.njit
def _hinted_sum(src, row, col, rows, cols):
    tiles.prefetch_block(src, row, col, rows, cols)
    return src.sum()


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_prefetch_block_is_only_a_hint(dtype_name):
    """Any rectangle, inside the array or reaching past it, or empty: nothing changes and nothing faults."""
    src = np.arange(40 * 300, dtype=dtype_name).reshape(40, 300)
    want = _hinted_sum(src, 0, 0, 0, 0)  # no lines hinted; the same summation order
    for rectangle in [(0, 0, 40, 300), (3, 17, 2, 64), (39, 299, 1, 1), (30, 250, 20, 200), (5, 5, 0, 9),
                      (5, 5, 4, 0), (5, 5, 4, -3), (-2, -40, 3, 50)]:  # fmt: skip
        assert _hinted_sum(src, *rectangle) == want
    np.testing.assert_array_equal(src, np.arange(40 * 300, dtype=dtype_name).reshape(40, 300))


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(8, 8), (64, 64), (13, 21), (3, 5), (16, 9), (0, 4), (9, 0)])
@pytest.mark.parametrize("wide_destination", [False, True])
def test_transpose_block_against_numpy(rng, dtype_name, shape, wide_destination):
    """Both tile orders (the wider array's rows finished first), ragged edges; NaN and -0.0 moved as they are."""
    rows, cols = shape
    src = rng.normal(size=(rows + 5, cols + 7)).astype(dtype_name)
    src[::3, ::2] = -0.0
    src[1::4, 1::3] = np.nan
    dst = np.full((cols + 11, rows + (300 if wide_destination else 3)), 7.0, dtype_name)
    want = dst.copy()
    want[2 : 2 + cols, 1 : 1 + rows] = src[3 : 3 + rows, 4 : 4 + cols].T
    _transpose_block(src, 3, 4, dst, 2, 1, rows, cols)
    np.testing.assert_array_equal(dst, want)
    np.testing.assert_array_equal(np.signbit(dst), np.signbit(want))


@numba.njit
def _transpose_spread(src, row, col, dst, dst_row, dst_col, rows, cols, copies, spacing):
    tiles.transpose_spread(src, row, col, dst, dst_row, dst_col, rows, cols, copies, spacing)


@numba.njit
def _transpose_summed(src, row, col, dst, dst_row, dst_col, rows, cols, groups, spacing):
    tiles.transpose_summed(src, row, col, dst, dst_row, dst_col, rows, cols, groups, spacing)


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(8, 8), (64, 16), (13, 21), (3, 5), (0, 4), (9, 0)])
@pytest.mark.parametrize("groups", [1, 2, 3, 4])
def test_transpose_spread_and_summed_against_numpy(rng, dtype_name, shape, groups):
    """The recurrence's grouped staging: each transposed tile stored ``groups`` times ``spacing`` columns apart;
    and its write-back: each tile row read as the sum of ``groups`` blocks, added in block order (as NumPy's
    ``a + b + c`` does). NaN and -0.0 in the data; the columns around every block are left alone."""
    rows, cols = shape
    src = rng.normal(size=(rows + 5, cols + 7)).astype(dtype_name)
    src[::3, ::2] = -0.0
    src[1::4, 1::3] = np.nan
    spacing = rows + 2
    dst = np.full((cols + 4, 1 + groups * spacing + 3), 7.0, dtype_name)
    want = dst.copy()
    for g in range(groups):
        want[2 : 2 + cols, 1 + g * spacing : 1 + g * spacing + rows] = src[3 : 3 + rows, 4 : 4 + cols].T
    _transpose_spread(src, 3, 4, dst, 2, 1, rows, cols, groups, spacing)
    np.testing.assert_array_equal(dst, want)
    np.testing.assert_array_equal(np.signbit(dst), np.signbit(want))

    spacing = cols + 3
    blocks = rng.normal(size=(rows + 4, 2 + groups * spacing + 5)).astype(dtype_name)
    blocks[::2, ::5] = -0.0
    blocks[2::5, 3::4] = np.nan
    dst = np.full((cols + 6, rows + 9), 7.0, dtype_name)
    want = dst.copy()
    total = blocks[1 : 1 + rows, 2 : 2 + cols]
    for g in range(1, groups):
        total = total + blocks[1 : 1 + rows, 2 + g * spacing : 2 + g * spacing + cols]
    want[3 : 3 + cols, 5 : 5 + rows] = total.T
    _transpose_summed(blocks, 1, 2, dst, 3, 5, rows, cols, groups, spacing)
    np.testing.assert_array_equal(dst, want)
    np.testing.assert_array_equal(np.signbit(dst), np.signbit(want))


@pytest.mark.parametrize("nstate", [1, 16])
def test_selective_scan_leaves_x0_alone(rng, nstate):
    # with N = 1 the (batch, N, D) working state is a contiguous view of x0 unless copied; with N = 16 (the channel
    # kernel, no padding) the state is x0's own layout
    u, delta = rng.normal(size=(1, 16, 5)), rng.uniform(0.1, 1, (1, 16, 5))
    A, x0 = -np.ones((16, nstate)), rng.normal(size=(1, 16, nstate))
    B, C = rng.normal(size=(1, nstate, 5)), rng.normal(size=(1, nstate, 5))
    kept = x0.copy()
    selective_scan(u, delta, A, B, C, x0=x0, engine="numba")
    np.testing.assert_array_equal(x0, kept)


@pytest.mark.parametrize("parallel", [False, True])
def test_selective_scan_wide_blocks_are_bitwise_the_narrow_ones(rng, monkeypatch, parallel):
    """float32 blocks of 128 channels (``forward_block``) give bitwise the outputs of blocks of 64 and of 32:
    channels are independent lanes; the blocks also cross the staged chunk (L = 150) and hold NaN rows."""
    from statespace._engines import numba as engine
    from statespace._engines.numba import selective

    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 0 if parallel else 1 << 62)
    batch, dim, N, L = 2, 256, 4, 150
    u, z = rng.normal(size=(batch, dim, L)), rng.normal(size=(batch, dim, L))
    delta = rng.uniform(-3, 1, (batch, dim, L))
    delta[1, 130, 40] = np.nan
    A = -rng.uniform(0.5, 4, (dim, N))
    B, C = rng.normal(size=(batch, 1, N, L)), rng.normal(size=(batch, 2, N, L))
    D, bias = rng.normal(size=dim), rng.uniform(0, 0.5, dim)
    operands = [np.asarray(a, dtype=np.float32) for a in (u, delta, A, B, C, D, z, bias)]

    def run(block_bytes):
        monkeypatch.setattr(selective, "_BLOCK_BYTES", block_bytes)
        return selective_scan(
            *operands[:5], D=operands[5], z=operands[6], delta_bias=operands[7], delta_softplus=True,
            return_state=True, engine="numba",
        )  # fmt: skip

    wide, wide_last = run(512)
    want, _ = mamba_reference(*(a.astype(np.float64) for a in operands), x0=np.zeros((batch, dim, N)))
    assert_close(wide[0], want[0], kind="kernel")  # batch 0 has no NaN
    for block_bytes in (256, 128):
        narrow, narrow_last = run(block_bytes)
        np.testing.assert_array_equal(wide, narrow)
        np.testing.assert_array_equal(wide_last, narrow_last)
    assert np.isnan(wide[1, 130, 40:]).all() and np.isfinite(np.delete(wide[1], 130, axis=0)).all()


@pytest.mark.parametrize("layout", ["variable", "fixed"])
@pytest.mark.parametrize("nstate", [16, 20])
def test_selective_scan_by_channel_parallel_is_bitwise_serial(rng, monkeypatch, nstate, layout):
    """The channel kernel (states wider than half a vector, or fixed B and C) gives the same bits serial and
    parallel, with a NaN step (only its channel's outputs from there to the next restart are NaN), a sequence
    that ends in a partial group of steps (L = 150), states padded to the kernel's width (N = 20) and restarts."""
    from statespace._engines import numba as engine

    batch, dim, L = 2, 24, 150
    u, z = rng.normal(size=(batch, dim, L)), rng.normal(size=(batch, dim, L))
    delta = rng.uniform(-3, 1, (batch, dim, L))
    delta[1, 13, 40] = np.nan
    A = -rng.uniform(0.5, 4, (dim, nstate))
    if layout == "variable":
        B, C = rng.normal(size=(batch, 1, nstate, L)), rng.normal(size=(batch, 2, nstate, L))
    else:
        B, C = rng.normal(size=(dim, nstate)), rng.normal(size=(dim, nstate))
    D, bias, x0 = rng.normal(size=dim), rng.uniform(0, 0.5, dim), rng.normal(size=(batch, dim, nstate))
    operands = [np.asarray(a, dtype=np.float32) for a in (u, delta, A, B, C, D, z, bias, x0)]
    ids = np.repeat([0, 1, 2], [60, 1, L - 61])

    def run(parallel):
        monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 0 if parallel else 1 << 62)
        return selective_scan(
            *operands[:5], D=operands[5], z=operands[6], delta_bias=operands[7], delta_softplus=True,
            x0=operands[8], seq_idx=ids, return_state=True, engine="numba",
        )  # fmt: skip

    out, last = run(parallel=False)
    parallel_out, parallel_last = run(parallel=True)
    np.testing.assert_array_equal(out, parallel_out)
    np.testing.assert_array_equal(last, parallel_last)
    assert last.shape == (batch, dim, nstate) and last.flags.c_contiguous
    assert np.isnan(out[1, 13, 40:60]).all() and np.isfinite(out[1, 13, 60:]).all()  # the restart at 60 clears it
    assert np.isfinite(np.delete(out[1], 13, axis=0)).all()
    if layout == "variable":  # the first sequence against the float64 reference
        wanted = [a.astype(np.float64) for a in operands]
        wanted[:2] = [a[..., :60] for a in wanted[:2]]
        wanted[3:5] = [a[..., :60] for a in wanted[3:5]]
        wanted[6] = wanted[6][..., :60]
        want, _ = mamba_reference(*wanted)
        assert_close(out[0, :, :60], want[0], kind="kernel")


@pytest.mark.parametrize("per_lane", [2, 4])
@pytest.mark.parametrize("width", [1, 2, 4, 8, 16])
def test_output_tree_leaves_each_vectors_sum_in_its_lane(rng, width, per_lane):
    """The channel kernel's output sums: the tree's shuffles and additions run on NumPy integer vectors leave the
    sum of vector ``j`` in lane ``j`` after the last permutation, each level pairing lanes of one vector only."""
    vectors = [rng.integers(-1000, 1000, width) for _ in range(width)]
    level = list(vectors)
    for low, high in channel.tree_masks(width, per_lane):
        n = len(level) // 2
        level = [np.concatenate([level[j], level[j + n]]) for j in range(n)]
        level = [pair[low] + pair[high] for pair in level]
    order = channel.tree_lanes(width, per_lane)
    assert sorted(order) == list(range(width))
    np.testing.assert_array_equal(level[0][[order.index(j) for j in range(width)]], [v.sum() for v in vectors])


def test_state_width_pads_to_a_power_of_two_then_to_whole_vectors():
    lanes = modal.vector_lanes(np.float32)  # 16 with AVX-512, 8 with AVX2, 4 with SSE2
    assert [channel.state_width(n, np.float32) for n in (1, 2, 3, 4)] == [1, 2, 4, 4]
    assert channel.state_width(lanes - 1, np.float32) == lanes
    assert [channel.state_width(n, np.float32) for n in (lanes + 1, 2 * lanes, 2 * lanes + 1)] == [
        2 * lanes, 2 * lanes, 3 * lanes,
    ]  # fmt: skip
    assert channel.group_steps(3 * lanes, np.float32) == lanes and channel.group_steps(2, np.float32) == 2


def test_selective_scan_forward_block_keeps_threads_busy():
    from types import SimpleNamespace

    from statespace._engines.numba.selective import forward_block

    def weight(groups, variable=True):  # what forward_block reads of a B or C operand
        return SimpleNamespace(variable=variable, groups=groups)

    assert forward_block(512, weight(1), weight(1), 4, batch=2, threads=2) == 128  # float32: 16 vectors
    assert forward_block(512, weight(1), weight(1), 8, batch=2, threads=2) == 64  # float64: 16 vectors
    assert forward_block(128, weight(1), weight(1), 4, batch=1, threads=2) == 64  # two items, not one
    assert forward_block(128, weight(1), weight(1), 4, batch=1, threads=1) == 128
    assert forward_block(96, weight(1), weight(1), 4, batch=1, threads=2) == 32  # gcd(96, 128)
    assert forward_block(512, weight(8), weight(1), 4, batch=2, threads=2) == 64  # within one B group
    assert forward_block(512, weight(512, variable=False), weight(1), 4, batch=2, threads=2) == 0


@pytest.mark.parametrize("nstate", [4, 16], ids=["across channels", "by channel"])
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_selective_scan_bounded_exp_paths_are_bitwise_the_careful_ones(rng, dtype_name, nstate, monkeypatch):
    """The kernels take the bounded exp where every argument of a chunk (the lanes kernel: 64 steps of a block of
    channels; the channel kernel: a group of steps of one channel) allows it.

    Chunks with a softplus argument, a gate argument Δ·A or an output gate z beyond the bound (underflowing
    gates, subnormal results), or a NaN, take the careful exp; a run forced onto the careful exp everywhere
    must give the same bits, and the float64 reference the same values.
    """
    from statespace._engines.numba import selective

    batch, dim, N, L = 2, 32, nstate, 200
    u, z = rng.normal(size=(batch, dim, L)), rng.normal(size=(batch, dim, L))
    delta = rng.uniform(-4, 1, (batch, dim, L))
    delta[0, :, 70:75] = 95.0  # chunk 2: softplus argument past the bound, Δ·A far past it (gates → 0)
    delta[1, 3, 140] = 30.0  # chunk 3: Δ·A ≈ -30..-120: some gates subnormal
    z[1, :, 10] = -100.0  # chunk 1: SiLU of -100 (exp(100) overflows in the careful form)
    A = -rng.uniform(0.5, 4, (dim, N))
    B, C = rng.normal(size=(batch, 1, N, L)), rng.normal(size=(batch, 1, N, L))
    D, bias, x0 = rng.normal(size=dim), rng.uniform(0, 0.5, dim), rng.normal(size=(batch, dim, N))
    operands = [np.asarray(a, dtype=dtype_name) for a in (u, delta, A, B, C, D, z, bias, x0)]

    def run():
        return selective_scan(
            *operands[:5], D=operands[5], z=operands[6], delta_bias=operands[7], delta_softplus=True,
            x0=operands[8], return_state=True, engine="numba",
        )  # fmt: skip

    out, last = run()
    want, want_last = mamba_reference(*(a.astype(np.float64) for a in operands))
    assert_close(out, want, kind="kernel")
    assert_close(last, want_last, kind="kernel")
    monkeypatch.setattr(selective, "EXP_BOUNDED_LIMIT", {np.dtype(dtype_name): -1.0})  # never within
    careful, careful_last = run()
    np.testing.assert_array_equal(out, careful)
    np.testing.assert_array_equal(last, careful_last)
    operands[1][0, 5, 100] = np.nan  # a NaN step: that channel's outputs from there on, and only those
    out, _ = run()
    monkeypatch.undo()
    fast, _ = run()
    np.testing.assert_array_equal(out, fast)
    assert np.isnan(fast[0, 5, 100:]).all() and np.isfinite(np.delete(fast[0], 5, axis=0)).all()


@pytest.mark.parametrize("reverse", [False, True])
def test_linear_scan_channel_groups(rng, reverse):
    # 10 channels: groups of 4 plus a remainder of 2; a time-invariant gate
    a, b, x0 = rng.uniform(-0.99, 0.99, (10, 1)), rng.normal(size=(10, 50)), rng.normal(size=10)
    x = linear_scan(a, b, x0=x0, reverse=reverse, engine="numba")
    want = np.empty_like(b)
    state = x0.copy()
    for t in range(50)[::-1] if reverse else range(50):
        state = a[:, 0] * state + b[:, t]
        want[:, t] = state
    assert_close(x, want, kind="scan")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("channels", [1, 4, 11])
def test_linear_scan_real_kernel_is_bitwise_the_general_one(rng, dtype, reverse, channels):
    """The real kernel (states in registers) does the general kernel's operations in its order: same bits."""
    from statespace._engines.numba import scan

    a = rng.uniform(-1.05, 1.05, (channels, 300)).astype(dtype)
    b = rng.normal(size=(channels, 300)).astype(dtype)
    b[0, 7] = np.nan
    start = rng.normal(size=channels)
    for gate in (a, np.ascontiguousarray(a[:, :1])):  # time-varying and time-invariant gates
        results = []
        for kernel in (scan._scan_kernel, scan._real_kernel):
            for version in kernel.dispatchers:  # serial and parallel
                state, out = start.copy(), np.empty(b.shape, dtype)
                version(gate, b, state, out, reverse)
                results.append((state.view(np.uint8), out.view(np.uint8)))
        for state, out in results[1:]:
            np.testing.assert_array_equal(state, results[0][0])
            np.testing.assert_array_equal(out, results[0][1])


@pytest.mark.parametrize(
    ("cpu_name", "features", "expected"),
    [(None, "+avx512f,+avx2,+avx", 64), (None, "+avx2,+avx", 32), ("generic", None, 16), ("znver4", "+avx", 32)],
)
def test_modal_vector_width_follows_numbas_target(monkeypatch, cpu_name, features, expected):
    """The passes' vectors are as wide as the registers of the machine numba compiles for: the host's features, or
    a named portable target's (``NUMBA_CPU_NAME``), whose features are only those ``NUMBA_CPU_FEATURES`` lists."""
    monkeypatch.setattr(modal.numba.config, "CPU_NAME", cpu_name)
    monkeypatch.setattr(modal.numba.config, "CPU_FEATURES", features)
    modal._vector_bytes.cache_clear()
    try:
        assert modal._vector_bytes() == expected
        assert modal.vector_lanes(np.float32) == expected // 4
    finally:
        modal._vector_bytes.cache_clear()
