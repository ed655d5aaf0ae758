"""The version of statespace, in one place: pyproject.toml reads it (dynamic version), so an installed
distribution and a source tree on sys.path report the same."""

__version__ = "0.2.0.dev0"
