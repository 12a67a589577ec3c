#!/usr/bin/env bash
# Reproduces data/query_log.jsonl.gz: restarts both test clusters (fresh memory catalog), runs
# the three seeded workload phases against them, and prints the summary.
#
#   tools/workload/make_dataset.sh [out=data/query_log.jsonl.gz]
#
# ~30–40 minutes on a 2-core machine. Phases differ only in mix: phase 1 is the base workload,
# phases 2 and 3 send more queries to Small and more to the sf1 scale factor, so the log has a
# few hundred heavy queries and resource failures on Small. Query ids and times are real, so a
# rerun yields the same SQL but different ids, times and (slightly) CPU figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-data/query_log.jsonl.gz}"
DENO="${DENO:-npx deno}"

deploy/trino/cluster.sh restart small large

common=(--out "$OUT" --large-concurrency 3 --timeout-seconds 120)
$DENO run -A tools/workload/run.ts "${common[@]}" --count 4000 --seed 42 --small-share 0.15 \
  --sf1-scale 0.45 --small-concurrency 1 --max-seconds 2400
$DENO run -A tools/workload/run.ts "${common[@]}" --append --count 1500 --seed 43 \
  --small-share 0.35 --sf1-scale 1.0 --small-concurrency 1 --max-seconds 900
$DENO run -A tools/workload/run.ts "${common[@]}" --append --count 1200 --seed 44 \
  --small-share 0.5 --sf1-scale 1.5 --small-concurrency 2 --max-seconds 600

$DENO run -A tools/workload/summarize.ts "$OUT" --labels data/labels.json
