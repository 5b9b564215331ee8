#!/usr/bin/env bash
# Installs optbench and what it needs on a fresh Debian machine with Python 3.11.
#   bash scripts/install.sh          # the package (to run benchmarks)
#   bash scripts/install.sh --test   # the package with its test extras
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# Data and tools from Debian: Fashion-MNIST (MIT), MRI templates (mricron-data, BSD-style), the
# espeak-ng speech synthesiser (GPL tool; its output is our data).
missing=""
[ -d /usr/share/datasets/fashion-mnist ] || missing="$missing dataset-fashion-mnist"
[ -d /usr/share/mricron/templates ] || missing="$missing mricron-data"
command -v espeak-ng >/dev/null || missing="$missing espeak-ng"
if [ -n "$missing" ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

PIP="$PYTHON -m pip install --quiet --disable-pip-version-check"
# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build.
$PIP "torch==2.13.0"
# MOSES SMILES ship in the molsets wheel; installed without its heavy dependencies (optbench only
# reads its data files).
$PIP --no-deps "molsets==0.3.1"
if [ "${1:-}" = "--test" ]; then
  $PIP -e ".[test]"
else
  $PIP -e .
fi
