"""``statespace demo`` (being written by the construction work)."""


def add_arguments(parser):
    pass


def run(args):
    raise SystemExit("statespace demo: not written yet")
