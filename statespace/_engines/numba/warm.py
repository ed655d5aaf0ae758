"""Tiny calls that make Numba compile every kernel of this engine, for :func:`compile_all`.

One call per kernel and per dtype it is specialised for (the wrappers in this folder split complex data
into real parts and keep the precision, so float32 and float64 are the specialisations; the Cauchy kernels'
output keeps the caller's complex dtype), and for the selective scan both with and without Mamba's gate and
softplus (optional features are compiled only when a call uses them). The selective scan's real kernels are two:
lanes across states for states one or two vectors wide (``N = 16``, Mamba's, here with the gate and softplus)
and for B and C fixed in time (``N = 4``), compiled per state width; lanes across channels otherwise (``N = 4``). Each
call goes through the public function with ``engine="numba"``, so the argument types are exactly the ones real
calls compile for.
"""

from __future__ import annotations

from functools import partial

__all__ = ["calls"]


def calls():
    """``[(label, thunk), ...]``: every kernel of the engine in float32 and float64."""
    import numpy as np

    import statespace as ss
    from statespace import vjp

    rng = np.random.default_rng(0)
    H, N2, L = 64, 4, 8  # H: two channel blocks of the recurrence (a parallel launch needs two tasks)
    nb = {"engine": "numba"}
    mamba = {"delta_softplus": True, **nb}  # Mamba's layer: softplus on Δ and the SiLU gate (their own compile)
    out = []
    for real, cplx in ((np.float32, np.complex64), (np.float64, np.complex128)):
        name = np.dtype(real).name
        Lam = (-0.5 + 1j * np.arange(1, N2 + 1) * np.ones((H, 1))).astype(cplx)
        v = (rng.standard_normal((H, N2)) + 1j).astype(cplx)
        z = np.exp(1j * np.arange(L)).astype(cplx)
        P = (rng.standard_normal((1, N2)) + 0j).astype(cplx)
        dt = np.full(H, 0.1, real)
        u = rng.standard_normal((H, L)).astype(real)
        Ab, Bb = ss.discretize_diag(Lam, v, dt, "zoh")
        a = np.full((H, L), 0.5, real)
        us = rng.standard_normal((2, H, L)).astype(real)
        delta = np.full((2, H, L), 0.1, real)
        A = -np.ones((H, N2), real)
        Bv = rng.standard_normal((2, N2, L)).astype(real)
        A16, B16 = -np.ones((H, 16), real), rng.standard_normal((2, 16, L)).astype(real)  # Mamba's N: by channel
        c = cplx
        Ac = A * (1 + 1j)
        out += [
            (f"cauchy {name}", partial(ss.cauchy, v, z, Lam, engine="numba")),
            (f"kernel_dplr {name}", partial(ss.kernel_dplr, Lam, P, v, v, dt, L, engine="numba")),
            (f"vandermonde {name}", partial(ss.vandermonde, v, 0.01 * Lam, L, engine="numba")),
            (f"linear_scan {name}", partial(ss.linear_scan, a, u, engine="numba")),
            (f"linear_scan {np.dtype(c).name}", partial(ss.linear_scan, a.astype(c), u.astype(c), engine="numba")),
            (f"recurrence {name}", partial(ss.recurrence, Ab, Bb, v, u, structure="diag", engine="numba")),
            (f"recurrence {name} complex y", partial(ss.recurrence, Ab, Bb, v, u, structure="diag", conj=False, **nb)),
            (f"selective_scan {name}", partial(ss.selective_scan, us, delta, A, Bv, Bv, engine="numba")),
            (f"selective_scan {name} N=16, gate, softplus", partial(ss.selective_scan, us, delta, A16, B16, B16, z=us,
                                                                    **mamba)),
            (f"selective_scan {name} fixed B, C", partial(ss.selective_scan, us, delta, A, A, A, engine="numba")),
            (f"selective_scan {name} complex A", partial(ss.selective_scan, us, delta, Ac, A, A, engine="numba")),
            # the backward kernels (statespace.vjp), in the layouts of the forwards above
            (f"vjp.vandermonde {name}", partial(vjp.vandermonde, v, 0.01 * Lam, L, grad_y=u, **nb)),
            (f"vjp.linear_scan {name}", partial(vjp.linear_scan, a, u, grad_y=u, **nb)),
            (f"vjp.linear_scan {np.dtype(c).name}", partial(vjp.linear_scan, a.astype(c), u.astype(c), grad_y=u, **nb)),
            (f"vjp.recurrence {name}", partial(vjp.recurrence, Ab, Bb, v, u, grad_y=u, **nb)),
            (f"vjp.selective_scan {name}", partial(vjp.selective_scan, us, delta, A, Bv, Bv, grad_y=us, **nb)),
            (f"vjp.selective_scan {name} fixed B, C", partial(vjp.selective_scan, us, delta, A, A, A, grad_y=us, **nb)),
            (f"vjp.selective_scan {name} complex A", partial(vjp.selective_scan, us, delta, Ac, A, A, grad_y=us, **nb)),
        ]  # fmt: skip
    return out
