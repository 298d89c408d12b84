#!/usr/bin/env bash
# The full-server-rebuild drill (plan 3.2, tested quarterly per plan 5.1), end to end on
# this machine, with the real playbook:
#
#   sudo bash scripts/drill.sh           # set up, stand up an old server, lose it, rebuild a bare one
#   sudo bash scripts/drill.sh --clean   # remove everything the drill created
#
# 1. scripts/setup.sh (Debian packages, Docker, the Python venv, the offline images)
# 2. the test world: container registry (ghcr.io), offsite S3 (SeaweedFS), DNS (BIND,
#    primary and secondary), ACME CA (Pebble)
# 3. an "old server" running FleetPulse with data and a Let's Encrypt-style certificate,
#    which pushes its database backup, configuration backup and object mirror offsite
# 4. the old server is destroyed (plan 3.2: "VPS unreachable")
# 5. a bare Debian 12 server (a systemd container: root, sshd, python3, nothing else)
# 6. ansible-playbook -i inventories/local playbooks/rebuild-server.yml: its real output,
#    ending with the summary against the 4 h RTO
#
# The rebuilt server stays up for inspection (commands printed at the end). Namespace:
# FP_TEST_NS (default drill), so it never touches the tests' containers.
# FP_SKIP_SETUP=1 skips step 1 on a prepared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
export FP_TEST_NS=${FP_TEST_NS:-drill}
NS=$FP_TEST_NS
VENV=${FP_VENV:-$REPO/.venv}
WORLD_DIR=${FP_WORLD_DIR:-$REPO/.world/$NS}
OLD=$NS-old-server
NEW=$NS-fleetpulse-local
export FP_LOCAL_CONTAINER=$NEW FP_REPO=$REPO PATH="$VENV/bin:$PATH"
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-1}
STARTED=$(date +%s)
STEP_STARTED=$STARTED
TIMES=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step_done() {
  local now
  now=$(date +%s)
  TIMES+=("$(printf '  %-46s %5ss' "$1" $((now - STEP_STARTED)))")
  STEP_STARTED=$now
}

clean() {
  say "Removing the drill's containers, networks and volumes (namespace $NS)"
  if [ -x "$VENV/bin/python" ]; then
    "$VENV/bin/python" tests/world/world.py down
  else
    mapfile -t ids < <(docker ps -aq --filter "label=io.fleetpulse.test.ns=$NS")
    [ ${#ids[@]} -eq 0 ] || docker rm -f -v "${ids[@]}"
  fi
  rm -rf "$WORLD_DIR"
  echo "done"
}

case "${1:-}" in
  --clean) clean; exit 0 ;;
  -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
  "") ;;
  *) echo "unknown option: $1 (use --clean or nothing)" >&2; exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then
  echo "drill.sh needs root (it installs packages and runs Docker): sudo bash scripts/drill.sh" >&2
  exit 1
fi

if [ "${FP_SKIP_SETUP:-0}" != 1 ]; then
  say "1. Machine setup (scripts/setup.sh)"
  bash scripts/setup.sh
fi
step_done "setup"

say "2. The outside world: registry, offsite S3, DNS, ACME CA (namespace $NS)"
python tests/world/world.py up registry s3 dns dns-secondary acme
mkdir -p "$WORLD_DIR/ssh"
# The deploy user's key (vps_setup_deploy_authorized_keys of inventories/local).
[ -f "$WORLD_DIR/ssh/deploy_key" ] || ssh-keygen -q -t ed25519 -N '' -C "deploy@fleetpulse-drill" -f "$WORLD_DIR/ssh/deploy_key"
step_done "world"

# A server container shaped like the test hosts (molecule/resources/create.yml): systemd as
# PID 1 and its own Docker engine.
new_server() {
  local name=$1 image=$2 caps=()
  for cap in AUDIT_CONTROL AUDIT_READ AUDIT_WRITE BLOCK_SUSPEND CHOWN DAC_OVERRIDE DAC_READ_SEARCH \
      FOWNER FSETID IPC_LOCK IPC_OWNER KILL LEASE LINUX_IMMUTABLE MAC_ADMIN MAC_OVERRIDE MKNOD NET_ADMIN \
      NET_BIND_SERVICE NET_BROADCAST NET_RAW SETFCAP SETGID SETPCAP SETUID SYSLOG SYS_ADMIN SYS_BOOT SYS_CHROOT \
      SYS_MODULE SYS_NICE SYS_PACCT SYS_PTRACE SYS_RAWIO SYS_TIME SYS_TTY_CONFIG WAKE_ALARM; do
    caps+=(--cap-add "$cap")
  done
  docker rm -f -v "$name" >/dev/null 2>&1 || true
  docker run -d --name "$name" --hostname "$3" --network "$NS-world" \
    --label "io.fleetpulse.test.ns=$NS" --label "io.fleetpulse.test.scenario=drill" --label "io.fleetpulse.test.host=$3" \
    --tmpfs /run --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup:rw -v /var/lib/docker \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined --stop-signal SIGRTMIN+3 \
    "${caps[@]}" \
    "$image" /lib/systemd/systemd >/dev/null
  # Until systemd's bus answers, systemctl prints nothing: ask again (120 s at most).
  local deadline=$((SECONDS + 120)) state=""
  while [ $SECONDS -lt $deadline ]; do
    state=$(docker exec "$name" timeout 120 systemctl is-system-running --wait 2>/dev/null || true)
    [ -z "$state" ] || break
    sleep 1
  done
  case $state in running|degraded) ;; *) echo "$name did not boot (systemd: ${state:-no answer})" >&2; exit 1 ;; esac
}

say "3. The old server: FleetPulse with data, a certificate, backups and a mirror offsite"
ansible-playbook -i inventories/local molecule/resources/old-server.yml -e "old_server_name=$OLD" -e old_server_label=drill
step_done "old server with data and offsite backups"

say "4. Disaster: the old server is gone"
docker rm -f -v "$OLD" >/dev/null
echo "removed $OLD (its disks too); fleetpulse.test still points at its address"
step_done "old server destroyed"

say "5. A new, bare Debian 12 server"
new_server "$NEW" "$(python tests/world/world.py ref debian12-bare)" fleetpulse-local
echo "$NEW: $(docker exec "$NEW" sh -c '. /etc/os-release; echo "$PRETTY_NAME"'), address $(docker inspect --format \
  "{{ (index .NetworkSettings.Networks \"$NS-world\").IPAddress }}" "$NEW"), no Docker, no deploy user"
step_done "bare server"

say "6. ansible-playbook -i inventories/local playbooks/rebuild-server.yml -e rebuild_server_confirm=local"
rebuild_started=$(date +%s)
ansible-playbook -i inventories/local playbooks/rebuild-server.yml -e rebuild_server_confirm=local
rebuild_seconds=$(( $(date +%s) - rebuild_started ))
step_done "rebuild-server.yml"

total=$(( $(date +%s) - STARTED ))
say "Drill done in ${total}s (rebuild-server.yml: ${rebuild_seconds}s; the plan allows 4 h)"
printf '%s\n' "${TIMES[@]}"
dns_ip=$(python -c "import json; print(json.load(open('$WORLD_DIR/world.json'))['services']['dns']['ip'])")
cat <<EOF

The rebuilt server is still up. Look at it:
  dig +short @$dns_ip fleetpulse.test
  curl --cacert $WORLD_DIR/acme/issued-roots.pem --resolve fleetpulse.test:443:\$(dig +short @$dns_ip fleetpulse.test) https://fleetpulse.test/api/v1/health
  docker exec -it $NEW bash                    # then: cd /opt/fleetpulse && docker compose ps
  ls artifacts/dr-timeline/                    # the DR timeline record and the post-incident review draft
  FP_TEST_NS=$NS FP_LOCAL_CONTAINER=$NEW $VENV/bin/ansible-playbook -i inventories/local playbooks/rebuild-server.yml -e rebuild_server_confirm=local
                                               # run it again: nothing changes, nothing is restored again
Remove everything the drill created:
  sudo bash scripts/drill.sh --clean
EOF
