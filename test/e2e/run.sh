#!/usr/bin/env bash
# Runs the real-Trino suites: starts the Small and Large clusters once (unless they already
# run), runs every test in test/e2e against them, and stops only the clusters it started.
set -uo pipefail
cd "$(dirname "$0")/../.."
CLUSTER=deploy/trino/cluster.sh
started=()
for profile in small large; do
  if ! bash "$CLUSTER" status "$profile" >/dev/null 2>&1; then
    bash "$CLUSTER" start "$profile" || exit 1
    started+=("$profile")
  fi
done
node_modules/.bin/deno test --allow-all test/e2e
status=$?
for profile in "${started[@]}"; do bash "$CLUSTER" stop "$profile"; done
exit $status
