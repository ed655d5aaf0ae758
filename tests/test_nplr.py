"""NPLR diagonalization: invariants only (reconstructed A and B, spectra), never raw eigenvectors."""

from __future__ import annotations

import dataclasses
import math

import array_api_compat
import numpy as np
import pytest
from scipy.stats import ortho_group

from statespace import NPLR, hippo, low_rank, nplr
from statespace._nplr import _half_eigenbasis
from statespace.testing import assert_close, rtol, to_host

MEASURES = ["legs", "legt", "lagt", "fout", "foud", "legsd"]
# issue 2, Must show: "NPLR reconstruction ‖V(diag Λ − PP*)V* − A‖/‖A‖ ≤ 1e-12 in float64" (TOLERANCES["construction"])


def _full_basis(record):
    """U = [V, V̄], Λ_f = [Λ, Λ̄], p = [P̃ᵀ; conj P̃ᵀ], B_f = [B̃; conj B̃] (ssm-math §2.2)."""
    Lambda, P, B, V = (to_host(a) for a in record)
    U = np.concatenate([V, V.conj()], axis=1)
    p = np.concatenate([P.T, P.conj().T], axis=0)
    return U, np.concatenate([Lambda, Lambda.conj()]), p, np.concatenate([B, B.conj()])


def _rebuild(record):
    U, W, p, Bf = _full_basis(record)
    return (U * W) @ U.conj().T - (U @ p) @ (U @ p).conj().T, U @ Bf


def _check_reconstruction(measure, N):
    record = nplr(measure, N)
    A, B = hippo(measure, N)
    A_rebuilt, B_rebuilt = _rebuild(record)
    assert_close(A_rebuilt, A, kind="construction", err_msg=f"A of {measure}, N={N}")
    assert_close(B_rebuilt, B, kind="construction", err_msg=f"B of {measure}, N={N}")
    A_dense, B_dense = record.dense()
    assert_close(A_dense, A, kind="construction")
    assert_close(B_dense, B, kind="construction")


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("N", [4, 64, 256])
def test_nplr_reconstructs_A_and_B(measure, N):
    _check_reconstruction(measure, N)


def test_nplr_reconstructs_legs_at_1024():
    _check_reconstruction("legs", 1024)


@pytest.mark.slow
@pytest.mark.parametrize("measure", [m for m in MEASURES if m != "legs"])
def test_nplr_reconstructs_at_1024(measure):
    _check_reconstruction(measure, 1024)


@pytest.mark.parametrize("measure", MEASURES)
def test_nplr_spectrum_matches_a_general_eigensolver(measure):
    """The normal part A + PᵀP is well conditioned for eig: its spectrum must equal [Λ, Λ̄]."""
    N = 32
    A, P = hippo(measure, N)[0], low_rank(measure, N)
    expected = np.linalg.eigvals(A + P.T @ P)
    _, W, _, _ = _full_basis(nplr(measure, N))
    order = lambda z: np.lexsort((np.round(z.real, 8), np.round(z.imag, 8)))  # noqa: E731
    assert_close(W[order(W)], expected[order(expected)], kind="construction")


@pytest.mark.parametrize("measure", ["fout", "foud"])
@pytest.mark.parametrize("N", [4, 16])
def test_degenerate_zero_pair_gives_a_unitary_basis(measure, N):
    """The DC pair of fout/foud (a 2-D zero eigenspace of the skew part): U must stay unitary.

    The S4 reference misses foud's pair (it tests |Λ| with Re Λ = −½) and loses unitarity (ssm-math §2.4).
    """
    record = nplr(measure, N)
    U, _, _, _ = _full_basis(record)
    assert_close(U.conj().T @ U, np.eye(N), kind="construction")
    Lambda = to_host(record.Lambda)
    assert abs(Lambda[-1].imag) == 0.0  # the zero-frequency mode is last
    assert Lambda[-1].real == pytest.approx(0.0 if measure == "fout" else -0.5, abs=1e-15)


def test_half_eigenbasis_handles_any_degenerate_zero_eigenspace():
    """Generality: a hidden 4-D zero eigenspace and a repeated nonzero frequency, in a random basis."""
    frequencies = [0.0, 0.0, 1.5, 1.5, 2.0]
    N = 2 * len(frequencies)
    blocks = np.zeros((N, N))
    for j, f in enumerate(frequencies):
        blocks[2 * j, 2 * j + 1], blocks[2 * j + 1, 2 * j] = -f, f
    O = ortho_group.rvs(N, random_state=7)
    S = O @ blocks @ O.T
    w, V = _half_eigenbasis(S)
    U = np.concatenate([V, V.conj()], axis=1)
    assert_close(U.conj().T @ U, np.eye(N), kind="construction")
    assert_close(U @ np.diag(1j * np.concatenate([w, -w])) @ U.conj().T, S, kind="construction")
    assert_close(np.sort(w), [-2.0, -1.5, -1.5, 0.0, 0.0], kind="construction")


def test_legs_eigenvalue_facts():
    N = 64
    Lambda, P, B, _ = (to_host(a) for a in nplr("legs", N))
    assert_close(Lambda.real, np.full(N // 2, -0.5), kind="construction")
    assert np.all(Lambda.imag < 0)
    assert np.all(np.diff(Lambda.imag) > 0)  # most negative first, all distinct
    # the full spectrum of the skew part is symmetric: ±Im in pairs
    A, Pr = hippo("legs", N)[0], low_rank("legs", N)
    full_imag = np.sort(np.linalg.eigvals(A + Pr.T @ Pr).imag)
    assert_close(full_imag, -full_imag[::-1], kind="construction")
    assert_close(np.sort(Lambda.imag), full_imag[: N // 2], kind="construction")
    # P = B/√2 for legs, so P̃ = B̃/√2 in any eigenbasis
    assert_close(P[0], B / math.sqrt(2), kind="construction")


@pytest.mark.parametrize(("measure", "c"), [("legt", 0.0), ("lagt", 0.0), ("fout", 0.0), ("foud", -0.5)])
def test_real_part_of_the_normal_part(measure, c):
    Lambda = to_host(nplr(measure, 16).Lambda)
    assert np.max(np.abs(Lambda.real - c)) <= rtol(np.float64, "construction") * np.max(np.abs(Lambda))


def test_rank_option_pads_with_zero_rows():
    record = nplr("legs", 8, rank=3)
    P = to_host(record.P)
    assert P.shape == (3, 4)
    assert np.all(P[1:] == 0)
    assert_close(record.dense()[0], hippo("legs", 8)[0], kind="construction")


def test_record_is_frozen_and_unpacks():
    record = nplr("legs", 4)
    assert isinstance(record, NPLR)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.Lambda = None
    Lambda, _, _, V = record
    assert Lambda is record.Lambda and V is record.V


def test_B_clip_is_opt_in_and_clips_only_the_imaginary_part():
    plain, clipped = nplr("legs", 64), nplr("legs", 64, B_clip=2.0)
    assert np.max(np.abs(plain.B.imag)) > 2.0  # the default does not clip (ssm-math §2.4: a third exceed 2)
    assert np.max(np.abs(clipped.B.imag)) <= 2.0
    assert_close(clipped.B.real, plain.B.real, kind="exact")
    assert_close(clipped.Lambda, plain.Lambda, kind="exact")
    assert_close(clipped.dense()[0], plain.dense()[0], kind="construction")


def test_real_clamp_is_opt_in():
    plain, clamped = nplr("legt", 8), nplr("legt", 8, real_clamp=1e-4)
    assert np.max(np.abs(plain.Lambda.real)) <= rtol(np.float64, "construction") * np.max(np.abs(plain.Lambda))
    assert_close(clamped.Lambda.real, np.full(4, -1e-4), kind="construction")
    assert_close(clamped.Lambda.imag, plain.Lambda.imag, kind="exact")
    # legs already has Re Λ = −½ ≤ −1e-4: untouched
    assert_close(nplr("legs", 8, real_clamp=1e-4).Lambda, nplr("legs", 8).Lambda, kind="exact")
    # the clamp shifts A by −real_clamp·I
    A_shifted = hippo("legt", 8)[0] - 1e-4 * np.eye(8)
    assert_close(clamped.dense()[0], A_shifted, kind="construction")


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (("legendre", 4), {}, ValueError, r"measure.*'legs'"),
        (("lmu", 4), {}, ValueError, r"'lmu' has no low-rank correction.*'legs'"),
        (("glagt", 4), {}, ValueError, r"'glagt' has no low-rank correction"),
        (("legs", 5), {}, ValueError, "N must be even"),
        (("legs", 0), {}, ValueError, "N must be a positive integer, got 0"),
        (("legs", -4), {}, ValueError, "N must be a positive integer, got -4"),
        (("legs", 4.0), {}, TypeError, "N must be an integer"),
        (("legt", 4), {"rank": 1}, ValueError, r"rank must be at least 2"),
        (("legs", 4), {"B_clip": float("nan")}, ValueError, "B_clip must be finite"),
        (("legs", 4), {"B_clip": -1.0}, ValueError, "B_clip must be positive"),
        (("legs", 4), {"real_clamp": float("nan")}, ValueError, "real_clamp must be finite"),
        (("legs", 4), {"real_clamp": 0.0}, ValueError, "real_clamp must be positive"),
        (("legs", 4), {"real_clamp": "1e-4"}, TypeError, "real_clamp"),
    ],
)
def test_nplr_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        nplr(*args, **kwargs)


# --------------------------------------------------------------------------- backends
def test_nplr_places_on_the_requested_backend(backend, dtype_name):
    dtype = backend.dtype(dtype_name)
    record = nplr("fout", 8, xp=backend.xp, dtype=dtype, device=backend.device)
    reference = nplr("fout", 8)
    complex_name = "complex64" if dtype_name == "float32" else "complex128"
    ref_array = backend.asarray([0.0], dtype_name)
    for out, ref in zip(record, reference):
        assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(ref_array)
        assert array_api_compat.device(out) == array_api_compat.device(ref_array)
        assert out.dtype == backend.dtype(complex_name)
        assert_close(out, ref, kind="construction")
    A, B = record.dense()
    assert array_api_compat.device(A) == array_api_compat.device(ref_array)
    assert A.dtype == backend.dtype("float64")
    assert_close(A, hippo("fout", 8)[0], kind="construction", dtype=dtype_name)
    assert_close(B, hippo("fout", 8)[1], kind="construction", dtype=dtype_name)
