"""HiPPO matrices, low-rank corrections, basis functions and reconstruction.

References are independent: element-wise float64 loops of the published
formulas, SciPy special functions, exact solutions of the HiPPO ODEs
(matrix exponential + Gauss–Legendre quadrature) against direct quadrature of
the projections.
"""

from __future__ import annotations

import itertools
import math

import array_api_compat
import numpy as np
import pytest
from scipy import special
from scipy.linalg import expm

import statespace
from statespace import hippo, hippo_basis, low_rank, reconstruct
from statespace.testing import assert_close, relative_error, to_host

NPLR_C = {"legs": -0.5, "legt": 0.0, "lagt": 0.0, "fout": 0.0, "foud": -0.5, "legsd": -0.5}


# --------------------------------------------------------------------------- reference loops
def _legs_loop(N):
    A, B = np.zeros((N, N)), np.zeros(N)
    for n in range(N):
        B[n] = math.sqrt(2 * n + 1)
        for k in range(N):
            if n > k:
                A[n, k] = -math.sqrt((2 * n + 1) * (2 * k + 1))
            elif n == k:
                A[n, k] = -(n + 1)
    return A, B


def _reference(measure, N):
    A, B = np.zeros((N, N)), np.zeros(N)
    if measure == "legs":
        return _legs_loop(N)
    if measure == "legsd":
        A, B = _legs_loop(N)
        return A + 0.5 * np.outer(B, B), B / 2
    for n in range(N):
        for k in range(N):
            rr = math.sqrt((2 * n + 1) * (2 * k + 1))
            if measure == "legt":
                A[n, k] = -0.5 * rr * (1 if n >= k else (-1) ** (n - k))
            elif measure == "lmu":
                A[n, k] = (2 * n + 1) * (-1 if n < k else (-1) ** (n - k + 1))
            elif measure == "lagt":
                A[n, k] = -0.5 if n == k else (-1.0 if n > k else 0.0)
        if measure == "legt":
            B[n] = 0.5 * math.sqrt(2 * n + 1)
        elif measure == "lmu":
            B[n] = (2 * n + 1) * (-1) ** n
        elif measure == "lagt":
            B[n] = 1.0
    if measure in ("fout", "foud"):
        freq = math.pi if measure == "fout" else 2 * math.pi
        for j in range(N // 2):
            A[2 * j, 2 * j + 1] = -freq * j
            A[2 * j + 1, 2 * j] = freq * j
            B[2 * j] = 1.0 if j == 0 else math.sqrt(2)
        A = A - np.outer(B, B) if measure == "fout" else A - 0.5 * np.eye(N)
    return A, B


def _glagt_reference(N, alpha, beta):
    n = np.arange(N)
    A0 = -np.eye(N) * (1 + beta) / 2 - np.tril(np.ones((N, N)), -1)
    ell = np.exp(0.5 * (special.gammaln(n + alpha + 1) - special.gammaln(n + 1)))
    B0 = special.binom(alpha + n, n)
    return A0 * ell[None, :] / ell[:, None], B0 / ell * np.exp(-0.5 * special.gammaln(1 - alpha)) * beta ** (
        (1 - alpha) / 2
    )


# --------------------------------------------------------------------------- hippo
@pytest.mark.parametrize(
    ("measure", "N"),
    [
        (m, n)
        for m in ["legs", "legt", "lagt", "lmu", "fout", "foud", "legsd"]
        for n in [2, 4, 9, 32]
        if not (m in ("fout", "foud") and n % 2)  # Fourier measures need even N
    ],
)
def test_hippo_matches_elementwise_formula(measure, N):
    A, B = hippo(measure, N)
    A_ref, B_ref = _reference(measure, N)
    assert A.shape == (N, N) and B.shape == (N,)
    assert_close(A, A_ref, kind="construction")
    assert_close(B, B_ref, kind="construction")


@pytest.mark.parametrize(("alpha", "beta"), [(0.0, 0.01), (0.5, 1.0), (-0.5, 0.2)])
def test_glagt_matches_scipy_special(alpha, beta):
    A, B = hippo("glagt", 12, alpha=alpha, beta=beta)
    A_ref, B_ref = _glagt_reference(12, alpha, beta)
    assert_close(A, A_ref, kind="construction")
    assert_close(B, B_ref, kind="construction")


def test_glagt_defaults_are_the_reference_ones():
    A, B = hippo("glagt", 6)
    A_ref, B_ref = _glagt_reference(6, 0.0, 0.01)
    assert_close(A, A_ref, kind="construction")
    assert_close(B, B_ref, kind="construction")


def test_lmu_is_legt_in_another_basis():
    """ssm-math §1.1: A_lmu = T A_legt,unhalved T⁻¹, B_lmu = T B_legt,unhalved, T = diag((−1)ⁿ rₙ)."""
    N = 16
    A_legt, B_legt = hippo("legt", N)
    T = np.diag((-1.0) ** np.arange(N) * np.sqrt(2 * np.arange(N) + 1))
    A_lmu, B_lmu = hippo("lmu", N)
    assert_close(A_lmu, T @ (2 * A_legt) @ np.linalg.inv(T), kind="construction")
    assert_close(B_lmu, T @ (2 * B_legt), kind="construction")


def test_legs_eigenvalues_are_minus_one_to_minus_N():
    N = 32
    A, _ = hippo("legs", N)
    eig = np.sort(np.linalg.eigvals(A).real)
    assert_close(eig, -np.arange(N, 0, -1.0), kind="construction")


def test_direct_eigendecomposition_of_legs_is_ill_conditioned():
    """ssm-math §9.3: why the library diagonalizes the normal part instead (cond(V) ≥ 1e10 at N = 16)."""
    _, V = np.linalg.eig(hippo("legs", 16)[0])
    assert np.linalg.cond(V) > 1e10


# --------------------------------------------------------------------------- low rank
@pytest.mark.parametrize("measure", list(NPLR_C))
@pytest.mark.parametrize("N", [4, 64, 256])
def test_low_rank_makes_A_normal(measure, N):
    A, P = hippo(measure, N)[0], low_rank(measure, N)
    M = A + P.T @ P
    c = NPLR_C[measure]
    scale = np.max(np.abs(A))
    # issue 2, Must show: "normality of A + PᵀP ≤ 1e-12"
    assert np.max(np.abs(0.5 * (M + M.T) - c * np.eye(N))) / scale <= 1e-12
    assert np.max(np.abs(M @ M.T - M.T @ M)) / np.max(np.abs(M)) ** 2 <= 1e-12


@pytest.mark.parametrize(("measure", "rows"), [("legs", 1), ("legt", 2), ("lagt", 1), ("fout", 1), ("foud", 1)])
def test_low_rank_default_rank(measure, rows):
    assert low_rank(measure, 8).shape == (rows, 8)


def test_low_rank_pads_with_zero_rows_and_allows_rank_zero_when_normal():
    P = low_rank("legs", 6, rank=3)
    assert P.shape == (3, 6)
    assert np.all(P[1:] == 0)
    assert_close(P[0], np.sqrt(np.arange(6) + 0.5), kind="construction")
    assert low_rank("foud", 6, rank=0).shape == (0, 6)
    assert np.all(low_rank("legsd", 6) == 0)


def test_low_rank_legs_is_B_over_sqrt2():
    _, B = hippo("legs", 10)
    assert_close(low_rank("legs", 10)[0], B / math.sqrt(2), kind="construction")


# --------------------------------------------------------------------------- basis functions
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(120)
_NODES, _WEIGHTS = (_NODES + 1) / 2, _WEIGHTS / 2  # Gauss–Legendre on [0, 1]


def _window_projection(f, end, theta, functions):
    """∫₀¹ f(end − θ + θ t) ψₙ(t) dt for ψ given at the nodes (N columns)."""
    return (_WEIGHTS * f(end - theta + theta * _NODES)) @ functions


def _lti_solution(A, B, x0, t0, t1, f):
    """Exact x(t1) of dx/dt = A x + B f(t): e^{A(t1−t0)} x0 + ∫ e^{A(t1−s)} B f(s) ds (quadrature)."""
    s = t0 + (t1 - t0) * _NODES
    forced = sum(w * f(si) * (expm(A * (t1 - si)) @ B) for w, si in zip(_WEIGHTS, s))
    return expm(A * (t1 - t0)) @ x0 + (t1 - t0) * forced


def _poly(s):
    return 1 + 0.5 * s - 0.3 * s**2 + 0.2 * s**3


def _smooth(s):
    return np.sin(3 * s) + s**2


@pytest.mark.parametrize(("measure", "theta"), [("legt", 2.0), ("lmu", 1.0)])
def test_legt_state_is_the_window_projection(measure, theta):
    """LegT/LMU evolve the projection on the last θ time units exactly for polynomials of degree < N."""
    N = 8
    A, B = hippo(measure, N)
    if measure == "legt":
        psi = hippo_basis("legt", N, _NODES)  # orthonormal: projection functions = basis functions
    else:
        psi = hippo_basis("lmu", N, _NODES) * (2 * np.arange(N) + 1)  # dual functions of P_n(1 − 2t)
    x0 = _window_projection(_poly, 0.0, theta, psi)
    x1 = _lti_solution(A, B, x0, 0.0, 1.3, _poly)
    assert_close(x1, _window_projection(_poly, 1.3, theta, psi), kind="construction")
    assert statespace.HIPPO_WINDOW[measure] == theta


def test_fout_state_is_the_window_projection():
    """FouT evolves the projection on a window of 2 exactly for 2-periodic trigonometric inputs."""
    N = 10

    def f(s):
        return 0.3 + np.cos(np.pi * s) + 0.5 * np.sin(2 * np.pi * s + 0.3)

    A, B = hippo("fout", N)
    psi = hippo_basis("fout", N, _NODES)
    x1 = _lti_solution(A, B, _window_projection(f, 0.0, 2.0, psi), 0.0, 1.3, f)
    assert_close(x1, _window_projection(f, 1.3, 2.0, psi), kind="construction")
    assert_close(reconstruct(x1, "fout", _NODES), f(1.3 - 2.0 + 2.0 * _NODES), kind="construction")


def test_legs_state_is_the_projection_on_the_whole_history():
    """LegS: dx/dt = (A x + B u)/t is LTI in log time; its state is the projection on [0, t] for any u."""
    N = 12
    A, B = hippo("legs", N)
    psi = hippo_basis("legs", N, _NODES)

    def state(t):
        return (_WEIGHTS * _smooth(t * _NODES)) @ psi

    # in log time s = log t: dx/ds = A x + B u(e^s)
    x1 = _lti_solution(A, B, state(0.5), math.log(0.5), math.log(2.0), lambda s: _smooth(np.exp(s)))
    assert_close(x1, state(2.0), kind="construction")


def test_lagt_state_is_the_projection_with_exponential_measure():
    N, T = 10, 3.0
    A, B = hippo("lagt", N)
    x = _lti_solution(A, B, np.zeros(N), 0.0, T, _smooth)
    age = T * _NODES  # u = 0 before time 0, so the integral over ages stops at T
    projection = T * (_WEIGHTS * _smooth(T - age)) @ hippo_basis("lagt", N, age)
    assert_close(x, projection, kind="construction")


def test_basis_is_orthonormal_on_the_window():
    for measure in ("legs", "legt", "fout"):
        phi = hippo_basis(measure, 8, _NODES)
        gram = phi.T @ (_WEIGHTS[:, None] * phi)
        expected = np.eye(8)
        if measure == "fout":
            expected[1, 1] = 0.0  # φ₁ = sin(0) ≡ 0
        assert_close(gram, expected, kind="construction", err_msg=measure)


@pytest.mark.parametrize("measure", ["legs", "legt"])
def test_reconstruction_error_falls_as_N_grows(measure):
    """A few sines recorded by the ODE (exact solution) are reconstructed better with more coefficients."""

    def u(s):
        return np.sin(2 * np.pi * s) + 0.5 * np.cos(5 * s + 0.2)

    theta, end = (1.0, 1.0) if measure == "legs" else (2.0, 3.0)
    t = np.linspace(0.0, 1.0, 201)
    truth = u(end - theta + theta * t)
    errors = []
    for N in (4, 8, 16, 24):
        A, B = hippo(measure, N)
        psi = hippo_basis(measure, N, _NODES)
        if measure == "legs":
            x = _lti_solution(A, B, (_WEIGHTS * u(0.25 * _NODES)) @ psi, math.log(0.25), 0.0, lambda s: u(np.exp(s)))
        else:
            x = _lti_solution(A, B, _window_projection(u, 1.0, theta, psi), 1.0, end, u)
        errors.append(relative_error(reconstruct(x, measure, t), truth))
    assert all(later < earlier for earlier, later in itertools.pairwise(errors)), errors
    assert errors[-1] < 1e-3 * errors[0], errors


def test_reconstruct_broadcasts_over_leading_axes(rng):
    x = rng.standard_normal((3, 2, 6))
    t = np.linspace(0, 1, 5)
    y = reconstruct(x, "legt", t)
    assert y.shape == (3, 2, 5)
    assert_close(y, x @ hippo_basis("legt", 6, t).T, kind="construction")
    assert reconstruct(x[0, 0], "legs", [0.0, 1.0]).shape == (2,)


def test_reconstruct_complex_state():
    x = np.array([1.0 + 2.0j, 0.5j, 0.0])
    t = np.array([0.0, 0.3, 1.0])
    y = reconstruct(x, "legs", t)
    assert np.iscomplexobj(y)
    assert_close(y, reconstruct(x.real, "legs", t) + 1j * reconstruct(x.imag, "legs", t), kind="construction")


def test_basis_legendre_values():
    phi = hippo_basis("legs", 5, np.array([0.2, 0.9]))
    z = 2 * np.array([0.2, 0.9]) - 1
    expected = np.stack([special.eval_legendre(n, z) * math.sqrt(2 * n + 1) for n in range(5)], axis=-1)
    assert_close(phi, expected, kind="construction")
    lag = hippo_basis("lagt", 5, np.array([0.0, 2.5, 30.0]))
    tau = np.array([0.0, 2.5, 30.0])
    expected = np.stack([np.exp(-tau / 2) * special.eval_laguerre(n, tau) for n in range(5)], axis=-1)
    assert_close(lag, expected, kind="construction")


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("func", [hippo, low_rank])
def test_unknown_measure_lists_valid_ones(func):
    with pytest.raises(ValueError, match=r"measure.*'legs'.*'legt'"):
        func("legendre", 4)


@pytest.mark.parametrize("func", [hippo, low_rank])
@pytest.mark.parametrize(("N", "error"), [(0, ValueError), (-2, ValueError), (2.0, TypeError), ("4", TypeError)])
def test_bad_N(func, N, error):
    with pytest.raises(error, match="N"):
        func("legs", N)


@pytest.mark.parametrize("measure", ["fout", "foud"])
def test_fourier_needs_even_N(measure):
    with pytest.raises(ValueError, match="N must be even"):
        hippo(measure, 5)


@pytest.mark.parametrize("measure", ["lmu", "glagt"])
def test_low_rank_refuses_measures_without_correction(measure):
    with pytest.raises(ValueError, match=rf"'{measure}' has no low-rank correction.*'legs'"):
        low_rank(measure, 4)


def test_low_rank_rank_too_low_names_rank_and_needed_value():
    with pytest.raises(ValueError, match=r"rank must be at least 2 .*'legt'.*got 1"):
        low_rank("legt", 4, rank=1)
    with pytest.raises(ValueError, match="rank must be at least 1"):
        low_rank("legs", 4, rank=0)
    with pytest.raises(TypeError, match="rank"):
        low_rank("legs", 4, rank=1.5)
    with pytest.raises(ValueError, match="rank"):
        low_rank("legs", 4, rank=-1)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"alpha": float("nan")}, ValueError, "alpha"),
        ({"beta": float("nan")}, ValueError, "beta"),
        ({"alpha": 1.0}, ValueError, "alpha"),
        ({"beta": 0.0}, ValueError, "beta"),
        ({"alpha": "0"}, TypeError, "alpha"),
    ],
)
def test_glagt_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        hippo("glagt", 4, **kwargs)


def test_hippo_bad_dtype():
    with pytest.raises(TypeError, match="dtype"):
        hippo("legs", 4, dtype=np.int32)


@pytest.mark.parametrize(
    ("measure", "t", "error", "match"),
    [
        ("legs", [0.5, 1.5], ValueError, r"t must lie in \[0, 1\]"),
        ("legt", [-0.1], ValueError, "t must lie"),
        ("fout", [float("nan")], ValueError, "t must"),
        ("lagt", [-1.0], ValueError, "t must be finite and non-negative"),
        ("lagt", [float("inf")], ValueError, "t must be finite"),
        ("legs", np.array([0.5j]), TypeError, "t must be real"),
        ("legs", 0.5j, TypeError, "t must be real"),
    ],
)
def test_basis_bad_t(measure, t, error, match):
    with pytest.raises(error, match=match):
        hippo_basis(measure, 4, t)


def test_basis_unsupported_measure_lists_supported_ones():
    with pytest.raises(ValueError, match=r"measure 'foud'.*'legs', 'legt', 'lagt', 'fout'"):
        hippo_basis("foud", 4, [0.5])


def test_reconstruct_bad_inputs():
    with pytest.raises(TypeError, match="x must be an array"):
        reconstruct([1.0, 2.0], "legs", [0.5])
    with pytest.raises(ValueError, match="x must have a state axis"):
        reconstruct(np.array(1.0), "legs", [0.5])
    with pytest.raises(ValueError, match="t must be 1-D"):
        reconstruct(np.ones(4), "legs", np.ones((2, 2)) / 2)
    with pytest.raises(ValueError, match="measure"):
        reconstruct(np.ones(4), "lagT", [0.5])


# --------------------------------------------------------------------------- backends
def _same_place(out, backend, dtype):
    ref = backend.asarray([0.0], dtype)
    assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(ref)
    assert array_api_compat.device(out) == array_api_compat.device(ref)


@pytest.mark.parametrize("measure", ["legs", "fout", "glagt"])
def test_hippo_places_on_the_requested_backend(backend, dtype_name, measure):
    dtype = backend.dtype(dtype_name)
    A, B = hippo(measure, 6, xp=backend.xp, dtype=dtype, device=backend.device)
    A_np, B_np = hippo(measure, 6)
    for out, ref in ((A, A_np), (B, B_np)):
        _same_place(out, backend, dtype_name)
        assert out.dtype == dtype
        assert_close(out, ref, kind="construction")


def test_low_rank_places_on_the_requested_backend(backend, dtype_name):
    P = low_rank("legt", 6, xp=backend.xp, dtype=backend.dtype(dtype_name), device=backend.device)
    _same_place(P, backend, dtype_name)
    assert P.dtype == backend.dtype(dtype_name)
    assert_close(P, low_rank("legt", 6), kind="construction")


@pytest.mark.parametrize("measure", ["legs", "lagt", "fout", "legt"])
def test_basis_and_reconstruct_follow_the_input_backend(backend, dtype_name, measure):
    t_np = np.linspace(0.0, 1.0, 7)
    t = backend.asarray(t_np, dtype_name)
    phi = hippo_basis(measure, 6, t)
    _same_place(phi, backend, dtype_name)
    assert phi.dtype == backend.dtype(dtype_name)
    assert_close(phi, hippo_basis(measure, 6, t_np), kind="construction")
    x_np = np.arange(12.0).reshape(2, 6) / 10
    y = reconstruct(backend.asarray(x_np, dtype_name), measure, t)
    _same_place(y, backend, dtype_name)
    assert y.dtype == backend.dtype(dtype_name)
    assert_close(y, reconstruct(x_np, measure, t_np), kind="construction")
    y_list = reconstruct(backend.asarray(x_np, dtype_name), measure, [0.0, 1.0])
    _same_place(y_list, backend, dtype_name)
    assert to_host(y_list).shape == (2, 2)


def test_basis_placement_of_a_list(backend):
    phi = hippo_basis("legs", 3, [0.0, 1.0], xp=backend.xp, dtype=backend.dtype("float32"), device=backend.device)
    _same_place(phi, backend, "float32")
    assert phi.dtype == backend.dtype("float32")
