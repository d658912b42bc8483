#!/usr/bin/env bash
# One GPU lease, three jobs side by side (how docs/gpu-run-2026-11-26b/ was made):
#   1. the labelled 3D dataset: 10,000 fields of 32³ (seed 0) with K from the GPU FEM (--labels bulk:
#      one hydrostatic load case), CPU workers generating, each labelling its block on the GPU;
#      then `matdesign dataset stats` and a CPU float64 re-check of the first stored labels;
#   2. full-size 2D evaluations (200 samples per target, the five dataset targets, paper protocol, raw
#      designs): Table 1 (guided, N = 100, seeds 0, 1, 2) and Table 3's variants (unguided, N = 50 and 200,
#      "project"), in priority order, SLOTS at a time — sampling on the GPU, verification on CPU workers
#      (tables, per-sample JSON and figures come back; the sample fields do not);
#   3. optionally first, alone on the GPU: the FEM benchmark's main and warm-start tables (BENCH=1).
# Every job is time-limited (BUDGET seconds from the start) and resumable: a rerun with the same
# folders continues the dataset (--resume) and skips finished targets. Results are packed into $OUT.
#
#   OUT=/tmp/out BUDGET=560 bash scripts/gpu_datasets_and_table1.sh
# Small CPU smoke test: DEVICE=cpu N3=8 SIZE3=8 SAMPLES=2 STEPS=3 W_DATA=0 W_EVAL=0 BUDGET=150 bash …
set -u
OUT=${OUT:-runs/gpu-out}
BUDGET=${BUDGET:-560}
DEVICE=${DEVICE:-cuda}
N3=${N3:-10000}
SIZE3=${SIZE3:-32}
SAMPLES=${SAMPLES:-200}
STEPS=${STEPS:-100}
W_DATA=${W_DATA:-6}
W_EVAL=${W_EVAL:-3}
DATA3=${DATA3:-data/3d-32}
EVAL=${EVAL:-runs/full-2d}
TARGETS=${TARGETS:-0.019815023938694266,62.94904547706218,125.87827593018565,188.80750638330915,251.7367368364326}
PY=${PY:-python3}
source "$(dirname "$0")/lease_common.sh"
if [ "${BENCH:-0}" = 1 ]; then
  log "FEM benchmark"
  timeout "${BENCH_S:-75}" $PY benchmarks/fem.py --device "$DEVICE" --repeats 3 --tables ${BENCH_TABLES:-main warm} \
    --dims ${BENCH_DIMS:-2 3} > "$OUT/logs/bench-fem.log" 2>&1
  log "FEM benchmark: exit $?"
fi

RESUME=(); [ -e "$DATA3" ] && RESUME=(--resume)
log "3D dataset: start"
( timeout $(($(left) - 35)) $PY -m matdesign dataset generate --dim 3 --size "$SIZE3" --n "$N3" --seed 0 --out "$DATA3" \
    --workers "$W_DATA" --chunk 64 --labels bulk --device "$DEVICE" "${RESUME[@]}" > "$OUT/logs/dataset-3d.log" 2>&1
  log "3D dataset: exit $?"
  if [ -e "$DATA3/dataset.h5" ]; then
    $PY -m matdesign dataset stats "$DATA3" --plot "$OUT/k_hist_3d.png" > "$OUT/logs/stats-3d.log" 2>&1
    $PY - "$DATA3" "$OUT/dataset_3d_labels.npz" >> "$OUT/logs/stats-3d.log" 2>&1 <<'EOF'
import sys, numpy as np, torch
from matdesign.data.store import open_store
from matdesign.fem import bulk_modulus
with open_store(sys.argv[1]) as f:
    keys = ("K", "rho_mean", "matrix_index", "particle_index", "diameter", "volume_fraction", "voxel_fraction", "n_particles")
    arrays = {k: f[k][()] for k in keys}
    fields = f["fields"][:2].astype(np.float64)
np.savez_compressed(sys.argv[2], **arrays)
K_cpu = bulk_modulus(fields[:, 0], fields[:, 1], dim=3, solver="scipy")
print("stored (GPU) K:", arrays["K"][:2], "\nCPU scipy K:  ", K_cpu,
      "\nmax rel diff:", float(np.max(np.abs(arrays["K"][:2] - K_cpu) / K_cpu)))
EOF
    log "3D stats: exit $?"
  fi ) &

# evaluation runs in priority order, at most SLOTS at a time: "name|extra evaluate options"
# (t1-*: the current sampler, step clip 0.01; t1-paper and the Table 3 rows: the paper's, --step-clip inf)
RUNS=${RUNS:-"t1-n100-s0|--steps $STEPS --seed 0
t1-paper-s0|--steps $STEPS --seed 0 --step-clip inf
t3-unguided|--mode unguided --steps $STEPS --seed 0
t3-n50|--steps 50 --seed 0 --step-clip inf
t3-n200|--steps 200 --seed 0 --step-clip inf
t3-project|--mode project --steps 200 --seed 0 --step-clip inf
t1-n100-s1|--steps $STEPS --seed 1
t1-n100-s2|--steps $STEPS --seed 2"}
SLOTS=${SLOTS:-3}
NAMES=()
while IFS='|' read -r name opts; do
  [ -z "$name" ] && continue
  while [ "$(jobs -rp | wc -l)" -gt "$SLOTS" ]; do wait -n; done  # the dataset job holds one more
  [ "$(left)" -lt 60 ] && { log "$name: no time left"; continue; }
  NAMES+=("$EVAL/$name")
  ( log "$name: start"
    timeout $(($(left) - 20)) $PY -m matdesign evaluate --targets "$TARGETS" --samples "$SAMPLES" $opts \
      --no-refine --max-arrangements 10 --workers "$W_EVAL" --device "$DEVICE" --out "$EVAL/$name" \
      $([ -e "$EVAL/$name" ] && echo --resume) \
      > "$OUT/logs/$name.log" 2>&1
    log "$name: exit $?" ) &
done <<< "$RUNS"
wait
tar czf "$OUT/evaluations.tar.gz" --exclude='*.npz' "${NAMES[@]}" 2>/dev/null  # the sample fields stay (too big)
tar czf "$OUT/logs.tar.gz" -C "$OUT" logs
log "done"
