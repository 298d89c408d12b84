"""TEST DOUBLE: a local server speaking the subset of the Cloudflare v4 API that fleetpulse.dr uses.

Cloudflare itself cannot run here, so this is the one test double of the world (the
README lists it); everything else is a real server. The API subset, its token checks and
error codes are described in tests/world/servers/cloudflare_api.py. HTTPS with a world-CA
certificate for api.cloudflare.fleetpulse.test and 127.0.0.1; the controller uses the port
published on 127.0.0.1 (world.json: services.cloudflare.api_url). Tokens: ``api_token``
may edit, ``read_token`` may only read.
"""

from __future__ import annotations

import json
import shutil
import ssl
import urllib.request
from pathlib import Path

from world import Service, World, host_port, register

HOST = "api.cloudflare.fleetpulse.test"
SERVER = Path(__file__).resolve().parents[1] / "servers" / "cloudflare_api.py"


def prepare(world: World) -> None:
    world.issue_cert("cloudflare", [HOST], ips=["127.0.0.1"])
    out = world.service_dir("cloudflare")
    shutil.copy(SERVER, out / "cloudflare_api.py")
    config = out / "config.json"
    config.write_text(json.dumps({"tokens": {world.secret("cloudflare-token", 40): "edit",
                                             world.secret("cloudflare-read-token", 40): "read"}}))
    config.chmod(0o644)  # read inside the container; test-only tokens


def api_url(world: World) -> str:
    return f"https://127.0.0.1:{host_port(world.container('cloudflare'), 443)}/client/v4"


def ready(world: World) -> bool:
    request = urllib.request.Request(api_url(world) + "/zones",  # noqa: S310 - https only
                                     headers={"Authorization": f"Bearer {world.secret('cloudflare-token', 40)}"})
    context = ssl.create_default_context(cafile=str(world.ca_cert))
    with urllib.request.urlopen(request, timeout=3, context=context) as response:  # noqa: S310 - https only
        return json.load(response)["success"] is True


def info(world: World) -> dict:
    return {
        "test_double": True,
        "api_url": api_url(world),
        "api_url_in_world": f"https://{HOST}/client/v4",
        "api_token": world.secret("cloudflare-token", 40),
        "read_token": world.secret("cloudflare-read-token", 40),
        "ca_cert": str(world.ca_cert),
    }


register(Service(
    name="cloudflare",
    image="world",
    command=["python3", "/world/cloudflare/cloudflare_api.py", "/world/cloudflare/config.json",
             "/world/certs/cloudflare.crt", "/world/certs/cloudflare.key"],
    aliases=[HOST],
    publish=[443],
    doc="TEST DOUBLE of the Cloudflare v4 API subset used by dns_failover (token auth, HTTPS)",
    prepare=prepare, ready=ready, info=info,
))
