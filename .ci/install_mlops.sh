#!/usr/bin/env bash
# The MLOps virtualenv (MLflow tracking server + Evidently, training/requirements-mlops.txt),
# idempotently, and prints its path on stdout. It lives outside the repo so worktrees share one
# copy; a stamp holding the requirements' hash makes a second run a no-op, and a changed
# requirements file updates the venv in place. The MLflow tests, `deno task drift` and deploy use
# the same path (or MLOPS_VENV when set).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$here/training/requirements-mlops.txt"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
venv="${MLOPS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/trino-smart-routing/mlops-venv}"
stamp="$venv/.requirements.sha256"
# Test files start in parallel and may all ask at once: one installs, the others wait for it.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$venv"
  exit 0
fi
python="${PYTHON:-python3}"
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
"$venv/bin/mlflow" --version >&2
echo "$want" >"$stamp"
echo "$venv"
