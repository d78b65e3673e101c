#!/usr/bin/env bash
# Installs what colcrypt needs on a Debian bookworm machine and says what it installs.
# Idempotent: a machine that has everything is left alone.
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
packages=(
    "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" "postgresql-plpython3-$PG_MAJOR"
    "postgresql-$PG_MAJOR-cron" "postgresql-$PG_MAJOR-pgtap" "postgresql-contrib"
    libssl-dev libsodium-dev gcc make python3 python3-venv python3-pip
    softhsm2 "postgresql-$PG_MAJOR-pgaudit"
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "colcrypt: missing Debian packages: ${missing[*]}; run as root or install them." >&2
        exit 1
    fi
    echo "colcrypt: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's postgresql-common starts a 'main' cluster on install; colcrypt runs its own clusters.
