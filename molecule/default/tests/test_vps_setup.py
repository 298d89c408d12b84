"""fleetpulse.dr.vps_setup on a bare Debian 12 host: the real state, not the files alone."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess

import pytest
from helpers import SSH_OPTS, TEST_DIR, run_playbook, wait_for


def sshd_effective(host) -> dict[str, str]:
    out = host.check_output("/usr/sbin/sshd -T")
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def test_sshd_effective_configuration(host):
    cfg = sshd_effective(host)
    assert cfg["permitrootlogin"] == "no"
    assert cfg["passwordauthentication"] == "no"
    assert cfg["kbdinteractiveauthentication"] == "no"
    assert cfg["pubkeyauthentication"] == "yes"
    assert cfg["authenticationmethods"] == "publickey"
    assert cfg["maxauthtries"] == "3"
    assert cfg["x11forwarding"] == "no"
    assert cfg["port"] == "22"


def test_deploy_user_logs_in_with_its_key_and_becomes_root(host, host_key_path):
    out = host.run(f"ssh {SSH_OPTS} -i {host_key_path} deploy@127.0.0.1 sudo -n id -un")
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "root"


def test_root_login_refused_even_with_an_authorised_key(host, host_key_path, deploy_pubkey):
    # Give root the very key that works for deploy: only PermitRootLogin can refuse it.
    host.check_output(f"install -d -m 0700 /root/.ssh; cp -a /root/.ssh/authorized_keys {TEST_DIR}/root_keys;"
                      f" echo '{deploy_pubkey}' >> /root/.ssh/authorized_keys")
    try:
        out = host.run(f"ssh {SSH_OPTS} -i {host_key_path} root@127.0.0.1 true")
    finally:
        host.run(f"if [ -f {TEST_DIR}/root_keys ]; then mv {TEST_DIR}/root_keys /root/.ssh/authorized_keys;"
                 " else rm -f /root/.ssh/authorized_keys; fi")
    assert out.rc == 255
    assert "Permission denied" in out.stderr


BOGUS_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBogusBogusBogusBogusBogusBogusBogusBogus0000 not-a-key"


@pytest.mark.parametrize(("keys", "stopped_by"), [
    ([], "at least one SSH public key"),  # caught from the inputs, before the host is touched
    ([BOGUS_KEY], "LOCKOUT GUARD"),       # looks like a key, but sshd could never accept it
])
def test_lockout_guard_stops_before_sshd_is_touched(host, keys, stopped_by):
    dropin = "/etc/ssh/sshd_config.d/00-fleetpulse-hardening.conf"
    before = host.check_output(f"stat -c %Y {dropin}")
    try:
        run = run_playbook("apply_vps_setup.yml", "--tags", "vps_setup_ssh",
                           extra_vars={"vps_setup_deploy_user": "guardtest", "vps_setup_deploy_authorized_keys": keys})
    finally:
        host.run("userdel -r guardtest; rm -f /etc/sudoers.d/fleetpulse-guardtest")
    output = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0
    assert stopped_by in output
    assert "SSH | Write the hardening drop-in" not in output
    assert host.check_output(f"stat -c %Y {dropin}") == before


def test_sshd_offers_public_keys_only(host):
    out = host.run(f"ssh -v {SSH_OPTS} -o PubkeyAuthentication=no "
                   "-o PreferredAuthentications=password,keyboard-interactive deploy@127.0.0.1 true")
    assert out.rc == 255
    offered = [line for line in out.stderr.splitlines() if "Authentications that can continue" in line]
    assert offered, out.stderr
    assert all(line.rstrip().endswith("continue: publickey") for line in offered), offered


def test_deploy_user_account(host, deploy_pubkey):
    user = host.user("deploy")
    assert user.exists
    assert user.shell == "/bin/bash"
    assert "docker" in user.groups
    keys = host.file(f"{user.home}/.ssh/authorized_keys")
    assert keys.user == "deploy"
    assert keys.mode == 0o600
    assert deploy_pubkey in keys.content_string
    assert host.file(f"{user.home}/.ssh").mode == 0o700
    assert host.run("visudo -c").rc == 0
    assert "(ALL : ALL) NOPASSWD: ALL" in host.check_output("sudo -l -U deploy")


def nft_table(host, family: str, name: str) -> list[dict]:
    out = host.run(f"nft --json list table {family} {name}")
    assert out.rc == 0, f"table {family} {name} is not loaded: {out.stderr}"
    return json.loads(out.stdout)["nftables"]


def test_firewall_table_loaded_with_expected_rules(host):
    items = nft_table(host, "inet", "fleetpulse_filter")
    chains = [i["chain"] for i in items if "chain" in i]
    assert [(c["name"], c["hook"], c["policy"]) for c in chains] == [("input", "input", "drop")]
    sets = {i["set"]["name"]: i["set"].get("elem", []) for i in items if "set" in i}
    assert sorted(sets["allowed_tcp"]) == [22, 80, 443]
    assert sets["allowed_udp"] == []
    rights = [e["match"]["right"] for i in items if "rule" in i for e in i["rule"]["expr"] if "match" in e]
    assert "@allowed_tcp" in rights
    assert "lo" in rights


def docker_chains_present(host) -> bool:
    return all(host.run(f"nft list chain ip {table} DOCKER").rc == 0 for table in ("filter", "nat"))


def test_firewall_reload_and_restart_keep_dockers_rules(host):
    """Debian's nftables.service flushes the whole ruleset on stop; ours must not."""
    assert docker_chains_present(host), host.run("nft list ruleset").stdout
    for action in ("reload", "restart"):
        host.check_output(f"systemctl {action} nftables")
        assert docker_chains_present(host), f"Docker's chains are gone after systemctl {action} nftables"
        nft_table(host, "inet", "fleetpulse_filter")
    assert host.service("nftables").is_enabled


@pytest.fixture
def listeners(host):
    """Plain TCP listeners inside the host on an allowed (80) and an unlisted (8081) port."""
    for port in (80, 8081):
        host.check_output(f"systemd-run --unit fp-listen-{port} python3 -m http.server {port} --bind 0.0.0.0")
    wait_for("listeners on 80 and 8081",
             lambda: all(f":{p} " in host.check_output("ss -Hltn") for p in (80, 8081)))
    yield
    for port in (80, 8081):
        host.run(f"systemctl stop fp-listen-{port}")


def can_connect(ip: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except OSError:
        return False


def test_firewall_drops_unlisted_ports_from_outside(host, host_ip, listeners):
    # From this controller (outside the host): SSH and HTTP open, 8081 dropped.
    assert can_connect(host_ip, 22)
    assert can_connect(host_ip, 80)
    assert not can_connect(host_ip, 8081)
    # The listener itself works: only the firewall stands in the way.
    assert host.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8081/").stdout == "200"


def failed_login(ip: str) -> None:
    """One login attempt as an unknown user: sshd logs `Invalid user ... from <ip>`."""
    # A ban that lands mid-handshake makes the client hang: that attempt is over either way.
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(["ssh", *SSH_OPTS.split(), "-o", "PubkeyAuthentication=no", f"nosuchuser@{ip}", "true"],
                       capture_output=True, timeout=10, check=False)


def test_fail2ban_bans_repeated_failed_logins(host, host_ip, world):
    status = host.check_output("fail2ban-client status sshd")
    assert "Journal matches:" in status and "sshd" in status  # systemd backend
    attacker = world["gateway"]  # this controller, as the host sees it

    def banned() -> bool:
        return attacker in host.check_output("fail2ban-client get sshd banned")

    try:
        attempts = 0
        while not banned() and attempts < 10:
            failed_login(host_ip)
            attempts += 1
        wait_for(f"{attacker} banned by the sshd jail", banned, timeout=30)
        assert attempts > 1  # one failed login is not enough (maxretry)
        # fail2ban records the ban before its nftables action has run: wait for the firewall too.
        wait_for(f"{attacker} in fail2ban's nftables table",
                 lambda: attacker in host.check_output("nft list table inet f2b-table"), timeout=30)
        assert not can_connect(host_ip, 22)
    finally:
        host.run(f"fail2ban-client set sshd unbanip {attacker}")
    assert can_connect(host_ip, 22)


def test_timezone_is_utc(host):
    assert host.check_output("timedatectl show -p Timezone --value") == "Etc/UTC"
    assert host.check_output("date +%Z") == "UTC"


def test_time_sync_enabled_but_not_run_in_a_container(host):
    """systemd-timesyncd has ConditionVirtualization=!container: UNTESTED running here."""
    assert host.check_output("systemd-detect-virt --container") != "none"
    assert host.service("systemd-timesyncd").is_enabled
    assert host.check_output("systemctl show -p ConditionResult --value systemd-timesyncd") == "no"


def test_unattended_upgrades_security_only(host):
    periodic = host.check_output("apt-config dump APT::Periodic")
    assert 'APT::Periodic::Update-Package-Lists "1";' in periodic
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic
    # What unattended-upgrade itself resolves after reading every apt.conf.d file.
    out = host.check_output("unattended-upgrade --dry-run --debug 2>&1 | grep -m1 'Allowed origins are:'")
    origins = sorted(o.strip() for o in out.split("Allowed origins are:", 1)[1].split(", "))
    assert origins == ["origin=Debian,codename=bookworm,label=Debian-Security",
                       "origin=Debian,codename=bookworm-security,label=Debian-Security"]
    assert host.service("apt-daily-upgrade.timer").is_enabled


def test_swap_file_ready_but_not_activated_in_a_container(host):
    """swapon cannot work in a container: activation is UNTESTED here."""
    swap = host.file("/swapfile")
    assert swap.size == 64 * 1024 * 1024
    assert swap.mode == 0o600
    assert host.check_output("blkid -p -o value -s TYPE /swapfile") == "swap"
    assert "/swapfile none swap sw 0 0" in host.file("/etc/fstab").content_string
    assert "vm.swappiness=10" in host.file("/etc/sysctl.d/60-fleetpulse-swap.conf").content_string.replace(" ", "")
    assert "/swapfile" not in host.file("/proc/swaps").content_string


@pytest.mark.parametrize("package", ["nftables", "fail2ban", "unattended-upgrades", "git", "curl", "jq", "rsync"])
def test_packages_installed(host, package):
    assert host.package(package).is_installed
