"""Helpers of the GPU-engine tests."""

from __future__ import annotations

import numpy as np

from statespace.testing import assert_close, to_host


def agree(actual, desired, kind: str, dtype=None):
    """NaN in the same places, and the rest within ``TOLERANCES[kind]`` (relative to the reference's scale)."""
    a, d = to_host(actual), to_host(desired)
    assert a.shape == d.shape, (a.shape, d.shape)
    assert a.dtype == d.dtype, (a.dtype, d.dtype)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(d))
    assert_close(np.where(np.isnan(a), 0, a), np.where(np.isnan(d), 0, d), kind=kind, dtype=dtype or a.dtype)


_WIDE = {np.dtype(np.float32): np.float64, np.dtype(np.complex64): np.complex128}


def widen(x):
    """``x`` in double precision (float32 → float64, complex64 → complex128); other values unchanged."""
    if isinstance(x, np.ndarray) and x.dtype in _WIDE:
        return x.astype(_WIDE[x.dtype])
    return x


def narrow(result, like):
    """Cast a double-precision reference ``result`` back to the precision of ``like`` (its kind kept)."""
    single = like in (np.float32, np.complex64) or np.dtype(like) in _WIDE
    if not single:
        return result
    return result.astype(np.complex64 if np.iscomplexobj(result) else np.float32)
