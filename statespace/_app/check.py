"""``statespace check``: a fast self-test that the views of one system agree on this machine.

For every available backend (NumPy, array-api-strict on its default and non-default device,
torch, CuPy) and engine (``xp``, ``numba``, ``cupy``) and both precisions, the convolution,
recurrence and scan views of a fixed S4D system, an S4 (DPLR, HiPPO-LegS) system and a dense
HiPPO system are compared with a float64 NumPy loop (deterministic seeds), and the relative
errors are printed against :data:`statespace.testing.TOLERANCES` (kind ``"views"``).  The exit
status is non-zero when any check fails or raises.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from .._engines import backends, installed
from .progress import Progress

__all__ = ["add_arguments", "run", "run_checks"]

SEED = 20261122
H, N, L = 2, 16, 256
DT = np.array([0.01, 0.1])


def add_arguments(parser) -> None:
    parser.add_argument("--quiet", action="store_true", help="print only failures and the summary line")


# --- backends and engines ------------------------------------------------------------
def _engines(backend):
    if backend == "numpy":
        return ["xp", "numba"] if installed("numba") else ["xp"]
    if backend == "cupy":
        return ["xp", "cupy"]
    return ["xp"]


# --- the systems and their float64 references ----------------------------------------
def _systems():
    from statespace import nplr, s4d_init

    rng = np.random.default_rng(SEED)
    cn = lambda *s: (rng.standard_normal(s) + 1j * rng.standard_normal(s)) / np.sqrt(2)  # noqa: E731
    lam = np.broadcast_to(np.asarray(s4d_init("lin", N)), (H, N // 2)).copy()
    rec = nplr("legs", N)
    parts = zip("LPB", (rec.Lambda, rec.P, rec.B))
    dplr = {k: np.broadcast_to(np.asarray(v), (H, *np.shape(v))).copy() for k, v in parts}
    return {
        "diag": {"Lambda": lam, "B": cn(H, N // 2), "C": cn(H, N // 2)},
        "dplr": {"Lambda": dplr["L"], "P": dplr["P"], "B": dplr["B"], "C": cn(H, N // 2)},
        "u": rng.standard_normal((2, H, L)),
    }


def _conj_dense(lam, P, B, C):
    lam_f = np.concatenate([lam, lam.conj()], -1)
    A = lam_f[..., :, None] * np.eye(lam_f.shape[-1])
    if P is not None:
        p = np.concatenate([P, P.conj()], -1)
        A = A - np.swapaxes(p, -1, -2) @ p.conj()
    return A, np.concatenate([B, B.conj()], -1), np.concatenate([C, C.conj()], -1)


def _loop(Ad, Bd, C, u):
    """Float64 sequential outputs ``Re(C x_k)`` of ``x_k = Ā x_{k−1} + B̄ u_k``."""
    x = np.zeros((u.shape[0], Ad.shape[0], Ad.shape[-1]), complex)
    y = np.zeros(u.shape)
    for k in range(u.shape[-1]):
        x = np.einsum("hij,shj->shi", Ad, x) + Bd * u[..., k, None]
        y[..., k] = np.einsum("hi,shi->sh", C, x).real
    return y


def _references(sys):
    u, dt = sys["u"], DT[:, None]
    d = sys["diag"]
    z = dt * d["Lambda"]
    Ad = np.exp(z)[..., None] * np.eye(N // 2)
    zoh_B = np.expm1(z) / d["Lambda"] * d["B"]
    half = lambda Ab, Bb: _loop(Ab, Bb, d["C"], u)  # noqa: E731  (conj=True: 2·Re of the half system)
    refs = {"diag zoh": 2 * half(Ad, zoh_B), "diag zoh_simplified": 2 * half(Ad, dt * d["B"])}
    q = sys["dplr"]
    A, B, C = _conj_dense(q["Lambda"], q["P"], q["B"], q["C"])
    eye = np.eye(N)
    M = eye - DT[:, None, None] / 2 * A
    Ab = np.linalg.solve(M, eye + DT[:, None, None] / 2 * A)
    Bb = np.linalg.solve(M, (DT[:, None] * B)[..., None])[..., 0]
    refs["dplr bilinear"] = _loop(Ab, Bb, C, u)
    refs["dense bilinear"] = refs["dplr bilinear"]
    return refs


# --- the checks --------------------------------------------------------------------------
def _views(xp, device, dtype_name, engine, sys):
    """Yield ``(check name, reference key, thunk returning the view's output)``."""
    from statespace import (
        causal_conv,
        discretize,
        discretize_diag,
        discretize_dplr,
        dplr_dense,
        kernel_diag,
        kernel_dplr,
        kernel_naive,
        linear_scan,
        recurrence,
        selective_scan,
    )

    real = getattr(xp, dtype_name)
    cplx = getattr(xp, {"float32": "complex64", "float64": "complex128"}[dtype_name])
    put = lambda a: xp.asarray(np.asarray(a), dtype=cplx if np.iscomplexobj(a) else real, device=device)  # noqa: E731
    u, dt = put(sys["u"]), put(DT)
    d = {k: put(v) for k, v in sys["diag"].items()}
    q = {k: put(v) for k, v in sys["dplr"].items()}
    numba_ok = engine != "numba"  # engines that only some functions have

    def diag_scan():
        Ab, Bb = discretize_diag(d["Lambda"], d["B"], dt, "zoh")
        x = linear_scan(Ab[..., None], Bb[..., None] * u[..., None, :], engine=engine)
        return 2 * xp.real(xp.sum(d["C"][..., None] * x, axis=-2))

    def diag_split():
        Ab, Bb = discretize_diag(d["Lambda"], d["B"], dt, "zoh")
        y1, x1 = recurrence(Ab, Bb, d["C"], u[..., : L // 3], structure="diag", return_state=True, engine=engine)
        y2 = recurrence(Ab, Bb, d["C"], u[..., L // 3 :], x0=x1, structure="diag", engine=engine)
        return xp.concat([y1, y2], axis=-1)

    yield (
        "conv∘kernel_diag",
        "diag zoh",
        lambda: causal_conv(u, kernel_diag(d["Lambda"], d["B"], d["C"], dt, L, method="zoh", engine=engine)),
    )
    yield (
        "recurrence (diag)",
        "diag zoh",
        lambda: recurrence(
            *discretize_diag(d["Lambda"], d["B"], dt, "zoh"), d["C"], u, structure="diag", engine=engine
        ),
    )
    yield "recurrence split+carry", "diag zoh", diag_split
    yield "linear_scan (diag)", "diag zoh", diag_scan
    yield (
        "selective_scan (LTI)",
        "diag zoh_simplified",
        lambda: selective_scan(u, xp.broadcast_to(dt[:, None], u.shape), d["Lambda"], d["B"], d["C"], engine=engine),
    )
    yield (
        "conv∘kernel_dplr",
        "dplr bilinear",
        lambda: causal_conv(u, kernel_dplr(q["Lambda"], q["P"], q["B"], q["C"], dt, L, ctilde=False, engine=engine)),
    )
    if numba_ok:
        yield (
            "recurrence (dplr)",
            "dplr bilinear",
            lambda: recurrence(discretize_dplr(q["Lambda"], q["P"], q["B"], dt, "bilinear"), None, q["C"], u),
        )

        def dense(view):
            A, B = dplr_dense(q["Lambda"], q["P"], q["B"])
            C = xp.concat([q["C"], xp.conj(q["C"])], axis=-1)
            Ab, Bb = discretize(A, B[..., None], dt, "bilinear")
            if view == "recurrence":
                return recurrence(Ab, Bb[..., 0], C, u, structure="dense")
            return causal_conv(u, xp.real(kernel_naive(Ab, Bb[..., 0], C, L, structure="dense")))

        yield "recurrence (dense)", "dense bilinear", lambda: dense("recurrence")
        yield "conv∘kernel_naive (dense)", "dense bilinear", lambda: dense("naive")


def run_checks(progress=None):
    """Run every check; return rows ``(check, backend, engine, dtype, error, tolerance, ok)``.

    ``progress``: a :class:`statespace._app.progress.Progress` (``statespace check`` announces checks that
    take over a second: the first use of a numba kernel compiles it); ``None``: silent.
    """
    from statespace.testing import relative_error, rtol, to_host

    sys = _systems()
    refs = _references(sys)
    rows = []
    for backend, xp, device in backends():
        for engine in _engines(backend):
            for dtype_name in ("float32", "float64"):
                tol = rtol(dtype_name, "views")
                for name, key, thunk in _views(xp, device, dtype_name, engine, sys):
                    try:
                        label = f"{name} ({backend}, {engine}, {dtype_name})"
                        with progress.step(label) if progress is not None else contextlib.nullcontext():
                            out = thunk()
                        on_device = device is None or out.device == device
                        err = relative_error(to_host(out), refs[key]) if on_device else float("inf")
                        if not on_device:
                            name += f" [left {device}]"
                    except Exception as exc:  # a crash is a failure, reported in the table
                        err, name = float("nan"), f"{name} [{type(exc).__name__}: {str(exc)[:60]}]"
                    rows.append((name, backend, engine, dtype_name, err, tol, bool(err <= tol)))
    return rows


def run(args) -> int:
    start = time.perf_counter()
    rows = run_checks(Progress(after=1.0))
    header = ("check", "backend", "engine", "dtype", "max rel error", "tolerance", "ok")
    width = [max(len(header[0]), *(len(r[0]) for r in rows)), 15, 6, 7, 13, 9, 4]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, width))  # noqa: E731
    quiet = getattr(args, "quiet", False)
    print(line(header))
    for name, backend, engine, dtype_name, err, tol, ok in rows:
        if not quiet or not ok:
            print(line((name, backend, engine, dtype_name, f"{err:.2e}", f"{tol:.0e}", "ok" if ok else "FAIL")))
    failed = sum(not r[-1] for r in rows)
    print(
        f"{len(rows) - failed}/{len(rows)} checks passed in {time.perf_counter() - start:.1f} s"
        + ("" if not failed else f"; {failed} FAILED")
    )
    return 1 if failed else 0
