#!/usr/bin/env bash
# Installs Debian's redis-server for the Redis store tests. Idempotent: a machine that already has
# the binary (a developer's, or CI on a reused machine) skips the network entirely.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi

# Non-root developers need sudo; CI and the dev machines run as root.
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null

# The Debian package starts a system-wide instance on port 6379 where systemd/init runs; the tests
# start their own on a free loopback port, so that instance is neither needed nor stopped here.
command -v redis-server >/dev/null
