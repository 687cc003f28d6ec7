#!/usr/bin/env bash
# The whole suite: ruff, mypy (strict), then pytest on PostgreSQL 15 and 17 with the backend
# scripts/ensure-docker.sh chose. Any failure, or a run that executes no test, exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
export TESTCONTAINERS_RYUK_DISABLED=true
backend=$(cat .state/backend 2>/dev/null || echo docker)

echo "== ruff"; "$bin/ruff" check . && "$bin/ruff" format --check .
echo "== mypy (strict)"; "$bin/mypy"

status=0
run() { echo "== pytest $*"; "$bin/pytest" -p no:cacheprovider "$@" || status=1; }
if [ "$backend" = docker ]; then
    run --pg-backend docker --pg-version 15
    run --pg-backend docker --pg-version 17
    run --pg-backend local --pg-version 15 tests/test_harness.py
else
    echo "!! no Docker engine: running on the local backend, PostgreSQL 15 only" >&2
    run --pg-backend local --pg-version 15
fi
exit $status
