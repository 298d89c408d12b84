"""Two FleetPulse front doors for DNS failover tests: failover-primary and failover-standby.

Real HTTPS servers (tests/world/servers/health_site.py) on port 443 of their own address on
the world network, with a certificate from the world CA for fleetpulse.test and
*.fleetpulse.test, like a primary and a standby VPS serving the same domain. Their
/api/v1/health verdict is switched by writing "healthy" (or anything else) into the
state file named in world.json (services.failover-primary.health_file); it is read on
every request. Probed from the controller by IP with the domain as TLS server name.
"""

from __future__ import annotations

import http.client
import shutil
import socket
import ssl
from pathlib import Path

from world import DOMAIN, Service, World, register

SERVER = Path(__file__).resolve().parents[1] / "servers" / "health_site.py"
CERT = "failover-site"


def _health_file(world: World, name: str) -> Path:
    return world.service_dir("failover-sites") / f"{name}.health"


def _prepare(name: str):
    def prepare(world: World) -> None:
        world.issue_cert(CERT, [DOMAIN, f"*.{DOMAIN}"])
        out = world.service_dir("failover-sites")
        shutil.copy(SERVER, out / "health_site.py")
        _health_file(world, name).write_text("healthy\n")

    return prepare


def _ready(name: str):
    def ready(world: World) -> bool:
        context = ssl.create_default_context(cafile=str(world.ca_cert))
        with socket.create_connection((world.ip(name), 443), timeout=3) as sock, \
                context.wrap_socket(sock, server_hostname=DOMAIN) as tls:
            conn = http.client.HTTPConnection(DOMAIN)
            conn.sock = tls
            conn.request("GET", "/api/v1/health")
            return conn.getresponse().status in (200, 503)

    return ready


def _info(name: str):
    def info(world: World) -> dict:
        return {
            "health_url": f"https://{DOMAIN}/api/v1/health",
            "health_file": str(_health_file(world, name)),
            "ca_cert": str(world.ca_cert),
        }

    return info


for _name, _role in (("failover-primary", "primary"), ("failover-standby", "standby")):
    register(Service(
        name=_name,
        image="world",
        command=["python3", "/world/failover-sites/health_site.py", _name, f"/world/certs/{CERT}.crt",
                 f"/world/certs/{CERT}.key", f"/world/failover-sites/{_name}.health"],
        doc=f"HTTPS {DOMAIN} with a switchable /api/v1/health (the {_role} server of DNS failover tests)",
        prepare=_prepare(_name), ready=_ready(_name), info=_info(_name),
    ))
