#!/usr/bin/env bash
# Start (or stop) a throwaway PostgreSQL cluster on 127.0.0.1 for `postgres`-marked tests.
#
#   bash .ci/start_postgres.sh ENV_FILE          start; write `export RECLIFT_TEST_PG_DSN=...`
#                                                (and RECLIFT_TEST_PG_DIR) to ENV_FILE
#   bash .ci/start_postgres.sh --stop ENV_FILE   stop the cluster ENV_FILE describes, remove it
#
# Installs nothing: Debian's `postgresql` package must be present (.ci/run installs it).
# Runs the server as the `postgres` OS user when started as root. PORT defaults to a free
# port (override with RECLIFT_PG_PORT).
set -euo pipefail

stop=0
if [ "${1:-}" = "--stop" ]; then
  stop=1
  shift
fi
env_file="${1:?usage: start_postgres.sh [--stop] ENV_FILE}"

bindir="${RECLIFT_PG_BINDIR:-}"
if [ -z "$bindir" ]; then
  bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "start_postgres.sh: no PostgreSQL binaries under /usr/lib/postgresql/*/bin" \
       "(apt-get install -y postgresql)" >&2
  exit 1
fi

as_pg() {
  if [ "$(id -u)" = "0" ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ "$stop" = "1" ]; then
  # shellcheck disable=SC1090
  [ -f "$env_file" ] && source "$env_file"
  dir="${RECLIFT_TEST_PG_DIR:-}"
  if [ -n "$dir" ] && [ -d "$dir" ]; then
    as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
  fi
  exit 0
fi

port="${RECLIFT_PG_PORT:-}"
if [ -z "$port" ]; then
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi

dir="$(mktemp -d /tmp/reclift-pg.XXXXXX)"
chmod 755 "$dir"
if [ "$(id -u)" = "0" ]; then
  chown postgres: "$dir"
fi
as_pg "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off" \
  -w start >/dev/null \
  || { cat "$dir/server.log" >&2; exit 1; }
as_pg "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres reclift_test

dsn="postgresql://postgres@127.0.0.1:$port/reclift_test"
{
  echo "export RECLIFT_TEST_PG_DSN=$dsn"
  echo "export RECLIFT_TEST_PG_DIR=$dir"
} >"$env_file"
echo "PostgreSQL running: RECLIFT_TEST_PG_DSN=$dsn (data in $dir; stop with: bash $0 --stop $env_file)"
