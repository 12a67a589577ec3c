#!/usr/bin/env bash
# Installs Debian's PostgreSQL server binaries for the Trino Gateway end-to-end test (the gateway
# needs PostgreSQL or MySQL; the test runs a throwaway instance on a loopback port). Idempotent.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
