"""An ACME certificate authority for the test world: Debian's Pebble (Let's Encrypt's test CA).

Plays Let's Encrypt for the ``ssl`` role: ACME directory at
https://acme.fleetpulse.test:14000/dir, management API at :15000 (``/roots/0`` is the root
of the chain it signs with; Pebble makes a new root at every start).

Validation is real: PEBBLE_VA_ALWAYS_VALID is NOT set, so an HTTP-01 challenge passes only
when Pebble fetches the token from port 80 of the address the domain resolves to. Pebble
resolves names through the world's BIND (``-dnsserver`` = the ``dns`` service), i.e. the
same authoritative server the dns_failover role updates, so a certificate can only be
issued once DNS points at the server that answers the challenge. Start ``dns`` first.

Set for deterministic tests (none of them skips validation):
- PEBBLE_VA_NOSLEEP=1: validate at once instead of after a random 0-15 s pause;
- PEBBLE_AUTHZREUSE=0: never reuse a valid authorisation from an earlier order, so every
  order is validated again (a renewal on a rebuilt server must prove HTTP-01 on that server);
- PEBBLE_WFE_NONCEREJECT=0: do not reject 5 % of good nonces (clients retry them, but a
  retry path that depends on chance makes a flaky test).

The root it signs with is saved to .world/<ns>/acme/issued-roots.pem (world.json
services.acme.issued_roots) whenever world.py starts or finds the service.
Pebble logs ``Issued certificate serial <hex> for order <id>`` for every certificate; tests
count those lines (``docker logs <ns>-acme``) to prove that a rebuild placed no new order.
Its listener certificate is signed by the world CA (World.issue_cert): clients pass that CA
as their bundle, as a server would for a private ACME CA.
"""

from __future__ import annotations

import json
import ssl
import urllib.request

from world import DOMAIN, Service, World, register

HOST = f"acme.{DOMAIN}"
ACME_PORT = 14000
MANAGEMENT_PORT = 15000

START = """\
#!/bin/sh
# Resolve the world's authoritative DNS server, then run Pebble with it as resolver.
set -eu
dns=$(getent hosts ns1.%(domain)s | awk '{print $1}')
[ -n "$dns" ] || { echo "ns1.%(domain)s not found: start the dns world service before acme" >&2; exit 1; }
exec pebble -config /world/acme/pebble-config.json -dnsserver "$dns:53" -strict=false
"""


def prepare(world: World) -> None:
    world.issue_cert("acme", [HOST])
    out = world.service_dir("acme")
    config = {"pebble": {
        "listenAddress": f"0.0.0.0:{ACME_PORT}",
        "managementListenAddress": f"0.0.0.0:{MANAGEMENT_PORT}",
        "certificate": "/world/certs/acme.crt",
        "privateKey": "/world/certs/acme.key",
        # Where validation connects: the real ports a web server answers on.
        "httpPort": 80,
        "tlsPort": 443,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
    }}
    (out / "pebble-config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "pebble-config.json").chmod(0o644)
    (out / "start.sh").write_text(START % {"domain": DOMAIN})
    (out / "start.sh").chmod(0o755)


def _get(world: World, port: int, path: str) -> bytes:
    ctx = ssl.create_default_context(cafile=str(world.ca_cert))
    ctx.check_hostname = False  # probed by IP; the chain is still verified against the world CA
    with urllib.request.urlopen(f"https://{world.ip('acme')}:{port}{path}", context=ctx, timeout=3) as resp:
        return resp.read()


def ready(world: World) -> bool:
    directory = json.loads(_get(world, ACME_PORT, "/dir"))
    root = _get(world, MANAGEMENT_PORT, "/roots/0")
    if "newOrder" not in directory or b"BEGIN CERTIFICATE" not in root:
        return False
    # The root of the chains this Pebble run signs (new at every start), for clients that
    # verify the certificates it issued: world.json services.acme.issued_roots.
    (world.service_dir("acme") / "issued-roots.pem").write_bytes(root)
    return True


def info(world: World) -> dict:
    return {
        "host": HOST,
        "directory": f"https://{HOST}:{ACME_PORT}/dir",
        "management": f"https://{HOST}:{MANAGEMENT_PORT}",
        "controller_directory": f"https://{world.ip('acme')}:{ACME_PORT}/dir",
        "controller_management": f"https://{world.ip('acme')}:{MANAGEMENT_PORT}",
        # The CA of Pebble's own listeners (not of the certificates it issues: /roots/0).
        "ca_cert": str(world.ca_cert),
        # The root of the certificates it issues (fetched from /roots/0 when the service was started or found running).
        "issued_roots": str(world.service_dir("acme") / "issued-roots.pem"),
    }


register(Service(
    name="acme",
    image="world",
    command=["/world/acme/start.sh"],
    aliases=[HOST],
    env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": "0", "PEBBLE_WFE_NONCEREJECT": "0"},
    doc="ACME CA (Pebble, real HTTP-01 validation, resolves through the dns service)",
    prepare=prepare, ready=ready, info=info,
))
