#!/usr/bin/env bash
# The training pipeline's Python environment (pinned requirements, ruff included), idempotent:
# the tests train on a fixture log and `deno task check` runs ruff from it.
set -euo pipefail
bash "$(dirname "$0")/../training/setup_venv.sh"
