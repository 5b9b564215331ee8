#!/usr/bin/env bash
# Every baseline on one workload under the self-tuning ruleset (3 studies, budget x1.5), then the
# leaderboard with bootstrap CIs and NadamW as the speed-up reference.
#   bash benchmarks/baselines_self_tuning.sh [WORKLOAD] [SIZE] [EXPERIMENT_DIR]
set -euo pipefail
WORKLOAD=${1:-fmnist_mlp}
SIZE=${2:-mini}
EXP=${3:-experiments/baselines-$WORKLOAD-$SIZE}
BASELINES=$(python3 -c "from optbench.algorithms import BASELINES; print(' '.join(BASELINES))")
for submission in $BASELINES; do
  optbench tune --submission "$submission" --ruleset self --workloads "$WORKLOAD" --size "$SIZE" \
    --studies 3 --experiment-dir "$EXP" --no-progress
done
optbench score "$EXP" --baseline nadamw --csv "$EXP/leaderboard.csv"
