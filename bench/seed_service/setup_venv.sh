#!/usr/bin/env bash
# Creates bench/seed_service/.venv (idempotent): the seed-style FastAPI + sqlglot + onnxruntime
# service the design document would have a user build, measured side by side with the router.
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
