#!/usr/bin/env bash
# Build (or reuse) the PostgreSQL + pgaudit test images the pytest plugin runs, from the files
# the package carries (hardening/testing/docker/: one Dockerfile, one entrypoint), through the
# kit's own builder: `hardening testing-image build`. Images are tagged
# pg-hardening/postgres:<version>-<content hash> and rebuilt only when that content changes.
#
#   docker/build.sh [15] [17]        default: both, side by side
#
# The base is postgres:<version> where the engine has it or a registry answers, else
# pg-hardening/debian-base:<suite> made once with debootstrap (hardening/testing/image.py);
# PG_HARDENING_BASE_<SUITE> (BOOKWORM for 15, TRIXIE for 17) names another.
# Needs the kit's venv (make venv), or PYTHON pointing at a Python that has the kit installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
[ -x "$python" ] || { echo "docker/build.sh: $python is missing: run make venv (or set PYTHON)" >&2; exit 1; }
versions=("$@"); [ ${#versions[@]} -gt 0 ] || versions=(15 17)

build_one() {
    local v=$1 suite base_var args=()
    case "$v" in 15) suite=BOOKWORM ;; 17) suite=TRIXIE ;; *) suite=NONE ;; esac
    base_var="PG_HARDENING_BASE_$suite"
    [ -z "${!base_var:-}" ] || args=(--base "${!base_var}")
    "$python" -m hardening.cli testing-image build "$v" "${args[@]}"
}

pids=()
for v in "${versions[@]}"; do build_one "$v" & pids+=($!); done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
