#!/usr/bin/env bash
# Set up the environment if needed, then run the test suite (extra arguments go to pytest).
# The tests run in parallel worker processes (pytest-xdist), one per CPU core up to 4; MSD_TEST_WORKERS sets the
# number (0: in this process). Each worker uses one torch thread (tests/conftest.py).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cores="$(nproc 2>/dev/null || echo 1)"
workers="${MSD_TEST_WORKERS:-$(( cores < 4 ? cores : 4 ))}"
python -m pytest -q -n "$workers" --dist loadgroup "$@"
