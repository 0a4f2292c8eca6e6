#!/usr/bin/env bash
# Installs everything Paddock needs on a fresh Debian 12 machine, then builds it.
# Safe to run again: every step checks before it changes anything.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh must run as root (it installs Debian packages and runtimes)" >&2
  exit 1
fi

# bookworm-backports has runsc 20240729; main has only a 2022 build that is too old.
# The mirror is taken from the machine's own apt source, never hard-coded.
backports=/etc/apt/sources.list.d/paddock-backports.sources
if [ ! -f "$backports" ]; then
  uri=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  if [ -z "$uri" ]; then
    uri=$(awk '/^deb / && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
  fi
  [ -n "$uri" ] || { echo "no Debian mirror found in the apt sources" >&2; exit 1; }
  log "adding bookworm-backports from $uri"
  cat >"$backports" <<SRC
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  rm -f /var/lib/paddock-apt-updated
fi

need=()
# tmux: the CLI's terminal tests drive the real CLI in a tmux window.
# skopeo and umoci pull and unpack registry images; docker-registry and apache2-utils (htpasswd)
# run the tests' own registry on loopback. nftables filters sandboxes' egress. python3 zips the
# tests' wheels. chromium: Playwright drives it headless in the web console's test.
# python3-httpx, python3-pytest and mypy: the Python SDK's one dependency, its tests and its type
# check (no PyPI here); python3-pip and python3-setuptools make `pip install ./sdk-python` work
# (offline: add --no-build-isolation, and --break-system-packages outside a venv).
for pkg in runc tini busybox-static debootstrap e2fsprogs iproute2 util-linux curl tar gcc libc6-dev tmux chromium \
  skopeo umoci docker-registry apache2-utils nftables python3 \
  python3-httpx python3-pytest mypy python3-pip python3-setuptools; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
runsc_ok=0
if command -v runsc >/dev/null 2>&1 && runsc --version 2>/dev/null | grep -q 'runsc version release-2024\|0.0~2024'; then runsc_ok=1; fi
if dpkg -s runsc 2>/dev/null | grep -q '^Version: 0.0~2024'; then runsc_ok=1; fi

if [ ${#need[@]} -gt 0 ] || [ $runsc_ok = 0 ]; then
  if [ ! -f /var/lib/paddock-apt-updated ]; then
    log "apt-get update"
    apt-get update -q
    touch /var/lib/paddock-apt-updated
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get install -y -q --no-install-recommends "${need[@]}"
  fi
  if [ $runsc_ok = 0 ]; then
    log "installing runsc from bookworm-backports"
    apt-get install -y -q --no-install-recommends -t bookworm-backports runsc
  fi
fi

# Debian's docker-registry package starts a registry service on port 5000; the tests start their
# own on loopback and nothing else should listen, so the service is stopped and kept off.
if [ -d /run/systemd/system ]; then
  if systemctl is-enabled --quiet docker-registry.service 2>/dev/null ||
    systemctl is-active --quiet docker-registry.service 2>/dev/null; then
    log "stopping and disabling the docker-registry service"
    systemctl disable --now docker-registry.service
  fi
elif [ -x /etc/init.d/docker-registry ]; then
  if service docker-registry status >/dev/null 2>&1; then
    log "stopping the docker-registry service"
    service docker-registry stop
  fi
  if ls /etc/rc[2-5].d/S*docker-registry >/dev/null 2>&1; then update-rc.d docker-registry disable; fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund
fi

log "building"
npm run build --silent
