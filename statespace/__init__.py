"""statespace: the numerics of structured state space models (S4, S4D, S5, Mamba).

Backend-agnostic functions over the array API (NumPy, CuPy, array-api-strict,
torch, ...), with fused Numba (CPU) and CuPy (GPU) engines for the hot loops.
Time is the last axis everywhere.  ``statespace.show_config()`` tells what this
installation can run on.

The public functions live in small private topic modules (``_hippo``,
``_nplr``, ``_discretize``, ``_kernels``, ...) and are re-exported here, flat.
"""

from __future__ import annotations

from . import (
    _bidirectional,
    _conv,
    _discretize,
    _expm,
    _hippo,
    _initializers,
    _irregular,
    _kernels,
    _nplr,
    _recurrence,
    _scan,
    _selective,
    _ssd,
    _streaming,
)
from ._app.config import show_config
from ._bidirectional import *  # noqa: F403
from ._conv import *  # noqa: F403
from ._discretize import *  # noqa: F403
from ._expm import *  # noqa: F403
from ._hippo import *  # noqa: F403
from ._initializers import *  # noqa: F403
from ._irregular import *  # noqa: F403
from ._kernels import *  # noqa: F403
from ._nplr import *  # noqa: F403
from ._recurrence import *  # noqa: F403
from ._scan import *  # noqa: F403
from ._selective import *  # noqa: F403
from ._ssd import *  # noqa: F403
from ._streaming import *  # noqa: F403
from ._version import __version__

__all__ = ["show_config", "__version__"]
for _module in (
    _hippo,
    _nplr,
    _initializers,
    _expm,
    _discretize,
    _kernels,
    _conv,
    _scan,
    _selective,
    _ssd,
    _streaming,
    _recurrence,
    _irregular,
    _bidirectional,
):
    __all__ += _module.__all__
del _module

from . import vjp  # noqa: E402, F401  (the backward passes: statespace.vjp.<name>)
