"""Hypothesis strategies for the property suite, and the independent float64 references.

Systems are drawn the way users meet them (HiPPO measures through ``nplr``, S4D
initializations, random stable dense / diagonal / DPLR systems including nearly
marginal and fast-decaying ones) as *host float64* descriptions; a test rounds
them to its precision (:func:`rounded`) and moves them to its backend.  Array
contents come from a drawn seed (``numpy.random.default_rng``): hypothesis
chooses the structure, sizes, step sizes and the seed, and shrinks those.
Magnitudes are bounded by construction (no ``assume``): ``Re Λ < 0``, ``|P|`` and
``|B|, |C|`` of order one, ``dt`` in ``[1e-4, 1]`` (four decades), and Euler-type
steps clamped so that ``|Ā|^L`` stays below ``e`` (:func:`euler_bound`).

The references (:func:`ref_discretize`, :func:`ref_outputs`, :func:`ref_kernel`)
are plain NumPy/SciPy float64 code that shares nothing with ``statespace``:
discretization through ``scipy.signal.cont2discrete`` / ``scipy.linalg.expm``
per system, outputs by a sequential float64 loop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.linalg
import scipy.signal
from hypothesis import strategies as st

import statespace as ss
from statespace.testing import rtol

COMPLEX = {"float32": "complex64", "float64": "complex128"}

# Lengths: 1, small primes, powers of two and their neighbours; L <= 512 keeps the CI profile fast.
LENGTHS = (1, 2, 3, 5, 7, 8, 13, 16, 31, 32, 61, 64, 127, 128, 251, 256, 509, 512)
SHORT_LENGTHS = (1, 2, 3, 5, 8, 13, 16, 31, 64)
HIPPO_MEASURES = ("legs", "legt", "lagt", "fout")
S4D_KINDS = ("lin", "inv", "legs", "real")
# Methods per structure.  Diagonal: every method of ``discretize_diag``; the kernel view
# ``kernel_diag`` serves the subset KERNEL_DIAG_METHODS; DPLR records: the gbt family.
DIAG_METHODS = ("zoh", "bilinear", "zoh_simplified", "dss", "euler", "backward_euler", "gbt", "foh", "impulse")
KERNEL_DIAG_METHODS = ("zoh", "bilinear", "zoh_simplified", "dss")
DENSE_METHODS = ("zoh", "bilinear", "zoh_simplified", "euler", "backward_euler", "gbt", "foh", "impulse")
DPLR_METHODS = ("bilinear", "euler", "backward_euler", "gbt")
DPLR_DENSE_ONLY_METHODS = ("zoh", "foh", "impulse", "zoh_simplified")

seeds = st.integers(0, 2**32 - 1)


@dataclass(frozen=True)
class Modal:
    """A batch of H modal systems on the host, float64/complex128, conj-paired modes.

    ``P is None`` for a diagonal system; ``P (H, r, N2)`` for DPLR ``A = diag([Λ, Λ̄]) − p p^*``.
    """

    Lambda: np.ndarray  # (H, N2)
    B: np.ndarray  # (H, N2)
    C: np.ndarray  # (H, N2)
    dt: np.ndarray  # (H,)
    P: np.ndarray | None = None  # (H, r, N2)
    origin: str = ""

    @property
    def H(self):
        return self.Lambda.shape[0]

    @property
    def N2(self):
        return self.Lambda.shape[-1]

    def dense(self):
        """Conj-extended dense ``(A (H, N, N), B (H, N), C (H, N))`` (independent of statespace)."""
        lam = np.concatenate([self.Lambda, self.Lambda.conj()], -1)
        A = lam[..., :, None] * np.eye(lam.shape[-1])
        if self.P is not None:
            p = np.concatenate([self.P, self.P.conj()], -1)  # (H, r, N)
            A = A - np.swapaxes(p, -1, -2) @ p.conj()
        return A, np.concatenate([self.B, self.B.conj()], -1), np.concatenate([self.C, self.C.conj()], -1)


@dataclass(frozen=True)
class Dense:
    """A batch of H dense systems on the host: ``A (H, N, N)``, ``B (H, N)``, ``C (H, N)``, ``dt (H,)``."""

    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    dt: np.ndarray
    origin: str = ""

    @property
    def H(self):
        return self.A.shape[0]


# --- step sizes ----------------------------------------------------------------------
@st.composite
def steps(draw, H):
    """``H`` steps log-uniform in a window of ``[1e-4, 1]`` (drawn with ``log_dt_init``)."""
    lo = draw(st.floats(-4.0, 0.0))
    hi = min(0.0, lo + draw(st.floats(0.0, 1.0)))
    log_dt = ss.log_dt_init(H, 10.0**lo, 10.0**hi, rng=draw(seeds))
    return np.exp(np.asarray(log_dt, dtype=np.float64))


def _complex_normal(rng, shape, scale=1.0):
    return scale * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


# --- diagonal spectra ------------------------------------------------------------------
@st.composite
def spectra(draw, N2):
    """``(Lambda (N2,), B (N2,) or None, origin)``: the spectra users meet, all with ``Re Λ < 0``."""
    kind = draw(st.sampled_from(("s4d", "hippo", "random", "marginal", "fast")))
    rng = np.random.default_rng(draw(seeds))
    if kind == "s4d":
        init = draw(st.sampled_from(S4D_KINDS))
        return np.asarray(ss.s4d_init(init, 2 * N2)), None, f"s4d-{init}"
    if kind == "hippo":
        measure = draw(st.sampled_from(HIPPO_MEASURES))
        # legt/lagt/fout have Re Λ = 0 normal parts (and fout a zero pair): clamp, as S4 does.
        rec = ss.nplr(measure, 2 * N2, real_clamp=None if measure == "legs" else 1e-4)
        assert isinstance(rec, ss.NPLR)
        return np.asarray(rec.Lambda), np.asarray(rec.B), f"nplr-{measure}"
    imag = rng.uniform(-30, 30, N2)
    if kind == "random":
        real = -(10.0 ** rng.uniform(-2, 1, N2))
    elif kind == "marginal":  # |Ā| = exp(dt Re Λ) -> 1
        real = -(10.0 ** rng.uniform(-6, -3, N2))
    else:  # fast-decaying: dt Re Λ down to -1e3
        real = -(10.0 ** rng.uniform(1, 3, N2))
    return real + 1j * imag, None, kind


@st.composite
def diag_systems(draw, max_modes=8, max_channels=3):
    """Diagonal (S4D-style) systems, conj-paired: ``Modal`` with ``P=None``."""
    H = draw(st.integers(1, max_channels))
    N2 = draw(st.integers(1, max_modes))
    Lambda, B, origin = draw(spectra(N2))
    rng = np.random.default_rng(draw(seeds))
    B = np.broadcast_to(B, (H, N2)).copy() if B is not None else _complex_normal(rng, (H, N2))
    C = _complex_normal(rng, (H, N2))
    return Modal(np.broadcast_to(Lambda, (H, N2)).copy(), B, C, draw(steps(H)), origin=origin)


@st.composite
def dplr_systems(draw, max_modes=8, max_channels=2):
    """DPLR systems ``A = diag([Λ, Λ̄]) − p p^*``: HiPPO through ``nplr`` or random stable ones."""
    H = draw(st.integers(1, max_channels))
    N2 = draw(st.integers(1, max_modes))
    rng = np.random.default_rng(draw(seeds))
    if draw(st.booleans()):
        measure = draw(st.sampled_from(HIPPO_MEASURES))
        rank = 2 if measure == "legt" else 1
        rec = ss.nplr(measure, 2 * N2, rank=rank, real_clamp=1e-4 if measure == "fout" else None)
        Lambda, P, B = (np.asarray(v) for v in (rec.Lambda, rec.P, rec.B))
        origin = f"nplr-{measure}"
    else:
        # Stable by construction: Re(diag Λ − pp^*) part is Re Λ − (pp^*) ≤ Re Λ < 0 (pp^* is PSD).
        Lambda, _, origin = draw(spectra(N2))
        rank = draw(st.integers(1, 2))
        P = _complex_normal(rng, (rank, N2), scale=draw(st.sampled_from((0.1, 1.0))))
        B = _complex_normal(rng, (N2,))
    C = _complex_normal(rng, (H, N2))
    bcast = lambda x: np.broadcast_to(x, (H, *x.shape)).copy()  # noqa: E731
    return Modal(bcast(Lambda), bcast(B), C, draw(steps(H)), P=bcast(P), origin=origin)


@st.composite
def dense_systems(draw, max_state=8, max_channels=2):
    """Real dense systems: HiPPO matrices (non-normal) or random contractive ones (``A + Aᵀ < 0``)."""
    H = draw(st.integers(1, max_channels))
    N = draw(st.integers(1, max_state))
    rng = np.random.default_rng(draw(seeds))
    if draw(st.booleans()):
        measure = draw(st.sampled_from(HIPPO_MEASURES))
        N += N % 2  # fout needs an even N
        A, B = (np.asarray(v, dtype=np.float64) for v in ss.hippo(measure, N))
        origin = f"hippo-{measure}"
        A, B = np.broadcast_to(A, (H, N, N)).copy(), np.broadcast_to(B, (H, N)).copy()
    else:
        G = rng.standard_normal((H, N, N)) / np.sqrt(N)
        S = rng.standard_normal((H, N, N))
        scale = 10.0 ** draw(st.floats(-2, 2))
        A = scale * ((S - np.swapaxes(S, -1, -2)) / 2 - G @ np.swapaxes(G, -1, -2) - 1e-3 * np.eye(N))
        B = rng.standard_normal((H, N))
        origin = "random-contractive"
    C = rng.standard_normal((H, N))
    return Dense(A, B, C, draw(steps(H)), origin=origin)


@st.composite
def signals(draw, batch_shape, complex_ok=False, L=None):
    """Inputs ``(S, *batch_shape, L)`` (``S`` in 1..2), real or (if allowed) complex."""
    L = draw(st.sampled_from(LENGTHS)) if L is None else L
    S = draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(seeds))
    shape = (S, *batch_shape, L)
    if complex_ok and draw(st.booleans()):
        return _complex_normal(rng, shape)
    return rng.standard_normal(shape)


def initial_state(rng, shape, complex_state=True):
    return _complex_normal(rng, shape) if complex_state else rng.standard_normal(shape)


# --- bounds instead of assume() ------------------------------------------------------
def euler_bound(eigenvalues, dt, L):
    """Clamp forward-Euler steps so that ``|Ā|^L`` stays below ``e``.

    ``Ā = 1 + z`` needs ``|1 + z|² ≤ 1 + 2/L``, i.e.
    ``dt ≤ (−Re λ + sqrt(Re λ² + 2|λ|²/L)) / |λ|²`` for every eigenvalue of a system.
    """
    lam = np.asarray(eigenvalues).reshape(len(dt), -1)
    mag2 = np.abs(lam) ** 2
    safe = np.where(mag2 > 0, mag2, 1.0)
    limit = np.where(mag2 > 0, (-lam.real + np.sqrt(lam.real**2 + 2 * mag2 / L)) / safe, np.inf)
    return np.minimum(dt, 0.999 * np.min(limit, axis=-1))


def method_alpha(method, draw):
    """The gbt parameter: drawn in [0, 1] for ``gbt`` (None otherwise)."""
    return draw(st.floats(0.0, 1.0)) if method == "gbt" else None


def stable_modal(system, method, L, alpha=None):
    """``system`` with dt clamped for Euler-type methods (forward Euler, gbt with alpha < 1/2).

    gbt(a): ``|Ā| = |1 + (1−a) z| / |1 − a z| ≤ |1 + (1−a) z|`` for ``Re z < 0``, so the forward-Euler
    bound applied to ``(1−a) dt`` suffices.  ``alpha ≥ 1/2`` (and every other method) is stable as drawn.
    """
    a = {"euler": 0.0, "gbt": alpha}.get(method, 1.0)
    if a >= 0.5:
        return system
    if isinstance(system, Dense):
        eig = np.linalg.eigvals(system.A)
    else:
        eig = np.linalg.eigvals(system.dense()[0]) if system.P is not None else system.Lambda
    return replace(system, dt=euler_bound(eig, system.dt * (1 - a), L) / (1 - a))


# --- precision ---------------------------------------------------------------------------
def rounded(x, dtype_name):
    """``x`` rounded to ``dtype_name`` precision and back to float64/complex128 (the exact system tested)."""
    x = np.asarray(x)
    if np.iscomplexobj(x):
        return x.astype(COMPLEX[dtype_name]).astype(np.complex128)
    return x.astype(dtype_name).astype(np.float64)


def rounded_system(system, dtype_name):
    fields = {k: rounded(v, dtype_name) for k, v in vars(system).items() if isinstance(v, np.ndarray)}
    return replace(system, **fields)


# --- independent float64 references ------------------------------------------------------
_SCIPY_METHOD = {"backward_euler": "backward_diff", "zoh_simplified": "zoh", "dss": "zoh"}


def ref_discretize(A, B, dt, method, alpha=None, L=None):
    """Discretize dense systems ``A (H, N, N)``, ``B (H, N)`` one by one with SciPy (float64).

    ``zoh_simplified`` (Mamba) is ZOH's ``Ā`` with ``B̄ = Δ B``; ``dss`` (diagonal ``A``
    only) is ZOH's ``B̄`` divided elementwise by ``expm1(L Δ λ)``.
    """
    Ads, Bds = [], []
    for h in range(A.shape[0]):
        a, b = A[h], B[h][:, None]
        kw = {"alpha": alpha} if method == "gbt" else {}
        Ad, Bd, *_ = scipy.signal.cont2discrete(
            (a, b, np.eye(a.shape[0]), np.zeros((a.shape[0], 1))),
            float(dt[h]),
            method=_SCIPY_METHOD.get(method, method),
            **kw,
        )
        if method == "zoh_simplified":
            Bd = dt[h] * b
        elif method == "dss":
            Bd = Bd / np.expm1(L * dt[h] * np.diag(a))[:, None]
        Ads.append(Ad)
        Bds.append(Bd[:, 0])
    return np.stack(Ads), np.stack(Bds)


def ref_discretize_modal(system, method, alpha=None, L=None):
    """``(Ā (H, N, N), B̄ (H, N), C (H, N))`` of a modal system in the conj-extended basis (float64)."""
    A, B, C = system.dense()
    Ad, Bd = ref_discretize(A, B, system.dt, method, alpha=alpha, L=L)
    return Ad, Bd, C


def ref_outputs(Ad, Bd, C, u, x0=None):
    """Sequential float64 loop: ``x_k = Ā x_{k−1} + B̄ u_k``, ``y_k = C x_k``; also the final state.

    ``Ad (H, N, N)``, ``Bd (H, N)``, ``C (H, N)``, ``u (S, H, L)``, ``x0 (S, H, N)`` (full state).
    """
    S, H, L = u.shape
    x = np.zeros((S, H, Ad.shape[-1]), complex) if x0 is None else np.asarray(x0, complex)
    y = np.zeros((S, H, L), complex)
    for k in range(L):
        x = np.einsum("hij,shj->shi", Ad, x) + Bd * u[..., k, None]
        y[..., k] = np.einsum("hi,shi->sh", C, x)
    return y, x


def ref_kernel(Ad, Bd, C, L):
    """``K_l = C Ā^l B̄`` by a float64 loop, ``(H, L)``."""
    K = np.zeros((Ad.shape[0], L), complex)
    v = np.asarray(Bd, complex)
    for l in range(L):
        K[:, l] = np.einsum("hi,hi->h", C, v)
        v = np.einsum("hij,hj->hi", Ad, v)
    return K


def full_state(x_half):
    """Conj-extended full state ``[x; x̄]`` of a half state."""
    return np.concatenate([x_half, np.conj(x_half)], -1)


def ctilde_conditioned(Ad, L, dtype_name):
    """Whether the C̃ route is well conditioned enough for the "views" tolerance at this precision.

    ``kernel_dplr`` (and ``dplr_ctilde_inverse``) go through ``I − Ā^L``; a nearly marginal mode
    (``|Ā|^L → 1``, e.g. fout's clamped ``Re Λ = −1e-4`` at short ``L``) makes it nearly singular and
    the forward error grows like ``cond(I − Ā^L)·eps`` (measured: 5e-4 in float32 at cond ≈ 2e4).
    The bound ``10·cond·eps ≤ rtol`` keeps such systems out of those views (a bound, not an assume).
    """
    M = np.eye(Ad.shape[-1]) - np.linalg.matrix_power(Ad, L)
    cond = float(np.max(np.linalg.cond(M)))
    return 10 * cond * np.finfo(dtype_name).eps <= rtol(dtype_name, "views")


def state_kernel_conditioned(Ad, L, dtype_name):
    """Whether ``kernel_dplr``'s initial-state part ``C Ā^{l+1} x0`` can meet the "views" tolerance.

    It is a resolvent sum, ``(I − Ā ω_j)^{-1}`` at the L-th roots of unity: its rounding error grows
    like ``κ = max_j ‖(I − Ā ω_j)^{-1}‖₂`` (large when ``|Ā| → 1``).  Measured: float32 5e-4 at
    κ ≈ 430 (fout-like spectrum, dt = 1, L = 1), float64 8e-13 there, i.e. ~10·κ·eps; so
    ``100·κ·eps ≤ rtol`` (a bound on the drawn system, not an assume).
    """
    omega = np.exp(-2j * np.pi * np.arange(L) / L)
    eye = np.eye(Ad.shape[-1])
    kappa = max(float(np.max(1 / np.linalg.svd(eye - Ad * w, compute_uv=False)[..., -1])) for w in omega)
    return 100 * kappa * np.finfo(dtype_name).eps <= rtol(dtype_name, "views")


# --- placement ---------------------------------------------------------------------------
def put(backend, x, dtype_name):
    """Host data onto ``backend`` at precision ``dtype_name`` (complex data as the matching complex dtype)."""
    x = np.asarray(x)
    return backend.asarray(x, COMPLEX[dtype_name] if np.iscomplexobj(x) else dtype_name)


def check_placed(out, backend, dtype_name, what):
    """``out`` lives in ``backend``'s namespace, on its device, at precision ``dtype_name``."""
    probe = backend.asarray(np.zeros(1), dtype_name)
    assert type(out) is type(probe), f"{what}: returned {type(out).__name__}, expected {type(probe).__name__}"
    if backend.device is not None:
        assert out.device == backend.device, f"{what}: result on {out.device}, inputs on {backend.device}"
    precision = str(out.dtype).rsplit(".", 1)[-1]
    assert precision in (dtype_name, COMPLEX[dtype_name]), f"{what}: dtype {out.dtype} for {dtype_name} inputs"


def skip_unsupported(backend, engine):
    """The numba engine takes NumPy arrays only (the other backends are covered by ``xp``)."""
    import pytest

    if engine == "numba" and backend.name != "numpy":
        pytest.skip("the numba engine takes NumPy arrays only")
