#!/usr/bin/env bash
# Set up the environment if needed, then run the main job: fine-tune MiniLM-L6 with multi-sample dropout on BBC News,
# offline. Extra arguments override config fields, e.g. `--num_train_epochs 1`.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
python scripts/train.py configs/bbc-news-minilm.yaml "$@"
