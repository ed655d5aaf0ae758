"""Sphinx configuration for the statespace documentation.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html``
(``tox -e docs``).  The API pages are generated from ``statespace.__all__``
at build time (``_ext/statespace_docs.py``), the gallery examples under
``examples/`` run at build time (sphinx-gallery), and the tables of measured
numbers (tolerances, conditioning) are computed at build time too.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import statespace  # noqa: E402

# -- project -----------------------------------------------------------------
project = "statespace"
author = "statespace developers"
copyright = "statespace developers"
version = statespace.__version__
release = statespace.__version__

# -- extensions --------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "statespace_docs",
]

# No network at build time: no intersphinx, no remote images.
exclude_patterns = ["_build", "**.ipynb_checkpoints", "examples/GALLERY_HEADER.rst"]
root_doc = "index"
default_role = "math"  # `x` in the guide is inline math
nitpicky = False
pygments_style = "sphinx"
pygments_dark_style = "monokai"

# -- autodoc / autosummary / numpydoc ------------------------------------------
# The per-function pages are written by statespace_docs (one page per public
# name, grouped by topic), so autosummary only renders tables.
autosummary_generate = False
autodoc_typehints = "none"
# the framework adapters (statespace.torch, statespace.jax) are documented without installing PyTorch or JAX
autodoc_mock_imports = ["torch", "jax"]
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
numpydoc_xref_param_type = False

# -- math ----------------------------------------------------------------------
# MathJax is served from the built site itself, so the HTML shows mathematics with no network:
# the sphinx-mathjax-offline package (PyPI; the `docs` extra) ships MathJax 3 and copies it into
# _static/mathjax after the build, and points mathjax_path there. Nothing is fetched at build time
# or when a page is read.
extensions.append("sphinx-mathjax-offline")
mathjax3_config = {
    "tex": {"macros": {"R": r"\mathbb{R}", "C": r"\mathbb{C}", "diag": r"\operatorname{diag}"}},
}

# -- sphinx-gallery ------------------------------------------------------------
warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib is currently using agg")
sphinx_gallery_conf = {
    "examples_dirs": ["examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_memory": False,
    "show_signature": False,
    "only_warn_on_example_error": False,
    "abort_on_example_error": False,
    "doc_module": ("statespace",),
    "backreferences_dir": None,
    "min_reported_time": 1,
    "write_computation_times": False,
}

# -- HTML ------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"statespace {release}"
html_static_path = ["_static"]
html_css_files = ["statespace.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "header_links_before_dropdown": 6,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
    "secondary_sidebar_items": ["page-toc"],
    "pygments_light_style": "default",
    "pygments_dark_style": "monokai",
}
html_sidebars = {"index": [], "auto_examples/index": []}
html_context = {"default_mode": "light"}
