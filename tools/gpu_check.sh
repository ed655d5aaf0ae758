#!/usr/bin/env bash
# The one prepared GPU check of issue #16, as a single command on a machine with an NVIDIA GPU:
#
#   bash tools/gpu_check.sh            # the real run (< 6 minutes on an H200)
#   bash tools/gpu_check.sh --dry      # the same steps on a CPU: kernels under Numba's CUDA simulator, tiny sizes
#
# 1. installs nothing from the network: wheels carried in .whl/ (array-api-compat, array-api-strict) are
#    installed with --no-index --no-deps; the package itself runs from this checkout (PYTHONPATH);
# 2. runs the GPU-engine tests (tests/gpu) on the GPU, then the existing suite's CuPy-backend tests (-m cupy);
# 3. runs the benchmark table (tools/gpu_bench.py) of the GPU engine beside its peers on the same GPU.
# Everything lands in $OUT (default ./gpu_results): info.txt, gpu_tests.log/.xml, cupy_suite.log/.xml,
# bench.json, bench.md, summary.txt. A failing step is recorded and the next one still runs; the exit
# status is non-zero when any step failed.
# These are not asv results: to put this GPU on the asv dashboard too, run afterwards
#   MACHINE=gpu-h200 bash asv_bench/dashboard.sh --same   (README, "Performance dashboard")
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu_results}
mkdir -p "$OUT"
DRY=""
[ "${1:-}" = "--dry" ] && DRY="--dry"
PY=${PYTHON:-python}
status=0
step() { echo "== $1: $2" | tee -a "$OUT/summary.txt"; }

if compgen -G ".whl/*.whl" > /dev/null; then
    $PY -m pip install --no-index --no-deps .whl/*.whl > "$OUT/pip.log" 2>&1 \
        && step wheels "installed $(ls .whl/*.whl | wc -l) carried wheels" \
        || step wheels "FAILED (see pip.log)"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$ROOT/.numba_cache}"
export XLA_PYTHON_CLIENT_PREALLOCATE=false
if [ -n "$DRY" ]; then export NUMBA_ENABLE_CUDASIM=1; else unset NUMBA_ENABLE_CUDASIM; fi

{ nvidia-smi 2>&1 || echo "no nvidia-smi"; $PY -m statespace info 2>&1; } > "$OUT/info.txt"
step info "$(grep -E '^gpu:' "$OUT/info.txt" || echo 'statespace info failed (see info.txt)')"

timeout 180 $PY -m pytest -q -p no:cacheprovider tests/gpu --junitxml="$OUT/gpu_tests.xml" > "$OUT/gpu_tests.log" 2>&1
rc=$?; [ $rc -ne 0 ] && status=1
step "gpu tests" "rc=$rc $(tail -1 "$OUT/gpu_tests.log")"

if [ -z "$DRY" ]; then
    timeout 90 $PY -m pytest -q -p no:cacheprovider -m cupy tests --ignore=tests/gpu --maxfail=30 \
        --junitxml="$OUT/cupy_suite.xml" > "$OUT/cupy_suite.log" 2>&1
    rc=$?; [ $rc -ne 0 ] && [ $rc -ne 5 ] && status=1  # 5: nothing selected
    step "cupy suite" "rc=$rc $(tail -1 "$OUT/cupy_suite.log")"
fi

timeout 210 $PY tools/gpu_bench.py --out "$OUT" $DRY > "$OUT/bench.log" 2>&1
rc=$?; [ $rc -ne 0 ] && status=1
step bench "rc=$rc (bench.md, bench.json)"
cat "$OUT/bench.md" 2>/dev/null || tail -20 "$OUT/bench.log"
exit $status
