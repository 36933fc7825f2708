#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432, user postgres, no password) and Redis (127.0.0.1:6379) answer,
# as the service tests need. Meant for CI on a fresh Debian 12 machine running as root: whatever is
# missing is installed with apt and started without systemd. Returns at once when both already run.
# Usage: bash scripts/services.sh
set -euo pipefail

PG_PORT=5432
REDIS_PORT=6379
WAIT_SECONDS=60
PG_LIB=/usr/lib/postgresql
PG_ETC=/etc/postgresql
REDIS_DIR=/var/lib/redis
REDIS_LOG=/var/log/redis/ci.log

say() { echo "services: $*" >&2; }
die() { say "$*"; exit 1; }

pg_ready() {
    command -v pg_isready >/dev/null 2>&1 && pg_isready -q -t 2 -h 127.0.0.1 -p "$PG_PORT"
}

pg_trusts_us() {
    # -w: never prompt; the tests connect without a password, so this must too.
    command -v psql >/dev/null 2>&1 &&
        psql -w -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1
}

redis_ready() {
    command -v redis-cli >/dev/null 2>&1 &&
        [ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

apt_updated=
apt_install() {
    if [ -z "$apt_updated" ]; then
        # Fresh images often ship without package lists.
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
}

installed_pg_version() {
    # The newest server installed (a client-only install has no bin/postgres).
    local bin
    for bin in "$PG_LIB"/*/bin/postgres; do
        if [ -x "$bin" ]; then basename "$(dirname "$(dirname "$bin")")"; fi
    done | sort -V | tail -n 1
}

trust_local_tcp() {
    # Loopback TCP logins need no password: existing host rules for 127.0.0.1/32 and ::1/128 become
    # `trust`, and a rule is put first for either address that has no `all all ... trust` line.
    local hba=$1 addr pattern
    sed -E -i \
        's#^([[:space:]]*host[[:alpha:]]*[[:space:]]+[^[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+(127\.0\.0\.1/32|::1/128)[[:space:]]+)[^[:space:]].*$#\1trust#' \
        "$hba"
    for addr in ::1/128 127.0.0.1/32; do
        pattern="^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+${addr//./\\.}[[:space:]]+trust[[:space:]]*$"
        if ! grep -Eq "$pattern" "$hba"; then
            # Rewrite in place (cat >) so the file keeps its owner and mode.
            { printf 'host all all %s trust\n' "$addr"; cat "$hba"; } >"$hba.new"
            cat "$hba.new" >"$hba"
            rm -f "$hba.new"
        fi
    done
}

start_postgres() {
    local version hba before
    version=$(installed_pg_version)
    if [ -z "$version" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
        apt_install postgresql
        version=$(installed_pg_version)
        [ -n "$version" ] || die "apt-get installed postgresql, yet no server is in $PG_LIB"
    fi
    # The package creates the cluster "main"; a machine where it was dropped gets it back.
    [ -d "$PG_ETC/$version/main" ] || pg_createcluster --port "$PG_PORT" "$version" main >&2
    hba=$PG_ETC/$version/main/pg_hba.conf
    before=$(cksum <"$hba")
    trust_local_tcp "$hba"
    if pg_ctlcluster "$version" main status >/dev/null 2>&1; then
        # Running (perhaps started by the package's postinst): only the rules may need reloading.
        if [ "$before" != "$(cksum <"$hba")" ]; then
            pg_ctlcluster --skip-systemctl-redirect "$version" main reload >&2
        fi
    else
        say "starting PostgreSQL $version"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2
    fi
}

start_redis() {
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    # The package's postinst may have started one already.
    redis_ready && return 0
    say "starting Redis"
    mkdir -p "$REDIS_DIR" "$(dirname "$REDIS_LOG")"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
        --dir "$REDIS_DIR" --logfile "$REDIS_LOG"
}

explain_postgres() {
    say "PostgreSQL does not accept password-less connections on 127.0.0.1:$PG_PORT as postgres after ${WAIT_SECONDS}s"
    command -v pg_lsclusters >/dev/null 2>&1 && pg_lsclusters >&2 || true
    local log
    log=$(ls /var/log/postgresql/postgresql-*-main.log 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$log" ] && tail -n 20 "$log" >&2 || true
}

explain_redis() {
    say "Redis does not answer PING on 127.0.0.1:$REDIS_PORT after ${WAIT_SECONDS}s"
    [ -f "$REDIS_LOG" ] && tail -n 20 "$REDIS_LOG" >&2 || true
}

main() {
    local pg_ok=1 redis_ok=1
    pg_ready && pg_trusts_us || pg_ok=0
    redis_ready || redis_ok=0
    [ "$pg_ok$redis_ok" = 11 ] && exit 0
    if [ "$(id -u)" != 0 ]; then
        [ "$pg_ok" = 1 ] || say "PostgreSQL does not accept password-less connections on 127.0.0.1:$PG_PORT"
        [ "$redis_ok" = 1 ] || say "Redis does not answer on 127.0.0.1:$REDIS_PORT"
        die "installing and starting them needs root: run this script as root"
    fi

    if [ "$pg_ok" = 0 ]; then start_postgres; fi
    if [ "$redis_ok" = 0 ]; then start_redis; fi

    local deadline=$((SECONDS + WAIT_SECONDS))
    until [ "$pg_ok$redis_ok" = 11 ] || [ "$SECONDS" -ge "$deadline" ]; do
        [ "$pg_ok" = 1 ] || { pg_ready && pg_trusts_us && pg_ok=1; } || true
        [ "$redis_ok" = 1 ] || { redis_ready && redis_ok=1; } || true
        [ "$pg_ok$redis_ok" = 11 ] || sleep 0.5
    done
    [ "$pg_ok" = 1 ] || explain_postgres
    [ "$redis_ok" = 1 ] || explain_redis
    [ "$pg_ok$redis_ok" = 11 ] || exit 1
    say "PostgreSQL on 127.0.0.1:$PG_PORT and Redis on 127.0.0.1:$REDIS_PORT are up"
}

# Sourcing the file (to test a function) runs nothing.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
