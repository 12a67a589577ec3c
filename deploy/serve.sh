#!/usr/bin/env bash
# Starts the router (`deno task serve`, and the container's entry point) with the narrowest Deno
# permissions its configuration allows: src/serve_permissions.ts derives them from the same
# environment the service reads, then the service replaces this shell (signals reach it directly).
set -euo pipefail
cd "$(dirname "$0")/.."
DENO="${DENO:-node_modules/.bin/deno}"
# --allow-read: only to resolve the runtime files' paths (the module graph needs no permission).
FLAGS="$("$DENO" run --no-prompt --allow-env --allow-read=. src/serve_permissions.ts)"
mapfile -t FLAG_LIST <<<"$FLAGS"
# Every connection costs a descriptor: take the hard limit as the soft one where allowed, so that
# idle connections exhaust memory long before descriptors (the listener recovers from either).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# Memory (README "Performance"): glibc keeps freed heap memory for reuse, and the ONNX runtime's
# start-up leaves ~30 MB of it behind for good; a fixed mmap threshold hands large blocks back to
# the kernel when freed. V8 grows its young generation to 3 x 16 MiB under load; 2 MiB
# semi-spaces keep it small for a few more (cheap) scavenges. Its old generation grows by up to
# 4x of what survived a full GC under a high allocation rate (a 240 MB heap around 100 MB of live
# data); growing by 50% at most held it at ~130 MB for the same CPU per request
# (--memory-saver-mode held it lower at ~1.5x the CPU). All inherited by the workers; all
# overridable.
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-65536}"
export DENO_V8_FLAGS="${DENO_V8_FLAGS:---max-semi-space-size=2,--heap-growing-percent=50}"
exec "$DENO" run --no-prompt "${FLAG_LIST[@]}" src/main.ts
