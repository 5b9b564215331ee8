#!/usr/bin/env bash
# The target-setting runs behind the committed mini targets (optbench/workloads/targets/*.json),
# as run on 2026-11-27: step-based search and re-runs (they may share the machine: they count
# steps, not seconds), then the budgets timed alone on a quiet machine.
#   bash benchmarks/set_mini_targets.sh [EXPERIMENT_DIR] [PARALLEL_JOBS]
# Each job runs with one torch thread. The fuller procedure (--trials 3, and all four algorithms
# on the variants too) is the same command with those options; it needs several idle hours on
# 2 cores.
# Variants (AlgoPerf: the same procedure) run the algorithm their base picked, for their base's
# step_hint, and keep their base's budget; they run after the bases, whose step hints they use.
set -euo pipefail
EXP=${1:-experiments/targets}
JOBS=${2:-3}
COMMON=(--size mini --trials 0 --skip-budget --write --no-progress --experiment-dir "$EXP")
# clicks_dlrm and mri_unet were evaluated 16 times per run, the others 8 times.
FOUR=(--algorithms adamw nadamw nesterov momentum)
jobs_=(
  "--workloads clicks_dlrm --steps 1800 ${FOUR[*]} --evals 16"
  "--workloads mri_unet --steps 200 ${FOUR[*]} --evals 16"
  "--workloads fmnist_resnet --steps 1200 ${FOUR[*]} --evals 8"
  "--workloads shakespeare_lm --steps 450 ${FOUR[*]} --evals 8"
  "--workloads molecules_gnn --steps 1000 ${FOUR[*]} --evals 8"
  "--workloads fmnist_vit --steps 1100 ${FOUR[*]} --evals 8"
  "--workloads speech_lstm --steps 600 ${FOUR[*]} --evals 8"
  "--workloads speech_conformer --steps 450 ${FOUR[*]} --evals 8"
)
variants=(
  "--workloads clicks_dlrm_layernorm --algorithms nadamw --evals 8"
  "--workloads mri_unet_tanh --algorithms nadamw --evals 8"
  "--workloads fmnist_resnet_silu --algorithms nesterov --evals 8"
  "--workloads shakespeare_lm_attention_temp --algorithms adamw --evals 8"
  "--workloads molecules_gnn_gelu --algorithms nadamw --evals 8"
  "--workloads fmnist_vit_post_ln --algorithms nesterov --evals 8"
  "--workloads speech_lstm_tanh --algorithms nadamw --evals 8"
  "--workloads speech_conformer_attention_temperature --algorithms nadamw --evals 8"
)
printf '%s\n' "${jobs_[@]}" |
  OMP_NUM_THREADS=1 xargs -P "$JOBS" -I{} sh -c "optbench targets ${COMMON[*]} {}"
printf '%s\n' "${variants[@]}" |
  OMP_NUM_THREADS=1 xargs -P "$JOBS" -I{} sh -c "optbench targets ${COMMON[*]} {}"
# budgets: time each picked configuration alone (2 threads), then write them
optbench targets --budgets-only --size mini --write --no-progress --experiment-dir "$EXP" \
  --workloads clicks_dlrm mri_unet fmnist_resnet shakespeare_lm molecules_gnn fmnist_vit \
  speech_lstm speech_conformer
