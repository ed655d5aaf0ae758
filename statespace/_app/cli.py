"""The ``statespace`` command line: ``demo``, ``info`` (and the self-checks of later topics)."""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main"]

# subcommand -> (module, help); each module has ``add_arguments(parser)`` and ``run(args) -> int``.
COMMANDS = {
    "demo": ("statespace._app.demo", "HiPPO-LegS memory of a built-in signal: recurrence, reconstruction, NPLR check"),
    "info": ("statespace._app.config", "versions, engines, threads and GPU of this installation"),
    "bench": ("statespace._app.bench", "short benchmark: our engines beside the peers and the machine's bounds"),
    "check": ("statespace._app.check", "self-test: the convolution, recurrence and scan views agree on every backend"),
    "compile": (
        "statespace._app.compile",
        "compile every numba kernel ahead of time (else: on first use), with progress",
    ),
}


def main(argv=None) -> int:
    from statespace import __version__

    parser = argparse.ArgumentParser(prog="statespace", description="Numerics of structured state space models.")
    parser.add_argument("--version", action="version", version=f"statespace {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        if name != "info":
            importlib.import_module(module).add_arguments(p)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "info":
        from .config import show_config

        show_config()
        return 0
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
