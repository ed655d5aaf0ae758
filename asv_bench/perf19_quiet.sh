#!/usr/bin/env bash
# Every issue-19 measurement, pinned to two cores (the development machine's size), for a quiet machine:
#   bash asv_bench/perf19_quiet.sh [OUTDIR]        (about 12 minutes; each part also runs alone)
# Set TBB_LIB to a folder holding libtbb.so.12 (from `pip download tbb`) to include Numba's tbb layer.
set -u
OUT=${1:-perf19_results}
mkdir -p "$OUT"
CORES=${CORES:-0,1}
export NUMBA_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-$(mktemp -d)}
pin() { taskset -c "$CORES" "$@"; }
{ uptime; nproc; lscpu | grep -m1 "Model name"; python -c "import numpy, scipy, numba, sys; print(sys.version.split()[0], numpy.__version__, scipy.__version__, numba.__version__)"; python -c "import jax; print('jax', jax.__version__)"; } > "$OUT/env.txt" 2>&1
pin python asv_bench/perf19.py few steps selective tiny blocks > "$OUT/perf19.txt" 2>&1
pin python asv_bench/parallel_threshold.py > "$OUT/threshold.txt" 2>&1
LAYERS="omp workqueue"
if [ -n "${TBB_LIB:-}" ]; then export LD_LIBRARY_PATH=$TBB_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}; LAYERS="$LAYERS tbb"; fi
pin python asv_bench/threading_layers.py $LAYERS > "$OUT/layers.txt" 2>&1
STATESPACE_PARALLEL_MIN_WORK=0 pin python asv_bench/threading_layers.py $LAYERS > "$OUT/layers_always_parallel.txt" 2>&1
pin python asv_bench/cold_start.py > "$OUT/cold.txt" 2>&1
pin python asv_bench/auto_engine.py > "$OUT/auto_engine.txt" 2>&1
pin python asv_bench/dask_workers.py > "$OUT/dask_workers.txt" 2>&1
