#!/usr/bin/env bash
# Installs the system packages that the tests and benchmarks need, only those missing:
# mosquitto, PostgreSQL's server binaries, Chromium and its driver, make and venv.
# Idempotent and quick when all are present; `make test` and `.ci/run` both call it.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"
fi

have_postgres_server() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

# Each package is installed only when what the tests use from it is absent.
missing_packages() {
    command -v make >/dev/null || echo make
    command -v python3 >/dev/null || echo python3
    # Debian splits venv/ensurepip out of python3; `make` creates .venv with it.
    python3 -c 'import ensurepip, venv' 2>/dev/null || echo python3-venv
    [ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || echo mosquitto
    have_postgres_server || echo postgresql
    command -v chromium >/dev/null || echo chromium
    command -v chromedriver >/dev/null || echo chromium-driver
}

install_system_packages() {
    local packages
    packages=$(missing_packages | tr '\n' ' ')
    if [ -z "${packages// /}" ]; then
        echo "all present"
        return 0
    fi
    echo "installing: ${packages}"
    # The tests start their own mosquitto and PostgreSQL on free ports; the system
    # services the packages would start (mosquitto on 1883, the "main" cluster on 5432)
    # are not used, so keep them from starting: invoke-rc.d and deb-systemd-invoke skip
    # starting services while policy-rc.d answers 101 ("action forbidden").
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
        $SUDO chmod 755 "$policy"
        own_policy=1
    fi
    local status=0
    {
        $SUDO apt-get update -q &&
            # shellcheck disable=SC2086  # word splitting of the package list is intended
            $SUDO apt-get install -y -q --no-install-recommends $packages
    } || status=$?
    if [ "$own_policy" -eq 1 ]; then
        $SUDO rm -f "$policy"
    fi
    return "$status"
}

install_system_packages
