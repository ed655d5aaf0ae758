"""Every public function on Dask arrays, enumerated from the capability records.

A record with ``dask="lazy"`` or ``"xp"`` must return a lazy result (Dask arrays, nothing computed)
equal to the in-memory result; ``dask="no"`` must raise the clear ``NotImplementedError``; ``None``
(no array arguments) is checked to take no arrays.  Inputs are chunked along the batch axis and,
where they have one, along time.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np
import pytest

import statespace
from statespace._dispatch import CAPABILITIES
from statespace.testing import assert_close

da = pytest.importorskip("dask.array")

H, N2, L = 4, 3, 16
_rng = np.random.default_rng(20261130)


def _cn(*shape):
    return _rng.standard_normal(shape) + 1j * _rng.standard_normal(shape)


LAMBDA = -_rng.uniform(0.2, 1.0, (H, N2)) + 1j * _rng.uniform(0.5, 3.0, (H, N2))
P = 0.3 * _cn(H, 1, N2)
A_DENSE = -np.eye(3) * 1.5 + 0.3 * _rng.standard_normal((H, 3, 3))
DT = _rng.uniform(0.05, 0.2, H)
U = _rng.standard_normal((2, H, L))


def _linear_combine(x, y):
    return x[0] * y[0], y[0] * x[1] + y[1]


#: name -> (numpy arguments, keyword arguments, {argument index: axes chunked in two}); the
#: batch axis (and time, where there is one) is split so that every route sees several chunks.
EXAMPLES = {
    "expm": ((A_DENSE,), {}, {0: (0,)}),
    "discretize": ((A_DENSE, _rng.standard_normal((H, 3, 1)), DT, "zoh"), {}, {0: (0,), 1: (0,), 2: (0,)}),
    "discretize_diag": ((LAMBDA, _cn(H, N2), DT[:, None], "zoh"), {}, {0: (0,), 1: (0,), 2: (0,)}),
    "discretize_dplr": ((LAMBDA, P, _cn(H, N2), DT, "bilinear"), {}, {0: (0,), 1: (0,), 2: (0,)}),
    "dplr_dense": ((LAMBDA, P, _cn(H, N2)), {}, {0: (0,), 1: (0,), 2: (0,)}),
    "cont2discrete": (
        ((A_DENSE, _rng.standard_normal((H, 3, 1)), _rng.standard_normal((H, 1, 3)), np.zeros((H, 1, 1))), 0.1),
        {},
        {},
    ),
    "cauchy": ((_cn(H, N2), _cn(H, L), LAMBDA), {}, {0: (0,), 1: (0, 1), 2: (0,)}),
    "forward_state_diag": ((LAMBDA, _cn(H, N2), DT, U), {}, {3: (0, 2)}),
    "state_kernel_diag": ((LAMBDA, _cn(H, N2), DT, _cn(2, H, N2), L), {}, {3: (0,)}),
    "forward_state_dplr": ((LAMBDA, P, _cn(H, N2), DT, U), {}, {4: (0, 2)}),
    "ssd": (
        (
            _rng.standard_normal((2, H, 3, L)),
            _rng.uniform(0.05, 0.2, (2, H, L)),
            -_rng.uniform(0.5, 1.0, H),
            _rng.standard_normal((2, 1, 5, L)),
            _rng.standard_normal((2, 1, 5, L)),
        ),
        {"chunk_size": 8},
        {0: (0, 3), 1: (0, 2), 3: (0, 3), 4: (0, 3)},
    ),
    "vandermonde": ((_cn(H, N2), 0.1 * LAMBDA, L), {}, {0: (0,), 1: (0,)}),
    "kernel_naive": ((np.exp(0.1 * LAMBDA), _cn(H, N2), _cn(H, N2), L), {}, {0: (0,), 1: (0,), 2: (0,)}),
    "kernel_diag": ((LAMBDA, _cn(H, N2), _cn(H, N2), DT, L), {}, {0: (0,), 1: (0,), 2: (0,), 3: (0,)}),
    "kernel_dplr": ((LAMBDA, P, _cn(H, N2), _cn(H, N2), DT, L), {}, {0: (0,), 1: (0,), 2: (0,), 3: (0,), 4: (0,)}),
    "dplr_ctilde": ((LAMBDA, P, _cn(H, N2), DT, L), {}, {0: (0,), 1: (0,), 2: (0,), 3: (0,)}),
    "dplr_ctilde_inverse": ((LAMBDA, P, _cn(H, N2), DT, L), {}, {0: (0,), 1: (0,), 2: (0,), 3: (0,)}),
    "dplr_ctilde_double": ((LAMBDA, P, _cn(H, N2), DT, L), {}, {0: (0,), 1: (0,), 2: (0,), 3: (0,)}),
    "causal_conv": ((U, _rng.standard_normal((H, L))), {}, {0: (1, 2), 1: (0,)}),
    "bidirectional_conv": (
        (U, _rng.standard_normal((H, L)), _rng.standard_normal((H, L))),
        {},
        {0: (1,), 1: (0,), 2: (0,)},  # time chunks are refused: test_time_chunks_refused
    ),
    "bidirectional_kernel": ((_rng.standard_normal((H, L)), _rng.standard_normal((H, L)), L), {}, {0: (0,), 1: (0,)}),
    "linear_scan": ((_rng.uniform(0.5, 1.0, (H, L)), _rng.standard_normal((H, L))), {}, {0: (0, 1), 1: (0, 1)}),
    "associative_scan": (
        (_linear_combine, (_rng.uniform(0.5, 1.0, (H, L)), _rng.standard_normal((H, L)))),
        {},
        {},
    ),
    "selective_scan": (
        (
            U,
            _rng.uniform(0.05, 0.5, (2, H, L)),
            -_rng.uniform(0.5, 1.0, (H, 5)),
            _rng.standard_normal((2, 5, L)),
            _rng.standard_normal((2, 5, L)),
        ),
        {},
        {0: (0, 2), 1: (0, 2), 3: (0, 2), 4: (0, 2)},
    ),
    "recurrence": ((np.exp(0.1 * LAMBDA), _cn(H, N2), _cn(H, N2), U), {}, {0: (0,), 1: (0,), 2: (0,), 3: (1, 2)}),
    "step": (
        (np.exp(0.1 * LAMBDA), _cn(H, N2), _cn(H, N2), _cn(H, N2), _rng.standard_normal(H)),
        {},
        {3: (0,), 4: (0,)},
    ),
    "irregular_response": (
        ((LAMBDA, _cn(H, N2), _cn(H, N2)), U),
        {"steps": _rng.uniform(0.05, 0.2, L)},
        {1: (1, 2)},
    ),
    "evolve": (((LAMBDA, _cn(H, N2), _cn(H, N2)), _cn(H, N2), _rng.uniform(0.0, 1.0, L)), {}, {1: (0,), 2: (0,)}),
    "hippo_basis": (("legs", 8, np.linspace(0.0, 1.0, L)), {}, {2: (0,)}),
    "reconstruct": ((_rng.standard_normal((H, 8)), "legs", np.linspace(0.0, 1.0, L)), {}, {0: (0,), 2: (0,)}),
}


def _vjp_example(name):
    """A backward pass's example: its forward's arguments and a cotangent of the forward's output."""
    args, kwargs, split = EXAMPLES[name]
    out = np.asarray(getattr(statespace, name)(*args, **kwargs))
    return args, {**kwargs, "grad_y": np.ones_like(out)}, {**split, "grad_y": tuple(range(out.ndim))[:1]}


#: The backward passes of :mod:`statespace.vjp` are recorded as ``"vjp.<forward>"``.
EXAMPLES.update({f"vjp.{name}": _vjp_example(name) for name in statespace.vjp.__all__})


def _public(name):
    """``statespace.<name>``, a dotted name reaching into a public submodule (``vjp.linear_scan``)."""
    return functools.reduce(getattr, name.split("."), statespace)


def _chunked(x, axes):
    chunks = {axis: max(1, x.shape[axis] // 2) for axis in axes}
    return da.from_array(x, chunks={axis: chunks.get(axis, -1) for axis in range(x.ndim)})


def _dask_arguments(args, kwargs, split):
    """The example with every array argument a Dask array (chunked in two along ``split``'s axes)."""

    def convert(i, x):
        if isinstance(x, np.ndarray):
            return _chunked(x, split.get(i, ()))
        if isinstance(x, tuple) and x and all(isinstance(y, np.ndarray) for y in x):
            return tuple(_chunked(y, (0,)) for y in x)
        return x

    return tuple(convert(i, x) for i, x in enumerate(args)), {k: convert(k, v) for k, v in kwargs.items()}


def _leaves(result):
    if isinstance(result, (tuple, list)):
        return [leaf for item in result for leaf in _leaves(item)]
    if hasattr(result, "__dataclass_fields__"):
        return [leaf for name in result.__dataclass_fields__ for leaf in _leaves(getattr(result, name))]
    return [result] if hasattr(result, "shape") else []


def test_every_public_function_has_a_record():
    functions = [n for n in statespace.__all__ if inspect.isfunction(getattr(statespace, n)) and n != "show_config"]
    functions += [f"vjp.{n}" for n in statespace.vjp.__all__]
    assert sorted(functions) == sorted(CAPABILITIES)
    missing = [n for n, rec in CAPABILITIES.items() if rec.dask is not None and n not in EXAMPLES]
    assert not missing, f"no Dask example for {missing}"


@pytest.mark.parametrize("name", sorted(CAPABILITIES))
def test_dask_route_follows_the_record(name):
    record = CAPABILITIES[name]
    fn = _public(name)
    if record.dask is None:
        assert name not in EXAMPLES
        return
    args, kwargs, split = EXAMPLES[name]
    dargs, dkwargs = _dask_arguments(args, kwargs, split)
    if record.dask == "no":
        with pytest.raises(NotImplementedError, match=f"{name} is not supported on Dask arrays yet"):
            fn(*dargs, **dkwargs)
        return
    expected, lazy = _leaves(fn(*args, **kwargs)), _leaves(fn(*dargs, **dkwargs))
    assert len(lazy) == len(expected)
    for got, want in zip(lazy, expected):
        assert isinstance(got, da.Array), f"{name} returned {type(got).__name__}, not a lazy Dask array"
        assert_close(np.asarray(got.compute()), want, kind="views")


def test_time_chunks_refused():
    """A function whose record keeps time in one chunk says so instead of failing inside Dask."""
    u = _chunked(U, (2,))
    K = _rng.standard_normal((H, L))
    with pytest.raises(NotImplementedError, match="bidirectional_conv is not supported on Dask arrays chunked along"):
        statespace.bidirectional_conv(u, K, K)
    assert "time axis in one chunk" in CAPABILITIES["bidirectional_conv"].dask_note


def test_dense_recurrence_refused():
    A = _chunked(np.eye(3)[None] * 0.5 + np.zeros((H, 1, 1)), (0,))
    with pytest.raises(NotImplementedError, match="recurrence of dense systems is not supported on Dask arrays yet"):
        statespace.recurrence(A, np.ones((H, 3)), np.ones((H, 3)), _chunked(U, (2,)))
