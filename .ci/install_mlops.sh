#!/usr/bin/env bash
# The MLOps virtualenv (MLflow tracking server + Evidently, training/requirements-mlops.txt),
# idempotently, and prints its path on stdout. It lives outside the repo, keyed by the
# requirements' hash, so worktrees share one copy and a changed requirements file gets a new one.
# The MLflow tests, `deno task drift` and deploy use the same path (or MLOPS_VENV when set).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$here/training/requirements-mlops.txt"
hash="$(sha256sum "$requirements" | cut -c1-12)"
venv="${MLOPS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/trino-smart-routing/mlops-$hash}"
if [[ -f "$venv/.installed" ]]; then
  echo "$venv"
  exit 0
fi
python="${PYTHON:-python3}"
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
"$venv/bin/mlflow" --version >&2
touch "$venv/.installed"
echo "$venv"
