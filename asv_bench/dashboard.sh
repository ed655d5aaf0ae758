#!/usr/bin/env bash
# The committed dashboard's measurements (asv_bench/results/, README "Performance dashboard"): the benchmarks
# that matter -- the headline workloads of `statespace bench` and a few representative kernels, scans and small
# sizes -- for the given commits, under a fixed machine name. One definition of the selection, so every
# commit and machine on the dashboard measures the same benchmarks the same way.
#
#   bash asv_bench/dashboard.sh 8eec9bf f85b294       # each commit built and installed in asv's virtualenv (PyPI)
#   MACHINE=gpu-h200 bash asv_bench/dashboard.sh --same [asv options]
#                                                     # the checked-out commit in this Python (no network needed;
#                                                     # numba/cupy as installed here): the GPU machine's way
#
# Then `cd asv_bench && asv publish && asv preview`, and commit asv_bench/results/.
set -euo pipefail
cd "$(dirname "$0")"
MACHINE=${MACHINE:-ci-2core}
SELECT=(-b '^headline\.' -b '^kernels\.KernelDiag\.time' -b '^scan\.LinearScan\.time'
        -b '^sizes\.TinyCalls\.' -b '^sizes\.ZOHManySteps\.')
TIMING=(-a repeat=3 -a rounds=1)  # three samples each: a few minutes per commit on two cores
asv machine --yes --machine "$MACHINE" > /dev/null
if [ "${1:-}" = "--same" ]; then
    # asv drops PYTHONPATH in its benchmark processes; ASV_PYTHONPATH puts this checkout first on sys.path
    ASV_PYTHONPATH="$(cd .. && pwd)" asv run --python=same --set-commit-hash="$(git rev-parse HEAD)" \
        --machine "$MACHINE" "${SELECT[@]}" "${TIMING[@]}" "${@:2}"
else
    for commit in "$@"; do
        asv run "$commit^!" --machine "$MACHINE" "${SELECT[@]}" "${TIMING[@]}"
    done
fi
