#!/usr/bin/env bash
# Installs Debian's `kubectl` (its built-in kustomize renders deploy/k8s/) and checks Go (the
# manifest validator in deploy/k8s/validate/ decodes every object with the official Kubernetes API
# types, fetched through the Go module proxy). Idempotent: present tools skip the network.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
NEED=()
command -v kubectl >/dev/null 2>&1 || NEED+=(kubectl)
command -v go >/dev/null 2>&1 || NEED+=(golang-go)
if [ "${#NEED[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${NEED[@]}" >/dev/null
fi
command -v kubectl >/dev/null && command -v go >/dev/null
