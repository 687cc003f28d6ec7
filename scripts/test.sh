#!/usr/bin/env bash
# The whole suite: ruff, mypy (strict), then pytest on PostgreSQL 15 and 17 with the backend
# scripts/ensure-docker.sh chose. The two versions run side by side (each waits on its own
# server most of the time); their output is printed whole, one after the other. Any failure,
# or a run that executes no test (pytest exit 5), exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
export TESTCONTAINERS_RYUK_DISABLED=true
backend=$(cat .state/backend 2>/dev/null || echo docker)
logs=$(mktemp -d /tmp/pg-hardening-test.XXXX)

echo "== ruff"; "$bin/ruff" check . && "$bin/ruff" format --check .
echo "== mypy (strict)"; "$bin/mypy"

names=(); pids=()
start() {  # start NAME PYTEST-ARGS...: one pytest run in the background, output to a log
    local name=$1; shift
    names+=("$name")
    "$bin/pytest" -p no:cacheprovider "$@" >"$logs/$name.log" 2>&1 &
    pids+=($!)
}
if [ "$backend" = docker ]; then
    start docker-15 --pg-backend docker --pg-version 15
    start docker-17 --pg-backend docker --pg-version 17
    start local-15-harness --pg-backend local --pg-version 15 tests/test_harness.py
else
    echo "!! no Docker engine: running on the local backend, PostgreSQL 15 only" >&2
    start local-15 --pg-backend local --pg-version 15
fi

status=0
for i in "${!pids[@]}"; do
    rc=0; wait "${pids[$i]}" || rc=$?
    echo "== pytest ${names[$i]} (exit $rc)"
    cat "$logs/${names[$i]}.log"
    [ "$rc" -eq 0 ] || status=1
done
rm -rf "$logs"
[ "$status" -eq 0 ] && echo "== all suites passed" || echo "== a suite FAILED" >&2
exit $status
