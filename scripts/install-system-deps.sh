#!/usr/bin/env bash
# Installs the Debian packages promkit's tests and tools use, only those that are missing.
# Idempotent: a second run with everything present does nothing and touches no network.
set -euo pipefail

PACKAGES=(victoria-metrics prometheus postgresql docker.io busybox-static chromium redis-server wrk)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "system packages: all present (${PACKAGES[*]})"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: missing packages (${missing[*]}) and not root; install them or rerun as root" >&2
        exit 1
    fi
fi

echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian's postgresql package starts a cluster and docker.io starts dockerd through the init
# system where one runs; in containers without one, policy-rc.d makes that a no-op.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system packages: done"
