"""Cauchy sums against a float64 NumPy loop, on every backend and engine."""

from __future__ import annotations

import numpy as np
import pytest

import statespace
import statespace._cauchy as cauchy_module
from statespace.testing import assert_close, to_host


def random_complex(rng, shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def cauchy_loop(v, z, w, conj):
    """Independent reference: one fraction at a time, float64."""
    v, z, w = (np.asarray(a, dtype=np.complex128) for a in (v, z, w))
    batch = np.broadcast_shapes(v.shape[:-1], z.shape[:-1], w.shape[:-1])
    v, w = np.broadcast_to(v, batch + v.shape[-1:]), np.broadcast_to(w, batch + w.shape[-1:])
    z = np.broadcast_to(z, batch + z.shape[-1:])
    out = np.zeros(batch + z.shape[-1:], dtype=np.complex128)
    for n in range(v.shape[-1]):
        out += v[..., n, None] / (z - w[..., n, None])
        if conj:
            out += np.conj(v[..., n, None]) / (z - np.conj(w[..., n, None]))
    return out


def sample(rng, batch_v=(3,), batch_w=(3,), batch_z=(), n2=5, length=7):
    v = random_complex(rng, batch_v + (n2,))
    w = -rng.uniform(0.1, 1.0, batch_w + (n2,)) + 1j * rng.standard_normal(batch_w + (n2,))
    z = np.exp(-2j * np.pi * np.arange(length) / length) * np.ones(batch_z + (1,))
    return v, z, w


@pytest.mark.parametrize("conj", [True, False])
def test_cauchy_matches_loop(backend, dtype_name, conj, rng):
    v, z, w = sample(rng)
    ctype = "complex64" if dtype_name == "float32" else "complex128"
    out = statespace.cauchy(*(backend.asarray(a, ctype) for a in (v, z, w)), conj=conj, engine="xp")
    assert out.dtype == backend.dtype(ctype)
    assert_close(out, cauchy_loop(*(a.astype(ctype) for a in (v, z, w)), conj), kind="kernel")


def test_cauchy_broadcasts_leading_axes(backend, rng):
    v, z, w = sample(rng, batch_v=(2, 1), batch_w=(1, 3), batch_z=(3,), length=6)
    out = statespace.cauchy(*(backend.asarray(a) for a in (v, z, w)))
    assert tuple(out.shape) == (2, 3, 6)
    assert_close(out, cauchy_loop(v, z, w, True), kind="kernel")


def test_cauchy_promotes_real_inputs(backend, rng):
    v, z, w = rng.standard_normal(4), rng.standard_normal(5) + 3.0, -rng.uniform(0.1, 1.0, 4)
    out = statespace.cauchy(*(backend.asarray(a, "float32") for a in (v, z, w)), conj=False)
    assert out.dtype == backend.dtype("complex64")
    assert_close(out, cauchy_loop(v, z, w, False), kind="kernel", dtype="float32")


@pytest.mark.parametrize("conj", [True, False])
def test_cauchy_blocks_along_L(monkeypatch, rng, conj):
    """A tiny block size forces many blocks; the result must not change."""
    v, z, w = sample(rng, length=50)
    whole = statespace.cauchy(v, z, w, conj=conj, engine="xp")
    monkeypatch.setattr(cauchy_module, "BLOCK_ELEMENTS", 16)
    blocked = statespace.cauchy(v, z, w, conj=conj, engine="xp")
    assert_close(blocked, whole, kind="kernel")
    assert_close(blocked, cauchy_loop(v, z, w, conj), kind="kernel")


@pytest.mark.numba
@pytest.mark.parametrize("conj", [True, False])
@pytest.mark.parametrize("ctype", ["complex64", "complex128"])
def test_cauchy_numba_matches_xp(rng, conj, ctype):
    # several BLOCK_L blocks, a partial last block, shared z, broadcast v against w
    v, z, w = sample(rng, batch_v=(2, 1), batch_w=(2, 3), n2=9, length=600)
    v, z, w = (a.astype(ctype) for a in (v, z, w))
    fused = statespace.cauchy(v, z, w, conj=conj, engine="numba")
    portable = statespace.cauchy(v, z, w, conj=conj, engine="xp")
    assert fused.dtype == np.dtype(ctype) and fused.shape == (2, 3, 600)
    if ctype == "complex128":
        assert_close(fused, portable, kind="engines")  # issue 4: "numba vs xp ... <= 1e-12 (float64)"
    assert_close(fused, cauchy_loop(v, z, w, conj), kind="kernel")


@pytest.mark.numba
def test_cauchy_numba_affine_matches_xp(rng):
    v, _, w = sample(rng, n2=6)
    a, b = random_complex(rng, 300), random_complex(rng, 300)
    fused = cauchy_module.cauchy_affine(v, a, b, w, engine="numba")
    portable = cauchy_module.cauchy_affine(v, a, b, w, engine="xp")
    assert_close(fused, portable, kind="engines")  # issue 4: engines agree to 1e-12 (float64)


def test_cauchy_empty_z_gives_empty_output(rng):
    v, _, w = sample(rng)
    out = statespace.cauchy(v, np.zeros(0, complex), w, engine="xp")
    assert out.shape == (3, 0)


def test_cauchy_rejects_mismatched_modes(backend, rng):
    v, z, w = sample(rng)
    with pytest.raises(ValueError, match="mode axes do not match: w has 4 modes"):
        statespace.cauchy(backend.asarray(v), backend.asarray(z), backend.asarray(w[..., :4]))


def test_cauchy_rejects_bad_arguments(rng):
    v, z, w = sample(rng)
    with pytest.raises(ValueError, match="v must have at least 1 axis"):
        statespace.cauchy(np.asarray(1.0 + 0j), z, w[0, :1])
    with pytest.raises(ValueError, match="batch shapes do not broadcast"):
        statespace.cauchy(v, np.ones((2, 7), complex), w)
    with pytest.raises(TypeError, match="v must be an array, got list"):  # the message names the argument (#14)
        statespace.cauchy([1.0, 2.0], z, np.asarray(w))


def test_cauchy_engine_must_serve_the_arrays(rng):
    import array_api_strict as xps

    v, z, w = sample(rng)
    with pytest.raises(TypeError, match="engine='numba' runs on NumPy arrays only"):
        statespace.cauchy(*(xps.asarray(a) for a in (v, z, w)), engine="numba")
    with pytest.raises(ValueError, match="unknown engine"):
        statespace.cauchy(v, z, w, engine="fortran")


def test_cauchy_strict_keeps_device(rng):
    import array_api_strict as xps

    device = xps.Device("device1")
    v, z, w = sample(rng)
    out = statespace.cauchy(*(xps.asarray(a, device=device) for a in (v, z, w)))
    assert out.device == device
    np.testing.assert_allclose(to_host(out), cauchy_loop(v, z, w, True), rtol=1e-12)
