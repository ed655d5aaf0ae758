"""Normal-plus-low-rank (NPLR) diagonalization of HiPPO matrices, the S4 initialization.

The only eigensolver used is a Hermitian one (``numpy.linalg.eigh``) on the
exactly Hermitian matrix ``-i·S``, where ``S`` is the skew part of ``A + PᵀP``.
Everything is computed in float64 on the host and placed once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._backend import namespace, place
from ._dispatch import capabilities
from ._hippo import check_nplr_measure, check_rank, hippo_rank_correction, hippo_transition
from ._validation import check_even, check_positive_real

__all__ = ["NPLR", "nplr"]


@dataclass(frozen=True)
class NPLR:
    r"""An NPLR (normal plus low rank) form of a HiPPO system, in N/2 conjugate-paired modes.

    Attributes
    ----------
    Lambda : array, shape (N2,)
        Eigenvalues of the normal part ``A + PᵀP``, one of each conjugate pair
        (imaginary parts ≤ 0; exact zero-frequency modes last).
    P : array, shape (r, N2)
        Low-rank factor in the eigenbasis, :math:`\tilde P = V^* P^T` row by row.
    B : array, shape (N2,)
        Input vector in the eigenbasis, :math:`\tilde B = V^* B`.
    V : array, shape (N, N2)
        Half of the unitary eigenbasis ``U = [V, conj(V)]``.

    Notes
    -----
    With :math:`U = [V, \bar V]`, :math:`p = [\tilde P^T; \overline{\tilde P}^T]` (N × r)
    and :math:`\Lambda_f = [\Lambda, \bar\Lambda]`:

    .. math::  A = U(\operatorname{diag}\Lambda_f - p p^*)U^*, \qquad B = U [\tilde B; \overline{\tilde B}],

    i.e. :math:`A = 2\operatorname{Re}(V \operatorname{diag}\Lambda\, V^*) - Q Q^T` with
    :math:`Q = 2\operatorname{Re}(V \tilde P^T)` (= ``Pᵀ``) and :math:`B = 2\operatorname{Re}(V\tilde B)`.
    The record unpacks like a tuple: ``Lambda, P, B, V = nplr(...)``.

    Examples
    --------
    >>> Lambda, P, B, V = statespace.nplr("legs", 8)
    >>> Lambda.shape, P.shape, B.shape, V.shape
    ((4,), (1, 4), (4,), (8, 4))
    >>> A, B_dense = statespace.nplr("legs", 8).dense()
    >>> bool(np.allclose(A, statespace.hippo("legs", 8)[0]))
    True
    """

    Lambda: object
    P: object
    B: object
    V: object

    def __iter__(self):
        return iter((self.Lambda, self.P, self.B, self.V))

    def dense(self):
        """Rebuild the dense ``(A (N, N), B (N,))`` in float64, in the record's namespace and device.

        This is a check: with the default options it reproduces :func:`statespace.hippo`
        to ~1e-13 relative; with ``B_clip`` or ``real_clamp`` it shows what they changed.
        """
        xp = namespace(self.V)
        V, Lam, P, B = (xp.astype(a, xp.complex128) for a in (self.V, self.Lambda, self.P, self.B))
        Vh = xp.conj(xp.matrix_transpose(V))
        normal = 2 * xp.real(xp.matmul(V * Lam[None, :], Vh))
        Q = 2 * xp.real(xp.matmul(V, xp.matrix_transpose(P)))  # (N, r): the real low-rank factor Pᵀ
        A = normal - xp.matmul(Q, xp.matrix_transpose(Q))
        return A, 2 * xp.real(xp.matmul(V, B[:, None])[:, 0])


def _half_eigenbasis(S: np.ndarray):
    """Frequencies ``w`` (N/2,) and vectors ``V`` (N, N/2) with ``S = U diag(i[w, -w]) U^*``, ``U = [V, V̄]``.

    ``S`` is real skew-symmetric, so ``-iS`` is Hermitian and its spectrum is
    symmetric: eigenvectors of ``-w < 0`` are the conjugates of those of ``+w``.
    The negative frequencies are kept. The zero eigenspace (fout, foud, odd-sized
    blocks) is real-invariant but ``eigh`` returns an arbitrary basis of it, whose
    conjugates need not be orthogonal to it; it is replaced by ``(R₁ + iR₂)/√2``
    built from a real orthonormal basis ``[R₁, R₂]`` of that eigenspace, so that
    ``[V₀, V̄₀]`` is again unitary on it.
    """
    N = S.shape[0]
    w, Q = np.linalg.eigh(-1j * S)
    scale = np.max(np.abs(w))
    tol = N * np.finfo(np.float64).eps * scale
    negative = w < -tol
    zero = np.abs(w) <= tol
    n_negative, n_zero = int(np.count_nonzero(negative)), int(np.count_nonzero(zero))
    if n_zero % 2 or 2 * n_negative + n_zero != N:
        raise ArithmeticError(
            f"spectrum of the skew part is not symmetric: {n_negative} negative, {n_zero} zero of {N}"
        )
    V_negative = Q[:, negative]
    if n_zero == 0:
        return w[negative], V_negative
    Z = Q[:, zero]
    real_span, _, _ = np.linalg.svd(np.concatenate([Z.real, Z.imag], axis=1), full_matrices=False)
    R = real_span[:, :n_zero]  # real orthonormal basis of the zero eigenspace
    m = n_zero // 2
    V_zero = (R[:, :m] + 1j * R[:, m:]) / np.sqrt(2.0)
    return np.concatenate([w[negative], np.zeros(m)]), np.concatenate([V_negative, V_zero], axis=1)


@capabilities(dask=None)
def nplr(measure, N, rank=None, *, B_clip=None, real_clamp=None, xp=None, dtype=None, device=None):
    r"""Diagonalize a HiPPO matrix in normal-plus-low-rank form (the S4 initialization).

    Parameters
    ----------
    measure : {'legs', 'legt', 'lagt', 'fout', 'foud', 'legsd'}
        A measure with a low-rank correction (see :func:`statespace.low_rank`).
    N : int
        State size; even, since the N modes pair into N/2 conjugate pairs.
    rank : int, optional
        Rows of the low-rank factor (default: what the measure needs, at least 1).
    B_clip : float, optional
        Off by default. If given (S4 uses 2.0), clamp :math:`\operatorname{Im}\tilde B`
        to ``[-B_clip, B_clip]``. This changes the system (for LegS it touches a third
        of the entries) and depends on the eigenvectors' phase convention (LAPACK's
        here); ``dense()`` then no longer reproduces ``B``.
    real_clamp : float, optional
        Off by default. If given (S4 uses 1e-4), set
        :math:`\operatorname{Re}\Lambda \leftarrow \min(\operatorname{Re}\Lambda, -\text{real\_clamp})`,
        making the marginally stable normal parts of legt, lagt and fout
        (:math:`\operatorname{Re}\Lambda = 0`) strictly stable, which keeps Cauchy
        kernels finite at DC. This shifts ``A`` by up to ``-real_clamp·I``.
    xp, dtype, device : optional
        Placement of the result (NumPy, float64 → complex128 by default).

    Returns
    -------
    NPLR
        Frozen record ``(Lambda (N/2,), P (rank, N/2), B (N/2,), V (N, N/2))``,
        complex, with :meth:`NPLR.dense` to rebuild ``(A, B)``.

    Raises
    ------
    ValueError
        Unknown measure or one without correction (``glagt``, ``lmu``), odd or
        non-positive ``N``, ``rank`` too low, non-positive/NaN ``B_clip`` or ``real_clamp``.
    TypeError
        Non-integer ``N`` or ``rank``; non-real options.

    Notes
    -----
    ``A + PᵀP = c·I + S`` with ``S`` skew-symmetric (:func:`statespace.low_rank`).
    ``c`` is the mean of the diagonal (a rounding residue below
    ``N·eps·max|diag A|`` is set to exactly 0, so the marginal measures legt,
    lagt and fout have ``Re Λ = 0``, never ``+1e-16``), and the imaginary parts come from
    ``eigh(-i·S)`` on the *exactly* Hermitian ``-i·S``, ``S = (M - Mᵀ)/2``,
    ``M = A + PᵀP``. The negative imaginary half is kept; the eigenvectors of
    zero frequencies (a degenerate, real-invariant eigenspace: the DC pair of
    fout and foud) are rebuilt as a proper conjugate pair, detected through the
    imaginary part. The reference S4 code tests the complex eigenvalue instead
    and so misses the zero pair of foud, whose ``Re Λ = -1/2``. Then
    :math:`\tilde P = V^* P^T`, :math:`\tilde B = V^* B` and
    :math:`A = U(\operatorname{diag}[\Lambda, \bar\Lambda] - p p^*)U^*` (see :class:`NPLR`).

    References
    ----------
    Gu, Goel, Ré, "Efficiently Modeling Long Sequences with Structured State
    Spaces", ICLR 2022 (Theorem 1). ``hippo.nplr`` in ``state-spaces/s4``.

    Examples
    --------
    >>> Lambda, P, B, V = statespace.nplr("legs", 8)
    >>> Lambda.shape, P.shape, B.shape, V.shape
    ((4,), (1, 4), (4,), (8, 4))
    >>> np.round(Lambda.real, 12)
    array([-0.5, -0.5, -0.5, -0.5])
    >>> A, _ = statespace.hippo("legs", 8)
    >>> bool(np.allclose(statespace.nplr("legs", 8).dense()[0], A, atol=1e-12))
    True
    """
    measure = check_nplr_measure(measure)
    N = check_even(N, "N", "the N modes pair into N/2 conjugate pairs")
    rank = check_rank(measure, rank)
    B_clip = None if B_clip is None else check_positive_real(B_clip, "B_clip")
    real_clamp = None if real_clamp is None else check_positive_real(real_clamp, "real_clamp")
    Lambda, P, B, V = nplr_host(measure, N, rank)
    if B_clip is not None:
        B = B.real + 1j * np.clip(B.imag, -B_clip, B_clip)
    if real_clamp is not None:
        Lambda = np.minimum(Lambda.real, -real_clamp) + 1j * Lambda.imag
    return NPLR(*(place(a, xp=xp, dtype=dtype, device=device) for a in (Lambda, P, B, V)))


def nplr_host(measure: str, N: int, rank: int):
    """Host complex128 ``(Lambda, P̃, B̃, V)`` of validated arguments."""
    A, B = hippo_transition(measure, N)
    P = hippo_rank_correction(measure, N, rank)
    M = A + P.T @ P
    c = float(np.mean(np.diag(M)))
    if abs(c) <= N * np.finfo(np.float64).eps * float(np.max(np.abs(np.diag(A)))):
        c = 0.0  # rounding residue of an exactly skew normal part (legt, lagt, fout): Re Λ = 0, not ±1e-16
    w, V = _half_eigenbasis(0.5 * (M - M.T))
    Vh = V.conj().T
    return c + 1j * w, (Vh @ P.T).T, Vh @ B, V
