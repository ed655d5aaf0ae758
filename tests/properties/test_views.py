"""The three views of one system agree: convolution, recurrence, scan (and naive powers).

For every structure (diagonal, DPLR, dense) × discretization × dtype × backend ×
engine that supports it, each view computed by ``statespace`` in the test's
precision is compared with an *independent* float64 reference: SciPy's
``cont2discrete`` on the conj-extended dense system and a sequential loop
(:mod:`strategies`).  All views therefore agree with one another within twice
``rtol(dtype, "views")`` (1e-10 / 1e-4: see ``statespace.testing``; float32 views
of long slow-decaying systems legitimately differ by ~5e-5, ssm-math.md §9.8).
Results must come back in the caller's namespace, device and precision
(array-api-strict's ``device1`` catches a silent host round-trip).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import (
    DENSE_METHODS,
    DIAG_METHODS,
    DPLR_DENSE_ONLY_METHODS,
    DPLR_METHODS,
    KERNEL_DIAG_METHODS,
    check_placed,
    ctilde_conditioned,
    dense_systems,
    diag_systems,
    dplr_systems,
    full_state,
    initial_state,
    method_alpha,
    put,
    ref_discretize,
    ref_discretize_modal,
    ref_kernel,
    ref_outputs,
    rounded,
    rounded_system,
    signals,
    skip_unsupported,
    stable_modal,
    state_kernel_conditioned,
)

import statespace as ss
from statespace.testing import assert_close

STEP_PREFIX = 48  # repeated step() is checked on the first steps only (a Python loop per step)


def _agree(views, desired, backend, dtype_name, kind="views", context=""):
    """Each view (name -> array) equals ``desired``; a view covering a prefix in time (``step``) its prefix."""
    for name, actual in views.items():
        check_placed(actual, backend, dtype_name, name)
        want = desired[..., : actual.shape[-1]] if name.startswith("step") else desired
        assert_close(actual, want, kind=kind, dtype=dtype_name, err_msg=f"view {name!r}; {context}")


def _stepped(step_fn, x, u, n):
    """Outputs of ``n`` repeated ``step`` calls, stacked on the last axis, and the final state."""
    ys = []
    for t in range(n):
        y_t, x = step_fn(x, u[..., t])
        ys.append(y_t)
    xp = ss._backend.namespace(u)
    return xp.stack(ys, axis=-1), x


def _two_re(xp, z):
    return 2 * xp.real(z)


def _affine(earlier, later):
    (a1, b1), (a2, b2) = earlier, later
    return a2 * a1, a2 * b1 + b2


@given(data=st.data())
def test_diag_views(backend, dtype_name, engine, data):
    """Diagonal S4D/S5-style systems, every ``discretize_diag`` method."""
    skip_unsupported(backend, engine)
    xp = backend.xp
    system = data.draw(diag_systems(), label="system")
    method = data.draw(st.sampled_from(DIAG_METHODS), label="method")
    alpha = method_alpha(method, data.draw)
    u = data.draw(signals((system.H,)), label="u")
    S, H, L = u.shape
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x0 = initial_state(rng, (S, H, system.N2)) if data.draw(st.booleans(), label="x0") else None
    D = rng.standard_normal(H) if data.draw(st.booleans(), label="D") else None
    system = rounded_system(stable_modal(system, method, L, alpha), dtype_name)
    u = rounded(u, dtype_name)
    x0 = None if x0 is None else rounded(x0, dtype_name)
    D = None if D is None else rounded(D, dtype_name)
    context = f"{system.origin}, {method}, alpha={alpha}, L={L}, dt={system.dt}, x0={x0 is not None}"

    Ad, Bd, Cf = ref_discretize_modal(system, method, alpha=alpha, L=L)
    y_ref, x_last = ref_outputs(Ad, Bd, Cf, u, None if x0 is None else full_state(x0))
    y_ref = y_ref.real + (0 if D is None else D[:, None] * u)
    K_ref = ref_kernel(Ad, Bd, Cf, L).real

    Lam, B, C, dt, uu = (put(backend, v, dtype_name) for v in (system.Lambda, system.B, system.C, system.dt, u))
    xx0 = None if x0 is None else put(backend, x0, dtype_name)
    DD = None if D is None else put(backend, D, dtype_name)
    kw = {"alpha": alpha} if method == "gbt" else {"L": L} if method == "dss" else {}

    Ab, Bb = ss.discretize_diag(Lam, B, dt, method, **kw)
    y_rec, x_rec = ss.recurrence(Ab, Bb, C, uu, D=DD, x0=xx0, structure="diag", return_state=True, engine=engine)
    ys = {"recurrence": y_rec}
    kernels = {}
    if engine == "xp":  # views without an engine parameter: once per backend
        kernels["kernel_naive"] = ss.kernel_naive(Ab, Bb, C, L, structure="diag")
        _assert_free_response_views(backend, dtype_name, Ab, Bb, C, uu, xx0, DD, L, ys, context)
    free = 0
    log_Ab, _ = ss.discretize_diag(Lam, B, dt, method, return_log=True, **kw)
    kernels["vandermonde"] = ss.vandermonde(C * Bb, log_Ab, L, engine=engine)
    if method in KERNEL_DIAG_METHODS:
        kernels["kernel_diag"] = ss.kernel_diag(Lam, B, C, dt, L, method=method, engine=engine)
    if xx0 is not None:  # the free response C Ā^{l+1} x0 in the kernel view: a Vandermonde sum
        free = ss.vandermonde(C * Ab * xx0, log_Ab, L, engine=engine)
    for name, K in kernels.items():
        ys[f"causal_conv∘{name}"] = ss.causal_conv(uu, K, D=DD) + free
    # scan view: the state recurrence of every mode, then the output contraction
    x_scan, x_last_scan = ss.linear_scan(
        Ab[..., None], Bb[..., None] * uu[..., None, :], x0=xx0, engine=engine, return_state=True
    )
    ys["linear_scan"] = _two_re(xp, xp.sum(C[..., None] * x_scan, axis=-2)) + (0 if DD is None else DD[:, None] * uu)
    if method == "zoh_simplified":  # Mamba's discretization: the selective scan with constant parameters
        delta = xp.broadcast_to(dt[:, None], uu.shape)
        y_sel, x_sel = ss.selective_scan(uu, delta, Lam, B, C, D=DD, x0=xx0, return_state=True, engine=engine)
        ys["selective_scan"] = y_sel
        _agree({"selective_scan state": x_sel}, x_last[..., : system.N2], backend, dtype_name, context=context)

    _agree(kernels, K_ref, backend, dtype_name, context=context)
    _agree(ys, y_ref, backend, dtype_name, context=context)
    half = x_last[..., : system.N2]
    _agree({"recurrence state": x_rec, "linear_scan state": x_last_scan}, half, backend, dtype_name, context=context)


@pytest.mark.parametrize("method", ["bilinear", "euler"])
def test_kernel_diag_zero_pole(method, engine):
    """A mode with Ā = 0 exactly (log Ā = −inf): S4D-Real (Λ = −2) at dt = 1 for bilinear, Λ = −1 for euler.

    Regression: ``exp(0·(−inf))`` made the whole kernel NaN; the l = 0 term is ``C B̄`` and the rest vanish.
    """
    Lam = np.array([[-1 + 0j, -2 + 0j]])
    B = C = np.ones((1, 2), complex)
    Ab, Bb = ss.discretize_diag(Lam, B, np.array([1.0]), method)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log_Ab, _ = ss.discretize_diag(Lam, B, np.array([1.0]), method, return_log=True)
        kernels = {"vandermonde": ss.vandermonde(C * Bb, log_Ab, 4, engine=engine)}
        if method in KERNEL_DIAG_METHODS:
            kernels["kernel_diag"] = ss.kernel_diag(Lam, B, C, np.array([1.0]), 4, method=method, engine=engine)
    for name, K in kernels.items():
        assert_close(K, ss.kernel_naive(Ab, Bb, C, 4), kind="kernel", err_msg=name)


def _assert_free_response_views(backend, dtype_name, Ab, Bb, C, uu, xx0, DD, L, ys, context):
    """Views that take no engine: repeated ``step`` and the generic ``associative_scan``."""
    xp = backend.xp
    x = xx0 if xx0 is not None else xp.zeros(uu.shape[:-1] + Ab.shape[-1:], dtype=Bb.dtype, device=backend.device)
    n = min(L, STEP_PREFIX)
    y_step, _ = _stepped(lambda x, u_t: ss.step(Ab, Bb, C, x, u_t, D=DD, structure="diag"), x, uu, n)
    ys["step"] = y_step
    a = xp.broadcast_to(Ab[..., None], uu.shape[:-1] + Ab.shape[-1:] + (L,))
    b = Bb[..., None] * uu[..., None, :]
    if xx0 is not None:  # fold x0 into the first input: b_0 <- a_0 x0 + b_0
        b = xp.concat([b[..., :1] + a[..., :1] * xx0[..., None], b[..., 1:]], axis=-1)
    _, x_assoc = ss.associative_scan(_affine, (a, b))
    skip = 0 if DD is None else DD[:, None] * uu
    ys["associative_scan"] = _two_re(xp, xp.sum(C[..., None] * x_assoc, axis=-2)) + skip


@given(data=st.data())
def test_dplr_views(backend, dtype_name, engine, data):
    """DPLR systems (S4): structured record, dense, Cauchy/Woodbury kernel and its C̃ transforms."""
    skip_unsupported(backend, engine)
    xp = backend.xp
    system = data.draw(dplr_systems(), label="system")
    method = data.draw(st.sampled_from(DPLR_METHODS + DPLR_DENSE_ONLY_METHODS), label="method")
    alpha = method_alpha(method, data.draw)
    u = data.draw(signals((system.H,)), label="u")
    S, H, L = u.shape
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x0 = initial_state(rng, (S, H, system.N2)) if data.draw(st.booleans(), label="x0") else None
    system = rounded_system(stable_modal(system, method, L, alpha), dtype_name)
    u = rounded(u, dtype_name)
    x0 = None if x0 is None else rounded(x0, dtype_name)
    context = f"{system.origin}, {method}, alpha={alpha}, L={L}, dt={system.dt}, x0={x0 is not None}"

    Ad, Bd, Cf = ref_discretize_modal(system, method, alpha=alpha)
    y_ref, x_last = ref_outputs(Ad, Bd, Cf, u, None if x0 is None else full_state(x0))
    y_ref = y_ref.real
    K_ref = ref_kernel(Ad, Bd, Cf, L).real

    Lam, P, B, C, dt, uu = (
        put(backend, v, dtype_name) for v in (system.Lambda, system.P, system.B, system.C, system.dt, u)
    )
    xx0 = None if x0 is None else put(backend, x0, dtype_name)
    kw = {"alpha": alpha} if method == "gbt" else {}
    ys, kernels, states = {}, {}, {}
    if method in DPLR_METHODS:
        record = ss.discretize_dplr(Lam, P, B, dt, method, **kw)
        assert isinstance(record, ss.DiscreteDPLR)
        if engine == "xp":  # the DPLR recurrence runs in array-API code only
            ys["recurrence(DPLR)"], states["recurrence(DPLR)"] = ss.recurrence(
                record, None, C, uu, x0=xx0, return_state=True, engine=engine
            )
            x = xx0 if xx0 is not None else xp.zeros((S, H, system.N2), dtype=record.Bb.dtype, device=backend.device)
            ys["step(DPLR)"], _ = _stepped(lambda x, u_t: ss.step(record, None, C, x, u_t), x, uu, min(L, STEP_PREFIX))
    if method == "bilinear" and ctilde_conditioned(Ad, L, dtype_name):
        if xx0 is None or not state_kernel_conditioned(Ad, L, dtype_name):
            K, K_state = ss.kernel_dplr(Lam, P, B, C, dt, L, ctilde=False, engine=engine), 0
            y_ref_conv = y_ref if xx0 is None else None
        else:  # state forwarding: y = causal_conv(u, K) + C Ā^{l+1} x0
            K, K_state = ss.kernel_dplr(Lam, P, B, C, dt, L, x0=xx0, ctilde=False, engine=engine)
            y_ref_conv = y_ref
        kernels["kernel_dplr(C)"] = K
        if y_ref_conv is not None:
            ys["causal_conv∘kernel_dplr"] = ss.causal_conv(uu, K) + K_state
        Ct = ss.dplr_ctilde(Lam, P, C, dt, L)
        kernels["kernel_dplr(C̃)"] = ss.kernel_dplr(Lam, P, B, Ct, dt, L, engine=engine)
        if engine == "xp":
            _check_ctilde_transforms(backend, dtype_name, system, Lam, P, C, dt, L, Ct, context)
    if engine == "xp":
        A_dense, _ = ss.dplr_dense(Lam, P, B)
        _agree({"dplr_dense A": A_dense}, system.dense()[0], backend, dtype_name, kind="elementwise", context=context)
        Abd, Bbd = ss.discretize_dplr(Lam, P, B, dt, method, dense=True, **kw)
        Cfb = put(backend, Cf, dtype_name)
        x0f = None if xx0 is None else xp.concat([xx0, xp.conj(xx0)], axis=-1)
        ys["recurrence(dense)"], states["recurrence(dense)"] = ss.recurrence(
            Abd, Bbd, Cfb, uu, x0=x0f, structure="dense", return_state=True
        )
        states["recurrence(dense)"] = states["recurrence(dense)"][..., : system.N2]
        kernels["kernel_naive(dense)"] = xp.real(ss.kernel_naive(Abd, Bbd, Cfb, L, structure="dense"))
        if x0 is None:
            ys["causal_conv∘kernel_naive"] = ss.causal_conv(uu, kernels["kernel_naive(dense)"])

    _agree(kernels, K_ref, backend, dtype_name, context=context)
    _agree(ys, y_ref, backend, dtype_name, context=context)
    _agree(states, x_last[..., : system.N2], backend, dtype_name, context=context)


def _check_ctilde_transforms(backend, dtype_name, system, Lam, P, C, dt, L, Ct, context):
    """C̃ = (I − Ā^L)ᵀC (bilinear Ā), its length doubling and (where well conditioned) its inverse."""
    Ad, _, Cf = ref_discretize_modal(system, "bilinear")
    N2 = system.N2
    Ct_ref = np.einsum("hji,hj->hi", np.eye(2 * N2) - np.linalg.matrix_power(Ad, L), Cf)[..., :N2]
    Ct2_ref = np.einsum("hji,hj->hi", np.eye(2 * N2) - np.linalg.matrix_power(Ad, 2 * L), Cf)[..., :N2]
    views = {"dplr_ctilde": (Ct, Ct_ref), "dplr_ctilde_double": (ss.dplr_ctilde_double(Lam, P, Ct, dt, L), Ct2_ref)}
    # The inverse solves with I − Ā^L, singular as |Ā| -> 1: checked where that matrix is well conditioned.
    if ctilde_conditioned(Ad, L, dtype_name):
        views["dplr_ctilde_inverse"] = (ss.dplr_ctilde_inverse(Lam, P, Ct, dt, L), system.C)
    for name, (actual, desired) in views.items():
        _agree({name: actual}, desired, backend, dtype_name, context=context)


@given(data=st.data())
def test_dense_views(backend, dtype_name, data):
    """Dense real systems (HiPPO matrices, random contractive): ``discretize``, ``expm``, ``cont2discrete``.

    The dense recurrence and ``expm`` run in array-API code only (no numba engine to sweep).
    """
    xp = backend.xp
    system = data.draw(dense_systems(), label="system")
    method = data.draw(st.sampled_from(DENSE_METHODS), label="method")
    alpha = method_alpha(method, data.draw)
    u = data.draw(signals((system.H,)), label="u")
    S, H, L = u.shape
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    N = system.A.shape[-1]
    x0 = rng.standard_normal((S, H, N)) if data.draw(st.booleans(), label="x0") else None
    D = rng.standard_normal(H)
    system = rounded_system(stable_modal(system, method, L, alpha), dtype_name)
    u, D = rounded(u, dtype_name), rounded(D, dtype_name)
    x0 = None if x0 is None else rounded(x0, dtype_name)
    context = f"{system.origin}, {method}, alpha={alpha}, L={L}, dt={system.dt}, x0={x0 is not None}"

    Ad, Bd = ref_discretize(system.A, system.B, system.dt, method, alpha=alpha)
    y_ref, x_last = ref_outputs(Ad, Bd, system.C, u, x0)
    y_ref, x_last = y_ref.real + D[:, None] * u, x_last.real
    K_ref = ref_kernel(Ad, Bd, system.C, L).real

    A, B, C, dt, uu, DD = (put(backend, v, dtype_name) for v in (system.A, system.B, system.C, system.dt, u, D))
    xx0 = None if x0 is None else put(backend, x0, dtype_name)
    kw = {"alpha": alpha} if method == "gbt" else {}
    Ab, Bb = ss.discretize(A, B[..., None], dt, method, **kw)
    Bb = Bb[..., 0]
    y_rec, x_rec = ss.recurrence(Ab, Bb, C, uu, D=DD, x0=xx0, structure="dense", return_state=True)
    K = ss.kernel_naive(Ab, Bb, C, L, structure="dense")
    x = xx0 if xx0 is not None else xp.zeros((S, H, N), dtype=Ab.dtype, device=backend.device)
    y_step, _ = _stepped(lambda x, u_t: ss.step(Ab, Bb, C, x, u_t, D=DD, structure="dense"), x, uu, min(L, STEP_PREFIX))
    ys = {"recurrence": y_rec, "step": y_step}
    if x0 is None:
        ys["causal_conv∘kernel_naive"] = ss.causal_conv(uu, K, D=DD)
    _agree({"kernel_naive": K}, K_ref, backend, dtype_name, context=context)
    _agree(ys, y_ref, backend, dtype_name, context=context)
    _agree({"recurrence state": x_rec}, x_last, backend, dtype_name, context=context)

    if method == "zoh":  # expm of the scaled state matrix is Ā, on every engine that takes these arrays
        dtA = dt[:, None, None] * A
        for expm_engine in ("xp", None) if backend.name == "numpy" else ("xp",):  # None: SciPy for n >= 16
            _agree(
                {f"expm[{expm_engine}]": ss.expm(dtA, engine=expm_engine)},
                Ad,
                backend,
                dtype_name,
                kind="elementwise",
                context=context,
            )

    if method in ("zoh_simplified", "impulse"):  # not a SciPy method / SciPy's impulse needs D = 0
        return
    # cont2discrete (SciPy's convention, C and D transformed): its discrete system, run through two views.
    sys_ref = [scipy_c2d(system, D, h, method, alpha) for h in range(H)]
    Ad_s, Bd_s, Cd_s, Dd_s = (np.stack([r[i] for r in sys_ref]) for i in range(4))
    y_c2d_ref = ref_outputs(Ad_s, Bd_s[..., 0], Cd_s[:, 0], u)[0].real + Dd_s[:, 0, 0, None] * u
    Ad_c, Bd_c, Cd_c, Dd_c, _ = ss.cont2discrete((A, B[..., None], C[:, None, :], DD[:, None, None]), dt, method, **kw)
    y_c2d = ss.recurrence(Ad_c, Bd_c, Cd_c, uu[..., None, :], D=Dd_c[..., 0], structure="dense")[..., 0, :]
    K_c2d = ss.kernel_naive(Ad_c, Bd_c[..., 0], Cd_c[..., 0, :], L, structure="dense")
    y_c2d_conv = ss.causal_conv(uu, K_c2d, D=Dd_c[..., 0, 0])
    _agree(
        {"recurrence∘cont2discrete": y_c2d, "causal_conv∘cont2discrete": y_c2d_conv},
        y_c2d_ref,
        backend,
        dtype_name,
        context=context,
    )


def scipy_c2d(system, D, h, method, alpha):
    import scipy.signal

    kw = {"alpha": alpha} if method == "gbt" else {}
    scipy_method = {"backward_euler": "backward_diff", "zoh_simplified": "zoh"}.get(method, method)
    return scipy.signal.cont2discrete(
        (system.A[h], system.B[h][:, None], system.C[h][None], np.array([[D[h]]])),
        float(system.dt[h]),
        method=scipy_method,
        **kw,
    )[:4]
