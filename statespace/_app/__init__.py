"""The application face of ``statespace``: the ``statespace`` command (``demo``, ``info``, ``bench``, ``check``).

Nothing in the mathematics imports from here; this package imports the public ``statespace`` namespace
and asks :mod:`statespace._engines` what is installed.
"""
