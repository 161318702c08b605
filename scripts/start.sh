#!/usr/bin/env bash
# Install everything, then start the workbench on its built-in default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/workbench demo "$@"
