"""Sphinx helpers for the statespace site.

* Writes one API page per public name of :mod:`statespace` (and of
  :mod:`statespace.testing`) into ``generated/`` and the grouped summary tables
  that ``api.rst`` includes, so a function that lands in a topic module's
  ``__all__`` is documented without editing the docs.
* ``.. statespace-tolerances::`` renders :data:`statespace.testing.TOLERANCES`
  as a table, read from the installed package at build time.
* ``.. statespace-legs-conditioning::`` measures the condition number of the
  eigenvector matrix of HiPPO-LegS (direct diagonalisation) at build time.
* ``.. statespace-s4d-forms::`` measures the float32 error of the naive and the
  stable (``expm1``, ``atanh``) S4D discretization formulas at build time.
* ``.. statespace-engine-table::`` renders the capability records
  (:mod:`statespace._dispatch`): engines, Dask support and methods of every
  public function.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import ClassVar

import numpy as np
from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

#: (title, blurb, topic modules) in the order the API reference shows them.
API_GROUPS = [
    (
        "Construction",
        "Continuous-time models: HiPPO matrices, their low-rank corrections and NPLR/DPLR forms, "
        "S4D initialisations, and HiPPO bases to read a state back as a signal. Computed in float64 "
        "on the host, then placed in the caller's namespace, precision and device.",
        ("_hippo", "_nplr", "_initializers"),
    ),
    (
        "Discretization",
        "Continuous → discrete for dense, diagonal and DPLR systems, every method, batched over "
        "systems and step sizes; SciPy's ``cont2discrete`` convention; an array-API matrix exponential.",
        ("_discretize", "_expm"),
    ),
    (
        "Kernels",
        "The convolution view: Cauchy and log-Vandermonde sums, the S4 (DPLR) and S4D (diagonal) "
        "kernels, and the naive powers they are checked against.",
        ("_kernels",),
    ),
    (
        "Outputs",
        "Running a system over a sequence: FFT convolution (causal and bidirectional), recurrence and "
        "step, linear, associative and selective scans, Mamba-2's chunked scan (SSD), streaming with carried "
        "state, irregularly sampled sequences and forecasting.",
        ("_conv", "_bidirectional", "_recurrence", "_scan", "_selective", "_ssd", "_streaming", "_irregular"),
    ),
    (
        "Engines and configuration",
        "What this installation can run on. Hot functions take ``engine=None`` (automatic), "
        '``"xp"``, ``"numba"`` or ``"cupy"``; see :doc:`user_guide/engines`.',
        ("_app.config",),
    ),
]
TESTING_BLURB = (
    "Tolerances per dtype and the assertion the test suite (and ``statespace check``) uses; "
    "see :doc:`user_guide/accuracy`."
)


def _public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    return [name for name in getattr(module, "__all__", []) if not name.startswith("__")]


def api_layout() -> tuple[list[tuple[str, str, list[str]]], list[str]]:
    """Group ``statespace.__all__`` by topic module; return (groups, testing names)."""
    import statespace

    public = [name for name in statespace.__all__ if not name.startswith("__")]
    placed: set[str] = set()
    groups = []
    for title, blurb, modules in API_GROUPS:
        names = []
        for module in modules:
            names += [n for n in _public_names(f"statespace.{module}") if n in public and n not in placed]
        if title.startswith("Engines"):
            names += [n for n in ("show_config",) if n in public and n not in placed]
        placed.update(names)
        groups.append((title, blurb, names))
    rest = [n for n in public if n not in placed]
    if rest:
        groups.append(("Other", "Public names not yet filed under a topic.", rest))
    return groups, _public_names("statespace.testing")


def _directive_for(module_name: str, name: str) -> str:
    obj = getattr(importlib.import_module(module_name), name)
    if inspect.isclass(obj):
        return f".. autoclass:: {name}\n   :no-members:\n"
    if callable(obj):
        return f".. autofunction:: {name}\n"
    return f".. autodata:: {name}\n   :no-value:\n"


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def write_api_pages(app) -> None:
    """Write ``generated/<module>.<name>.rst`` pages and ``generated/api_groups.inc``."""
    import statespace

    out = Path(app.srcdir) / "generated"
    out.mkdir(exist_ok=True)
    groups, testing = api_layout()
    pages = {}
    for _, _, names in groups:
        for name in names:
            if callable(getattr(statespace, name)):  # constants are listed, with their values, in the groups
                pages[f"statespace.{name}"] = ("statespace", name)
    for name in testing:
        pages[f"statespace.testing.{name}"] = ("statespace.testing", name)

    for full, (module, name) in pages.items():
        text = f"{full}\n{'=' * len(full)}\n\n.. currentmodule:: {module}\n\n{_directive_for(module, name)}"
        _write_if_changed(out / f"{full}.rst", text)
    for stale in out.glob("statespace.*.rst"):
        if stale.stem not in pages:
            stale.unlink()

    lines = []
    for title, blurb, names in groups:
        if not names:
            continue
        lines += [title, "-" * len(title), "", blurb, "", ".. currentmodule:: statespace", ""]
        routines = [n for n in names if callable(getattr(statespace, n))]
        constants = [n for n in names if n not in routines]
        if routines:
            lines += [".. autosummary::", "   :nosignatures:", ""] + [f"   {name}" for name in routines] + [""]
        if constants:
            lines += ["Constants:", ""]
            lines += [f"``statespace.{name}``\n   ``{getattr(statespace, name)!r}``" for name in constants] + [""]
    title = "Testing helpers (statespace.testing)"
    lines += [
        title,
        "-" * len(title),
        "",
        TESTING_BLURB,
        "",
        ".. currentmodule:: statespace.testing",
        "",
        ".. autosummary::",
        "   :nosignatures:",
        "",
    ]
    lines += [f"   {name}" for name in testing]
    lines.append("")
    _write_if_changed(out / "api_groups.inc", "\n".join(lines))


class _TableDirective(SphinxDirective):
    """Parse generated reStructuredText (tables with titles) into the document."""

    def render(self, rst_lines: list[str]) -> list[nodes.Node]:
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(rst_lines, source="<statespace_docs>"), container)
        return container.children


def _tolerance_descriptions(doc: str) -> dict[str, str]:
    """Read the ``"kind"`` definition list of the :mod:`statespace.testing` docstring."""
    found, current = {}, None
    for line in doc.splitlines():
        head = re.match(r'^``"(\w+)"``\s*$', line)
        if head:
            current = head.group(1)
            found[current] = []
        elif current and line.startswith("    "):
            found[current].append(line.strip())
        elif current and line.strip() == "":
            continue
        else:
            current = None
    return {kind: _without_internal_notes(" ".join(words)) for kind, words in found.items()}


def _without_internal_notes(text: str) -> str:
    """Drop citations of the project's internal reference notes (``ssm-math.md §x``), not public."""
    text = re.sub(r"\s*\(ssm-math\.md §[\d.]+\)", "", text)
    return re.sub(r"ssm-math\.md §[\d.]+:\s*", "", text)


class TolerancesDirective(_TableDirective):
    """Render :data:`statespace.testing.TOLERANCES` as a table."""

    has_content = False

    def run(self):
        from statespace import testing

        descriptions = _tolerance_descriptions(testing.__doc__ or "")
        precisions = sorted({p for table in testing.TOLERANCES.values() for p in table})
        rst = [
            ".. list-table:: Relative tolerances (``max|actual − desired| / max|desired|``), "
            "read from ``statespace.testing.TOLERANCES`` when this page was built",
            "   :header-rows: 1",
            "   :widths: 12 9 9 70",
            "",
        ]
        rst += ["   * - kind"] + [f"     - {p}" for p in precisions] + ["     - what it covers and why this number"]
        for kind, table in testing.TOLERANCES.items():
            rst.append(f"   * - ``{kind}``")
            rst += [f"     - {table[p]:.0e}" if p in table else "     - —" for p in precisions]
            rst.append(f"     - {descriptions.get(kind, '')}")
        return self.render(rst)


def legs_matrix(N: int) -> np.ndarray:
    """HiPPO-LegS ``A`` from its closed form (independent of the package)."""
    r = np.sqrt(2.0 * np.arange(N) + 1.0)
    return -(np.tril(np.outer(r, r)) - np.diag(np.arange(N, dtype=float)))


def _nplr_error(N: int) -> float | None:
    """‖U(diag Λ − p p*)U* − A‖/‖A‖ of ``statespace.nplr('legs', N)`` (None while nplr does not exist)."""
    import statespace

    if not hasattr(statespace, "nplr"):
        return None
    rec = statespace.nplr("legs", N)
    Lam, P, V = (np.asarray(getattr(rec, f)) for f in ("Lambda", "P", "V"))
    U = np.concatenate([V, V.conj()], axis=-1)
    W = np.concatenate([Lam, Lam.conj()], axis=-1)
    p = np.concatenate([P, P.conj()], axis=-1).T  # (N, r)
    A_rec = U @ (np.diag(W) - p @ p.conj().T) @ U.conj().T
    A = legs_matrix(N)
    return float(np.linalg.norm(A_rec - A) / np.linalg.norm(A))


class LegsConditioningDirective(_TableDirective):
    """Measure cond(V) of ``np.linalg.eig(A_legs)`` for several N, beside the NPLR route."""

    has_content = False
    option_spec: ClassVar[dict] = {"sizes": directives.unchanged}

    def run(self):
        sizes = [int(s) for s in self.options.get("sizes", "4 8 16 24 64").split()]
        rst = [
            ".. list-table:: Direct diagonalisation of HiPPO-LegS with ``numpy.linalg.eig`` versus the "
            "NPLR route, measured (float64) when this page was built",
            "   :header-rows: 1",
            "",
            "   * - N",
            "     - cond(V), unit columns",
            "     - eigenvalue error, max over k of the distance to −k",
            "     - ‖V Λ V⁻¹ − A‖ / ‖A‖",
            "     - NPLR: ‖U(Λ − pp*)U* − A‖ / ‖A‖",
        ]
        for N in sizes:
            A = legs_matrix(N)
            w, V = np.linalg.eig(A)
            V = V / np.linalg.norm(V, axis=0)
            cond = np.linalg.cond(V)
            eig_err = np.max(np.abs(np.sort(w.real) - np.arange(-N, 0)))
            rec_err = np.linalg.norm((V * w) @ np.linalg.inv(V) - A) / np.linalg.norm(A)
            nplr_err = _nplr_error(N)
            rst += [
                f"   * - {N}",
                f"     - {cond:.1e}",
                f"     - {eig_err:.0e}",
                f"     - {rec_err:.0e}",
                f"     - {nplr_err:.0e}" if nplr_err is not None else "     - (nplr not available)",
            ]
        return self.render(rst)


class S4DFormsDirective(_TableDirective):
    """Measure, in float32, the naive and the stable forms of the S4D discretization quantities."""

    has_content = False

    def run(self):
        lam = -0.5 + 1j * np.pi * np.arange(32)  # S4D-Lin, N = 64
        rst = [
            ".. list-table:: Relative error in complex64 against float64, S4D-Lin (N = 64), "
            "measured when this page was built",
            "   :header-rows: 1",
            "",
            "   * - `\\Delta`",
            "     - ZOH `\\bar B`: `(e^{\\Delta\\Lambda} - 1)/\\Lambda`",
            "     - ZOH `\\bar B`: `\\mathrm{expm1}(\\Delta\\Lambda)/\\Lambda`",
            "     - bilinear `\\log\\bar A`: `\\log\\frac{1 + \\Delta\\Lambda/2}{1 - \\Delta\\Lambda/2}`",
            "     - bilinear `\\log\\bar A`: `2\\,\\mathrm{atanh}(\\Delta\\Lambda/2)`",
        ]
        for dt in (1e-2, 1e-4, 1e-6):
            z64 = dt * lam
            zoh_ref, log_ref = np.expm1(z64) / lam, 2 * np.arctanh(z64 / 2)
            lam32 = lam.astype(np.complex64)
            z = (np.float32(dt) * lam32).astype(np.complex64)
            half = z / np.complex64(2)
            one = np.complex64(1)
            errors = [
                _relative((np.exp(z) - one) / lam32, zoh_ref),
                _relative(np.expm1(z) / lam32, zoh_ref),
                _relative(np.log((one + half) / (one - half)), log_ref),
                _relative(2 * np.arctanh(half), log_ref),
            ]
            rst += [f"   * - {dt:.0e}"] + [f"     - {e:.1e}" for e in errors]
        return self.render(rst)


class EngineTableDirective(_TableDirective):
    """The capability records of the public functions: engines, Dask, methods (``statespace._dispatch``)."""

    has_content = False

    def run(self):
        import statespace
        from statespace._dispatch import CAPABILITIES

        dask = {"lazy": "lazy", "xp": "lazy (array-API code)", "no": "not yet", None: "(no array input)"}
        rst = [
            ".. list-table:: What each public function can do, read from its capability record when this page "
            "was built",
            "   :header-rows: 1",
            "",
            "   * - function",
            '     - engines (besides ``None``/``"auto"``)',
            "     - Dask arrays",
            "     - methods",
        ]
        for name in statespace.__all__:
            record = CAPABILITIES.get(name)
            if record is None:
                continue
            if isinstance(record.engines, dict):
                engines = "; ".join(f"{v}: " + ", ".join(f"``{e}``" for e in es) for v, es in record.engines.items())
            else:
                engines = ", ".join(f"``{e}``" for e in record.engines)
            note = f" ({record.dask_note})" if record.dask_note else ""
            rst += [
                f"   * - :func:`statespace.{name}`",
                f"     - {engines}",
                f"     - {dask[record.dask]}{note}",
                "     - " + (", ".join(f"``{m}``" for m in record.methods) or "\\-"),
            ]
        return self.render(rst)


def _relative(actual, desired) -> float:
    return float(np.max(np.abs(actual - desired)) / np.max(np.abs(desired)))


def setup(app):
    app.connect("builder-inited", write_api_pages)
    app.add_directive("statespace-tolerances", TolerancesDirective)
    app.add_directive("statespace-legs-conditioning", LegsConditioningDirective)
    app.add_directive("statespace-s4d-forms", S4DFormsDirective)
    app.add_directive("statespace-engine-table", EngineTableDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
