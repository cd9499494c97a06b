#!/usr/bin/env bash
# Transformers' own common model tests on the upstream classes and on the MSD classes of each family, one table per
# family (tests/upstream/run.py). Arguments: the families (default all: bert roberta deberta_v2 modernbert llama
# qwen2 gpt2 bart). Sets up the environment (scripts/setup.sh), installs the upstream-tests extra if it is missing,
# and downloads the installed Transformers' source distribution once (.cache/upstream-tests/). Exit status 1 when a
# test that passes upstream does not pass for MSD.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
if ! python -c "import parameterized" 2>/dev/null; then
  echo "[upstream-tests] installing msd-transformers[upstream-tests]"
  pip install -q -e ".[upstream-tests]" -c scripts/constraints.txt
fi
python tests/upstream/run.py "$@"
