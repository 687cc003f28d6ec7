#!/usr/bin/env bash
# Make sure a Docker engine answers, starting dockerd when none runs, then build or reuse the
# test images. Writes the backend the tests should use to .state/backend: "docker", or
# "local" (said loudly) when no engine can run on this machine.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .state
export TESTCONTAINERS_RYUK_DISABLED=true

engine_up() { docker info >/dev/null 2>&1; }

if ! engine_up && command -v dockerd >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    echo "ensure-docker: starting dockerd (log: /tmp/pg-hardening-dockerd.log)"
    setsid nohup dockerd >/tmp/pg-hardening-dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 1 60); do engine_up && break; sleep 1; done
fi

if engine_up; then
    if docker/build.sh 15 17; then
        echo docker > .state/backend
        exit 0
    fi
    reason="building the test images failed (see above)"
else
    reason="no Docker engine could be started ($(tail -n 1 /tmp/pg-hardening-dockerd.log 2>/dev/null || echo 'dockerd missing'))"
fi
cat >&2 <<MSG
##########################################################################################
# pg-hardening: $reason.
# FALLING BACK to the local backend (initdb/pg_ctl with PostgreSQL 15 + pgaudit).
# PostgreSQL 17 is NOT tested on this machine. CI is expected to use the docker backend.
##########################################################################################
MSG
echo local > .state/backend
