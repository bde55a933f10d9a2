#!/usr/bin/env bash
# `make test`: a throwaway PostgreSQL cluster for the tests that need one (Debian's postgresql package).
#   pg-cluster.sh start DIR       initdb + start in DIR (new or empty); prints the URL as its last line, writes it to DIR/url
#   pg-cluster.sh stop DIR        stops the cluster in DIR and removes DIR
#   pg-cluster.sh run -- CMD...   runs CMD with WINNOW_TEST_POSTGRES_URL set to a fresh cluster in a temporary folder,
#                                 removes the cluster afterwards (also on failure, Ctrl-C or SIGTERM), exits with CMD's code
# The cluster listens on 127.0.0.1 on a free port (never the package's default cluster on 5432), trusts every local
# connection and has a superuser and a database, both called winnow. PostgreSQL refuses to run as root, so as root
# its programs run as the postgres user. PG_BIN overrides where initdb and pg_ctl are found; PG_EXTRA_CONF holds
# more postgresql.conf lines (the load test loads pg_stat_statements with it).
set -euo pipefail
shopt -s inherit_errexit

fail() { echo "pg-cluster: $*" >&2; exit 1; }

# The newest installed server's programs (Debian keeps them out of PATH).
pg_bin() {
  local bin="${PG_BIN:-}"
  if [ -z "$bin" ]; then
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  fi
  if [ -z "$bin" ] && command -v pg_ctl >/dev/null 2>&1; then
    bin=$(dirname "$(command -v pg_ctl)")
  fi
  [ -n "$bin" ] && [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] || fail "PostgreSQL's server programs (initdb, pg_ctl) are not installed." \
    "Install Debian's postgresql package (\`make deps\` does as root; otherwise sudo apt-get install postgresql), or run \`make test-sqlite\`."
  echo "$bin"
}

# Runs a server program as the postgres user when we are root, else as ourselves (from /, which postgres can read).
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# The last lines of a log file, on stderr.
show_log() {
  [ -s "$1" ] || return 0
  echo "--- last lines of $1:" >&2
  tail -n 20 "$1" >&2
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 30000))
}

start() {
  local dir="$1" bin port url attempt
  bin=$(pg_bin)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ -z "$(ls -A "$dir" | grep -vx .pg-cluster)" ] || fail "$dir is not empty; give start a new or empty folder."
  touch "$dir/.pg-cluster"  # stop removes only folders that carry this mark
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || fail "there is no postgres user to run PostgreSQL as (it comes with Debian's postgresql package)."
    chown postgres: "$dir"
  fi
  as_pg test -w "$dir" || fail "the postgres user cannot write to $dir: every folder above it must be open to it (is TMPDIR private?)."

  # --no-sync only skips initdb's final flush; the server itself keeps fsync on (tests kill it with -9).
  as_pg "$bin/initdb" -D "$dir/data" -A trust -U winnow -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 ||
    { show_log "$dir/initdb.log"; fail "initdb failed in $dir/data"; }
  cat >>"$dir/data/postgresql.conf" <<EOF

# pg-cluster.sh: a throwaway test cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '${dir//\'/\'\'}'
max_connections = 200
shared_buffers = 128MB
${PG_EXTRA_CONF:-}
EOF

  # A free port, again if another process takes it between the check and the server's bind.
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "-p $port" -w -t 60 start >/dev/null 2>&1; then
      break
    fi
    if [ "$attempt" = 5 ] || ! grep -q "Address already in use" "$dir/postgres.log" 2>/dev/null; then
      show_log "$dir/postgres.log"
      stop_server "$dir" "$bin"
      fail "PostgreSQL did not start in $dir on port $port (its log is above)."
    fi
  done

  "$bin/psql" -h "$dir" -p "$port" -U winnow -d postgres -X -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE winnow' >"$dir/createdb.log" 2>&1 ||
    { show_log "$dir/createdb.log"; show_log "$dir/postgres.log"; stop_server "$dir" "$bin"; fail "could not create the database winnow in $dir"; }
  rm -f "$dir/createdb.log"
  url="postgres://winnow@127.0.0.1:$port/winnow"
  echo "$url" >"$dir/url"
  echo "$url"
}

# Stops the server in DIR, if one runs: immediately (its data is thrown away), killing it if pg_ctl cannot.
stop_server() {
  local dir="$1" bin="${2:-}" pid
  [ -f "$dir/data/postmaster.pid" ] || return 0
  if [ -z "$bin" ] || ! as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1; then
    pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  fi
}

stop() {
  local dir="$1" bin
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  [ -f "$dir/.pg-cluster" ] || fail "$dir was not made by $0 start; not removing it."
  bin=$(pg_bin 2>/dev/null || true)
  stop_server "$dir" "$bin"
  rm -rf "$dir"
}

run() {
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || fail "usage: $0 run -- CMD [ARG...]"
  local url status=0
  child=""
  dir=$(mktemp -d "${TMPDIR:-/tmp}/winnow-pg.XXXXXX")
  touch "$dir/.pg-cluster"
  trap cleanup EXIT
  trap 'interrupted 2' INT
  trap 'interrupted 15' TERM
  trap 'interrupted 1' HUP
  start "$dir" >/dev/null
  url=$(cat "$dir/url")
  echo "pg-cluster: PostgreSQL test cluster at $url (in $dir)" >&2
  export WINNOW_TEST_POSTGRES_URL="$url"
  # In the background so that a signal reaches our trap at once; with Ctrl-C's default action restored (a background
  # command would otherwise ignore it) and our standard input.
  ( trap - INT QUIT; exec "$@" ) <&0 &
  child=$!
  wait "$child" || status=$?
  child=""
  exit "$status"
}

# On INT, TERM or HUP: signal CMD and every process under it with INT, as Ctrl-C in a terminal would; if CMD is
# still running after 10 seconds, send TERM, and after 5 more (or at a second signal) KILL. The EXIT trap then
# removes the cluster.
interrupted() {
  trap 'signal_tree KILL' INT TERM HUP
  if [ -n "$child" ]; then
    stop_child INT 100 && stop_child TERM 50 && signal_tree KILL
    wait "$child" 2>/dev/null || true
    child=""
  fi
  exit $((128 + $1))
}

# The process PID and all its descendants, parents first.
tree() {
  local p
  echo "$1"
  for p in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$p"; done
}

signal_tree() {
  [ -n "$child" ] || return 0
  kill -"$1" $(tree "$child") 2>/dev/null || true
}

# Signals CMD's processes and waits up to N tenths of a second for CMD to end; fails once it has ended.
stop_child() {
  local i
  signal_tree "$1"
  for ((i = 0; i < $2; i++)); do
    kill -0 "$child" 2>/dev/null || return 1
    sleep 0.1
  done
}

cleanup() {
  local status=$?
  trap - EXIT
  trap '' INT TERM HUP  # removing the cluster takes a moment; let nothing cut it short
  signal_tree KILL
  if [ -n "$dir" ] && [ -d "$dir" ]; then
    # If the server crashed under the tests, say so before its log goes.
    if [ "$status" != 0 ] && grep -qE "PANIC|terminated by signal" "$dir/postgres.log" 2>/dev/null; then
      show_log "$dir/postgres.log"
    fi
    stop "$dir" || echo "pg-cluster: could not remove $dir" >&2
  fi
  exit "$status"
}

dir=""
child=""
case "${1:-}" in
  start) [ $# = 2 ] || fail "usage: $0 start DIR"; start "$2" ;;
  stop) [ $# = 2 ] || fail "usage: $0 stop DIR"; stop "$2" ;;
  run) shift; run "$@" ;;
  *) fail "usage: $0 start DIR | stop DIR | run -- CMD [ARG...]" ;;
esac
