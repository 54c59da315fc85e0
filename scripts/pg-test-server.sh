#!/usr/bin/env bash
# Starts a local PostgreSQL for the metadata store tests (Debian, as root), installing it first if
# needed, and prints its URL on the last line of stdout. Idempotent; quick when already running.
# Progress goes to stderr, so `url=$(bash scripts/pg-test-server.sh | tail -n 1)` works.
set -euo pipefail

PORT=5432
ROLE=accel
PASSWORD=accel
DB=accel_test
URL="postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"

log() { echo "pg-test-server: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: it installs and starts PostgreSQL"

server_installed() {
  command -v pg_ctlcluster >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

if ! server_installed; then
  command -v apt-get >/dev/null || die "PostgreSQL is not installed and apt-get is not available to install it"
  log "installing postgresql with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  # C.UTF-8 always exists on Debian; the cluster the package creates inherits it.
  apt-get update -q >&2 || die "apt-get update failed"
  LC_ALL=C.UTF-8 apt-get install -y -q --no-install-recommends postgresql >&2 || die "apt-get install postgresql failed"
  server_installed || die "postgresql was installed but pg_ctlcluster or the server binaries are still missing"
fi

# The cluster on our port, else the first one, else a new one.
cluster=$(pg_lsclusters --no-header | awk -v port="$PORT" '$3 == port { print $1, $2; exit }')
[ -n "$cluster" ] || cluster=$(pg_lsclusters --no-header | awk 'NR == 1 { print $1, $2 }')
if [ -z "$cluster" ]; then
  version=$(compgen -G '/usr/lib/postgresql/*/bin/postgres' | cut -d/ -f5 | sort -V | tail -n 1)
  log "creating cluster $version main"
  pg_createcluster --locale C.UTF-8 --port "$PORT" "$version" main >&2 || die "pg_createcluster $version main failed"
  cluster="$version main"
fi
read -r version name <<<"$cluster"

# Loopback only, on our port; a change to a running cluster needs a restart.
conf="/etc/postgresql/$version/$name/conf.d/accel-test.conf"
want=$(printf "listen_addresses = '127.0.0.1'\nport = %s\n" "$PORT")
changed=0
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  printf '%s\n' "$want" >"$conf"
  changed=1
fi

status=$(pg_lsclusters --no-header "$version" "$name" | awk '{ print $4 }')
logfile="/var/log/postgresql/postgresql-$version-$name.log"
if [[ $status == online* ]]; then
  if [ "$changed" = 1 ]; then
    log "restarting cluster $version $name for the new settings"
    pg_ctlcluster "$version" "$name" restart >&2 || { tail -n 20 "$logfile" >&2 || true; die "could not restart cluster $version $name"; }
  fi
else
  log "starting cluster $version $name"
  pg_ctlcluster "$version" "$name" start >&2 || { tail -n 20 "$logfile" >&2 || true; die "could not start cluster $version $name"; }
fi
pg_isready -q -h 127.0.0.1 -p "$PORT" -t 30 || die "PostgreSQL is not accepting connections on 127.0.0.1:$PORT"

# Role and database, only if missing (CREATE DATABASE cannot run inside a DO block, hence \gexec).
(cd / && runuser -u postgres -- psql -X -q -p "$PORT" -v ON_ERROR_STOP=1 >/dev/null) <<SQL || die "could not create role $ROLE or database $DB"
SELECT 'CREATE ROLE $ROLE LOGIN PASSWORD ''$PASSWORD''' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE')
\gexec
SELECT 'CREATE DATABASE $DB OWNER $ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB')
\gexec
SQL

PGPASSWORD=$PASSWORD psql -X -q -tA "$URL" -c 'SELECT 1' >/dev/null || die "cannot log in as $ROLE over TCP at $URL"
echo "$URL"
