#!/usr/bin/env bash
# Installs Debian's `prometheus` package (prometheus + promtool) for the alerting-rule and dashboard
# tests. Idempotent: a machine that already has both binaries skips the network entirely.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null

# Where init runs, the package starts a system instance on :9090; the tests start their own on a
# free loopback port and never touch it.
command -v prometheus >/dev/null && command -v promtool >/dev/null
