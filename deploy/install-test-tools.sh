#!/usr/bin/env bash
# Installs, from Debian's packages, what `make test` needs beyond the venv when it is missing:
#   - a Korean font (fonts-nanum), so `koabus chart` draws stock names (삼성전자), not empty boxes;
#   - chromium and chromium-driver, for the dashboard's browser test (selenium, headless);
#   - a C compiler, make, pkg-config, libzmq3-dev and libmsgpack-dev, for the C client (clients/c/);
#   - nodejs and npm, for the Node.js client (clients/node/; its npm packages come from its lockfile).
# The tests that need them fail (never skip) and name this script. Needs root (or sudo) and apt-get;
# fails loudly otherwise. `make test` runs it; nothing happens when everything is there.
set -euo pipefail

packages=()
if ! { command -v fc-list >/dev/null 2>&1 && fc-list :lang=ko family | grep -q .; }; then
    packages+=(fonts-nanum fontconfig)
fi
if ! { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }; then
    packages+=(chromium chromium-driver)
fi
if ! { command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1; }; then
    packages+=(build-essential)
fi
if ! { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libzmq msgpack; }; then
    packages+=(pkg-config libzmq3-dev libmsgpack-dev)
fi
if ! { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; }; then
    packages+=(nodejs npm)
fi
if [ ${#packages[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install-test-tools: missing ${packages[*]} and this is not root (no sudo either);" \
         "run as root: apt-get install -y ${packages[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-tools: missing ${packages[*]} and there is no apt-get here;" \
         "install a Korean font, Chromium and its matching chromedriver with the system's package manager" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# the package lists are only fetched when apt does not know the packages yet (a fresh image)
if ! apt-cache show "${packages[@]}" >/dev/null 2>&1; then
    echo "install-test-tools: apt-get update" >&2
    "${SUDO[@]}" apt-get update
fi
echo "install-test-tools: apt-get install -y ${packages[*]}" >&2
if ! "${SUDO[@]}" apt-get install -y --no-install-recommends "${packages[@]}"; then
    echo "install-test-tools: retrying after apt-get update" >&2
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" apt-get install -y --no-install-recommends "${packages[@]}"
fi

if ! fc-list :lang=ko family | grep -q .; then
    echo "install-test-tools: fonts-nanum was installed but fc-list still lists no Korean font" >&2
    exit 1
fi
if ! pkg-config --exists libzmq msgpack; then
    echo "install-test-tools: libzmq3-dev and libmsgpack-dev were installed but pkg-config finds no libzmq/msgpack" >&2
    exit 1
fi
for tool in chromium chromedriver node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install-test-tools: $tool is still not on PATH after the install" >&2
        exit 1
    fi
done
