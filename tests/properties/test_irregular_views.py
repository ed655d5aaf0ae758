"""Irregular sampling, forecasting and bidirectional convolution against independent float64 references.

* ``irregular_response`` on a diagonal system with random positive steps equals a float64 loop of the
  exact per-interval ZOH update (``e^{Λ Δ_k}``, ``expm1(Λ Δ_k)/Λ``), with and without ``x0``; the state
  it returns, carried into ``evolve``, equals the free response of that loop.
* ``evolve`` by ``δ₁`` then ``δ₂`` equals ``evolve`` by ``δ₁ + δ₂`` (the semigroup property).
* ``bidirectional_conv`` equals a forward causal sum plus an anti-causal sum whose first tap meets
  ``u_{t+1}`` (S4's definition), written as direct double sums; ``bidirectional_kernel`` places the taps.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from strategies import SHORT_LENGTHS, check_placed, diag_systems, initial_state, put

import statespace as ss
from statespace.testing import assert_close

seeds = st.integers(0, 2**32 - 1)


def _zoh_loop(system, steps, u, x0):
    """Float64 reference: x_k = e^{ΛΔ_k} x_{k−1} + (e^{ΛΔ_k} − 1)/Λ · B u_k, y_k = 2 Re(C x_k)."""
    x = np.zeros(u.shape[:-1] + (system.N2,), complex) if x0 is None else x0.astype(complex)
    ys = []
    for k in range(u.shape[-1]):
        z = system.Lambda * steps[..., k, None]
        x = np.exp(z) * x + np.expm1(z) / system.Lambda * system.B * u[..., k, None]
        ys.append(2 * np.real(np.sum(system.C * x, axis=-1)))
    return np.stack(ys, axis=-1), x


@given(data=st.data())
def test_irregular_response_is_the_exact_zoh_loop(backend, dtype_name, engine, data):
    if engine == "numba" and backend.name != "numpy":
        return
    system = data.draw(diag_systems(), label="system")
    L = data.draw(st.sampled_from(SHORT_LENGTHS), label="L")
    rng = np.random.default_rng(data.draw(seeds))
    steps = system.dt[:, None] * rng.uniform(0.2, 5.0, (system.H, L))  # irregular: four decades overall
    u = rng.standard_normal((system.H, L))
    x0 = initial_state(rng, (system.H, system.N2)) if data.draw(st.booleans(), label="x0") else None
    y_ref, x_ref = _zoh_loop(system, steps, u, x0)
    args = [put(backend, v, dtype_name) for v in (system.Lambda, system.B, system.C)]
    y, x = ss.irregular_response(
        tuple(args),
        put(backend, u, dtype_name),
        steps=put(backend, steps, dtype_name),
        x0=None if x0 is None else put(backend, x0, dtype_name),
        structure="diag",
        return_state=True,
        engine=engine,
    )
    check_placed(y, backend, dtype_name, "irregular_response")
    assert_close(y, y_ref, kind="views", dtype=dtype_name, err_msg=system.origin)
    assert_close(x, x_ref, kind="views", dtype=dtype_name, err_msg=system.origin)
    delta = float(rng.uniform(0.1, 2.0)) / float(np.max(np.abs(system.Lambda)))  # ≤ 2 rad and ≥ e^{-2} in every mode
    forecast = ss.evolve(tuple(args), x, delta, structure="diag")
    want = 2 * np.real(np.sum(system.C * np.exp(system.Lambda * delta) * x_ref, axis=-1))
    assert_close(forecast, want[:, None], kind="views", dtype=dtype_name, err_msg=f"evolve, {system.origin}")


@given(data=st.data())
def test_evolve_is_a_semigroup(backend, dtype_name, data):
    system = data.draw(diag_systems(), label="system")
    rng = np.random.default_rng(data.draw(seeds))
    # steps of at most 3 rad and e^{-3} in every mode (the phase, not the method, limits float32 beyond that)
    x = initial_state(rng, (system.H, system.N2))
    d1, d2 = (float(v) / float(np.max(np.abs(system.Lambda))) for v in rng.uniform(0.0, 1.5, 2))
    sys_b = tuple(put(backend, v, dtype_name) for v in (system.Lambda, system.B, system.C))
    _, x1 = ss.evolve(sys_b, put(backend, x, dtype_name), d1, structure="diag", return_state=True)
    y12, x12 = ss.evolve(sys_b, x1[..., 0], d2, structure="diag", return_state=True)  # states carry a trailing K axis
    y_once, x_once = ss.evolve(sys_b, put(backend, x, dtype_name), d1 + d2, structure="diag", return_state=True)
    assert_close(x12, x_once, kind="views", dtype=dtype_name, err_msg=system.origin)
    assert_close(y12, y_once, kind="views", dtype=dtype_name, err_msg=system.origin)


@given(data=st.data())
def test_bidirectional_conv_is_forward_plus_anticausal(backend, dtype_name, data):
    rng = np.random.default_rng(data.draw(seeds))
    L = data.draw(st.sampled_from(SHORT_LENGTHS), label="L")
    H = data.draw(st.integers(1, 3), label="H")
    u, k0, k1 = (rng.standard_normal((H, L)) for _ in range(3))
    D = rng.standard_normal(H)
    want = np.zeros((H, L))
    for t in range(L):
        for s in range(L):
            if s <= t:
                want[:, t] += k0[:, t - s] * u[:, s]
            else:
                want[:, t] += k1[:, s - t - 1] * u[:, s]
    want += D[:, None] * u
    args = [put(backend, v, dtype_name) for v in (u, k0, k1, D)]
    y = ss.bidirectional_conv(args[0], args[1], args[2], D=args[3])
    check_placed(y, backend, dtype_name, "bidirectional_conv")
    assert_close(y, want, kind="views", dtype=dtype_name)
    K = ss.bidirectional_kernel(args[1], args[2], L)
    assert_close(ss.causal_conv(args[0], K[..., :L]), ss.causal_conv(args[0], args[1]), kind="views", dtype=dtype_name)
