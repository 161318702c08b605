#!/usr/bin/env bash
# Install everything, then start the workbench on its built-in default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The built-in default: the shipped medical recipe, prepared, trained and compared.
exec .venv/bin/workbench run data_recipes/medical_tiny-en_lora.yaml "$@"
