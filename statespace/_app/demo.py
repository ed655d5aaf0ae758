r"""``statespace demo``: a HiPPO-LegS memory of a built-in signal.

The demo feeds a signal (three tones and a chirp on ``[0, 1]``, generated in
code) sample by sample through the HiPPO-LegS ODE
:math:`\dot x(t) = (A x(t) + B u(t)) / t`, rebuilds the whole history from the
final state with :func:`statespace.reconstruct`, and prints

* the reconstruction error, next to the best the N Legendre coefficients can
  do (the exact projection, by Gauss–Legendre quadrature), so that the
  discretization's share of the error is visible;
* the NPLR reconstruction error of LegS, ``max|U(diag Λ − pp*)U* − A| / max|A|``.

Discretization. LegS is time-invariant in log time :math:`s = \log t`:
:math:`dx/ds = A x + B u(e^s)`. The recurrence applies the trapezoidal rule
(bilinear/Tustin, A-stable, second order) to that system with the steps
:math:`\Delta s_k = \log(t_k / t_{k-1})` of the uniform sample times
:math:`t_k = k/L`; the input enters as the average of the two samples. The ODE is
singular at :math:`t = 0`, so the state at :math:`t_1` is the exact projection of
the straight line through the first two samples. ``A`` is lower triangular, so
each step is one triangular solve (O(N²)). The reference ``hippo-code`` instead
uses :math:`A/k` with :math:`\Delta s = 1`; :math:`\log(1 + 1/k)` is its exact
counterpart.

When matplotlib is importable a PNG is written: the signal and its reconstructions for N/4,
N/2 and N (top), and their pointwise errors beside the projection floors on a log scale (bottom).
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
from scipy.linalg import solve_triangular

from statespace import hippo, hippo_basis, nplr, reconstruct

__all__ = ["add_arguments", "run", "demo_signal", "legs_memory"]


def demo_signal(t):
    """The built-in signal on ``[0, 1]``: three tones and a chirp (float64 NumPy)."""
    t = np.asarray(t, dtype=np.float64)
    return (
        np.sin(2 * math.pi * 3 * t)
        + 0.5 * np.sin(2 * math.pi * 7 * t + 1.0)
        + 0.4 * np.cos(2 * math.pi * (2 * t + 4 * t**2))
    )


def legs_memory(u, N: int) -> np.ndarray:
    """Final LegS state of samples ``u[k] = u(k/L)``, ``k = 0..L``, by the log-time trapezoidal rule."""
    A, B = hippo("legs", N)
    identity = np.eye(N)
    x = np.zeros(N)
    x[0] = (u[0] + u[1]) / 2
    if N > 1:
        x[1] = (u[1] - u[0]) / (2 * math.sqrt(3.0))
    for k in range(2, len(u)):
        ds = math.log(k / (k - 1))
        rhs = x + (ds / 2) * (A @ x) + (ds / 2) * (u[k - 1] + u[k]) * B
        x = solve_triangular(identity - (ds / 2) * A, rhs, lower=True)
    return x


def _relative_rms(approx, exact) -> float:
    return float(np.sqrt(np.mean((approx - exact) ** 2) / np.mean(exact**2)))


def _nplr_error(N: int) -> float:
    Lambda, P, _, V = nplr("legs", N)
    U = np.concatenate([V, V.conj()], axis=1)
    p = np.concatenate([P.T, P.conj().T], axis=0)
    A_rebuilt = U @ (np.diag(np.concatenate([Lambda, Lambda.conj()])) - p @ p.conj().T) @ U.conj().T
    A, _ = hippo("legs", N)
    return float(np.max(np.abs(A_rebuilt - A)) / np.max(np.abs(A)))


def _matplotlib_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _smaller_sizes(N: int) -> list[int]:
    """The state sizes drawn beside ``N``: N/4 and N/2 (even, at least 2), so the memory's growth shows."""
    return sorted({max(2, N // 4 // 2 * 2), max(2, N // 2 // 2 * 2)} - {N})


def _plot(path, t, exact, memories, L: int) -> None:
    """Signal and reconstructions (top); their pointwise errors and the projection floors, log scale (bottom).

    ``memories`` maps N to ``(rebuilt, projected, error, floor)``: the reconstruction from the final
    state, the exact projection onto N Legendre coefficients, and their relative RMS errors.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.3))
    colors = ["tab:orange", "tab:blue", "tab:red", "tab:green"]
    top.plot(t, exact, color="0.25", linewidth=3.0, label="signal u(t)")
    tiny = np.finfo(np.float64).tiny ** 0.25  # keeps exact zeros on a log axis
    for color, (N, (rebuilt, projected, error, floor)) in zip(colors, memories.items(), strict=False):
        top.plot(t, rebuilt, color=color, linewidth=1.2, linestyle="--", label=f"rebuilt from x(1), N={N}")
        bottom.semilogy(
            t,
            np.maximum(np.abs(rebuilt - exact), tiny),
            color=color,
            linewidth=1.0,
            label=f"N={N} |rebuilt − u|: RMS {error:.1e}",
        )
        bottom.semilogy(
            t,
            np.maximum(np.abs(projected - exact), tiny),
            color=color,
            linewidth=0.8,
            linestyle=":",
            label=f"N={N} best (projection): {floor:.1e}",
        )
    top.set_ylabel("u(t)")
    top.set_title(f"HiPPO-LegS memory: 3 tones + a chirp ({L} samples), the whole history rebuilt from x(1)")
    top.set_ylim(top.get_ylim()[0], top.get_ylim()[1] + 0.9)  # room for the legend above the curves
    top.legend(loc="upper center", fontsize=8, ncols=4)
    bottom.set_xlabel("t (1 = now)")
    bottom.set_ylabel("pointwise error (log)")
    bottom.set_ylim(1e-15, 10)
    largest = max(memories)
    bottom.set_title(
        f"relative RMS errors; at N={largest} the {memories[largest][2]:.1e} is the discretization's "
        f"({L} steps), the projection floor is {memories[largest][3]:.1e}",
        fontsize=10,
    )
    bottom.legend(loc="center", bbox_to_anchor=(0.5, 0.42), fontsize=7.5, ncols=3)  # the empty band 1e-7..1e-11
    fig.savefig(path, dpi=120)


def add_arguments(parser) -> None:
    """Options of ``statespace demo``."""
    parser.add_argument("--N", type=int, default=64, help="LegS state size (default 64)")
    parser.add_argument("--length", type=int, default=2000, help="samples of the signal on [0, 1] (default 2000)")
    parser.add_argument("--output", default="statespace_demo.png", help="PNG path (default statespace_demo.png)")
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG")


def run(args) -> int:
    """Run the demo; returns the exit status."""
    N, L = args.N, args.length
    if N < 2 or N % 2:
        raise SystemExit(f"statespace demo: --N must be an even integer ≥ 2 (NPLR pairs modes), got {N}")
    if L < 2:
        raise SystemExit(f"statespace demo: --length must be at least 2, got {L}")
    u = demo_signal(np.arange(L + 1) / L)
    t = np.linspace(0.0, 1.0, 1001)
    exact = demo_signal(t)
    memories = {n: _memory(u, n, t, exact) for n in [*_smaller_sizes(N), N]}
    _, _, error, floor = memories[N]

    print(f"HiPPO-LegS memory of a built-in signal (3 tones + chirp), N = {N}, {L} samples on [0, 1]")
    print(f"  reconstruction error from the final state (relative RMS): {error:.3e}")
    print(f"  best possible with {N} coefficients (exact projection):   {floor:.3e}")
    print(f"  NPLR reconstruction error of LegS N={N} (max|A' - A|/max|A|): {_nplr_error(N):.3e}")
    smaller = ", ".join(f"N={n}: {memories[n][2]:.3e} (best {memories[n][3]:.3e})" for n in _smaller_sizes(N))
    if smaller:
        print(f"  smaller memories, reconstruction error (best possible): {smaller}")
    if args.no_plot:
        return 0
    if not _matplotlib_available():
        print("  (matplotlib is not installed: no plot; pip install 'statespace-ssm[plot]')")
        return 0
    _plot(args.output, t, exact, memories, L)
    print(f"  plot written to {args.output}")
    return 0


def _memory(u, N: int, t, exact):
    """Reconstruction from the LegS state of ``u`` and the exact projection, with their relative RMS errors."""
    rebuilt = reconstruct(legs_memory(u, N), "legs", t)
    nodes, weights = np.polynomial.legendre.leggauss(4 * N + 64)
    nodes, weights = (nodes + 1) / 2, weights / 2
    projected = reconstruct((weights * demo_signal(nodes)) @ hippo_basis("legs", N, nodes), "legs", t)
    return rebuilt, projected, _relative_rms(rebuilt, exact), _relative_rms(projected, exact)
