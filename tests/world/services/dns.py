"""Authoritative DNS for the test zone fleetpulse.test: two real BIND9 servers.

``dns`` is the primary (ns1.fleetpulse.test). It accepts RFC 2136 dynamic updates
signed with the world's TSIG key and sends NOTIFY to the zone's other nameservers.
``dns-secondary`` (ns2.fleetpulse.test) is an optional second authoritative server:
on start it registers itself in the zone (NS + A record, by a TSIG-signed update)
and transfers the zone from the primary (AXFR/IXFR, TSIG-signed), the way a
hosted secondary DNS follows a hidden primary.

The zone's NS records point at these containers' own addresses, so a client that
resolves the zone's NS set through ns1 and queries every nameserver directly (what
the dns_failover role does to verify propagation) talks to these real servers.
Both listen on port 53 of their address on the world network; the controller reaches
them by IP (world.json: services.dns.ip, services.dns-secondary.ip).
"""

from __future__ import annotations

import base64

from world import DOMAIN, Service, World, register

NS1 = f"ns1.{DOMAIN}"
NS2 = f"ns2.{DOMAIN}"
KEY_NAME = "fleetpulse-dns-update"
KEY_ALGORITHM = "hmac-sha256"

PRIMARY_CONF = """\
include "/world/dns/tsig.key";
options {
  directory "/var/cache/bind";
  pid-file none;
  listen-on port 53 { any; };
  listen-on-v6 { none; };
  recursion no;
  allow-query { any; };
  allow-transfer { key "%(key)s"; };
  dnssec-validation no;
  notify yes;
  // Send NOTIFY at once (default 5 s) so tests measure transfer, not an idle timer.
  notify-delay 0;
};
zone "%(zone)s" {
  type primary;
  file "/var/lib/bind/%(zone)s.zone";
  update-policy { grant "%(key)s" zonesub ANY; };
};
"""

SECONDARY_CONF = """\
include "/world/dns/tsig.key";
options {
  directory "/var/cache/bind";
  pid-file none;
  listen-on port 53 { any; };
  listen-on-v6 { none; };
  recursion no;
  allow-query { any; };
  dnssec-validation no;
  notify no;
};
zone "%(zone)s" {
  type secondary;
  file "/var/cache/bind/%(zone)s.secondary";
  primaries { @PRIMARY_IP@ key "%(key)s"; };
};
"""

# SOA: refresh 30 s and retry 10 s so a secondary that missed a NOTIFY still catches up.
ZONE = """\
$TTL 3600
@    IN SOA %(ns1)s. hostmaster.%(zone)s. ( 1 30 10 604800 60 )
@    IN NS  %(ns1)s.
ns1  IN A   @NS1_IP@
"""

START_PRIMARY = """\
#!/bin/sh
# Write the zone with this container's own address as ns1, then run named in the foreground.
set -eu
ip=$(hostname -i | awk '{print $1}')
sed "s/@NS1_IP@/$ip/" /world/dns/zone.in > "/var/lib/bind/%(zone)s.zone"
chown bind:bind /var/lib/bind "/var/lib/bind/%(zone)s.zone"
exec named -g -u bind -c /world/dns/primary.conf
"""

START_SECONDARY = """\
#!/bin/sh
# Find the primary, register this server in the zone (ns2 A + NS), then serve it as secondary.
set -eu
ip=$(hostname -i | awk '{print $1}')
primary=$(getent hosts %(ns1)s | awk '{print $1}')
[ -n "$primary" ] || { echo "primary %(ns1)s not found: start the dns service first" >&2; exit 1; }
sed "s/@PRIMARY_IP@/$primary/" /world/dns/secondary.conf.in > /etc/bind/secondary.conf
nsupdate -k /world/dns/tsig.key <<EOF
server $primary 53
zone %(zone)s
update delete %(ns2)s. A
update add %(ns2)s. 3600 A $ip
update add %(zone)s. 3600 NS %(ns2)s.
send
EOF
chown bind:bind /var/cache/bind
exec named -g -u bind -c /etc/bind/secondary.conf
"""


def _subst() -> dict[str, str]:
    return {"zone": DOMAIN, "key": KEY_NAME, "ns1": NS1, "ns2": NS2}


def tsig_secret(world: World) -> str:
    """The TSIG secret (base64 of 32 random bytes), created once per world."""
    return base64.b64encode(bytes.fromhex(world.secret("dns-tsig", 64))).decode()


def prepare(world: World) -> None:
    out = world.service_dir("dns")
    key = out / "tsig.key"
    key.write_text(f'key "{KEY_NAME}" {{\n  algorithm {KEY_ALGORITHM};\n  secret "{tsig_secret(world)}";\n}};\n')
    key.chmod(0o644)  # read by named running as user bind in the container; test-only key
    for name, text, mode in (("primary.conf", PRIMARY_CONF, 0o644), ("zone.in", ZONE, 0o644),
                             ("start-primary.sh", START_PRIMARY, 0o755)):
        (out / name).write_text(text % _subst())
        (out / name).chmod(mode)


def prepare_secondary(world: World) -> None:
    prepare(world)  # same key file; harmless when the primary wrote it already
    out = world.service_dir("dns")
    for name, text, mode in (("secondary.conf.in", SECONDARY_CONF, 0o644),
                             ("start-secondary.sh", START_SECONDARY, 0o755)):
        (out / name).write_text(text % _subst())
        (out / name).chmod(mode)


def _query(address: str, name: str, rdtype: str):
    import dns.message  # noqa: PLC0415 - dnspython is a test requirement, only needed when probing
    import dns.query  # noqa: PLC0415

    return dns.query.udp(dns.message.make_query(name, rdtype), address, timeout=2)


def _serial(address: str) -> int | None:
    answer = _query(address, DOMAIN, "SOA").answer
    return answer[0][0].serial if answer else None


def ready(world: World) -> bool:
    response = _query(world.ip("dns"), NS1, "A")
    return bool(response.answer) and response.answer[0][0].address == world.ip("dns")


def ready_secondary(world: World) -> bool:
    primary, secondary = world.ip("dns"), world.ip("dns-secondary")
    ns_set = {rr.target.to_text() for rr in _query(primary, DOMAIN, "NS").answer[0]}
    return f"{NS2}." in ns_set and _serial(secondary) == _serial(primary)


def info(world: World) -> dict:
    return {
        "zone": DOMAIN,
        "nameserver": NS1,
        "server": world.ip("dns"),
        "port": 53,
        "tsig_key_name": KEY_NAME,
        "tsig_algorithm": KEY_ALGORITHM,
        "tsig_secret": tsig_secret(world),
        "tsig_keyfile": str(world.state / "dns" / "tsig.key"),
    }


def info_secondary(world: World) -> dict:
    return {"zone": DOMAIN, "nameserver": NS2, "primary": world.ip("dns")}


register(Service(
    name="dns",
    image="world",
    command=["/world/dns/start-primary.sh"],
    aliases=[NS1],
    doc=f"authoritative DNS for {DOMAIN} (BIND9 primary, TSIG dynamic updates)",
    prepare=prepare, ready=ready, info=info,
))

register(Service(
    name="dns-secondary",
    image="world",
    command=["/world/dns/start-secondary.sh"],
    aliases=[NS2],
    doc=f"second authoritative DNS for {DOMAIN} (BIND9 secondary of dns; start dns first)",
    prepare=prepare_secondary, ready=ready_secondary, info=info_secondary,
))
