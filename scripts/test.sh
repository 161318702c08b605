#!/usr/bin/env bash
# Install what the tests need, then run the whole suite (unit and integration tests).
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not integration".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
source .venv/bin/activate
ruff check .
exec python -m pytest "$@"
