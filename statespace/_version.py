"""The version of statespace, in one place."""

__version__ = "0.1.0"
