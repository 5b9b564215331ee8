#!/usr/bin/env bash
# Installs optbench and what it needs on a fresh Debian machine with Python 3.11.
#   bash scripts/install.sh          # the package (to run benchmarks)
#   bash scripts/install.sh --test   # the package with its test extras
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# Data shipped by Debian: Fashion-MNIST (MIT).
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build.
$PYTHON -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
if [ "${1:-}" = "--test" ]; then
  $PYTHON -m pip install --quiet --disable-pip-version-check -e ".[test]"
else
  $PYTHON -m pip install --quiet --disable-pip-version-check -e .
fi
