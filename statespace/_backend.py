"""Array-namespace, device and dtype helpers shared by every public function.

Every public function of :mod:`statespace` starts with :func:`namespace` and
derives the working dtype from its inputs with :func:`float_dtype`, so that
float32 in gives float32/complex64 out and float64 in gives
float64/complex128 out, on the caller's own array library and device.
Nothing here moves data between devices.

These helpers run on every call of every public function, so the common case
(plain NumPy arrays) takes a fast path: :func:`namespace`, :func:`device_of` and
:func:`asarray` recognise ``numpy.ndarray`` by its exact type, and the dtype
decisions of :func:`float_dtype` (NumPy and CuPy) and :func:`isdtype` are
remembered per namespace and dtype(s).  The fast paths return what the general
code returns and leave every error to it.
"""

from __future__ import annotations

import contextlib
import importlib

import array_api_compat
import numpy as np

__all__ = [
    "namespace",
    "device_of",
    "is_complex",
    "isdtype",
    "float_dtype",
    "complex_dtype",
    "real_dtype",
    "asarray",
    "place",
    "time_last",
    "to_numpy",
    "quiet_floating_point",
]

#: NumPy's array-API namespace and device, returned by the fast paths of :func:`namespace` and :func:`device_of`.
_NUMPY = array_api_compat.array_namespace(np.empty(0))
_NUMPY_DEVICE = array_api_compat.device(np.empty(0))
_HOST = (None, _NUMPY_DEVICE)
#: Remembered dtype decisions (cleared when full): ``(xp, complex_ok, *dtypes)`` → :func:`float_dtype` (NumPy and
#: CuPy, whose promotion is a fixed table), ``(xp, dtype, kind)`` → :func:`isdtype`.
_FLOAT_DTYPE: dict = {}
_ISDTYPE: dict = {}
_MEMO_SIZE = 1024


def namespace(*arrays):
    """Return the array-API namespace of ``arrays`` (``None``, Python scalars and sequences ignored).

    Scalars and (nested) lists are *array_like*: they are converted later, once,
    in the namespace of the array arguments; when no argument is an array, that
    namespace is NumPy's.

    Raises
    ------
    TypeError
        If the arrays come from different libraries.
    """
    for a in arrays:  # fast path: plain NumPy arrays (and None) only
        if a is not None and type(a) is not np.ndarray:
            break
    else:
        return _NUMPY
    present = [a for a in arrays if a is not None and not isinstance(a, (int, float, complex, bool, list, tuple))]
    if not present:  # only array_likes: NumPy's namespace
        return _NUMPY
    try:
        return array_api_compat.array_namespace(*present)
    except TypeError as error:
        kinds = sorted({f"{type(a).__module__}.{type(a).__name__}" for a in present})
        raise TypeError(f"the array arguments must come from one array library, got {', '.join(kinds)}") from error


def device_of(x):
    """Return the device of array ``x`` (``None`` for non-arrays)."""
    if type(x) is np.ndarray:
        return _NUMPY_DEVICE
    if x is None or isinstance(x, (int, float, complex, bool)):
        return None
    return array_api_compat.device(x)


def isdtype(xp, dtype, kind) -> bool:
    """``xp.isdtype(dtype, kind)``, remembered per namespace, dtype and kind (it runs on every call)."""
    key = (xp, dtype, kind)
    try:
        return _ISDTYPE[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable dtype: ask the namespace every time
        return bool(xp.isdtype(dtype, kind))
    found = bool(xp.isdtype(dtype, kind))
    if len(_ISDTYPE) >= _MEMO_SIZE:
        _ISDTYPE.clear()
    _ISDTYPE[key] = found
    return found


def is_complex(xp, x_or_dtype) -> bool:
    """True when an array or dtype is complex floating."""
    return isdtype(xp, getattr(x_or_dtype, "dtype", x_or_dtype), "complex floating")


def real_dtype(xp, dtype):
    """The real floating dtype of the same precision: complex64 → float32."""
    if dtype == xp.complex64 or dtype == xp.float32:
        return xp.float32
    if dtype == xp.complex128 or dtype == xp.float64:
        return xp.float64
    raise TypeError(f"expected a floating dtype, got {dtype}")


def complex_dtype(xp, dtype):
    """The complex dtype of the same precision: float32 → complex64, float64 → complex128."""
    return xp.complex64 if real_dtype(xp, dtype) == xp.float32 else xp.complex128


def float_dtype(xp, *arrays, complex_ok: bool = True, names=None):
    """The floating result dtype of ``arrays`` (``None`` and Python scalars ignored): THE dtype rule.

    Integer and boolean arrays count as float64 (SciPy's rule); float32 and
    float64 (and their complex kinds) promote as the array API says; Python
    scalars never raise the precision (a complex scalar makes the result
    complex).  Half precision (float16, bfloat16) is refused with a
    ``TypeError`` that names the argument and says how to cast: every
    function computes in float32 or float64, and silently widening a half
    precision input would hide a copy of the caller's data.  Object and other
    non-numeric dtypes are refused too.  ``names`` (one per array) names the
    arguments in the error.  With ``complex_ok=False`` the real dtype of that
    precision is returned.
    """
    if xp is not _NUMPY and not array_api_compat.is_cupy_namespace(xp):
        # other libraries' promotion may depend on global state (JAX's x64 flag): decided every time
        return _float_dtype(xp, arrays, complex_ok, names)
    parts = [xp, complex_ok]  # what the result depends on: the namespace and the dtypes (complex scalars as complex)
    for a in arrays:
        if type(a) is np.ndarray:  # the common case first (cheaper than the isinstance checks)
            parts.append(a.dtype)
        elif a is not None and not isinstance(a, (int, float, bool)):
            parts.append(complex if isinstance(a, complex) else a.dtype)
    key = tuple(parts)
    try:
        return _FLOAT_DTYPE[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable dtype: decide every time
        return _float_dtype(xp, arrays, complex_ok, names)
    result = _float_dtype(xp, arrays, complex_ok, names)  # raises for refused dtypes: errors are never remembered
    if len(_FLOAT_DTYPE) >= _MEMO_SIZE:
        _FLOAT_DTYPE.clear()
    _FLOAT_DTYPE[key] = result
    return result


def _float_dtype(xp, arrays, complex_ok, names):
    """:func:`float_dtype` itself (without the memo)."""
    dtypes = []
    for i, a in enumerate(arrays):
        if a is None or isinstance(a, (int, float, bool)):
            continue
        if isinstance(a, complex):
            dtypes.append(xp.complex64)  # promotes, never raises precision by itself
            continue
        dt = a.dtype
        if xp.isdtype(dt, ("bool", "integral")):
            dt = xp.float64
        elif dt not in (xp.float32, xp.float64, xp.complex64, xp.complex128):
            name = names[i] if names is not None else "an argument"
            if xp.isdtype(dt, ("real floating", "complex floating")):
                raise TypeError(
                    f"{name} has dtype {dt}: statespace computes in float32 or float64 (and their complex kinds), "
                    f"half precision is refused; cast it first, e.g. xp.astype({name}, xp.float32)"
                )
            raise TypeError(
                f"{name} must be a numeric array (bool, integer, float32/64, complex64/128), got dtype {dt}"
            )
        dtypes.append(dt)
    result = xp.result_type(*dtypes) if dtypes else xp.float64
    return result if complex_ok else real_dtype(xp, result)


def asarray(x, xp, *, dtype=None, device=None):
    """``xp.asarray`` that keeps ``None`` and accepts Python scalars.

    A NumPy array that already has ``dtype`` comes back as it is, without the
    namespace's checks (what ``xp.asarray`` returns for it too).
    """
    if x is None:
        return None
    if xp is _NUMPY and type(x) is np.ndarray and (dtype is None or x.dtype == dtype) and device in _HOST:
        return x
    return xp.asarray(x, dtype=dtype, device=device)


def place(values: np.ndarray, *, xp=None, dtype=None, device=None):
    """Place host float64/complex128 ``values`` in namespace ``xp`` (NumPy by default).

    This is the single exit point of the construction layer (HiPPO, NPLR,
    S4D initializations), which always computes in float64 on the host.
    ``dtype`` is the *real* precision requested (float32 or float64, default
    float64); complex ``values`` get the matching complex dtype.
    """
    if xp is None:
        xp = _NUMPY
    elif not hasattr(xp, "asarray"):
        raise TypeError(f"xp must be an array namespace, got {xp!r}")
    else:
        xp = _compat_namespace(xp)
    real = xp.float64 if dtype is None else dtype
    if real not in (xp.float32, xp.float64):
        raise TypeError(
            f"dtype must be a real floating dtype of {xp.__name__} (float32 or float64; complex results get the "
            f"matching complex dtype), got {dtype!r}"
        )
    target = complex_dtype(xp, real) if np.iscomplexobj(values) else real
    return xp.asarray(np.ascontiguousarray(values), dtype=target, device=device)


def _compat_namespace(xp):
    """Map a bare library module (``numpy``, ``cupy``, ``torch``) to its compat namespace."""
    name = getattr(xp, "__name__", "")
    if name in ("numpy", "cupy", "torch"):
        return importlib.import_module(f"array_api_compat.{name}")
    return xp


def time_last(xp, x, ndim: int, axis: int):
    """Prepend unit axes up to ``ndim``, then move ``axis`` (normalised) to the end (a view where possible)."""
    if x.ndim < ndim:
        x = xp.reshape(x, (1,) * (ndim - x.ndim) + tuple(x.shape))
    axis %= ndim
    return xp.moveaxis(x, axis, -1) if axis != ndim - 1 else x


def to_numpy(x) -> np.ndarray:
    """Zero-copy view of a NumPy-backed array for a CPU engine.

    Raises
    ------
    TypeError
        For arrays that do not live in host NumPy memory (CuPy, array-api-strict,
        torch, ...): engines never copy data between devices behind the caller's back.
    """
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, np.generic):
        return np.asarray(x)
    raise TypeError(f"expected a NumPy array, got {type(x).__module__}.{type(x).__name__}")


def quiet_floating_point(xp):
    """NumPy's floating-point warnings off (a no-op context for other libraries).

    The xp engine runs inside it wherever a numba engine computes the same
    numbers: compiled loops never warn on overflow or ``inf - inf``, so the
    portable engine must not either (engines agree on warnings, DESIGN.md §7).
    """
    if array_api_compat.is_numpy_namespace(xp):
        return np.errstate(over="ignore", invalid="ignore", divide="ignore")
    return contextlib.nullcontext()
