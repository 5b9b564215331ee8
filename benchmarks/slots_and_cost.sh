#!/usr/bin/env bash
# Issue 16's CPU measurements, one script on a quiet machine, each step timed end to end:
#   1. two 1-thread slots calibrated side by side, and the 2-thread slot again (today's speed);
#   2. NadamW self-tuning (3 studies = 3 seeds) on four workloads in 2 slots x 1 thread;
#   3. NadamW external tuning (1 study x 5 trials) on two workloads, capped, then uncapped;
#   4. NadamW self-tuning, the whole verdict (3 studies x 8 workloads) in 1 slot x 2 threads.
# Summaries: python benchmarks/verdict_cost.py OUT/<experiment> (wall times in OUT/walls.txt).
#
#   bash benchmarks/slots_and_cost.sh OUT [PYTHON]     # PYTHON: default .venv/bin/python
# Resumable: a step whose experiment directory is complete is skipped by `tune`'s own resume.
set -uo pipefail
OUT=$(realpath -m "${1:?usage: slots_and_cost.sh OUT [PYTHON]}")
PY=${2:-.venv/bin/python}
mkdir -p "$OUT"
OB=("$PY" -m optbench)
W4=(clicks_dlrm fmnist_vit molecules_gnn speech_conformer)
W2=(clicks_dlrm fmnist_vit)

timed() {  # timed NAME CMD...: run CMD, log to OUT/NAME.log, append its wall time to walls.txt
    local name=$1 start end rc
    shift
    start=$(date +%s.%N)
    echo "$(date -u +%FT%TZ) start $name: $*" >>"$OUT/walls.txt"
    "$@" >"$OUT/$name.log" 2>&1
    rc=$?
    end=$(date +%s.%N)
    printf '%s end %s rc=%d wall=%.1f s load=%s\n' "$(date -u +%FT%TZ)" "$name" "$rc" \
        "$(echo "$end - $start" | bc)" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/walls.txt"
}

calibrate_slots() {
    "${OB[@]}" calibrate --threads 1 --slot 0 --workloads "${W4[@]}" -o "$OUT/cpu1-slot0.json" &
    "${OB[@]}" calibrate --threads 1 --slot 1 --workloads "${W4[@]}" -o "$OUT/cpu1-slot1.json"
    wait
}

echo "# $(git rev-parse --short HEAD) $(nproc) CPUs $(date -u +%F)" >>"$OUT/walls.txt"
[ -f "$OUT/cpu1-slot0.json" ] || timed calibrate-1thread-2slots calibrate_slots
[ -f "$OUT/cpu2-today.json" ] || timed calibrate-2threads \
    "${OB[@]}" calibrate --threads 2 --workloads "${W4[@]}" -o "$OUT/cpu2-today.json"
timed self-2x1 "${OB[@]}" tune --submission nadamw --ruleset self --workloads "${W4[@]}" \
    --jobs 2 --threads-per-trial 1 --profile "$OUT/cpu1-slot0.json" \
    --experiment-dir "$OUT/self-2x1" --no-progress
timed external-capped "${OB[@]}" tune --submission nadamw --ruleset external --studies 1 \
    --trials 5 --workloads "${W2[@]}" --experiment-dir "$OUT/external-capped" --no-progress
timed external-uncapped "${OB[@]}" tune --submission nadamw --ruleset external --studies 1 \
    --trials 5 --workloads "${W2[@]}" --no-capping --experiment-dir "$OUT/external-uncapped" \
    --no-progress
timed self-1x2 "${OB[@]}" tune --submission nadamw --ruleset self \
    --workloads "${W4[@]}" fmnist_resnet shakespeare_lm speech_lstm mri_unet \
    --experiment-dir "$OUT/self-1x2" --no-progress
