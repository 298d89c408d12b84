"""DNS failover (plan 3.5) end to end: playbooks/dns-failover.yml against real servers.

RFC 2136 runs against two real BIND9 servers (primary + secondary, the zone's NS set);
Route53 against moto's server mode with IAM authentication on; Cloudflare against the
local test double of its v4 API (tests/world/servers/cloudflare_api.py). The primary and
the standby are real HTTPS servers whose /api/v1/health verdict each test sets.

Records are checked with the real `dig` against each authoritative server, with boto3
against moto, and over HTTP against the Cloudflare double -- never through the code under
test. Every test uses its own record name, so tests do not depend on each other.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
WORLD = [sys.executable, str(REPO / "tests" / "world" / "world.py")]
SERVICES = ["dns", "dns-secondary", "failover-primary", "failover-standby", "route53", "cloudflare"]
PLAYBOOK = REPO / "playbooks" / "dns-failover.yml"
ZONE = "fleetpulse.test"
ENVIRONMENT = "dnstest"
PRIMARY_V6 = "2001:db8::10"
STANDBY_V6 = "2001:db8::20"


# ---------------------------------------------------------------- the world

def _world_json() -> dict:
    ns = os.environ.get("FP_TEST_NS", "fp")
    state = Path(os.environ.get("FP_WORLD_DIR", REPO / ".world" / ns))
    return json.loads((state / "world.json").read_text())


@pytest.fixture(scope="module")
def world() -> dict:
    """Start the DNS services of the test world (idempotent); stop those this module started."""
    status = subprocess.run([*WORLD, "status"], capture_output=True, text=True, check=True).stdout
    ns = os.environ.get("FP_TEST_NS", "fp")
    already = {s for s in SERVICES if re.search(rf"^{re.escape(ns)}-{re.escape(s)}\s+Up", status, re.MULTILINE)}
    subprocess.run([*WORLD, "up", *SERVICES], check=True)
    yield _world_json()
    started = [s for s in SERVICES if s not in already]
    if started:
        subprocess.run([*WORLD, "down", *started], check=True)


@pytest.fixture
def name() -> str:
    """A record name of its own for each test."""
    return f"t{uuid.uuid4().hex[:10]}.{ZONE}"


def _svc(world: dict, service: str) -> dict:
    return world["services"][service]


def set_health(world: dict, service: str, healthy: bool) -> None:
    Path(_svc(world, service)["health_file"]).write_text("healthy\n" if healthy else "unhealthy\n")


@pytest.fixture
def sites(world: dict):
    """Both sites healthy at the start and at the end of each test."""
    for service in ("failover-primary", "failover-standby"):
        set_health(world, service, True)
    yield {"primary": _svc(world, "failover-primary")["ip"], "standby": _svc(world, "failover-standby")["ip"]}
    for service in ("failover-primary", "failover-standby"):
        set_health(world, service, True)


# ---------------------------------------------------------------- DNS, independently of the code under test

def dig(server: str, name: str, rtype: str = "A") -> list[tuple[int, str]]:
    """(ttl, value) answers of an authoritative server, by the real dig."""
    out = subprocess.run(["dig", "+norec", "+noall", "+answer", f"@{server}", name, rtype],
                         capture_output=True, text=True, check=True, timeout=10).stdout
    return sorted((int(f[1]), f[4]) for f in (line.split() for line in out.splitlines()) if f[3] == rtype)


def nameservers(world: dict) -> list[str]:
    return [_svc(world, "dns")["ip"], _svc(world, "dns-secondary")["ip"]]


def wait_everywhere(world: dict, name: str, rtype: str, answer: list[tuple[int, str]]) -> None:
    """Seeding goes through nsupdate; wait (with a deadline) until both nameservers serve it."""
    import time  # noqa: PLC0415

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if all(dig(ns, name, rtype) == answer for ns in nameservers(world)):
            return
        time.sleep(0.2)
    raise AssertionError(f"seeded {name} {rtype} did not reach both nameservers: "
                         f"{[dig(ns, name, rtype) for ns in nameservers(world)]}")


def nsupdate(world: dict, *commands: str) -> None:
    dns_info = _svc(world, "dns")
    script = f"server {dns_info['server']} 53\nzone {ZONE}\n" + "\n".join(commands) + "\nsend\n"
    subprocess.run(["nsupdate", "-k", dns_info["tsig_keyfile"]], input=script, text=True, check=True, timeout=15)


def seed_bind(world: dict, name: str, ipv4: str, ttl: int = 60, ipv6: str | None = None) -> None:
    commands = [f"update add {name}. {ttl} A {ipv4}"]
    if ipv6:
        commands.append(f"update add {name}. {ttl} AAAA {ipv6}")
    nsupdate(world, *commands)
    wait_everywhere(world, name, "A", [(ttl, ipv4)])


# ---------------------------------------------------------------- running the playbook

class Run:
    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.rc = proc.returncode
        self.out = proc.stdout + proc.stderr

    @property
    def changed(self) -> int:
        match = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", self.out)
        assert match, self.out[-3000:]
        return int(match.group(1))

    def ok(self) -> Run:
        assert self.rc == 0, self.out[-6000:]
        return self

    def failed(self) -> Run:
        assert self.rc != 0, self.out[-6000:]
        return self


def playbook(tmp_path: Path, settings: dict, *args: str, confirm: bool = True, **extra_vars) -> Run:
    """ansible-playbook playbooks/dns-failover.yml with settings in the inventory's group_vars/all.

    With ``confirm`` (the default) the run carries dns_failover_confirm naming the environment.
    """
    inventory = tmp_path / f"inventory-{uuid.uuid4().hex[:6]}"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text("all: {}\n")
    (inventory / "group_vars" / "all" / "dns_failover.yml").write_text(json.dumps(settings, indent=2))
    command = ["ansible-playbook", "-i", str(inventory / "hosts.yml"), str(PLAYBOOK), *args]
    if confirm:
        extra_vars = {"dns_failover_confirm": ENVIRONMENT, **extra_vars}
    for key, value in extra_vars.items():
        command += ["-e", json.dumps({key: value})]
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0", "FLEETPULSE_DR_TIMELINE_DIR": str(tmp_path / "timeline")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=300, check=False)
    return Run(proc)


def common_settings(world: dict, sites: dict, name: str) -> dict:
    return {
        "fleetpulse_environment": ENVIRONMENT,
        "dns_failover_zone": ZONE,
        "dns_failover_records": [name],
        "dns_failover_primary_ipv4": sites["primary"],
        "dns_failover_primary_ipv6": PRIMARY_V6,
        "dns_failover_standby_ipv4": sites["standby"],
        "dns_failover_health_url": f"https://{name}/api/v1/health",
        "dns_failover_health_ca_path": world["ca_cert"],
        "dns_failover_health_attempts": 1,
        "dns_failover_health_timeout": 3,
        "dns_failover_verify_interval": 1,
        "dns_failover_verify_timeout": 20,
    }


@pytest.fixture
def rfc2136(world: dict, sites: dict, name: str) -> dict:
    dns_info = _svc(world, "dns")
    return {
        **common_settings(world, sites, name),
        "dns_failover_provider": "rfc2136",
        "dns_failover_rfc2136_server": dns_info["server"],
        "dns_failover_rfc2136_key_name": dns_info["tsig_key_name"],
        "dns_failover_rfc2136_key_secret": dns_info["tsig_secret"],
        # The zone's NS set is looked up through ns1 (the controller's resolver does not know fleetpulse.test).
        "dns_failover_verify_resolvers": [dns_info["server"]],
    }


# ---------------------------------------------------------------- RFC 2136 against real BIND9

def test_prepare_lowers_ttl_on_every_nameserver_and_is_idempotent(world, sites, name, rfc2136, tmp_path):
    seed_bind(world, name, sites["primary"], ttl=3600, ipv6=PRIMARY_V6)

    first = playbook(tmp_path, rfc2136, dns_failover_action="prepare").ok()
    assert first.changed == 1  # one loop task wrote both record sets
    for ns in nameservers(world):
        assert dig(ns, name, "A") == [(60, sites["primary"])]
        assert dig(ns, name, "AAAA") == [(60, PRIMARY_V6)]
    assert "record sets: 2 changed" in first.out
    assert "up to 3600 s" in first.out  # the old TTL clients may still hold

    second = playbook(tmp_path, rfc2136, dns_failover_action="prepare").ok()
    assert second.changed == 0
    assert "record sets: 0 changed, 2 already right" in second.out


def test_switch_when_primary_fails_and_standby_passes(world, sites, name, rfc2136, tmp_path):
    seed_bind(world, name, sites["primary"], ipv6=PRIMARY_V6)
    set_health(world, "failover-primary", False)

    run = playbook(tmp_path, rfc2136, dns_failover_action="switch").ok()
    # Every authoritative server answers the standby; the standby has no IPv6, so AAAA is gone.
    for ns in nameservers(world):
        assert dig(ns, name, "A") == [(60, sites["standby"])]
        assert dig(ns, name, "AAAA") == []
    assert re.search(r"propagation: every authoritative nameserver answers the new data after [\d.]+ s", run.out)
    assert "ns1.fleetpulse.test" in run.out
    assert "ns2.fleetpulse.test" in run.out
    assert "UNHEALTHY (HTTP 503" in run.out
    # The DR timeline records the switch against plan 3.5's 30 min RTO.
    record = json.loads(next((tmp_path / "timeline").glob("*-dns-failover.json")).read_text())
    assert [p["name"] for p in record["phases"]] == [
        "Preflight", "Health checks", "Update DNS records", "Verify DNS propagation", "Restored"]
    assert record["status"] == "restored"
    assert record["objectives"][0]["name"] == "RTO 3.5 DNS Failover"
    assert record["objectives"][0]["met"] is True

    # The name now leads to the standby: HTTPS to the address DNS gives, with the world CA.
    address = dig(nameservers(world)[1], name, "A")[0][1]
    out = subprocess.run(["curl", "-sS", "--cacert", world["ca_cert"], "--resolve", f"{name}:443:{address}",
                          f"https://{name}/"], capture_output=True, text=True, check=True, timeout=10).stdout
    assert out.strip() == "served by failover-standby"

    again = playbook(tmp_path, rfc2136, dns_failover_action="switch").ok()
    assert again.changed == 0


def test_healthy_primary_is_not_switched_without_force(world, sites, name, rfc2136, tmp_path):
    seed_bind(world, name, sites["primary"])

    refused = playbook(tmp_path, rfc2136, dns_failover_action="switch").failed()
    assert f"REFUSED: the primary {sites['primary']} is healthy" in refused.out
    assert "dns_failover_force=true" in refused.out
    for ns in nameservers(world):
        assert dig(ns, name, "A") == [(60, sites["primary"])]

    drill = playbook(tmp_path, rfc2136, dns_failover_action="switch", dns_failover_force=True).ok()
    assert drill.changed >= 1
    for ns in nameservers(world):
        assert dig(ns, name, "A") == [(60, sites["standby"])]


def test_unhealthy_standby_is_refused_even_with_force(world, sites, name, rfc2136, tmp_path):
    seed_bind(world, name, sites["primary"])
    set_health(world, "failover-primary", False)
    set_health(world, "failover-standby", False)

    for force in (False, True):
        run = playbook(tmp_path, rfc2136, dns_failover_action="switch", dns_failover_force=force).failed()
        assert f"REFUSED: the standby {sites['standby']} fails its health check (HTTP 503" in run.out
        assert "Nothing was changed" in run.out
        for ns in nameservers(world):
            assert dig(ns, name, "A") == [(60, sites["primary"])]


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("dns_failover_rfc2136_key_secret", "d3Jvbmcgc2VjcmV0IG9mIDMyIGJ5dGVzIGV4YWN0bHkhIQ==", "(BADSIG)"),
    ("dns_failover_rfc2136_key_name", "no-such-key", "does not know TSIG key 'no-such-key' (BADKEY)"),
])
def test_wrong_tsig_key_fails_clearly_and_changes_nothing(world, sites, name, rfc2136, tmp_path,  # noqa: PLR0917
                                                          field, value, expected):
    seed_bind(world, name, sites["primary"])
    set_health(world, "failover-primary", False)

    run = playbook(tmp_path, {**rfc2136, field: value}, dns_failover_action="switch").failed()
    assert expected in run.out
    assert "nothing was changed" in run.out
    assert "Check the servers' health" not in run.out  # stopped at the first contact, before health checks
    for ns in nameservers(world):
        assert dig(ns, name, "A") == [(60, sites["primary"])]


def test_changes_need_the_confirmation_naming_the_environment(world, sites, name, rfc2136, tmp_path):
    seed_bind(world, name, sites["primary"])
    set_health(world, "failover-primary", False)

    for extra in ({}, {"dns_failover_confirm": "production"}):
        run = playbook(tmp_path, rfc2136, confirm=False, **extra).failed()  # the default action: switch
        assert f"changes the public DNS records of environment '{ENVIRONMENT}'" in run.out
        assert f"-e dns_failover_confirm={ENVIRONMENT}" in run.out
        assert dig(nameservers(world)[0], name, "A") == [(60, sites["primary"])]
    # Reading needs no confirmation.
    assert "health of primary" in playbook(tmp_path, rfc2136, confirm=False, dns_failover_action="status").ok().out


def test_check_mode_shows_the_planned_records_and_changes_nothing(world, sites, name, rfc2136, tmp_path):
    seed_bind(world, name, sites["primary"], ipv6=PRIMARY_V6)
    set_health(world, "failover-primary", False)

    # The playbook's default action is the switch; check mode needs no confirmation.
    run = playbook(tmp_path, rfc2136, "--check", "--diff", confirm=False).ok()
    assert f"-{name}. 60 IN A {sites['primary']}" in run.out
    assert f"+{name}. 60 IN A {sites['standby']}" in run.out
    assert f"-{name}. 60 IN AAAA {PRIMARY_V6}" in run.out
    assert "record sets: 2 would change" in run.out
    for ns in nameservers(world):
        assert dig(ns, name, "A") == [(60, sites["primary"])]
        assert dig(ns, name, "AAAA") == [(60, PRIMARY_V6)]


def test_tsig_secret_never_appears_in_verbose_output(world, sites, name, rfc2136, tmp_path):
    seed_bind(world, name, sites["primary"])
    set_health(world, "failover-primary", False)
    secret = rfc2136["dns_failover_rfc2136_key_secret"]
    wrong = "c2VjcmV0IHRoYXQgbXVzdCBub3QgbGVhayBpbnRvIGxvZ3M="

    ok = playbook(tmp_path, rfc2136, "-vvv", "--diff", dns_failover_action="switch").ok()
    bad = playbook(tmp_path, {**rfc2136, "dns_failover_rfc2136_key_secret": wrong}, "-vvv",
                   dns_failover_action="switch").failed()
    assert dig(nameservers(world)[0], name, "A") == [(60, sites["standby"])]  # the -vvv run did its work
    assert "key_secret" in ok.out  # the parameter is there, masked ...
    assert secret not in ok.out  # ... but never its value
    assert wrong not in bad.out
    assert "(BADSIG)" in bad.out


def test_failback_returns_to_the_primary_with_the_standby_still_healthy(world, sites, name, rfc2136, tmp_path):
    seed_bind(world, name, sites["standby"])

    run = playbook(tmp_path, rfc2136, dns_failover_action="failback").ok()
    for ns in nameservers(world):
        assert dig(ns, name, "A") == [(60, sites["primary"])]
        assert dig(ns, name, "AAAA") == [(60, PRIMARY_V6)]
    assert "target: primary" in run.out

    # A primary that fails its own check is never failed back to.
    set_health(world, "failover-primary", False)
    nsupdate(world, f"update delete {name}. A", f"update add {name}. 60 A {sites['standby']}")
    refused = playbook(tmp_path, rfc2136, dns_failover_action="failback").failed()
    assert f"REFUSED: the primary {sites['primary']} fails its health check" in refused.out
    assert dig(nameservers(world)[0], name, "A") == [(60, sites["standby"])]


def test_point_moves_away_from_a_dead_server_only(world, sites, name, rfc2136, tmp_path):
    """What rebuild-server calls: point the domain at the rebuilt server."""
    settings = {k: v for k, v in rfc2136.items() if "primary" not in k and "standby" not in k}
    seed_bind(world, name, sites["primary"])

    refused = playbook(tmp_path, settings, dns_failover_action="point", dns_failover_point_ipv4=sites["standby"])
    refused.failed()
    assert f"records point at {sites['primary']}, which still answers healthy" in refused.out
    assert dig(nameservers(world)[0], name, "A") == [(60, sites["primary"])]

    set_health(world, "failover-primary", False)
    run = playbook(tmp_path, settings, dns_failover_action="point", dns_failover_point_ipv4=sites["standby"],
                   dns_failover_point_ipv6=STANDBY_V6).ok()
    for ns in nameservers(world):
        assert dig(ns, name, "A") == [(60, sites["standby"])]
        assert dig(ns, name, "AAAA") == [(60, STANDBY_V6)]
    assert run.changed >= 1


def test_propagation_check_names_the_nameserver_that_lags(world, sites, name, rfc2136, tmp_path):
    seed_bind(world, name, sites["primary"])
    set_health(world, "failover-primary", False)
    secondary = _svc(world, "dns-secondary")
    subprocess.run(["docker", "pause", secondary["container"]], check=True)
    try:
        run = playbook(tmp_path, {**rfc2136, "dns_failover_verify_timeout": 4}, dns_failover_action="switch")
    finally:
        subprocess.run(["docker", "unpause", secondary["container"]], check=True)
    run.failed()
    assert f"1 of 2 authoritative nameservers of {ZONE} do not answer {sites['standby']}" in run.out
    assert f"ns2.fleetpulse.test ({secondary['ip']}) answers no answer within" in run.out
    # The primary took the change; the secondary catches up once it runs again.
    assert dig(_svc(world, "dns")["ip"], name, "A") == [(60, sites["standby"])]
    wait_everywhere(world, name, "A", [(60, sites["standby"])])


def test_missing_inputs_fail_before_anything_is_contacted(world, sites, name, rfc2136, tmp_path):
    settings = {k: v for k, v in rfc2136.items() if k != "dns_failover_standby_ipv4"}
    run = playbook(tmp_path, settings, dns_failover_action="switch").failed()
    assert "dns_failover_standby_ipv4 must be an IPv4 address (required for switch)" in run.out
    assert "Read the A and AAAA records" not in run.out

    run = playbook(tmp_path, {**rfc2136, "dns_failover_rfc2136_key_secret": ""}, dns_failover_action="status").failed()
    assert "Provider rfc2136 needs dns_failover_rfc2136_server" in run.out


# ---------------------------------------------------------------- Route53 against moto (server mode, IAM auth on)

def route53_client(world: dict):
    import boto3  # noqa: PLC0415

    info = _svc(world, "route53")
    return boto3.client("route53", endpoint_url=info["controller_endpoint"], region_name="us-east-1",
                        aws_access_key_id=info["access_key"], aws_secret_access_key=info["secret_key"])


def route53_records(world: dict, name: str, rtype: str = "A") -> list[tuple[int, str]]:
    info = _svc(world, "route53")
    sets = route53_client(world).list_resource_record_sets(HostedZoneId=info["hosted_zone_id"], StartRecordName=name,
                                                           StartRecordType=rtype, MaxItems="1")["ResourceRecordSets"]
    return sorted((s["TTL"], r["Value"]) for s in sets if s["Name"] == f"{name}." and s["Type"] == rtype
                  for r in s["ResourceRecords"])


@pytest.fixture
def route53(world: dict, sites: dict, name: str) -> dict:
    info = _svc(world, "route53")
    route53_client(world).change_resource_record_sets(HostedZoneId=info["hosted_zone_id"], ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": "A", "TTL": 300,
                                                   "ResourceRecords": [{"Value": sites["primary"]}]}}]})
    return {
        **common_settings(world, sites, name),
        "dns_failover_provider": "route53",
        "dns_failover_route53_access_key": info["access_key"],
        "dns_failover_route53_secret_key": info["secret_key"],
        "dns_failover_route53_endpoint_url": info["controller_endpoint"],
        # moto serves the API only, no DNS: the record is checked through the API here.
        "dns_failover_verify": False,
    }


def test_route53_switch_is_applied_and_idempotent(world, sites, name, route53, tmp_path):
    set_health(world, "failover-primary", False)
    run = playbook(tmp_path, route53, "--diff", dns_failover_action="switch").ok()
    assert route53_records(world, name) == [(60, sites["standby"])]
    assert f"+{name}. 60 IN A {sites['standby']}" in run.out
    assert playbook(tmp_path, route53, dns_failover_action="switch").ok().changed == 0


def test_route53_wrong_credentials_fail_clearly_and_change_nothing(world, sites, name, route53, tmp_path):
    set_health(world, "failover-primary", False)
    wrong = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGKEY00"
    run = playbook(tmp_path, {**route53, "dns_failover_route53_secret_key": wrong}, "-vvv",
                   dns_failover_action="switch").failed()
    assert "AWS rejected the credentials" in run.out
    assert "SignatureDoesNotMatch" in run.out
    assert wrong not in run.out
    assert route53_records(world, name) == [(300, sites["primary"])]


# ---------------------------------------------------------------- Cloudflare against the local TEST DOUBLE of its API

def cloudflare_api(world: dict, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    import ssl  # noqa: PLC0415

    info = _svc(world, "cloudflare")
    request = urllib.request.Request(  # noqa: S310 - the double's https URL
        info["api_url"] + path, method=method, data=json.dumps(body).encode() if body else None,
        headers={"Authorization": f"Bearer {token or info['api_token']}", "Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=world["ca_cert"])
    with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
        return json.load(response)


def cloudflare_zone(world: dict) -> str:
    zones = cloudflare_api(world, "GET", f"/zones?name={ZONE}")["result"]
    if zones:
        return zones[0]["id"]
    return cloudflare_api(world, "POST", "/zones", {"name": ZONE})["result"]["id"]


def cloudflare_records(world: dict, name: str, rtype: str = "A") -> list[tuple[int, str, bool]]:
    records = cloudflare_api(world, "GET", f"/zones/{cloudflare_zone(world)}/dns_records?type={rtype}&name={name}")
    return sorted((r["ttl"], r["content"], r["proxied"]) for r in records["result"])


@pytest.fixture
def cloudflare(world: dict, sites: dict, name: str) -> dict:
    info = _svc(world, "cloudflare")
    cloudflare_api(world, "POST", f"/zones/{cloudflare_zone(world)}/dns_records",
                   {"type": "A", "name": name, "content": sites["primary"], "ttl": 300, "proxied": False})
    return {
        **common_settings(world, sites, name),
        "dns_failover_provider": "cloudflare",
        "dns_failover_cloudflare_api_token": info["api_token"],
        "dns_failover_cloudflare_api_url": info["api_url"],
        "dns_failover_api_ca_path": world["ca_cert"],
        # The double serves the API only, no DNS: the record is checked through the API here.
        "dns_failover_verify": False,
    }


def test_cloudflare_check_mode_then_switch_then_idempotent(world, sites, name, cloudflare, tmp_path):
    set_health(world, "failover-primary", False)

    check = playbook(tmp_path, cloudflare, "--check", "--diff", dns_failover_action="switch").ok()
    assert f"+{name}. 60 IN A {sites['standby']}  ; proxied=false" in check.out
    assert cloudflare_records(world, name) == [(300, sites["primary"], False)]

    playbook(tmp_path, cloudflare, dns_failover_action="switch").ok()
    assert cloudflare_records(world, name) == [(60, sites["standby"], False)]
    assert playbook(tmp_path, cloudflare, dns_failover_action="switch").ok().changed == 0


def test_cloudflare_wrong_token_fails_clearly_and_changes_nothing(world, sites, name, cloudflare, tmp_path):
    set_health(world, "failover-primary", False)
    wrong = "wrong-token-" + uuid.uuid4().hex
    run = playbook(tmp_path, {**cloudflare, "dns_failover_cloudflare_api_token": wrong}, "-vvv",
                   dns_failover_action="switch").failed()
    assert "Cloudflare rejected the API token (code 10000: Authentication error)" in run.out
    assert wrong not in run.out
    assert cloudflare_records(world, name) == [(300, sites["primary"], False)]


def test_cloudflare_proxied_record_stays_proxied_and_skips_the_dns_check(world, sites, name, cloudflare, tmp_path):
    """Proxied names answer Cloudflare's addresses in DNS, so only unproxied ones are checked there."""
    zone = cloudflare_zone(world)
    record = cloudflare_api(world, "GET", f"/zones/{zone}/dns_records?type=A&name={name}")["result"][0]
    cloudflare_api(world, "PATCH", f"/zones/{zone}/dns_records/{record['id']}", {"proxied": True})
    set_health(world, "failover-primary", False)
    # With the DNS check on and pointed at BIND (which has no such name), only a skipped check can pass.
    settings = {**cloudflare, "dns_failover_verify": True, "dns_failover_verify_timeout": 3,
                "dns_failover_verify_nameservers": [_svc(world, "dns")["ip"]]}
    run = playbook(tmp_path, settings, dns_failover_action="switch").ok()
    assert cloudflare_records(world, name) == [(1, sites["standby"], True)]
    assert "propagation:" not in run.out
    assert f"proxied by Cloudflare (not checked by DNS, its edge answers for them): {name}" in run.out
