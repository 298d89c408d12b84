"""A private container registry (Debian's docker-registry, distribution 2.8) playing ghcr.io.

TLS with a certificate from the world's CA, htpasswd authentication, on
registry.fleetpulse.test:443. Test hosts trust the CA in /etc/docker/certs.d.
"""

from __future__ import annotations

import http.client
import ssl

from world import Service, World, docker, image_ref, register

CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :443
  tls:
    certificate: /world/certs/registry.crt
    key: /world/certs/registry.key
auth:
  htpasswd:
    realm: fleetpulse-test-registry
    path: /world/registry/htpasswd
"""
HOST = "registry.fleetpulse.test"
USER = "fleetpulse-ci"


def prepare(world: World) -> None:
    world.issue_cert("registry", [HOST])
    out = world.service_dir("registry")
    (out / "config.yml").write_text(CONFIG)
    hashed = docker("run", "--rm", image_ref("world"), "htpasswd", "-Bbn", USER, world.secret("registry-password"))
    (out / "htpasswd").write_text(hashed + "\n")


def ready(world: World) -> bool:
    ctx = ssl.create_default_context(cafile=str(world.ca_cert))
    ctx.check_hostname = False  # probed by IP; the chain is still verified against the test CA
    conn = http.client.HTTPSConnection(world.ip("registry"), 443, context=ctx, timeout=3)
    conn.request("GET", "/v2/")
    return conn.getresponse().status == 401  # up, and refusing anonymous access


def info(world: World) -> dict:
    return {
        "host": HOST,
        "url": f"https://{HOST}",
        "username": USER,
        "password": world.secret("registry-password"),
        "ca_cert": str(world.ca_cert),
    }


register(Service(
    name="registry",
    image="world",
    command=["docker-registry", "serve", "/world/registry/config.yml"],
    aliases=[HOST],
    publish=[443],
    doc="container registry with TLS and htpasswd (plays ghcr.io)",
    prepare=prepare, ready=ready, info=info,
))
