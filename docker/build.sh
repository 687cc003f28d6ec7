#!/usr/bin/env bash
# Build (or reuse) the PostgreSQL + pgaudit test images: pg-hardening/postgres:15 (bookworm)
# and pg-hardening/postgres:17 (trixie).
#
#   docker/build.sh [15] [17]        default: both
#
# An image is rebuilt only when docker/ changed (a content hash kept as an image label).
# The base is, in order: $PG_HARDENING_BASE_<suite> if set; debian:<suite>-slim when the
# engine already has it; else pg-hardening/debian-base:<suite>, made once with debootstrap +
# docker import (for machines that cannot reach a container registry).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
versions=("$@"); [ ${#versions[@]} -gt 0 ] || versions=(15 17)

suite_for() { case "$1" in 15) echo bookworm ;; 17) echo trixie ;; *) echo "docker/build.sh: no Debian suite known for PostgreSQL $1 (15 or 17)" >&2; exit 2 ;; esac; }

context_hash() {
    (cd "$here" && cat Dockerfile entrypoint.sh && echo "PG_MAJOR=$1") | sha256sum | cut -c1-16
}

ensure_base() {
    local suite=$1 override_var="PG_HARDENING_BASE_${1^^}"
    if [ -n "${!override_var:-}" ]; then echo "${!override_var}"; return; fi
    if docker image inspect "debian:${suite}-slim" >/dev/null 2>&1; then echo "debian:${suite}-slim"; return; fi
    local local_base="pg-hardening/debian-base:${suite}"
    if ! docker image inspect "$local_base" >/dev/null 2>&1; then
        command -v debootstrap >/dev/null || { echo "docker/build.sh: debootstrap is needed to make $local_base (apt-get install debootstrap)" >&2; exit 1; }
        local rootfs; rootfs=$(mktemp -d "/tmp/pg-hardening-rootfs-${suite}.XXXX")
        echo "docker/build.sh: making $local_base with debootstrap (no registry needed)" >&2
        debootstrap --variant=minbase "$suite" "$rootfs" >"$rootfs.log" 2>&1 \
            || { tail -n 20 "$rootfs.log" >&2; exit 1; }
        tar -C "$rootfs" -c . | docker import - "$local_base" >/dev/null
        rm -rf "$rootfs" "$rootfs.log"
    fi
    echo "$local_base"
}

build_one() {
    local v=$1 suite tag hash have base
    suite=$(suite_for "$v"); tag="pg-hardening/postgres:$v"; hash=$(context_hash "$v")
    have=$(docker image inspect --format '{{ index .Config.Labels "org.pg-hardening.context" }}' "$tag" 2>/dev/null || true)
    if [ "$have" = "$hash" ]; then echo "docker/build.sh: $tag is up to date ($hash), reused"; return; fi
    base=$(ensure_base "$suite")
    echo "docker/build.sh: building $tag from $base"
    docker build --network host --quiet \
        --build-arg "BASE=$base" --build-arg "PG_MAJOR=$v" \
        --label "org.pg-hardening.context=$hash" -t "$tag" "$here" >"/tmp/pg-hardening-build-$v.log" 2>&1 \
        || { tail -n 40 "/tmp/pg-hardening-build-$v.log" >&2; echo "docker/build.sh: building $tag failed" >&2; exit 1; }
    echo "docker/build.sh: built $tag"
}

pids=()
for v in "${versions[@]}"; do suite_for "$v" >/dev/null; build_one "$v" & pids+=($!); done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
