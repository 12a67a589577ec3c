#!/usr/bin/env bash
# Runs the random-v1 generator (random_queries.ts) on the real clusters in resumable chunks:
# chunk N = seed 1000+N, SHAPES shapes (each at tiny and sf1), written to
# data/random_log/chunk-NNN.jsonl.gz only once complete; existing chunks are skipped.
#
#   tools/workload/random_chunks.sh FIRST LAST [DEADLINE]    # e.g. 1 40 23:42 (UTC)
#
# With a DEADLINE no chunk starts later than 2 minutes before it, and the chunk running at the
# deadline stops starting queries then (run.ts --max-seconds) and is written with what finished.
# The clusters must be up: deploy/trino/cluster.sh start small large.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR="${RANDOM_LOG_DIR:-data/random_log}"
FIRST="${1:-1}"
LAST="${2:-40}"
DEADLINE="${3:-}"
SHAPES="${SHAPES:-600}"
DENO="${DENO:-node_modules/.bin/deno}"
# Client-side outcomes (state, error name per query id) are diagnostics, kept outside the repo.
OUTCOMES="${OUTCOMES_DIR:-/tmp/random_log_outcomes}"
mkdir -p "$DIR" "$OUTCOMES"
n=$((FIRST - 1))
while ((n < LAST)); do
  n=$((n + 1))
  out="$(printf '%s/chunk-%03d.jsonl.gz' "$DIR" "$n")"
  [ -e "$out" ] && continue
  partial="$DIR/.partial-$(basename "$out")"
  budget=0
  if [ -n "$DEADLINE" ]; then
    budget=$(($(date -u -d "$DEADLINE" +%s) - $(date -u +%s)))
    ((budget < 120)) && break
  fi
  echo "[random_chunks] $(date -u +%T) chunk $n (seed $((1000 + n)), budget ${budget}s)" >&2
  # A failed start (e.g. another process briefly holding the collector port) is retried.
  if ! $DENO run -A tools/workload/run.ts --generator random --shapes "$SHAPES" \
    --seed $((1000 + n)) --small-share "${SMALL_SHARE:-0.2}" --cpu-cap "${CPU_CAP:-3s}" --mix "${MIX:-base}" \
    --large-concurrency "${LARGE_CONCURRENCY:-4}" --small-concurrency "${SMALL_CONCURRENCY:-2}" \
    --timeout-seconds 100 --max-seconds "$budget" --out "$partial" \
    --outcomes-out "$OUTCOMES/$(basename "${out%.jsonl.gz}").outcomes.jsonl"; then
    echo "[random_chunks] chunk $n failed; retrying in 15 s" >&2
    sleep 15
    n=$((n - 1))
    continue
  fi
  mv "$partial" "$out"
done
