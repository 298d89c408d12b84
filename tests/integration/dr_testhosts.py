"""Test hosts for the fleetpulse-dr tests: systemd containers like molecule/resources/create.yml makes.

    host1  bare Debian 12 VPS: no Docker, no stack, one backup 30 hours old (over the RPO)
    host2  Docker with the compose plugin and a real three-service stack in /opt/fleetpulse
           (api and web running, worker exited), backups 2 and 50 hours old
    ghost  in the inventory, but no such container: unreachable

Test modules use them with ``dr_hosts = dr_testhosts.dr_hosts``; pytest then sees one
fixture per module, so the hosts are cached here and made once per session.
Containers carry the namespace label, so `world.py down` also removes them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NS = os.environ.get("FP_TEST_NS", "fp")
SCENARIO = "pytest-dr"
CAPABILITIES = [
    "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH",
    "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE",
    "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID",
    "SYSLOG", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE",
    "SYS_RAWIO", "SYS_TIME", "SYS_TTY_CONFIG", "WAKE_ALARM",
]
COMPOSE = """\
services:
  api: {image: "fleetpulse-test/tiny:1", command: [/bin/busybox, sleep, "3600"]}
  web: {image: "fleetpulse-test/tiny:1", command: [/bin/busybox, sleep, "3600"]}
  worker: {image: "fleetpulse-test/tiny:1", command: [/bin/busybox, "true"]}
"""
PREPARE_HOST2 = f"""
set -e
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io busybox-static >/dev/null
systemctl is-active --quiet docker
# a one-binary image for the inner engine (no registry here)
mkdir -p /tmp/tiny/bin && cp /bin/busybox /tmp/tiny/bin/
tar -C /tmp/tiny -c . | docker import - fleetpulse-test/tiny:1 >/dev/null
mkdir -p /opt/fleetpulse/backups && cd /opt/fleetpulse
cat > docker-compose.prod.yml <<'EOF'
{COMPOSE}EOF
docker compose -p carrental -f docker-compose.prod.yml up -d --quiet-pull >/dev/null 2>&1
echo new | gzip > backups/car_rental_backup_20260101_020000.sql.gz
touch -d '2 hours ago' backups/car_rental_backup_20260101_020000.sql.gz
echo old | gzip > backups/car_rental_backup_20251230_020000.sql.gz
touch -d '50 hours ago' backups/car_rental_backup_20251230_020000.sql.gz
"""
PREPARE_HOST1 = """
set -e
mkdir -p /opt/fleetpulse/backups
echo old | gzip > /opt/fleetpulse/backups/car_rental_backup_20251230_020000.sql.gz
touch -d '30 hours ago' /opt/fleetpulse/backups/car_rental_backup_20251230_020000.sql.gz
"""


@dataclass
class DrHosts:
    inventory: Path
    containers: dict[str, str]

    def sh(self, host: str, script: str) -> str:
        return run(["docker", "exec", self.containers[host], "bash", "-c", script])


def run(cmd: list[str], timeout: float = 300) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}... failed ({res.returncode}): {res.stderr[-2000:]}")
    return res.stdout.strip()


def _start(name: str, hostname: str, image: str, network: str) -> None:
    cmd = ["docker", "run", "-d", "--name", name, "--hostname", hostname, "--network", network,
           "--label", f"io.fleetpulse.test.ns={NS}", "--label", f"io.fleetpulse.test.scenario={SCENARIO}",
           "--tmpfs", "/run", "--tmpfs", "/run/lock", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
           "-v", "/var/lib/docker", "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
           "--stop-signal", "SIGRTMIN+3"]
    for cap in CAPABILITIES:
        cmd += ["--cap-add", cap]
    run([*cmd, image, "/lib/systemd/systemd"])


def _wait_booted(name: str, timeout: float = 120) -> None:
    """Poll until systemd reports the boot finished (right after start, systemctl may not answer yet)."""
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = subprocess.run(["docker", "exec", name, "timeout", "30", "systemctl", "is-system-running", "--wait"],
                               capture_output=True, text=True, check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"{name}: systemd did not finish booting within {timeout:.0f}s (last state {state!r})")


def _remove() -> None:
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.fleetpulse.test.ns={NS}",
                          "--filter", f"label=io.fleetpulse.test.scenario={SCENARIO}"],
                         capture_output=True, text=True, check=False).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", "-v", *ids], capture_output=True, check=False)


_MADE: dict[str, DrHosts] = {}


@pytest.fixture(scope="session")
def dr_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrHosts]:
    if "hosts" not in _MADE:
        _MADE["hosts"] = _make(tmp_path_factory)
    try:
        yield _MADE["hosts"]
    finally:  # at the end of the session (every module's copy of the fixture ends then)
        _MADE.clear()
        _remove()


def _make(tmp_path_factory: pytest.TempPathFactory) -> DrHosts:
    t0 = time.monotonic()
    world = [sys.executable, str(REPO / "tests" / "world" / "world.py")]
    run([*world, "up"])  # the namespace's network (no service needed)
    image = run([*world, "ref", "debian12-bare"]).splitlines()[-1]
    network = f"{NS}-world"
    _remove()
    containers = {h: f"{NS}-{SCENARIO}-{h}" for h in ("host1", "host2")}
    try:
        for host, name in containers.items():
            _start(name, host, image, network)
        for name in containers.values():
            _wait_booted(name)
        hosts = DrHosts(inventory=tmp_path_factory.mktemp("dr") / "hosts.yml", containers=containers)
        compose_bin = Path(run([sys.executable, "-c", "import compose, os; "
                                "print(os.path.join(os.path.dirname(compose.__file__), 'docker-compose'))"]))
        hosts.sh("host2", "mkdir -p /usr/local/lib/docker/cli-plugins")
        plugin = "/usr/local/lib/docker/cli-plugins/docker-compose"
        run(["docker", "cp", str(compose_bin), f"{containers['host2']}:{plugin}"])
        hosts.sh("host2", PREPARE_HOST2)
        hosts.sh("host1", PREPARE_HOST1)
        hosts.inventory.write_text(
            "all:\n  children:\n    fleetpulse:\n      hosts:\n"
            + "".join(f"        {h}: {{ansible_host: {n}}}\n" for h, n in containers.items())
            + f"        ghost: {{ansible_host: {NS}-{SCENARIO}-ghost}}\n"
            "      vars:\n        ansible_connection: community.docker.docker\n"
            "        fleetpulse_environment: test\n")
        print(f"\n[dr_hosts] ready in {time.monotonic() - t0:.0f}s", file=sys.stderr)
        return hosts
    except BaseException:
        _remove()
        raise


DANGER_PLAYBOOK = """\
---
# A stand-in destructive scenario for the tests: it refuses to run unless danger_confirm
# names the environment, then records what it was given in danger_marker.
- name: Do something destructive (test stand-in)
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    danger_marker: {marker}
  tasks:
    - name: Refuse without a confirmation naming the environment
      ansible.builtin.assert:
        that: danger_confirm | default('') == 'test'
        fail_msg: set danger_confirm=test
    - name: Record the run
      ansible.builtin.copy:
        content: "{{ danger_confirm }} {{ danger_level | default('none') }}"
        dest: "{{ danger_marker }}"
        mode: "0644"
    - name: Summary
      ansible.builtin.debug:
        msg: ["danger done: level {{ danger_level | default('none') }}"]
"""


def make_project(root: Path, marker: Path) -> Path:
    """A checkout with the real status playbook (linked) and a destructive stand-in, for CLI and bridge tests."""
    (root / "meta").mkdir(parents=True)
    (root / "playbooks").mkdir()
    (root / "playbooks" / "status.yml").symlink_to(REPO / "playbooks" / "status.yml")
    (root / "playbooks" / "templates").symlink_to(REPO / "playbooks" / "templates")
    (root / "playbooks" / "danger.yml").write_text(DANGER_PLAYBOOK.replace("{marker}", str(marker)))
    (root / "playbooks" / "unlisted.yml").write_text(DANGER_PLAYBOOK.replace("{marker}", str(marker)))
    real = (REPO / "meta" / "scenarios.yml").read_text()
    status_entry = real[real.index("  - name: status"):real.index("  - name: backup")]
    (root / "meta" / "scenarios.yml").write_text(
        "---\nscenarios:\n" + status_entry
        + "  - name: danger\n    playbook: playbooks/danger.yml\n    description: Test stand-in\n"
          "    destructive: true\n    confirm_var: danger_confirm\n"
          "    params:\n      - {name: danger_level, type: choice, choices: [low, high]}\n")
    (root / "inventories" / "local").mkdir(parents=True)
    (root / "inventories" / "local" / "hosts.yml").write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n")
    return root
