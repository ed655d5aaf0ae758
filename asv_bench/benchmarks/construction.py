"""Construction: HiPPO matrices, the NPLR decomposition, S4D initialisations.

The peer of ``nplr`` is what NPLR replaces: diagonalising the HiPPO-LegS matrix directly with
``numpy.linalg.eig`` (fast, but its eigenvectors are exponentially ill-conditioned); the accuracy of ours
is tracked as the NPLR reconstruction error ``‖V(diag Λ − PP*)V* − A‖/‖A‖`` (issue 2: ≤ 1e-12).
"""

from __future__ import annotations

import numpy as np

from .common import ERROR_UNIT, Benchmark, function, legs_dense, split_impl


class Hippo(Benchmark):
    """``hippo(measure, N)`` in float64 on the host."""

    params = (["legs", "legt", "lagt", "fout"], [64, 256])
    param_names = ("measure", "N")

    def setup(self, measure, N):
        self.fn = function("hippo")

    def time_hippo(self, measure, N):
        self.fn(measure, N)


class NPLR(Benchmark):
    """``nplr(measure, N)`` (Hermitian eigensolver on the skew part) beside ``numpy.linalg.eig`` of LegS."""

    params = (["xp", "numpy eig"], ["legs", "legt", "fout"], [64, 256])
    param_names = ("impl", "measure", "N")

    def setup(self, impl, measure, N):
        kind, _ = split_impl(impl)
        if kind == "ours":
            fn = function("nplr")
            self.run = lambda: fn(measure, N)
        elif measure == "legs":
            A = legs_dense(N)
            self.run = lambda: np.linalg.eig(A)
        else:
            raise NotImplementedError("the eig peer is timed on LegS only")

    def time_nplr(self, impl, measure, N):
        self.run()


class NPLRAccuracy:
    """NPLR reconstruction error ``‖V(diag Λ − PP*)V* − A‖/‖A‖`` in the conj-extended basis (float64)."""

    params = (["legs", "legt", "fout", "foud"], [64, 256])
    param_names = ("measure", "N")
    unit = ERROR_UNIT

    def setup(self, measure, N):
        self.nplr = function("nplr")
        self.A = np.asarray(function("hippo")(measure, N)[0])

    def track_nplr_error(self, measure, N):
        rec = self.nplr(measure, N)
        Lambda, P, V = (np.asarray(x) for x in (rec.Lambda, rec.P, rec.V))
        V_full = np.concatenate([V, V.conj()], axis=-1)
        Lambda_full = np.concatenate([Lambda, Lambda.conj()])
        P_full = np.concatenate([P, P.conj()], axis=-1)  # (r, N)
        A_modal = np.diag(Lambda_full) - P_full.T @ P_full.conj()
        A = (V_full @ A_modal @ V_full.conj().T).real
        return float(np.linalg.norm(A - self.A) / np.linalg.norm(self.A))


class S4DInit(Benchmark):
    """``s4d_init(kind, N)`` and ``log_dt_init(H)``."""

    params = (["lin", "inv", "legs"], [64, 256])
    param_names = ("kind", "N")

    def setup(self, kind, N):
        self.fn = function("s4d_init")

    def time_s4d_init(self, kind, N):
        self.fn(kind, N)
