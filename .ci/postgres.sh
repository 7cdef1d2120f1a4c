#!/usr/bin/env bash
# A private PostgreSQL 15 cluster on 127.0.0.1 for smtp-probe-monitor's storage tests (Debian 12, as root).
#
#   .ci/postgres.sh          install if missing, create the cluster if missing, start it, write $DIR/env
#   .ci/postgres.sh stop     stop it
#
# Idempotent. Listens on 127.0.0.1:${SMTP_PROBE_PG_PORT:-55432} only (no Unix socket outside $DIR, no other
# address), SCRAM authentication, a `monitor` role owning a `monitor` database. State under
# ${SMTP_PROBE_PG_DIR:-/var/tmp/smtp-probe-pg}. The Debian package's own `main` cluster is never created or started.
set -euo pipefail

DIR="${SMTP_PROBE_PG_DIR:-/var/tmp/smtp-probe-pg}"
PORT="${SMTP_PROBE_PG_PORT:-55432}"
ROLE=monitor
DB=monitor
PASSWORD=monitor-secret
PGBIN=/usr/lib/postgresql/15/bin

log() { printf '[postgres.sh] %s\n' "$*" >&2; }
die() { printf '[postgres.sh] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

running() {
    [ -x "$PGBIN/pg_ctl" ] && [ -f "$DIR/data/PG_VERSION" ] &&
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1
}

if [ "${1:-}" = stop ]; then
    if running; then
        log "stopping"
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
    fi
    exit 0
elif [ $# -gt 0 ]; then
    die "usage: $0 [stop]"
fi

# ---------------------------------------------------------------- 1. packages (no cluster, no daemon)
# shellcheck source=.ci/lib.sh
. "$(dirname "$0")/lib.sh"
mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/smtp-probe-no-main.conf
apt_install_missing postgresql-15 postgresql-client-15
[ -x "$PGBIN/initdb" ] || die "$PGBIN/initdb missing"

# ---------------------------------------------------------------- 2. cluster
cd /  # runuser from a directory postgres cannot read prints noise
mkdir -p "$DIR"
chown postgres:postgres "$DIR"
chmod 0700 "$DIR"
if [ ! -f "$DIR/data/PG_VERSION" ]; then
    log "creating the cluster in $DIR/data"
    rm -rf "$DIR/data"
    pwfile="$DIR/admin-pw"
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$pwfile"
    chown postgres "$pwfile"
    chmod 0600 "$pwfile"
    runuser -u postgres -- "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 --no-sync >"$DIR/initdb.log"
    cat >>"$DIR/data/postgresql.conf" <<CONF
# smtp-probe test cluster: loopback only, throw-away data
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
CONF
fi

# ---------------------------------------------------------------- 3. start
if ! running; then
    log "starting on 127.0.0.1:$PORT"
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 start >/dev/null ||
        { tail -20 "$DIR/server.log" >&2; die "PostgreSQL did not start"; }
fi

# ---------------------------------------------------------------- 4. role and database
psql_admin() { runuser -u postgres -- psql -h "$DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
    psql_admin -c "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'"
else
    psql_admin -c "ALTER ROLE $ROLE LOGIN PASSWORD '$PASSWORD'"
fi
# CREATEDB lets tests make a database of their own each, so parallel tests never share tables.
psql_admin -c "ALTER ROLE $ROLE CREATEDB"
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
    psql_admin -c "CREATE DATABASE $DB OWNER $ROLE"
fi

URL="postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
{
    echo "# written by .ci/postgres.sh; load with: set -a; . $DIR/env; set +a"
    printf '%s=%q\n' SMTP_PROBE_PG_URL "$URL" SMTP_PROBE_PG_DIR "$DIR" SMTP_PROBE_PG_PORT "$PORT"
} >"$DIR/env.tmp"
chmod 0644 "$DIR/env.tmp"
mv "$DIR/env.tmp" "$DIR/env"
chmod 0711 "$DIR"  # the env file is readable; the cluster files stay postgres-only
log "ready: $URL (env: $DIR/env)"
