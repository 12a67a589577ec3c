#!/usr/bin/env bash
# Starts Envoy in front of the router and the two Trino clusters, on loopback, in the foreground.
#
#   deploy/envoy/run.sh            # Envoy on 127.0.0.1:8090, admin on 127.0.0.1:9901
#   ENVOY_RETRY=1 deploy/envoy/run.sh   # plus the ext_proc transparent retry on Large
#
# Environment (all optional; defaults match `deno task serve` and deploy/trino/cluster.sh):
#   ENVOY_LISTEN_ADDRESS  Trino-facing address            (default 127.0.0.1)
#   ENVOY_PORT            Trino-facing port               (default 8090)
#   ENVOY_ADMIN_PORT      admin port, loopback only       (default 9901)
#   ROUTER_HOST/PORT      the router (ext_authz service)  (default 127.0.0.1:8080)
#   SMALL_HOST/PORT       Trino Small coordinator         (default 127.0.0.1:18081)
#   LARGE_HOST/PORT       Trino Large coordinator         (default 127.0.0.1:18082)
#   ENVOY_RETRY           1: render envoy.yaml's EXT_PROC sections (ext_proc retry); 0 or unset:
#                         ext_authz routing only
#   EXT_PROC_HOST/PORT    the router's ext_proc server, with ENVOY_RETRY=1 only
#                         (default 127.0.0.1:9002; start the router with EXT_PROC_PORT=9002)
#   ENVOY_BIN             Envoy binary (default: installed by .ci/install_envoy.sh)
# Plaintext on loopback; TLS (Envoy → router, clients → Envoy) is filled in by the test harness
# and deploy/k8s/envoy_config.ts (the Kubernetes config), through the same render.ts.
# Both Trino clusters need `http-server.process-forwarded=true` (Trino ≥ 452) so that nextUri
# carries the /small or /large prefix that keeps follow-ups on the right cluster.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

ENVOY_BIN="${ENVOY_BIN:-$(bash "$here/../../.ci/install_envoy.sh")}"
config="$(mktemp -t envoy-XXXXXX.yaml)"
trap 'rm -f "$config"' EXIT

# The one renderer (deploy/envoy/render.ts): it fails on a placeholder left unfilled.
DENO="${DENO:-$here/../../node_modules/.bin/deno}"
"$DENO" run --no-prompt --allow-read="$here" --allow-env "$here/render.ts" >"$config"

"$ENVOY_BIN" --mode validate -c "$config" >/dev/null
# Not exec: the EXIT trap must still remove the rendered config when Envoy stops.
"$ENVOY_BIN" -c "$config" --log-level "${ENVOY_LOG_LEVEL:-info}" --disable-hot-restart &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; rm -f "$config"' INT TERM
wait "$pid"
