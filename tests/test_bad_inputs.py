"""Table-driven bad inputs over every public function (#14).

Each case names a call, the exception type it must raise, and three fragments its message
must contain: the argument's name, what was expected, and what came (DESIGN.md §5). The
second table holds inputs that a function legitimately accepts (lists, scalars, length-1 and
empty inputs, integer dtypes): those are checked for correct results instead.
"""

from __future__ import annotations

import collections
import operator

import numpy as np
import pytest

import statespace as ss

Case = collections.namedtuple("Case", "id call error argument expected came")

# small valid systems the cases perturb
LAM = np.array([-0.5 + 1j, -1.0 + 2j])  # (N2,) = (2,)
B2 = np.ones(2, complex)
C2 = np.array([1.0 + 0.5j, -0.5 + 0j])
P12 = np.array([[0.3 + 0j, 0.2 + 0.1j]])  # (r, N2) = (1, 2)
A3, B31 = -np.eye(3), np.ones((3, 1))
C13, D11 = np.ones((1, 3)), np.zeros((1, 1))
U = np.ones((2, 8))
SEL = dict(
    u=np.ones((2, 3, 8)),
    delta=np.full((2, 3, 8), 0.1),
    A=-np.ones((3, 4)),
    B=np.ones((2, 4, 8)),
    C=np.ones((2, 4, 8)),
)
F16 = np.ones(2, np.float16)


def _deprecated(call):
    """``call()`` under an expected DeprecationWarning (pytest turns warnings into errors)."""
    with pytest.warns(DeprecationWarning):
        return call()


def _strict(x):
    import array_api_strict as xps

    return xps.asarray(x)


def _sel(**changes):
    kw = dict(SEL)
    kw.update(changes)
    return lambda: ss.selective_scan(**kw)


CASES = [
    # ------------------------------------------------------------------ construction
    Case("hippo-measure-typo", lambda: ss.hippo("lgs", 4), ValueError, "measure", "expected one of", "'lgs'"),
    Case("hippo-measure-int", lambda: ss.hippo(3, 4), ValueError, "measure", "expected one of", "3"),
    Case("hippo-N-float", lambda: ss.hippo("legs", 4.0), TypeError, "N", "integer", "4.0"),
    Case("hippo-N-zero", lambda: ss.hippo("legs", 0), ValueError, "N", "positive", "0"),
    Case("hippo-N-bool", lambda: ss.hippo("legs", True), TypeError, "N", "integer", "True"),
    Case("hippo-N-negative", lambda: ss.hippo("legs", -3), ValueError, "N", "positive", "-3"),
    Case(
        "hippo-dtype-complex",
        lambda: ss.hippo("legs", 4, dtype=np.complex64),
        TypeError,
        "dtype",
        "float32",
        "complex64",
    ),
    Case(
        "hippo-dtype-int",
        lambda: ss.hippo("legs", 4, dtype=np.int32),
        TypeError,
        "dtype",
        "float32 or float64",
        "int32",
    ),
    Case(
        "hippo-dtype-f16",
        lambda: ss.hippo("legs", 4, dtype=np.float16),
        TypeError,
        "dtype",
        "float32 or float64",
        "float16",
    ),
    Case(
        "hippo-xp-not-namespace", lambda: ss.hippo("legs", 4, xp="numpy"), TypeError, "xp", "array namespace", "'numpy'"
    ),
    Case("low_rank-measure-typo", lambda: ss.low_rank("legz", 4), ValueError, "measure", "expected one of", "'legz'"),
    Case("low_rank-N-str", lambda: ss.low_rank("legs", "4"), TypeError, "N", "integer", "'4'"),
    Case("low_rank-rank-float", lambda: ss.low_rank("legs", 4, rank=1.5), TypeError, "rank", "integer", "1.5"),
    Case("nplr-measure-typo", lambda: ss.nplr("fuot", 4), ValueError, "measure", "expected one of", "'fuot'"),
    Case("nplr-N-odd", lambda: ss.nplr("legs", 5), ValueError, "N", "even", "5"),
    Case("nplr-N-float", lambda: ss.nplr("legs", 4.0), TypeError, "N", "integer", "4.0"),
    Case(
        "nplr-dtype-complex",
        lambda: ss.nplr("legs", 4, dtype=np.complex128),
        TypeError,
        "dtype",
        "float32",
        "complex128",
    ),
    Case("s4d_init-kind-typo", lambda: ss.s4d_init("lni", 4), ValueError, "kind", "expected one of", "'lni'"),
    Case("s4d_init-N-odd", lambda: ss.s4d_init("lin", 3), ValueError, "N", "even", "3"),
    Case("s4d_init-N-zero", lambda: ss.s4d_init("lin", 0), ValueError, "N", "positive", "0"),
    Case(
        "s4d_init-dtype-f16", lambda: ss.s4d_init("lin", 4, dtype=np.float16), TypeError, "dtype", "float32", "float16"
    ),
    Case("log_dt_init-H-float", lambda: ss.log_dt_init(2.5), TypeError, "H", "integer", "2.5"),
    Case("log_dt_init-H-zero", lambda: ss.log_dt_init(0), ValueError, "H", "positive", "0"),
    Case("log_dt_init-dt_min-neg", lambda: ss.log_dt_init(4, dt_min=-1.0), ValueError, "dt_min", "positive", "-1.0"),
    Case(
        "log_dt_init-dt_max-nan", lambda: ss.log_dt_init(4, dt_max=float("nan")), ValueError, "dt_max", "finite", "nan"
    ),
    Case(
        "hippo_basis-measure",
        lambda: ss.hippo_basis("legx", 4, 0.5),
        ValueError,
        "measure",
        "expected one of",
        "'legx'",
    ),
    Case("hippo_basis-N-float", lambda: ss.hippo_basis("legs", 2.0, 0.5), TypeError, "N", "integer", "2.0"),
    # ------------------------------------------------------------------ expm
    Case("expm-not-square", lambda: ss.expm(np.ones((2, 3))), ValueError, "A", "square", "(2, 3)"),
    Case("expm-1d", lambda: ss.expm(np.ones(3)), ValueError, "A", "square", "(3,)"),
    Case(
        "expm-engine-typo", lambda: ss.expm(np.eye(2), engine="scip"), ValueError, "engine", "expected one of", "'scip'"
    ),
    Case(
        "expm-engine-strict",
        lambda: _deprecated(lambda: ss.expm(_strict(np.eye(2)), engine="scipy")),
        TypeError,
        "engine",
        "NumPy arrays",
        "array_api_strict",
    ),
    Case("expm-f16", lambda: ss.expm(np.eye(2, dtype=np.float16)), TypeError, "A", "float32 or float64", "float16"),
    # ------------------------------------------------------------------ discretize (dense)
    Case(
        "discretize-method-typo",
        lambda: ss.discretize(A3, B31, 0.1, "zho"),
        ValueError,
        "method",
        "expected one of",
        "'zho'",
    ),
    Case(
        "discretize-method-dss",
        lambda: ss.discretize(A3, B31, 0.1, "dss"),
        ValueError,
        "method",
        "expected one of",
        "'dss'",
    ),
    Case("discretize-method-int", lambda: ss.discretize(A3, B31, 0.1, 1), ValueError, "method", "expected one of", "1"),
    Case(
        "discretize-A-not-square",
        lambda: ss.discretize(np.ones((3, 2)), B31, 0.1, "zoh"),
        ValueError,
        "A",
        "square",
        "(3, 2)",
    ),
    Case(
        "discretize-B-wrong-N",
        lambda: ss.discretize(A3, np.ones((2, 1)), 0.1, "zoh"),
        ValueError,
        "B",
        "N = 3",
        "(2, 1)",
    ),
    Case("discretize-B-1d-wrong-N", lambda: ss.discretize(A3, np.ones(2), 0.1, "zoh"), ValueError, "B", "(N,)", "(2,)"),
    Case(
        "discretize-batch-mismatch",
        lambda: ss.discretize(np.stack([A3] * 2), np.stack([B31] * 3), 0.1, "zoh"),
        ValueError,
        "B",
        "broadcast",
        "(3,)",
    ),
    Case("discretize-dt-zero", lambda: ss.discretize(A3, B31, 0.0, "zoh"), ValueError, "dt", "positive", "0.0"),
    Case(
        "discretize-dt-neg-array",
        lambda: ss.discretize(A3, B31, np.array([-0.1]), "zoh"),
        ValueError,
        "dt",
        "positive",
        "-0.1",
    ),
    Case("discretize-dt-nan", lambda: ss.discretize(A3, B31, float("nan"), "zoh"), ValueError, "dt", "finite", "nan"),
    Case(
        "discretize-dt-inf-array",
        lambda: ss.discretize(A3, B31, np.array([np.inf]), "zoh"),
        ValueError,
        "dt",
        "finite",
        "non-finite",
    ),
    Case(
        "discretize-dt-complex",
        lambda: ss.discretize(A3, B31, np.array([0.1j]), "zoh"),
        TypeError,
        "dt",
        "real",
        "complex",
    ),
    Case("discretize-dt-bool", lambda: ss.discretize(A3, B31, True, "zoh"), TypeError, "dt", "positive real", "True"),
    Case(
        "discretize-dt-bool-array",
        lambda: ss.discretize(A3, B31, np.array([True]), "zoh"),
        TypeError,
        "dt",
        "real array",
        "bool",
    ),
    Case("discretize-dt-str", lambda: ss.discretize(A3, B31, "0.1", "zoh"), TypeError, "dt", "positive real", "'0.1'"),
    Case("discretize-dt-None", lambda: ss.discretize(A3, B31, None, "zoh"), TypeError, "dt", "positive real", "None"),
    Case(
        "discretize-dt-object",
        lambda: ss.discretize(A3, B31, np.array([0.1], dtype=object), "zoh"),
        TypeError,
        "dt",
        "real array",
        "object",
    ),
    Case(
        "discretize-dt-shape",
        lambda: ss.discretize(np.stack([A3] * 3), B31, np.full(2, 0.1), "zoh"),
        ValueError,
        "dt",
        "batch shape (3,)",
        "(2,)",
    ),
    Case(
        "discretize-per_mode-dense",
        lambda: ss.discretize_diag(LAM, B2, 0.1, "zoh", per_mode="no"),
        TypeError,
        "per_mode",
        "bool",
        "'no'",
    ),
    Case("discretize-gbt-no-alpha", lambda: ss.discretize(A3, B31, 0.1, "gbt"), ValueError, "alpha", "[0, 1]", "None"),
    Case(
        "discretize-gbt-alpha-out",
        lambda: ss.discretize(A3, B31, 0.1, "gbt", alpha=1.5),
        ValueError,
        "alpha",
        "[0, 1]",
        "1.5",
    ),
    Case(
        "discretize-gbt-alpha-str",
        lambda: ss.discretize(A3, B31, 0.1, "gbt", alpha="0.5"),
        TypeError,
        "alpha",
        "real number",
        "'0.5'",
    ),
    Case(
        "discretize-A-f16",
        lambda: ss.discretize(np.eye(2, dtype=np.float16), np.ones((2, 1)), 0.1, "zoh"),
        TypeError,
        "A",
        "float32 or float64",
        "float16",
    ),
    Case(
        "discretize-B-f16",
        lambda: ss.discretize(-np.eye(2), np.ones((2, 1), np.float16), 0.1, "zoh"),
        TypeError,
        "B",
        "float32 or float64",
        "float16",
    ),
    Case(
        "discretize-A-object",
        lambda: ss.discretize(np.eye(2, dtype=object), np.ones((2, 1)), 0.1, "zoh"),
        TypeError,
        "A",
        "numeric",
        "object",
    ),
    Case(
        "discretize-mixed-namespaces",
        lambda: ss.discretize(_strict(-np.eye(2)), np.ones((2, 1)), 0.1, "zoh"),
        TypeError,
        "array arguments",
        "one array library",
        "numpy.ndarray",
    ),
    # ------------------------------------------------------------------ cont2discrete
    Case(
        "c2d-system-not-tuple", lambda: ss.cont2discrete(A3, 0.1), ValueError, "system", "tuple (A, B, C, D)", "ndarray"
    ),
    Case(
        "c2d-system-3",
        lambda: ss.cont2discrete((A3, B31, C13), 0.1),
        ValueError,
        "system",
        "tuple (A, B, C, D)",
        "length 3",
    ),
    Case(
        "c2d-C-wrong-N",
        lambda: ss.cont2discrete((A3, B31, np.ones((1, 2)), D11), 0.1),
        ValueError,
        "C",
        "N = 3",
        "(1, 2)",
    ),
    Case(
        "c2d-D-wrong",
        lambda: ss.cont2discrete((A3, B31, C13, np.zeros((2, 1))), 0.1),
        ValueError,
        "D",
        "(..., 1, 1)",
        "(2, 1)",
    ),
    Case(
        "c2d-method-typo",
        lambda: ss.cont2discrete((A3, B31, C13, D11), 0.1, "bilinera"),
        ValueError,
        "method",
        "expected one of",
        "'bilinera'",
    ),
    Case(
        "c2d-zoh_simplified",
        lambda: ss.cont2discrete((A3, B31, C13, D11), 0.1, "zoh_simplified"),
        ValueError,
        "method",
        "expected one of",
        "'zoh_simplified'",
    ),
    Case(
        "c2d-impulse-D",
        lambda: ss.cont2discrete((A3, B31, C13, np.ones((1, 1))), 0.1, "impulse"),
        ValueError,
        "D",
        "strictly proper",
        "D must be 0",
    ),
    Case("c2d-dt-neg", lambda: ss.cont2discrete((A3, B31, C13, D11), -1.0), ValueError, "dt", "positive", "-1.0"),
    Case(
        "c2d-dt-shape",
        lambda: ss.cont2discrete((np.stack([A3] * 2), B31, C13, D11), np.ones(3)),
        ValueError,
        "dt",
        "batch shape (2,)",
        "(3,)",
    ),
    # ------------------------------------------------------------------ discretize_diag
    Case(
        "diag-method-typo",
        lambda: ss.discretize_diag(LAM, B2, 0.1, "bilinar"),
        ValueError,
        "method",
        "expected one of",
        "'bilinar'",
    ),
    Case(
        "diag-Lambda-0d",
        lambda: ss.discretize_diag(np.array(-1.0 + 0j), B2, 0.1, "zoh"),
        ValueError,
        "Lambda",
        "mode axis",
        "()",
    ),
    Case(
        "diag-B-modes",
        lambda: ss.discretize_diag(LAM, np.ones(3), 0.1, "zoh"),
        ValueError,
        "B",
        "last axis 2 or 1",
        "(3,)",
    ),
    Case(
        "diag-B-batch",
        lambda: ss.discretize_diag(np.stack([LAM] * 2), np.ones((3, 2)), 0.1, "zoh"),
        ValueError,
        "B",
        "broadcast",
        "(3, 2)",
    ),
    Case("diag-dss-no-L", lambda: ss.discretize_diag(LAM, B2, 0.1, "dss"), ValueError, "L", "required", "None"),
    Case("diag-dss-L-float", lambda: ss.discretize_diag(LAM, B2, 0.1, "dss", L=4.0), TypeError, "L", "integer", "4.0"),
    Case("diag-dt-zero", lambda: ss.discretize_diag(LAM, B2, 0, "zoh"), ValueError, "dt", "positive", "0"),
    Case(
        "diag-dt-shape",
        lambda: ss.discretize_diag(np.stack([LAM] * 4), B2, np.ones(3), "zoh"),
        ValueError,
        "dt",
        "batch shape (4,)",
        "(3,)",
    ),
    Case(
        "diag-dt-2d-no-per-mode",
        lambda: ss.discretize_diag(np.stack([LAM] * 4), B2, np.ones((4, 2)), "zoh"),
        ValueError,
        "dt",
        "per_mode=True",
        "(4, 2)",
    ),
    Case(
        "diag-per-mode-size",
        lambda: ss.discretize_diag(LAM, B2, np.ones(3), "zoh", per_mode=True),
        ValueError,
        "dt",
        "expected 2 or 1",
        "size 3",
    ),
    Case(
        "diag-per-mode-scalar",
        lambda: ss.discretize_diag(LAM, B2, 0.1, "zoh", per_mode=True),
        ValueError,
        "dt",
        "mode axis",
        "scalar",
    ),
    Case(
        "diag-return_log-str",
        lambda: ss.discretize_diag(LAM, B2, 0.1, "zoh", return_log="yes"),
        TypeError,
        "return_log",
        "bool",
        "'yes'",
    ),
    Case(
        "diag-Lambda-f16",
        lambda: ss.discretize_diag(F16, B2, 0.1, "zoh"),
        TypeError,
        "Lambda",
        "float32 or float64",
        "float16",
    ),
    Case("diag-dt-complex-scalar", lambda: ss.discretize_diag(LAM, B2, 0.1j, "zoh"), TypeError, "dt", "real", "0.1j"),
    Case("diag-dt-list-str", lambda: ss.discretize_diag(LAM, B2, ["a"], "zoh"), TypeError, "dt", "real array", "<U1"),
    # ------------------------------------------------------------------ discretize_dplr / dplr_dense
    Case(
        "dplr-method-zoh",
        lambda: ss.discretize_dplr(LAM, P12, B2, 0.1, "zoh"),
        ValueError,
        "method",
        "expected one of",
        "'zoh'",
    ),
    Case(
        "dplr-P-modes",
        lambda: ss.discretize_dplr(LAM, np.ones((1, 3)), B2, 0.1, "bilinear"),
        ValueError,
        "P",
        "N2 = 2",
        "(1, 3)",
    ),
    Case(
        "dplr-P-1d",
        lambda: ss.discretize_dplr(LAM, np.ones(2), B2, 0.1, "bilinear"),
        ValueError,
        "P",
        "(..., r, N2)",
        "(2,)",
    ),
    Case(
        "dplr-B-modes",
        lambda: ss.discretize_dplr(LAM, P12, np.ones(3), 0.1, "bilinear"),
        ValueError,
        "B",
        "last axis 2 or 1",
        "(3,)",
    ),
    Case(
        "dplr-dt-shape",
        lambda: ss.discretize_dplr(np.stack([LAM] * 2), P12, B2, np.ones((2, 3)), "bilinear"),
        ValueError,
        "dt",
        "batch shape (2,)",
        "(2, 3)",
    ),
    Case(
        "dplr-dense-str",
        lambda: ss.discretize_dplr(LAM, P12, B2, 0.1, "bilinear", dense="yes"),
        TypeError,
        "dense",
        "bool",
        "'yes'",
    ),
    Case(
        "dplr-dt-neg", lambda: ss.discretize_dplr(LAM, P12, B2, -0.1, "bilinear"), ValueError, "dt", "positive", "-0.1"
    ),
    # ------------------------------------------------------------------ cauchy / vandermonde
    Case("cauchy-v-list", lambda: ss.cauchy([1.0, 2.0], np.ones(3, complex), LAM), TypeError, "v", "array", "list"),
    Case(
        "cauchy-v-0d",
        lambda: ss.cauchy(np.asarray(1.0 + 0j), np.ones(3, complex), LAM[:1]),
        ValueError,
        "v",
        "at least 1",
        "()",
    ),
    Case(
        "cauchy-w-modes",
        lambda: ss.cauchy(B2, np.ones(3, complex), np.ones(3, complex)),
        ValueError,
        "w",
        "expected 2",
        "3 modes",
    ),
    Case(
        "cauchy-batch",
        lambda: ss.cauchy(B2, np.ones((2, 3), complex), np.ones((3, 2), complex)),
        ValueError,
        "batch shapes",
        "broadcast",
        "w (3,)",
    ),
    Case(
        "cauchy-conj-str",
        lambda: ss.cauchy(B2, np.ones(3, complex), LAM, conj="False"),
        TypeError,
        "conj",
        "bool",
        "'False'",
    ),
    Case("cauchy-conj-int", lambda: ss.cauchy(B2, np.ones(3, complex), LAM, conj=1), TypeError, "conj", "bool", "1"),
    Case(
        "cauchy-f16", lambda: ss.cauchy(F16, np.ones(3, complex), LAM), TypeError, "v", "float32 or float64", "float16"
    ),
    Case(
        "cauchy-engine-typo",
        lambda: ss.cauchy(B2, np.ones(3, complex), LAM, engine="numab"),
        ValueError,
        "engine",
        "expected one of",
        "'numab'",
    ),
    Case(
        "cauchy-engine-strict",
        lambda: ss.cauchy(_strict(B2), _strict(np.ones(3, complex)), _strict(LAM), engine="numba"),
        TypeError,
        "numba",
        "NumPy",
        "array_api_strict",
    ),
    Case("vandermonde-L-zero", lambda: ss.vandermonde(B2, LAM, 0), ValueError, "L", "positive", "0"),
    Case("vandermonde-L-float", lambda: ss.vandermonde(B2, LAM, 3.0), TypeError, "L", "integer", "3.0"),
    Case(
        "vandermonde-x-modes",
        lambda: ss.vandermonde(B2, np.ones(3, complex), 4),
        ValueError,
        "x",
        "expected 2",
        "3 modes",
    ),
    Case("vandermonde-conj-str", lambda: ss.vandermonde(B2, LAM, 4, conj="True"), TypeError, "conj", "bool", "'True'"),
    Case("vandermonde-v-f16", lambda: ss.vandermonde(F16, LAM, 4), TypeError, "v", "float32 or float64", "float16"),
    # ------------------------------------------------------------------ kernels
    Case(
        "kernel_diag-method",
        lambda: ss.kernel_diag(LAM, B2, C2, 0.1, 8, method="foh"),
        ValueError,
        "method",
        "expected one of",
        "'foh'",
    ),
    Case("kernel_diag-L-zero", lambda: ss.kernel_diag(LAM, B2, C2, 0.1, 0), ValueError, "L", "positive", "0"),
    Case("kernel_diag-L-str", lambda: ss.kernel_diag(LAM, B2, C2, 0.1, "8"), TypeError, "L", "integer", "'8'"),
    Case(
        "kernel_diag-C-modes",
        lambda: ss.kernel_diag(LAM, B2, np.ones(3, complex), 0.1, 8),
        ValueError,
        "C",
        "expected 2",
        "3 modes",
    ),
    Case(
        "kernel_diag-dt-shape",
        lambda: ss.kernel_diag(LAM, B2, np.ones((4, 2), complex), np.ones(3), 8),
        ValueError,
        "dt",
        "broadcast",
        "(3,)",
    ),
    Case(
        "kernel_diag-batch-CB",
        lambda: ss.kernel_diag(LAM, np.ones((3, 2)), np.ones((4, 2)), 0.1, 8),
        ValueError,
        "batch shapes",
        "broadcast",
        "C (4,)",
    ),
    Case("kernel_diag-dt-neg", lambda: ss.kernel_diag(LAM, B2, C2, -0.1, 8), ValueError, "dt", "positive", "-0.1"),
    Case(
        "kernel_diag-per-mode-size",
        lambda: ss.kernel_diag(LAM, B2, C2, np.ones(3), 8, per_mode=True),
        ValueError,
        "dt",
        "expected 2 or 1",
        "size 3",
    ),
    Case(
        "kernel_diag-C-f16",
        lambda: ss.kernel_diag(LAM, B2, F16, 0.1, 8),
        TypeError,
        "C",
        "float32 or float64",
        "float16",
    ),
    Case(
        "kernel_diag-Lambda-list-0d",
        lambda: ss.kernel_diag(-1.0, B2, C2, 0.1, 8),
        ValueError,
        "Lambda",
        "at least 1",
        "()",
    ),
    Case(
        "kernel_dplr-P-modes",
        lambda: ss.kernel_dplr(LAM, np.ones((1, 3)), B2, C2, 0.1, 8),
        ValueError,
        "P",
        "expected 2",
        "3 modes",
    ),
    Case(
        "kernel_dplr-P-1d", lambda: ss.kernel_dplr(LAM, P12[0], B2, C2, 0.1, 8), ValueError, "P", "at least 2", "(2,)"
    ),
    Case(
        "kernel_dplr-x0-modes",
        lambda: ss.kernel_dplr(LAM, P12, B2, C2, 0.1, 8, x0=np.ones(3, complex)),
        ValueError,
        "x0",
        "expected 2",
        "3 modes",
    ),
    Case("kernel_dplr-L-neg", lambda: ss.kernel_dplr(LAM, P12, B2, C2, 0.1, -1), ValueError, "L", "positive", "-1"),
    Case(
        "kernel_dplr-ctilde-str",
        lambda: ss.kernel_dplr(LAM, P12, B2, C2, 0.1, 8, ctilde="no"),
        TypeError,
        "ctilde",
        "bool",
        "'no'",
    ),
    Case(
        "kernel_dplr-dt-shape",
        lambda: ss.kernel_dplr(LAM, P12, B2, np.ones((4, 2), complex), np.ones(3), 8),
        ValueError,
        "dt",
        "broadcast",
        "(3,)",
    ),
    Case("kernel_naive-L-zero", lambda: ss.kernel_naive(LAM, B2, C2, 0), ValueError, "L", "positive", "0"),
    Case(
        "kernel_naive-conj-str", lambda: ss.kernel_naive(LAM, B2, C2, 4, conj="yes"), TypeError, "conj", "bool", "'yes'"
    ),
    Case(
        "kernel_naive-structure",
        lambda: ss.kernel_naive(LAM, B2, C2, 4, structure="diagonal"),
        ValueError,
        "structure",
        "expected one of",
        "'diagonal'",
    ),
    Case(
        "dplr_ctilde-C-modes",
        lambda: ss.dplr_ctilde(LAM, P12, np.ones(3, complex), 0.1, 8),
        ValueError,
        "C",
        "expected 2",
        "3 modes",
    ),
    Case("dplr_ctilde-L-float", lambda: ss.dplr_ctilde(LAM, P12, C2, 0.1, 8.0), TypeError, "L", "integer", "8.0"),
    Case(
        "dplr_ctilde_inverse-dt",
        lambda: ss.dplr_ctilde_inverse(LAM, P12, C2, 0.0, 8),
        ValueError,
        "dt",
        "positive",
        "0.0",
    ),
    Case(
        "dplr_ctilde_double-Ct",
        lambda: ss.dplr_ctilde_double(LAM, P12, np.ones(5, complex), 0.1, 8),
        ValueError,
        "Ctilde",
        "expected 2",
        "5 modes",
    ),
    # ------------------------------------------------------------------ causal_conv / bidirectional
    Case("conv-u-0d", lambda: ss.causal_conv(np.float64(1.0), np.ones(3)), ValueError, "u", "time axis", "()"),
    Case("conv-K-0d", lambda: ss.causal_conv(np.ones(3), np.array(1.0)), ValueError, "K", "time axis", "()"),
    Case("conv-batch", lambda: ss.causal_conv(np.ones((2, 5)), np.ones((3, 5))), ValueError, "K", "broadcast", "(3,)"),
    Case(
        "conv-D-shape",
        lambda: ss.causal_conv(np.ones((2, 5)), np.ones(5), D=np.ones(3)),
        ValueError,
        "D",
        "u's batch shape (2,)",
        "(3,)",
    ),
    Case(
        "conv-axis-float", lambda: ss.causal_conv(np.ones(5), np.ones(5), axis=1.0), TypeError, "axis", "integer", "1.0"
    ),
    Case(
        "conv-axis-range",
        lambda: ss.causal_conv(np.ones(5), np.ones(5), axis=2),
        ValueError,
        "axis",
        "out of range",
        "2",
    ),
    Case(
        "conv-u-f16",
        lambda: ss.causal_conv(np.ones(5, np.float16), np.ones(5)),
        TypeError,
        "u",
        "float32 or float64",
        "float16",
    ),
    Case(
        "conv-K-object",
        lambda: ss.causal_conv(np.ones(5), np.ones(5, dtype=object)),
        TypeError,
        "K",
        "numeric",
        "object",
    ),
    Case(
        "bidir-conv-axis",
        lambda: ss.bidirectional_conv(np.ones(5), np.ones(5), np.ones(5), axis="0"),
        TypeError,
        "axis",
        "integer",
        "'0'",
    ),
    Case(
        "bidir-kernel-L",
        lambda: ss.bidirectional_kernel(np.ones(5), np.ones(5), -2),
        ValueError,
        "L",
        "non-negative",
        "-2",
    ),
    # ------------------------------------------------------------------ linear_scan / associative_scan
    Case(
        "scan-both-0d",
        lambda: ss.linear_scan(np.float64(0.5), np.float64(1.0)),
        ValueError,
        "a and b",
        "time axis",
        "0-d",
    ),
    Case(
        "scan-broadcast",
        lambda: ss.linear_scan(np.ones((2, 5)), np.ones((3, 5))),
        ValueError,
        "a and b",
        "broadcast",
        "(3, 5)",
    ),
    Case(
        "scan-time-mismatch", lambda: ss.linear_scan(np.ones(4), np.ones(5)), ValueError, "a and b", "broadcast", "(5,)"
    ),
    Case("scan-x0-shape", lambda: ss.linear_scan(U, U, x0=np.ones(3)), ValueError, "x0", "state shape (2,)", "(3,)"),
    Case(
        "scan-axis0-caller-shapes",
        lambda: ss.linear_scan(np.ones((5, 2)), np.ones((5, 3)), axis=0),
        ValueError,
        "a and b",
        "broadcast",
        "b of shape (5, 3)",
    ),
    Case("scan-axis-range", lambda: ss.linear_scan(U, U, axis=2), ValueError, "axis", "out of range", "2"),
    Case("scan-axis-float", lambda: ss.linear_scan(U, U, axis=-1.0), TypeError, "axis", "integer", "-1.0"),
    Case("scan-reverse-str", lambda: ss.linear_scan(U, U, reverse="True"), TypeError, "reverse", "bool", "'True'"),
    Case("scan-return_state-int", lambda: ss.linear_scan(U, U, return_state=1), TypeError, "return_state", "bool", "1"),
    Case(
        "scan-engine-typo",
        lambda: ss.linear_scan(U, U, engine="nmba"),
        ValueError,
        "engine",
        "expected one of",
        "'nmba'",
    ),
    Case(
        "scan-engine-strict",
        lambda: ss.linear_scan(_strict(U), _strict(U), engine="numba"),
        TypeError,
        "numba",
        "NumPy",
        "array_api_strict",
    ),
    Case(
        "scan-b-f16",
        lambda: ss.linear_scan(np.ones(3), np.ones(3, np.float16)),
        TypeError,
        "b",
        "float32 or float64",
        "float16",
    ),
    Case(
        "scan-x0-f16",
        lambda: ss.linear_scan(np.ones(3), np.ones(3), x0=np.float16(1)),
        TypeError,
        "x0",
        "float32 or float64",
        "float16",
    ),
    Case(
        "scan-both-names",
        lambda: ss.linear_scan(U, U, return_state=True, return_last=True),
        TypeError,
        "return_last",
        "return_state",
        "both",
    ),
    Case("assoc-fn", lambda: ss.associative_scan("add", np.ones(3)), TypeError, "fn", "callable", "str"),
    Case(
        "assoc-empty", lambda: ss.associative_scan(operator.add, ()), ValueError, "elems", "at least one array", "none"
    ),
    Case(
        "assoc-lengths",
        lambda: ss.associative_scan(operator.add, (np.ones(3), np.ones(4)), axis=0),
        ValueError,
        "elems",
        "one length",
        "(4,)",
    ),
    Case(
        "assoc-leaf-scalar",
        lambda: ss.associative_scan(operator.add, (np.ones(3), 1.0)),
        TypeError,
        "elems[1]",
        "array",
        "float",
    ),
    Case(
        "assoc-axis",
        lambda: ss.associative_scan(operator.add, np.ones(3), axis=3),
        ValueError,
        "axis",
        "out of range",
        "3",
    ),
    Case(
        "assoc-reverse",
        lambda: ss.associative_scan(operator.add, np.ones(3), reverse=1),
        TypeError,
        "reverse",
        "bool",
        "1",
    ),
    # ------------------------------------------------------------------ selective_scan
    Case("sel-u-2d", _sel(u=np.ones((3, 8))), ValueError, "u", "(batch, D, L)", "(3, 8)"),
    Case("sel-delta-shape", _sel(delta=np.ones((2, 3, 7))), ValueError, "delta", "(2, 3, 8)", "(2, 3, 7)"),
    Case("sel-A-channels", _sel(A=-np.ones((2, 4))), ValueError, "A", "D = 3", "(2, 4)"),
    Case("sel-A-1d", _sel(A=-np.ones(4)), ValueError, "A", "(D, N)", "(4,)"),
    Case("sel-B-states", _sel(B=np.ones((2, 5, 8))), ValueError, "B", "N = 4", "(2, 5, 8)"),
    Case("sel-B-batch", _sel(B=np.ones((3, 4, 8))), ValueError, "B", "batch = 2", "(3, 4, 8)"),
    Case("sel-B-time", _sel(B=np.ones((2, 4, 7))), ValueError, "B", "L = 8", "(2, 4, 7)"),
    Case("sel-B-5d", _sel(B=np.ones((1, 2, 1, 4, 8))), ValueError, "B", "(batch, G, N, L)", "(1, 2, 1, 4, 8)"),
    Case("sel-C-groups", _sel(C=np.ones((2, 2, 4, 8))), ValueError, "C", "divisible", "G = 2"),
    Case("sel-C-invariant", _sel(C=np.ones((3, 5))), ValueError, "C", "(D, N) = (3, 4)", "(3, 5)"),
    Case("sel-D-shape", _sel(D=np.ones(4)), ValueError, "D", "(3,)", "(4,)"),
    Case("sel-z-shape", _sel(z=np.ones((2, 3, 7))), ValueError, "z", "(2, 3, 8)", "(2, 3, 7)"),
    Case("sel-bias-shape", _sel(delta_bias=np.ones(2)), ValueError, "delta_bias", "(3,)", "(2,)"),
    Case("sel-x0-shape", _sel(x0=np.ones((2, 3, 5))), ValueError, "x0", "(2, 3, 4)", "(2, 3, 5)"),
    Case("sel-u-complex", _sel(u=np.ones((2, 3, 8), complex)), TypeError, "u", "real", "complex128"),
    Case("sel-B-complex-realA", _sel(B=np.ones((2, 4, 8), complex)), TypeError, "B", "complex A", "complex"),
    Case("sel-u-f16", _sel(u=np.ones((2, 3, 8), np.float16)), TypeError, "u", "float32 or float64", "float16"),
    Case("sel-delta-object", _sel(delta=np.ones((2, 3, 8), dtype=object)), TypeError, "delta", "numeric", "object"),
    Case("sel-softplus-str", _sel(delta_softplus="yes"), TypeError, "delta_softplus", "bool", "'yes'"),
    Case("sel-return_state-str", _sel(return_state="yes"), TypeError, "return_state", "bool", "'yes'"),
    Case("sel-engine-typo", _sel(engine="xpp"), ValueError, "engine", "expected one of", "'xpp'"),
    # ------------------------------------------------------------------ recurrence / step
    Case("rec-u-0d", lambda: ss.recurrence(LAM, B2, C2, np.float64(1.0)), ValueError, "u", "(..., L)", "0-d"),
    Case(
        "rec-modes",
        lambda: ss.recurrence(LAM, np.ones(3, complex), C2, np.ones(5)),
        ValueError,
        "Bb",
        "diagonal Ab, Bb, C all (..., N2)",
        "Bb (3,)",
    ),
    Case(
        "rec-x0-shape",
        lambda: ss.recurrence(LAM, B2, C2, np.ones(5), x0=np.ones(3, complex)),
        ValueError,
        "x0",
        "state shape",
        "(3,)",
    ),
    Case(
        "rec-conj-str",
        lambda: ss.recurrence(LAM, B2, C2, np.ones(5), conj="False"),
        TypeError,
        "conj",
        "bool",
        "'False'",
    ),
    Case(
        "rec-return_state-str",
        lambda: ss.recurrence(LAM, B2, C2, np.ones(5), return_state="y"),
        TypeError,
        "return_state",
        "bool",
        "'y'",
    ),
    Case(
        "rec-structure-typo",
        lambda: ss.recurrence(LAM, B2, C2, np.ones(5), structure="diagonal"),
        ValueError,
        "structure",
        "expected one of",
        "'diagonal'",
    ),
    Case(
        "rec-engine-typo",
        lambda: ss.recurrence(LAM, B2, C2, np.ones(5), engine="gpu"),
        ValueError,
        "engine",
        "expected one of",
        "'gpu'",
    ),
    Case(
        "rec-u-f16",
        lambda: ss.recurrence(LAM, B2, C2, np.ones(5, np.float16)),
        TypeError,
        "u",
        "float32 or float64",
        "float16",
    ),
    Case(
        "step-conj-str",
        lambda: ss.step(LAM, B2, C2, np.zeros(2, complex), 1.0, conj="no"),
        TypeError,
        "conj",
        "bool",
        "'no'",
    ),
    # ------------------------------------------------------------------ irregular_response / evolve
    Case(
        "irr-system-type",
        lambda: ss.irregular_response(LAM, np.ones(3), steps=np.ones(3)),
        TypeError,
        "system",
        "tuple",
        "ndarray",
    ),
    Case(
        "irr-both",
        lambda: ss.irregular_response((LAM, B2, C2), np.ones(3), steps=np.ones(3), times=np.arange(3.0)),
        ValueError,
        "times=",
        "exactly one",
        "both",
    ),
    Case(
        "irr-neither",
        lambda: ss.irregular_response((LAM, B2, C2), np.ones(3)),
        ValueError,
        "steps=",
        "exactly one",
        "neither",
    ),
    Case(
        "irr-steps-neg",
        lambda: ss.irregular_response((LAM, B2, C2), np.ones(3), steps=-np.ones(3)),
        ValueError,
        "steps",
        "positive",
        "-1.0",
    ),
    Case(
        "irr-steps-0d",
        lambda: ss.irregular_response((LAM, B2, C2), np.ones(3), steps=np.float64(1.0)),
        ValueError,
        "steps",
        "time axis",
        "0-d",
    ),
    Case(
        "irr-steps-length",
        lambda: ss.irregular_response((LAM, B2, C2), np.ones(3), steps=np.ones(4)),
        ValueError,
        "steps",
        "u has 3",
        "4 samples",
    ),
    Case(
        "irr-times-order",
        lambda: ss.irregular_response((LAM, B2, C2), np.ones(3), times=np.array([0.0, 2.0, 1.0])),
        ValueError,
        "times",
        "strictly increasing",
        "-1.0",
    ),
    Case(
        "irr-method",
        lambda: ss.irregular_response((LAM, B2, C2), np.ones(3), steps=np.ones(3), method="zooh"),
        ValueError,
        "method",
        "expected one of",
        "'zooh'",
    ),
    Case(
        "irr-conj-str",
        lambda: ss.irregular_response((LAM, B2, C2), np.ones(3), steps=np.ones(3), conj="True"),
        TypeError,
        "conj",
        "bool",
        "'True'",
    ),
    Case(
        "irr-steps-complex",
        lambda: ss.irregular_response((LAM, B2, C2), np.ones(3), steps=np.ones(3, complex)),
        TypeError,
        "steps",
        "real",
        "complex128",
    ),
    Case("evolve-conj", lambda: ss.evolve((LAM, B2, C2), B2, np.ones(2), conj=0), TypeError, "conj", "bool", "0"),
    Case("evolve-system", lambda: ss.evolve((LAM, B2), B2, np.ones(2)), TypeError, "system", "tuple", "length 2"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case):
    with pytest.raises(case.error) as info:
        case.call()
    message = str(info.value)
    for fragment in (case.argument, case.expected, case.came):
        assert fragment in message, f"{fragment!r} not in the message {message!r}"


def test_there_are_at_least_150_cases():
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)


# ---------------------------------------------------------------------- accepted inputs, checked for results
def test_lists_and_scalars_are_array_like():
    Ab, _ = ss.discretize_diag([-0.5 + 1j, -1.0], [1.0, 1.0], [0.1, 0.2], "zoh")
    want_A = np.exp(np.array([[0.1], [0.2]]) * np.array([-0.5 + 1j, -1.0]))
    np.testing.assert_allclose(Ab, want_A, rtol=1e-12)
    x = ss.linear_scan(np.full(4, 0.5), np.ones(4), x0=1.0)
    np.testing.assert_allclose(x, [1.5, 1.75, 1.875, 1.9375])
    np.testing.assert_allclose(ss.linear_scan(0.5, [1.0, 1.0, 1.0]), [1.0, 1.5, 1.75])
    out = ss.selective_scan(**SEL, D=1.0)
    np.testing.assert_allclose(out, ss.selective_scan(**SEL, D=np.ones(3)))
    np.testing.assert_allclose(ss.discretize([[-1.0]], [1.0], 0.5, "zoh")[1], [1 - np.exp(-0.5)])


def test_integer_and_bool_arrays_compute_in_float64():
    out = ss.selective_scan(SEL["u"].astype(int), SEL["delta"], SEL["A"].astype(int), SEL["B"], SEL["C"])
    assert out.dtype == np.float64
    assert ss.linear_scan(np.ones(3, bool), np.arange(3)).dtype == np.float64
    assert ss.causal_conv(np.arange(4), np.ones(2, int)).dtype == np.float64
    np.testing.assert_allclose(ss.causal_conv(np.arange(4), np.ones(2, int)), [0, 1, 3, 5])
    Ab, _ = ss.discretize(-np.eye(2, dtype=int), np.ones((2, 1), int), 1, "zoh")
    np.testing.assert_allclose(Ab, np.exp(-1) * np.eye(2), rtol=1e-12)


def test_length_one_and_empty_inputs():
    np.testing.assert_allclose(ss.linear_scan(np.full(1, 0.5), np.ones(1), x0=np.array(2.0)), [2.0])
    assert ss.linear_scan(np.ones((2, 0)), np.ones((2, 0))).shape == (2, 0)
    assert ss.causal_conv(np.ones((2, 0)), np.ones(3)).shape == (2, 0)
    np.testing.assert_allclose(ss.causal_conv(np.array([2.0]), np.array([3.0, 1.0])), [6.0])
    assert ss.kernel_diag(LAM, B2, C2, 0.1, 1).shape == (1,)
    assert ss.selective_scan(
        **{
            **SEL,
            "u": np.ones((2, 3, 0)),
            "delta": np.ones((2, 3, 0)),
            "B": np.ones((2, 4, 0)),
            "C": np.ones((2, 4, 0)),
        }
    ).shape == (2, 3, 0)
    x, last = ss.linear_scan(np.ones(0), np.ones(0), x0=np.array(3.0), return_state=True)
    assert x.shape == (0,) and float(last) == 3.0
