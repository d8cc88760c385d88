#!/usr/bin/env bash
# es-node.sh: boot a real single-node Elasticsearch for tests, without Docker.
#
#   scripts/es-node.sh start          start (or reuse) the node; last stdout line is
#                                     "export MIMAMORI_TEST_ES_URL=http://127.0.0.1:PORT"
#   scripts/es-node.sh stop           stop the node and delete its data dir
#   scripts/es-node.sh halt           stop the node but keep its data (outage tests)
#   scripts/es-node.sh resume         start it again on the kept data
#   scripts/es-node.sh status         exit 0 running+healthy, 1 unhealthy, 3 not running
#   scripts/es-node.sh url            print the URL if the node is up (else exit 1)
#   scripts/es-node.sh run -- CMD...  start, export MIMAMORI_TEST_ES_URL, run CMD,
#                                     always stop, exit with CMD's status
#
# The distribution is the integ-test-zip from Maven Central (modules: apm,
# transport-netty4, x-pack-core, x-pack-security only: no analysis-common,
# no ILM, no painless, no ML). It is fetched with mvn on first use and
# unpacked into the cache dir; every start gets a fresh data dir.
#
# Environment:
#   ES_PORT            HTTP port (default 9250)
#   ES_TRANSPORT_PORT  transport port (default ES_PORT+100)
#   ES_HEAP            JVM heap, -Xms = -Xmx (default 512m)
#   ES_START_TIMEOUT   seconds to wait for yellow health (default 180)
#   ES_USER            unprivileged user that runs the node when invoked as root
#                      (default mimamori-es; created with useradd if missing)
#   ES_JAVA_HOME       JDK to use when the zip has no bundled JDK
#                      (default /usr/lib/jvm/java-17-openjdk-amd64, then JAVA_HOME, then java on PATH)
#   MIMAMORI_CACHE     cache dir (default $HOME/.cache/mimamori)
#   MAVEN_REPO_LOCAL   local Maven repository (default $HOME/.m2/repository)
#
# Progress messages go to stderr; stdout carries only the export line (start)
# or the URL (url).
set -euo pipefail

ES_VERSION=8.19.7
ES_ARTIFACT=org.elasticsearch.distribution.integ-test-zip:elasticsearch:${ES_VERSION}:zip
ES_ARTIFACT_PATH=org/elasticsearch/distribution/integ-test-zip/elasticsearch/${ES_VERSION}/elasticsearch-${ES_VERSION}.zip

ES_PORT=${ES_PORT:-9250}
ES_TRANSPORT_PORT=${ES_TRANSPORT_PORT:-$((ES_PORT + 100))}
ES_HEAP=${ES_HEAP:-512m}
ES_START_TIMEOUT=${ES_START_TIMEOUT:-180}
ES_USER=${ES_USER:-mimamori-es}

if [[ -z ${HOME:-} ]]; then
  HOME=$(getent passwd "$(id -u)" | cut -d: -f6)
  export HOME
fi
CACHE=${MIMAMORI_CACHE:-$HOME/.cache/mimamori}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd -P)

ES_HOME=$CACHE/elasticsearch-$ES_VERSION   # unpacked distribution
NODE_DIR=$ES_HOME/node-$ES_PORT             # config/ data/ logs/ tmp/ of this node
PID_FILE=$CACHE/es-$ES_PORT.pid             # pid (= session id) of the launcher
LOCK_FILE=$CACHE/es-$ES_PORT.lock
URL=http://127.0.0.1:$ES_PORT

log() { printf 'es-node: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() { [[ $(id -u) -eq 0 ]]; }

# Run a command as the node's user (or as ourselves when not root).
as_user() {
  if as_root; then
    setpriv --reuid="$ES_USER" --regid="$ES_USER" --init-groups -- "$@"
  else
    "$@"
  fi
}

lock() {
  exec 9>"$LOCK_FILE"
  flock -w 300 9 || die "could not lock $LOCK_FILE"
}
unlock() {
  flock -u 9 2>/dev/null || true
  exec 9>&-
}

# True when pid is a live process that was started by this script for this
# node (guards against stale pid files and pid reuse).
is_ours() {
  local pid=$1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "ES_PATH_CONF=$NODE_DIR/config"
}

running_pid() {
  local pid
  [[ -f $PID_FILE ]] || return 1
  pid=$(<"$PID_FILE")
  is_ours "$pid" || return 1
  printf '%s\n' "$pid"
}

healthy() {
  curl -fsS -m 10 "$URL/_cluster/health?wait_for_status=yellow&timeout=5s" >/dev/null 2>&1
}

port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pids still alive in the node's session (launcher, CLI JVM, server JVM).
session_pids() {
  local sid=$1
  pgrep -s "$sid" 2>/dev/null || true
}

fetch_zip() {
  local repo=${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}
  if [[ ! -s $repo/$ES_ARTIFACT_PATH ]]; then
    command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install -y maven)"
    log "fetching $ES_ARTIFACT with mvn"
    # -Dmaven.repo.local: Java's user.home comes from passwd, not $HOME.
    mvn -B -q -Dstyle.color=never dependency:get -Dartifact="$ES_ARTIFACT" -Dtransitive=false \
      -Dmaven.repo.local="$repo" </dev/null >&2 \
      || die "mvn dependency:get $ES_ARTIFACT failed"
  fi
  [[ -s $repo/$ES_ARTIFACT_PATH ]] || die "cannot find $ES_ARTIFACT_PATH in the local Maven repository"
  printf '%s\n' "$repo/$ES_ARTIFACT_PATH"
}

unzip_to() {
  local zip=$1 dest=$2
  if command -v unzip >/dev/null; then
    unzip -q "$zip" -d "$dest"
  else
    python3 - "$zip" "$dest" <<'EOF'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        path = z.extract(info, sys.argv[2])
        mode = (info.external_attr >> 16) & 0o777
        if mode:
            os.chmod(path, mode)
EOF
  fi
}

ensure_install() {
  [[ -x $ES_HOME/bin/elasticsearch ]] && return 0
  local zip tmp
  zip=$(fetch_zip)
  tmp=$(mktemp -d "$CACHE/.unpack.XXXXXX")
  log "unpacking $zip"
  unzip_to "$zip" "$tmp"
  rm -rf "$ES_HOME"
  mv "$tmp/elasticsearch-$ES_VERSION" "$ES_HOME"
  rm -rf "$tmp"
}

java_home() {
  local c
  if [[ -x $ES_HOME/jdk/bin/java ]]; then
    return 0 # bundled JDK: leave ES_JAVA_HOME unset
  fi
  for c in "${ES_JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 "${JAVA_HOME:-}"; do
    if [[ -n $c && -x $c/bin/java ]]; then
      printf '%s\n' "$c"
      return 0
    fi
  done
  c=$(command -v java) || die "no JDK found: install openjdk-17-jdk-headless or set ES_JAVA_HOME"
  c=$(readlink -f "$c")
  printf '%s\n' "${c%/bin/java}"
}

ensure_user() {
  as_root || return 0
  if ! id -u "$ES_USER" >/dev/null 2>&1; then
    log "creating system user $ES_USER"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$ES_USER" 2>/dev/null || id -u "$ES_USER" >/dev/null \
      || die "useradd $ES_USER failed"
  fi
  # The user must be able to traverse every directory down to the cache
  # (e.g. /root is 0700). Grant search (x) only, never read.
  local d="" part
  local IFS=/
  for part in $CACHE; do
    [[ -n $part ]] || continue
    d=$d/$part
    if ! as_user test -x "$d" 2>/dev/null; then
      log "granting o+x on $d so $ES_USER can reach $CACHE (set MIMAMORI_CACHE to avoid)"
      chmod o+x "$d"
    fi
  done
}

write_config() {
  local conf=$NODE_DIR/config
  rm -rf "$NODE_DIR"
  mkdir -p "$NODE_DIR/data" "$NODE_DIR/logs" "$NODE_DIR/tmp"
  cp -R "$ES_HOME/config" "$conf"
  mkdir -p "$conf/jvm.options.d"
  cat >"$conf/elasticsearch.yml" <<EOF
# generated by scripts/es-node.sh
cluster.name: mimamori-test
node.name: mimamori-test-$ES_PORT
discovery.type: single-node
network.host: 127.0.0.1
http.port: $ES_PORT
transport.port: $ES_TRANSPORT_PORT
path.data: $NODE_DIR/data
path.logs: $NODE_DIR/logs
xpack.security.enabled: false
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
xpack.ml.enabled: false
EOF
  cat >"$conf/jvm.options.d/mimamori.options" <<EOF
-Xms$ES_HEAP
-Xmx$ES_HEAP
-XX:HeapDumpPath=$NODE_DIR/logs
-XX:ErrorFile=$NODE_DIR/logs/hs_err_pid%p.log
EOF
  if as_root; then
    chown -R "$ES_USER:$ES_USER" "$NODE_DIR"
    if [[ $(stat -c %U "$ES_HOME") != "$ES_USER" ]]; then
      chown -R "$ES_USER:$ES_USER" "$ES_HOME"
    fi
  fi
}

dump_logs() {
  local f
  for f in "$NODE_DIR/logs/console.log" "$NODE_DIR/logs/mimamori-test.log"; do
    [[ -s $f ]] || continue
    printf '\n==> %s (last 60 lines) <==\n' "$f" >&2
    tail -n 60 "$f" >&2
  done
  if grep -qs 'bootstrap check' "$NODE_DIR"/logs/*.log; then
    log "a bootstrap check failed (see above). They should not apply on a 127.0.0.1 binding;"
    log "for vm.max_map_count run: sysctl -w vm.max_map_count=262144"
  fi
}

kill_node() {
  local pid=$1 i
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 600; i++)); do
    [[ -n $(session_pids "$pid") ]] || break
    sleep 0.1
  done
  if [[ -n $(session_pids "$pid") ]]; then
    log "node did not stop within 60s, sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || true
    # shellcheck disable=SC2046
    kill -KILL $(session_pids "$pid") 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      [[ -n $(session_pids "$pid") ]] || break
      sleep 0.1
    done
  fi
  # The server JVM, should it have left the session.
  local spid
  spid=$(cat "$NODE_DIR/es.pid" 2>/dev/null || true)
  if is_ours "$spid"; then
    kill -KILL "$spid" 2>/dev/null || true
  fi
}

print_export() {
  printf 'export MIMAMORI_TEST_ES_URL=%s\n' "$URL"
}

cmd_start() {
  local pid t0=$SECONDS java p
  lock
  if pid=$(running_pid); then
    if ! healthy; then
      log "node (pid $pid) is running but not healthy yet, waiting"
      wait_healthy "$pid" || { unlock; exit 1; }
    fi
    log "already running (pid $pid)"
    unlock
    print_export
    return 0
  fi
  rm -f "$PID_FILE"
  for p in "$ES_PORT" "$ES_TRANSPORT_PORT"; do
    port_busy "$p" && die "port $p is already in use by another process (set ES_PORT)"
  done

  ensure_install
  ensure_user
  java=$(java_home)
  if [[ ${RESUME:-} == 1 && -f $NODE_DIR/config/elasticsearch.yml ]]; then
    log "resuming with the existing data dir $NODE_DIR/data"
    chown -R "$ES_USER:$ES_USER" "$NODE_DIR" 2>/dev/null || true
  else
    write_config
  fi

  # Elasticsearch refuses to run as root: drop to $ES_USER.
  local drop=()
  if as_root; then
    drop=(setpriv --reuid="$ES_USER" --regid="$ES_USER" --init-groups --)
  fi
  log "starting Elasticsearch $ES_VERSION on $URL (java: ${java:-bundled})"
  (
    cd "$NODE_DIR/logs" # the JVM writes gc.log relative to its cwd
    exec 9>&- </dev/null
    # setsid: the node gets its own session/process group, so stop can kill
    # the launcher, the CLI JVM and the server JVM together. We are not a
    # process-group leader here, so setsid does not fork and $! is the sid.
    exec setsid env -i \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      HOME="$NODE_DIR" LANG=C.UTF-8 \
      ES_PATH_CONF="$NODE_DIR/config" \
      ES_TMPDIR="$NODE_DIR/tmp" \
      ${java:+ES_JAVA_HOME="$java"} \
      ${ES_JAVA_OPTS:+ES_JAVA_OPTS="$ES_JAVA_OPTS"} \
      "${drop[@]}" "$ES_HOME/bin/elasticsearch" -p "$NODE_DIR/es.pid"
  ) >"$NODE_DIR/logs/console.log" 2>&1 &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"

  if ! wait_healthy "$pid"; then
    kill_node "$pid"
    rm -f "$PID_FILE"
    unlock
    exit 1
  fi
  unlock
  log "ready in $((SECONDS - t0))s (pid $pid)"
  print_export
}

wait_healthy() {
  local pid=$1 deadline=$((SECONDS + ES_START_TIMEOUT))
  while :; do
    if healthy; then
      return 0
    fi
    if [[ -z $(session_pids "$pid") ]]; then
      log "Elasticsearch exited during startup"
      dump_logs
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "Elasticsearch not healthy after ${ES_START_TIMEOUT}s"
      dump_logs
      return 1
    fi
    sleep 1
  done
}

cmd_stop() {
  local pid
  lock
  if pid=$(running_pid); then
    log "stopping Elasticsearch (pid $pid)"
    kill_node "$pid"
  else
    log "not running"
  fi
  rm -f "$PID_FILE"
  if [[ ${KEEP_DATA:-} != 1 ]]; then
    rm -rf "$NODE_DIR/data"
  fi
  unlock
}

cmd_status() {
  local pid
  if pid=$(running_pid); then
    if healthy; then
      echo "running (pid $pid) at $URL"
      return 0
    fi
    echo "running (pid $pid) but not healthy at $URL"
    return 1
  fi
  echo "not running"
  return 3
}

cmd_url() {
  if running_pid >/dev/null && healthy; then
    echo "$URL"
  else
    log "not running (start it with: $0 start)"
    return 1
  fi
}

cmd_run() {
  [[ ${1:-} == -- ]] && shift
  (($#)) || die "usage: $0 run -- CMD [ARGS...]"
  trap 'cmd_stop' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  cmd_start >&2
  export MIMAMORI_TEST_ES_URL=$URL
  local rc=0
  "$@" || rc=$?
  exit "$rc"
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
halt) KEEP_DATA=1 cmd_stop ;;     # stop, keep the data (outage tests)
resume) RESUME=1 cmd_start ;;     # start again on the kept data
status) cmd_status ;;
url) cmd_url ;;
run)
  shift
  cmd_run "$@"
  ;;
*)
  echo "usage: $0 {start|stop|halt|resume|status|url|run -- CMD...}" >&2
  exit 2
  ;;
esac
