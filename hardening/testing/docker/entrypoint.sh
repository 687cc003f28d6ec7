#!/bin/sh
# Initialise a UTF8 cluster for POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB on first
# start, then run the server in the foreground with every extra argument ("-c name=value").
# TCP requires scram-sha-256 (TLS for anything but loopback); pgaudit is preloaded unless
# an argument overrides shared_preload_libraries; the log goes to stderr (the container's log),
# or with PG_HARDENING_STDERR_FILE=path is appended to that file, as Debian's pg_ctlcluster
# starts a cluster (pg_ctl -l): each process writes its own lines, with no logging collector.
set -eu

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "pg-hardening image: POSTGRES_PASSWORD must be set (TCP logins use scram-sha-256)" >&2
    exit 1
fi

# A hot standby: with PG_HARDENING_STANDBY_OF=host[:port] the first start clones that primary
# (pg_basebackup as POSTGRES_USER, streaming, standby.signal and primary_conninfo written) instead
# of initialising; its configuration files and pg_hba.conf come with the copy.
if [ ! -s "$PGDATA/PG_VERSION" ] && [ -n "${PG_HARDENING_STANDBY_OF:-}" ]; then
    primary_host=${PG_HARDENING_STANDBY_OF%%:*}
    primary_port=${PG_HARDENING_STANDBY_OF#"$primary_host"}
    primary_port=${primary_port#:}
    PGPASSWORD="$POSTGRES_PASSWORD" pg_basebackup --pgdata="$PGDATA" --host="$primary_host" \
        --port="${primary_port:-5432}" --username="$POSTGRES_USER" --write-recovery-conf \
        --wal-method=stream --checkpoint=fast --no-password
    chmod 700 "$PGDATA"
    exec postgres -D "$PGDATA" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 \
        >/dev/null
    rm -f "$pwfile"

    cat > "$PGDATA/pg_hba.conf" <<HBA
# TYPE   DATABASE USER ADDRESS       METHOD
local    all      all                trust
host     all      all  127.0.0.1/32  scram-sha-256
host     all      all  ::1/128       scram-sha-256
hostssl  all      all  0.0.0.0/0     scram-sha-256
hostssl  all      all  ::/0          scram-sha-256
HBA

    cat >> "$PGDATA/postgresql.conf" <<CONF
# pg-hardening test image
listen_addresses = '*'
shared_preload_libraries = 'pgaudit'
password_encryption = 'scram-sha-256'
ssl = on
ssl_cert_file = '/etc/pg-hardening/server.crt'
ssl_key_file = '/etc/pg-hardening/server.key'
logging_collector = off
log_destination = 'stderr'
log_line_prefix = '%m [%p] %q%u@%d '
CONF

    if [ "$POSTGRES_DB" != "postgres" ]; then
        echo "CREATE DATABASE \"$(printf '%s' "$POSTGRES_DB" | sed 's/"/""/g')\";" \
            | postgres --single -D "$PGDATA" -j template1 >/dev/null
    fi
fi

if [ -n "${PG_HARDENING_STDERR_FILE:-}" ]; then
    exec postgres -D "$PGDATA" "$@" 2>>"$PG_HARDENING_STDERR_FILE"
fi
exec postgres -D "$PGDATA" "$@"
