#!/usr/bin/env bash
# Set up the environment if needed, then run the test suite (extra arguments go to pytest).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
python -m pytest -q "$@"
