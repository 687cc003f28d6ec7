#!/usr/bin/env bash
# Install the Debian packages the kit's demo and tests need, once: the Docker engine,
# debootstrap (test image bases without a registry) and PostgreSQL 15 + pgaudit (the local
# backend, with set_user). Idempotent: does nothing when everything is present.
set -euo pipefail
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
[ -f /usr/lib/postgresql/15/lib/pgaudit.so ] || need+=(postgresql-15-pgaudit)
[ -f /usr/lib/postgresql/15/lib/set_user.so ] || need+=(postgresql-15-set-user)
command -v runuser >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-system: missing Debian packages: ${need[*]}; run as root or: sudo apt-get install ${need[*]}" >&2
    exit 1
fi
echo "ensure-system: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# Debian's postgresql package must not create and start a "main" cluster of its own.
mkdir -p /etc/postgresql-common
[ -f /etc/postgresql-common/createcluster.conf ] || echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/tmp/pg-hardening-apt.log 2>&1 \
    || { tail -n 30 /tmp/pg-hardening-apt.log >&2; echo "ensure-system: apt-get install failed" >&2; exit 1; }
