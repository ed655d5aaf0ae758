"""Convolution kernels against independent float64 references (dense bilinear by solves, powers by loops).

The NPLR data are built here with a small float64 helper (eigh of the skew part, ssm-math.md §2.1), so the tests
do not depend on :func:`statespace.nplr`.  Dense conj-extended systems are discretized with ``np.linalg.solve``.
"""

from __future__ import annotations

import numpy as np
import pytest

import statespace
from statespace.testing import assert_close, relative_error, rtol


# ------------------------------------------------------------------ independent float64 references
def hippo_with_correction(measure, N):
    """HiPPO (A, B) and the rank correction P (r, N) with A + PᵀP normal (ssm-math.md §1)."""
    n = np.arange(N)
    r = np.sqrt(2 * n + 1.0)
    if measure == "legs":
        A = -np.tril(np.outer(r, r), -1) - np.diag(n + 1.0)
        return A, r.copy(), np.sqrt(n + 0.5)[None, :]
    if measure == "legt":
        sign = np.where(n[:, None] >= n[None, :], 1.0, (-1.0) ** (n[:, None] - n[None, :]))
        p = r / np.sqrt(2)
        return -0.5 * np.outer(r, r) * sign, 0.5 * r, np.stack([np.where(n % 2 == 0, 0, p), np.where(n % 2, 0, p)])
    if measure == "lagt":
        return 0.5 * np.eye(N) - np.tril(np.ones((N, N))), np.ones(N), np.full((1, N), np.sqrt(0.5))
    d = np.zeros(N - 1)  # fout
    d[::2] = np.arange(N // 2)
    B = np.zeros(N)
    B[0], B[2::2] = 1.0, np.sqrt(2)
    return np.pi * (-np.diag(d, 1) + np.diag(d, -1)) - np.outer(B, B), B, B[None, :].copy()


def nplr_data(measure, N, clamp=None):
    """(Lambda, P, B) of N/2 modes: eigh of the exactly skew part of A + PᵀP; zero pair → (e0 + i e1)/√2."""
    A, B, P = hippo_with_correction(measure, N)
    AP = A + P.T @ P
    real_part = np.round(2 * np.mean(np.diag(AP))) / 2  # exactly -1/2 or 0
    imag, V = np.linalg.eigh(-1j * (AP - AP.T) / 2)
    imag, V = imag[: N // 2], V[:, : N // 2].copy()
    for k in np.flatnonzero(np.abs(imag) < 1e-8):
        V[:, k] = 0
        V[0, k], V[1, k] = 1 / np.sqrt(2), 1j / np.sqrt(2)
        imag[k] = 0.0
    Lambda = real_part + 1j * imag
    if clamp is not None:
        Lambda = np.minimum(Lambda.real, clamp) + 1j * Lambda.imag
    return Lambda, (V.conj().T @ P.T).T, V.conj().T @ B


def conj_extend(x):
    return np.concatenate([x, np.conj(x)], axis=-1)


def dense_bilinear(Lambda, P, B, dt):
    """Conj-extended dense (Ā, B̄): A = diag(Λ, Λ̄) − p p^*, bilinear through solves; dt scalar or per mode."""
    p = conj_extend(P)
    A = np.diag(conj_extend(Lambda)) - p.T @ p.conj()
    delta = conj_extend(np.broadcast_to(dt, Lambda.shape).astype(float))[:, None]
    eye = np.eye(A.shape[0])
    left = eye - delta * A / 2
    return np.linalg.solve(left, eye + delta * A / 2), np.linalg.solve(left, delta[:, 0] * conj_extend(B))


def powers_loop(Ab, Bb, C, L):
    """K_l = C Ā^l B̄, one matrix-vector product per step."""
    out, x = np.empty(L, dtype=complex), Bb.astype(complex)
    for step in range(L):
        out[step] = C @ x
        x = Ab @ x
    return out


def ctilde_reference(Ab, C, L):
    full = conj_extend(C)
    return (full - np.linalg.matrix_power(Ab, L).T @ full)[: C.shape[-1]]


def random_complex(rng, shape, scale=1.0):
    return scale * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))


def random_dplr(rng, n2, rank, batch=()):
    Lambda = -rng.uniform(0.1, 1.0, batch + (n2,)) + 1j * rng.uniform(-20, 20, batch + (n2,))
    return Lambda, random_complex(rng, batch + (rank, n2), 0.3), random_complex(rng, batch + (n2,))


# ------------------------------------------------------------------ kernel_naive
def test_kernel_naive_dense_matches_loop(backend, dtype_name, rng):
    N, L = 6, 37
    Ab = rng.standard_normal((2, N, N)) / np.sqrt(N) * 0.9
    Bb, C = rng.standard_normal((2, N)), rng.standard_normal(N)
    out = statespace.kernel_naive(*(backend.asarray(a, dtype_name) for a in (Ab, Bb, C)), L)
    assert out.dtype == backend.dtype(dtype_name) and tuple(out.shape) == (2, L)
    cast = [a.astype(dtype_name) for a in (Ab, Bb)]
    reference = np.stack([powers_loop(cast[0][h], cast[1][h], C.astype(dtype_name), L).real for h in range(2)])
    assert_close(out, reference, kind="kernel")


@pytest.mark.parametrize("conj", [True, False])
def test_kernel_naive_diag_matches_loop(backend, conj, rng):
    Ab = np.exp(-rng.uniform(0.01, 0.1, 5) + 1j * rng.uniform(-1, 1, 5))
    Bb, C = random_complex(rng, 5), random_complex(rng, (3, 5))
    out = statespace.kernel_naive(*(backend.asarray(a) for a in (Ab, Bb, C)), 33, conj=conj)
    reference = np.stack([powers_loop(np.diag(Ab), Bb, C[h], 33) for h in range(3)])
    assert_close(out, 2 * reference.real if conj else reference, kind="kernel")


def test_kernel_naive_rejects_bad_input(backend):
    a = backend.asarray(np.eye(3) * 0.5)
    b = backend.asarray(np.ones(3))
    with pytest.raises(ValueError, match="mode axes do not match: Bb has 2 modes"):
        statespace.kernel_naive(a, backend.asarray(np.ones((3, 2))), b, 4, structure="dense")
    with pytest.raises(ValueError, match="Ab must be square"):
        statespace.kernel_naive(backend.asarray(np.ones((3, 2))), b, b, 4, structure="dense")
    with pytest.raises(ValueError, match="unknown structure 'banded'"):
        statespace.kernel_naive(a, b, b, 4, structure="banded")
    with pytest.raises(ValueError, match="L must be a positive integer, got 0"):
        statespace.kernel_naive(a, b, b, 0)
    with pytest.raises(ValueError, match="mode axes do not match: C has 2 modes"):
        statespace.kernel_naive(b, b, backend.asarray(np.ones(2)), 4)


# ------------------------------------------------------------------ kernel_dplr: accuracy
MEASURES = [("legs", None), ("legt", None), ("lagt", None), ("fout", -1e-4)]


def dplr_case(measure, clamp, N, dt, L, rng):
    Lambda, P, B = nplr_data(measure, N, clamp)
    C = random_complex(rng, N // 2)
    Ab, Bb = dense_bilinear(Lambda, P, B, dt)
    return Lambda, P, B, C, Ab, Bb, ctilde_reference(Ab, C, L)


def check_dplr_against_naive(measure, clamp, N, dt, L, rng, engine="xp"):
    Lambda, P, B, C, Ab, Bb, Ct = dplr_case(measure, clamp, N, dt, L, rng)
    kernel = statespace.kernel_dplr(Lambda, P, B, Ct, dt, L, engine=engine)
    naive = statespace.kernel_naive(Ab, Bb, conj_extend(C), L)
    assert np.abs(naive.imag).max() <= 1e-12 * np.abs(naive).max()
    assert_close(kernel, naive.real, kind="kernel", err_msg=f"{measure} N={N} dt={dt} L={L}")
    return kernel, Ab, Bb, C


@pytest.mark.parametrize("measure, clamp", MEASURES)
@pytest.mark.parametrize("N, L", [(16, 256), (64, 1024)])
@pytest.mark.parametrize("dt", [1e-3, 1e-2, 1e-1])
def test_kernel_dplr_equals_powers(measure, clamp, N, L, dt, rng):
    check_dplr_against_naive(measure, clamp, N, dt, L, rng)


@pytest.mark.slow
@pytest.mark.parametrize("measure, clamp", MEASURES)
@pytest.mark.parametrize("dt", [1e-3, 1e-2, 1e-1])
def test_kernel_dplr_equals_powers_large(measure, clamp, dt, rng):
    check_dplr_against_naive(measure, clamp, 256, dt, 4096, rng)


def test_kernel_naive_equals_sequential_loop_on_hippo(rng):
    """The reference itself (powers by doubling) against one matvec per step."""
    _Lambda, _P, _B, C, Ab, Bb, _ = dplr_case("legs", None, 32, 1e-2, 512, rng)
    naive = statespace.kernel_naive(Ab, Bb, conj_extend(C), 512)
    assert_close(naive, powers_loop(Ab, Bb, conj_extend(C), 512), kind="kernel")


@pytest.mark.parametrize("measure, clamp", MEASURES)
def test_kernel_dplr_complex64(measure, clamp, rng):
    N, L, dt = 64, 1024, 1e-2
    Lambda, P, B, C, Ab, Bb, Ct = dplr_case(measure, clamp, N, dt, L, rng)
    single = [a.astype(np.complex64) for a in (Lambda, P, B, Ct)]
    kernel = statespace.kernel_dplr(*single, np.float32(dt), L, engine="xp")
    assert kernel.dtype == np.float32
    reference = statespace.kernel_naive(Ab, Bb, conj_extend(C), L).real
    assert_close(kernel, reference, kind="kernel")  # float32 entry: 5e-5, the complex64 bound


@pytest.mark.parametrize("measure", ["legt", "lagt"])
def test_kernel_dplr_finite_with_zero_real_part(measure, rng):
    """LegT and LagT have Re Λ = 0 exactly (marginally stable diagonal part): no clamp needed."""
    Lambda, _P, _B = nplr_data(measure, 32)
    assert np.all(Lambda.real == 0)
    kernel, *_ = check_dplr_against_naive(measure, None, 32, 1e-2, 512, rng)
    assert np.all(np.isfinite(kernel))


@pytest.mark.parametrize("L", [256, 1000])
def test_kernel_dplr_exact_nyquist_node(L, rng):
    """ω_{L/2} = −1 exactly: finite, and the Nyquist bin equals C̃ᵀ(I + Ā)^{-1}B̄; S4's z-form gives NaN there."""
    dt = 0.05
    Lambda, P, B, C, Ab, Bb, Ct = dplr_case("legs", None, 32, dt, L, rng)
    kernel = statespace.kernel_dplr(Lambda, P, B, Ct, dt, L, engine="xp")
    assert np.all(np.isfinite(kernel))
    spectrum = np.fft.rfft(kernel)
    eye = np.eye(Ab.shape[0])
    assert_close(spectrum[0], conj_extend(Ct) @ np.linalg.solve(eye - Ab, Bb), kind="kernel")
    if L % 2 == 0:
        nyquist = conj_extend(Ct) @ np.linalg.solve(eye + Ab, Bb)
        assert_close(spectrum[L // 2], nyquist, kind="kernel")
        # the z = 2(1−ω)/(1+ω) form that S4 uses is not finite at ω = −1 exactly
        with np.errstate(divide="ignore", invalid="ignore"):
            omega = np.array([-1.0 + 0j])
            z = 2 * (1 - omega) / (1 + omega)
            s4_form = 2 / (1 + omega) * np.sum(conj_extend(Ct * dt * B) / (z - conj_extend(dt * Lambda)))
        assert not np.isfinite(s4_form)
    assert_close(kernel, statespace.kernel_naive(Ab, Bb, conj_extend(C), L).real, kind="kernel")


@pytest.mark.parametrize("rank", [0, 3])
def test_kernel_dplr_any_rank(rank, rng):
    Lambda, P, B = random_dplr(rng, 6, rank)
    C, dt, L = random_complex(rng, 6), 0.05, 128
    Ab, Bb = dense_bilinear(Lambda, P, B, dt)
    kernel = statespace.kernel_dplr(Lambda, P, B, C, dt, L, ctilde=False, engine="xp")
    assert_close(kernel, powers_loop(Ab, Bb, conj_extend(C), L).real, kind="kernel")


def test_kernel_dplr_batch_and_per_mode_steps(backend, rng):
    """Channels with their own systems; dt per channel (H,) and per mode (H, N2)."""
    H, n2, L = 3, 5, 64
    Lambda, P, B = random_dplr(rng, n2, 2, batch=(H,))
    C = random_complex(rng, (H, n2))
    for dt in (rng.uniform(0.01, 0.1, H), rng.uniform(0.01, 0.1, (H, n2))):
        kernel = statespace.kernel_dplr(
            *(backend.asarray(a) for a in (Lambda, P, B, C, dt)), L, ctilde=False, per_mode=dt.ndim == 2
        )
        rows = []
        for h in range(H):
            Ab, Bb = dense_bilinear(Lambda[h], P[h], B[h], dt[h])
            rows.append(powers_loop(Ab, Bb, conj_extend(C[h]), L).real)
        assert_close(kernel, np.stack(rows), kind="kernel")


def test_kernel_dplr_float32_backend(backend, rng):
    Lambda, P, B = random_dplr(rng, 4, 1)
    C, dt, L = random_complex(rng, 4), 0.05, 32
    Ab, Bb = dense_bilinear(Lambda, P, B, dt)
    kernel = statespace.kernel_dplr(*(backend.asarray(a, "complex64") for a in (Lambda, P, B, C)), dt, L, ctilde=False)
    assert kernel.dtype == backend.dtype("float32")
    assert_close(kernel, powers_loop(Ab, Bb, conj_extend(C), L).real, kind="kernel")


def test_kernel_dplr_initial_state(backend, rng):
    """K_state_l = C Ā^{l+1} x0: a kernel that continues from a state."""
    Lambda, P, B = random_dplr(rng, 5, 2)
    C, x0, dt, L = random_complex(rng, 5), random_complex(rng, (2, 5)), 0.03, 50
    Ab, Bb = dense_bilinear(Lambda, P, B, dt)
    kernel, state = statespace.kernel_dplr(
        *(backend.asarray(a) for a in (Lambda, P, B, C)), dt, L, x0=backend.asarray(x0), ctilde=False
    )
    assert_close(kernel, powers_loop(Ab, Bb, conj_extend(C), L).real, kind="kernel")
    reference = np.stack([powers_loop(Ab, Ab @ conj_extend(x), conj_extend(C), L).real for x in x0])
    assert_close(state, reference, kind="kernel")
    # it really continues a sequence: y of the second half from the state after the first half
    u = rng.standard_normal(2 * L)
    x = np.zeros(10, complex)
    outputs = []
    for value in u:
        x = Ab @ x + Bb * value
        outputs.append(conj_extend(C) @ x)
    k_host = np.asarray(statespace.testing.to_host(kernel))
    _, state_mid = statespace.kernel_dplr(Lambda, P, B, C, dt, L, x0=x_mid(Ab, Bb, u[:L]), ctilde=False)
    second = np.convolve(u[L:], k_host)[:L] + state_mid
    assert_close(second, np.asarray(outputs[L:]).real, kind="kernel")


def x_mid(Ab, Bb, u):
    x = np.zeros(Ab.shape[0], complex)
    for value in u:
        x = Ab @ x + Bb * value
    return x[: Ab.shape[0] // 2]


# ------------------------------------------------------------------ C̃ helpers
def test_ctilde_transform_inverse_and_doubling(backend, rng):
    Lambda, P, _B, C, Ab, _Bb, Ct = dplr_case("legs", None, 16, 0.1, 64, rng)
    args = [backend.asarray(a) for a in (Lambda, P)]
    Ct_lib = statespace.dplr_ctilde(*args, backend.asarray(C), 0.1, 64)
    assert_close(Ct_lib, Ct, kind="construction")
    assert_close(statespace.dplr_ctilde_inverse(*args, Ct_lib, 0.1, 64), C, kind="construction")
    doubled = statespace.dplr_ctilde_double(*args, Ct_lib, 0.1, 64)
    # issue 4: "Length doubling of C̃ exact to <= 1e-13"
    assert_close(doubled, statespace.dplr_ctilde(*args, backend.asarray(C), 0.1, 128), kind="doubling")
    assert_close(doubled, ctilde_reference(Ab, C, 128), kind="doubling")


def test_doubled_ctilde_gives_the_longer_kernel(rng):
    Lambda, P, B, C, Ab, Bb, Ct = dplr_case("legt", None, 32, 1e-2, 256, rng)
    doubled = statespace.dplr_ctilde_double(Lambda, P, Ct, 1e-2, 256)
    kernel = statespace.kernel_dplr(Lambda, P, B, doubled, 1e-2, 512)
    assert_close(kernel, statespace.kernel_naive(Ab, Bb, conj_extend(C), 512).real, kind="kernel")
    # raw C instead of C̃ is wrong by the size of the truncation term Ā^L
    wrong = statespace.kernel_dplr(Lambda, P, B, C, 1e-2, 256)
    assert relative_error(wrong, statespace.kernel_naive(Ab, Bb, conj_extend(C), 256).real) > 1e-4


def test_kernel_dplr_ctilde_false_equals_transformed(rng):
    Lambda, P, B, C, *_ = dplr_case("lagt", None, 16, 0.1, 128, rng)
    Ct = statespace.dplr_ctilde(Lambda, P, C, 0.1, 128)
    assert_close(
        statespace.kernel_dplr(Lambda, P, B, C, 0.1, 128, ctilde=False),
        statespace.kernel_dplr(Lambda, P, B, Ct, 0.1, 128),
        kind="kernel",
    )


# ------------------------------------------------------------------ kernel_diag
def diag_reference(Lambda, B, C, dt, L, method):
    """Independent float64 ZOH/bilinear/DSS formulas + powers of the diagonal."""
    z = dt * Lambda
    if method == "bilinear":
        Ab, Bb = (1 + z / 2) / (1 - z / 2), dt * B / (1 - z / 2)
    else:
        Ab = np.exp(z)
        Bb = {
            "zoh": (Ab - 1) / Lambda * B,
            "zoh_simplified": dt * B,
            "dss": (Ab - 1) / (Lambda * (np.exp(L * z) - 1)) * B,
        }[method]
    steps = np.arange(L)
    return 2 * np.sum((C * Bb)[..., None] * Ab[..., None] ** steps, axis=-2).real


@pytest.mark.parametrize("method", ["zoh", "bilinear", "zoh_simplified", "dss"])
def test_kernel_diag_matches_powers(backend, method, rng):
    H, n2, L = 3, 8, 200
    Lambda = -rng.uniform(0.1, 1.0, (H, n2)) + 1j * rng.uniform(-30, 30, (H, n2))
    B, C, dt = random_complex(rng, n2), random_complex(rng, (H, n2)), rng.uniform(1e-3, 1e-1, H)
    kernel = statespace.kernel_diag(*(backend.asarray(a) for a in (Lambda, B, C, dt)), L, method=method)
    assert kernel.dtype == backend.dtype("float64") and tuple(kernel.shape) == (H, L)
    assert_close(kernel, diag_reference(Lambda, B, C, dt[:, None], L, method), kind="kernel")


@pytest.mark.parametrize("measure, clamp", MEASURES)
@pytest.mark.parametrize("dt", [1e-3, 1e-1])
def test_kernel_diag_equals_naive_on_hippo_spectra(measure, clamp, dt, rng):
    """S4D kernels on the NPLR spectra (normal part only) against kernel_naive of the same discrete system."""
    Lambda, _, B = nplr_data(measure, 64, clamp if clamp is not None else -1e-4)
    C, L = random_complex(rng, 32), 2048
    z = dt * Lambda
    Ab, Bb = (1 + z / 2) / (1 - z / 2), dt * B / (1 - z / 2)
    kernel = statespace.kernel_diag(Lambda, B, C, dt, L, method="bilinear")
    assert_close(kernel, statespace.kernel_naive(Ab, Bb, C, L), kind="kernel")


def test_kernel_diag_per_mode_step(rng):
    Lambda = -rng.uniform(0.1, 1.0, (2, 4)) + 1j * rng.uniform(-5, 5, (2, 4))
    B, C, dt = random_complex(rng, 4), random_complex(rng, (2, 4)), rng.uniform(0.01, 0.1, (2, 4))
    kernel = statespace.kernel_diag(Lambda, B, C, dt, 50, method="zoh", per_mode=True)
    assert_close(kernel, diag_reference(Lambda, B, C, dt, 50, "zoh"), kind="kernel")


def test_kernel_diag_dss_handles_growing_modes(rng):
    """DSS with Re Λ > 0: exact, no overflow at L = 4096 where e^{L Re ΔΛ} ~ 1e89, no warning."""
    Lambda = np.array([0.5 + 3j, -0.5 + 1j, 0.05 - 7j])
    B, C, dt, L = random_complex(rng, 3), random_complex(rng, 3), 0.1, 4096
    kernel = statespace.kernel_diag(Lambda, B, C, dt, L, method="dss")
    assert np.all(np.isfinite(kernel))
    steps = np.arange(L)
    reference = np.zeros(L)
    for lam, b, c in zip(Lambda, B, C, strict=True):  # shifted exponents, float64
        x = dt * lam
        if x.real > 0:
            term = c * b * np.expm1(-x) / (lam * np.expm1(-L * x)) * np.exp((L - 1 - steps) * -x)
        else:
            term = c * b * np.expm1(x) / (lam * np.expm1(L * x)) * np.exp(steps * x)
        reference += 2 * term.real
    assert_close(kernel, reference, kind="kernel")
    assert_close(kernel[:64], diag_reference(Lambda, B, C, dt, L, "dss")[:64], kind="kernel")


@pytest.mark.parametrize("kind", ["lin", "inv"])
@pytest.mark.parametrize("method", ["zoh", "bilinear"])
def test_kernel_diag_float32_small_step_long_kernel(kind, method, rng):
    """Δ = 1e-4, L = 16384 in float32: the stable forms stay within 1e-5 of float64, the naive ones do not."""
    N, L = 64, 16384
    j = np.arange(N // 2)
    imag = np.pi * j if kind == "lin" else (N / np.pi) * (N / (2 * j + 1) - 1)
    Lambda = (-0.5 - 1j * imag).astype(np.complex64)
    C = random_complex(rng, N // 2, np.sqrt(0.5)).astype(np.complex64)
    B = np.ones(N // 2, np.complex64)
    dt = np.float32(1e-4)
    reference = diag_reference(Lambda.astype(complex), 1.0, C.astype(complex), float(dt), L, method)
    stable = statespace.kernel_diag(Lambda, B, C, dt, L, method=method, engine="xp")
    assert stable.dtype == np.float32
    # issue 4: "Float32 S4D kernels with Δ = 1e-4, L = 16384 stay within 1e-5 relative of a float64 reference"
    assert_close(stable, reference, kind="kernel_small_step")
    # naive single-precision forms: (e^{ΔΛ} − 1)/Λ or (1 + ΔΛ/2)/(1 − ΔΛ/2), cumulative-product powers
    z = dt * Lambda
    Ab = np.exp(z) if method == "zoh" else (1 + z / 2) / (1 - z / 2)
    Bb = (Ab - 1) / Lambda if method == "zoh" else dt / (1 - z / 2)
    powers = np.cumprod(
        np.concatenate([np.ones((N // 2, 1), np.complex64), np.repeat(Ab[:, None], L - 1, axis=1)], axis=1), axis=1
    )
    naive = 2 * np.sum((C * Bb)[:, None] * powers, axis=0).real
    assert naive.dtype == np.float32
    assert relative_error(naive, reference) > 1e-4  # the issue quotes ~3e-4 for the naive forms


# ------------------------------------------------------------------ engines
@pytest.mark.numba
def test_kernel_dplr_numba_matches_xp(rng):
    for measure, clamp in MEASURES:
        Lambda, P, B, _C, _Ab, _Bb, Ct = dplr_case(measure, clamp, 32, 1e-2, 600, rng)
        fused = statespace.kernel_dplr(Lambda, P, B, Ct, 1e-2, 600, engine="numba")
        portable = statespace.kernel_dplr(Lambda, P, B, Ct, 1e-2, 600, engine="xp")
        assert_close(fused, portable, kind="engines")  # issue 4: engines agree to 1e-12 (float64)


@pytest.mark.numba
@pytest.mark.parametrize("method", ["zoh", "bilinear", "dss"])
def test_kernel_diag_numba_matches_xp(method, rng):
    Lambda = -rng.uniform(0.1, 1.0, (2, 8)) + 1j * rng.uniform(-30, 30, (2, 8))
    B, C = random_complex(rng, 8), random_complex(rng, (2, 8))
    fused = statespace.kernel_diag(Lambda, B, C, 0.01, 700, method=method, engine="numba")
    portable = statespace.kernel_diag(Lambda, B, C, 0.01, 700, method=method, engine="xp")
    assert_close(fused, portable, kind="engines")  # issue 4: engines agree to 1e-12 (float64)


# ------------------------------------------------------------------ bad input
def test_unstable_modes_warn(rng):
    Lambda, P, B = random_dplr(rng, 3, 1)
    Lambda[1] = 0.2 + 1j
    C = random_complex(rng, 3)
    with pytest.warns(RuntimeWarning, match="Re\\(Lambda\\) > 0"):
        statespace.kernel_dplr(Lambda, P, B, C, 0.1, 16)
    with pytest.warns(RuntimeWarning, match="Re\\(Lambda\\) > 0"):
        statespace.kernel_diag(Lambda, B, C, 0.1, 16, method="zoh")


def test_kernel_dplr_rejects_bad_input(backend, rng):
    Lambda, P, B = random_dplr(rng, 4, 1)
    C = random_complex(rng, 4)
    a = {k: backend.asarray(v) for k, v in dict(Lambda=Lambda, P=P, B=B, C=C).items()}
    with pytest.raises(ValueError, match="mode axes do not match: P has 3 modes"):
        statespace.kernel_dplr(a["Lambda"], backend.asarray(P[:, :3]), a["B"], a["C"], 0.1, 8)
    with pytest.raises(ValueError, match="P must have at least 2 axis"):
        statespace.kernel_dplr(a["Lambda"], backend.asarray(P[0]), a["B"], a["C"], 0.1, 8)
    with pytest.raises(ValueError, match="mode axes do not match: C has 5 modes"):
        statespace.kernel_dplr(a["Lambda"], a["P"], a["B"], backend.asarray(np.ones(5, complex)), 0.1, 8)
    with pytest.raises(ValueError, match="mode axes do not match: x0 has 2 modes"):
        statespace.kernel_dplr(a["Lambda"], a["P"], a["B"], a["C"], 0.1, 8, x0=backend.asarray(np.ones(2, complex)))
    with pytest.raises(ValueError, match="L must be a positive integer, got -1"):
        statespace.kernel_dplr(a["Lambda"], a["P"], a["B"], a["C"], 0.1, -1)
    with pytest.raises(TypeError, match=r"L must be an integer, got 8\.0"):
        statespace.kernel_dplr(a["Lambda"], a["P"], a["B"], a["C"], 0.1, 8.0)
    with pytest.raises(ValueError, match="dt must be positive"):
        statespace.kernel_dplr(a["Lambda"], a["P"], a["B"], a["C"], -0.1, 8)
    with pytest.raises(ValueError, match=r"per-mode axis \(per_mode=True\) of size 3"):
        statespace.kernel_dplr(a["Lambda"], a["P"], a["B"], a["C"], backend.asarray(np.full(3, 0.1)), 8, per_mode=True)
    with pytest.raises(ValueError, match="batch shapes do not broadcast"):
        statespace.kernel_dplr(
            a["Lambda"], a["P"], backend.asarray(np.ones((2, 4))), backend.asarray(np.ones((3, 4))), 0.1, 8
        )


def test_ctilde_helpers_reject_bad_input(backend, rng):
    Lambda, P, B = random_dplr(rng, 4, 1)
    a = [backend.asarray(x) for x in (Lambda, P)]
    with pytest.raises(ValueError, match="mode axes do not match: C has 3 modes"):
        statespace.dplr_ctilde(*a, backend.asarray(np.ones(3, complex)), 0.1, 8)
    with pytest.raises(ValueError, match="mode axes do not match: Ctilde has 3 modes"):
        statespace.dplr_ctilde_inverse(*a, backend.asarray(np.ones(3, complex)), 0.1, 8)
    with pytest.raises(ValueError, match="L must be a positive integer, got 0"):
        statespace.dplr_ctilde_double(*a, backend.asarray(B), 0.1, 0)


def test_kernel_diag_rejects_bad_input(backend, rng):
    Lambda, _, B = random_dplr(rng, 4, 1)
    a = [backend.asarray(x) for x in (Lambda, B, B)]
    with pytest.raises(ValueError, match="unknown method 'euler'; expected one of 'zoh', 'bilinear'"):
        statespace.kernel_diag(*a, 0.1, 8, method="euler")
    with pytest.raises(ValueError, match="mode axes do not match: C has 3 modes"):
        statespace.kernel_diag(a[0], a[1], backend.asarray(np.ones(3, complex)), 0.1, 8)
    with pytest.raises(ValueError, match="L must be a positive integer, got 0"):
        statespace.kernel_diag(*a, 0.1, 0)
    with pytest.raises(TypeError, match="dt must be real"):
        statespace.kernel_diag(*a, backend.asarray(np.ones(1, complex)), 8)


def test_tolerance_table_has_kernel_kind():
    assert rtol("float64", "kernel") <= 1e-11 and rtol("float32", "kernel") <= 5e-5
