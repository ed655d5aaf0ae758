"""Run ``asv ARGS`` and fold its per-parameter "skipped" notes into one summary line.

With ``--show-stderr`` asv prints, for every parameter combination a benchmark skips (a peer or an engine
not installed here: the benchmark raises NotImplementedError), a "For parameters: ..." line and an
"asv: skipped: NotImplementedError(...)" line. Those are expected; errors and everything else are printed
as they come. The exit status is asv's.

Usage (from asv_bench/): ``python ../.ci/asv_quiet.py run --python=same --quick --show-stderr --dry-run``
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys

SKIPPED = re.compile(r"asv: skipped: (?:NotImplementedError|SkipNotImplemented)\((?P<reason>.*)\)\s*$")
PARAMETERS = re.compile(r"For parameters: ")


def main(argv: list[str]) -> int:
    process = subprocess.Popen(["asv", *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reasons: collections.Counter[str] = collections.Counter()
    held = None  # a "For parameters" line, printed only if what follows is not a skip note
    after_skip = False
    assert process.stdout is not None
    for line in process.stdout:
        match = SKIPPED.search(line)
        if match:
            reason = match.group("reason")
            if len(reason) > 1 and reason[0] == reason[-1] and reason[0] in "'\"":
                reason = reason[1:-1]  # the repr's quotes
            reasons[reason] += 1
            held, after_skip = None, True
            continue
        if after_skip and not line.strip():
            continue  # the blank line asv prints after each skip note
        after_skip = False
        if held is not None:
            sys.stdout.write(held)
            held = None
        if PARAMETERS.search(line):
            held = line
            continue
        sys.stdout.write(line)
    if held is not None:
        sys.stdout.write(held)
    status = process.wait()
    if reasons:
        summary = "; ".join(f"{reason} ×{count}" for reason, count in reasons.most_common())
        print(f"asv: {sum(reasons.values())} parameter sets skipped (not available here): {summary}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
