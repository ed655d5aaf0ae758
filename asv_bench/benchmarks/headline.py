"""The headline workloads of ``statespace bench``, read from their one definition (``statespace/_app/bench.py``).

Same sizes, data and peers as ``statespace bench`` at its default sizes: one benchmark per function, the
implementation (our engines, the reference peer) as a parameter, so the dashboard tracks exactly what
``statespace bench`` prints. A commit without those definitions, a function it lacks or an engine that is
not installed is skipped (``NotImplementedError`` in ``setup``).
"""

from __future__ import annotations

from .common import Benchmark

try:
    from statespace._app.bench import CASES
except ImportError:  # older commits: statespace bench's definitions lived elsewhere or did not exist
    CASES = {}


class Headline(Benchmark):
    params = (sorted(CASES) or ["(none)"], ["xp", "numba", "reference peer"])
    param_names = ("function", "implementation")
    timeout = 600

    def setup(self, name, impl):
        from statespace._engines import installed

        if name not in CASES or (impl != "reference peer" and not installed(impl)):
            raise NotImplementedError(f"{name} / {impl} cannot run here")
        case = CASES[name]([impl] if impl != "reference peer" else [], False)
        labels = {"reference peer": None, "xp": ("statespace xp", "statespace"), "numba": ("statespace numba",)}
        chosen = [i for i in case.impls if (i.reference if impl == "reference peer" else i.label in labels[impl])]
        if case.missing or not chosen:
            raise NotImplementedError(case.missing or f"{name} has no {impl} implementation")
        self.call = chosen[0].call
        self.call()  # compile / plan outside the timing

    def time_headline(self, name, impl):
        self.call()
