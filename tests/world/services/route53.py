"""The Route53 API: moto in server mode, with IAM authentication switched on.

moto_server answers the real Route53 REST API (hosted zones, record sets, changes).
On the first probe the service creates an IAM user allowed ``route53:*`` with an access
key, and a hosted zone fleetpulse.test, then turns on moto's request authentication
(``/moto-api/reset-auth``): from then on a wrong access key or secret gets HTTP 403
InvalidClientTokenId / SignatureDoesNotMatch, as from AWS. Keys and the zone ID are in
world.json (services.route53). HTTP on route53.fleetpulse.test:5000; the controller
uses the container's address. moto has no DNS server: records are checked through the API.
moto runs through tests/world/servers/moto_server_authfix.py, which fixes moto's signature
check of body-less GET requests (otherwise every signed GET is refused once auth is on).
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

from world import DOMAIN, Service, World, register

HOST = "route53.fleetpulse.test"
PORT = 5000
USER = "fleetpulse-dns-failover"
LAUNCHER = Path(__file__).resolve().parents[1] / "servers" / "moto_server_authfix.py"
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "route53:*", "Resource": "*"}]}


def _endpoint(world: World) -> str:
    return f"http://{world.ip('route53')}:{PORT}"


def _credentials_file(world: World):
    return world.service_dir("route53") / "credentials.json"


def prepare(world: World) -> None:
    # A new moto process has none of the old IAM users: forget their keys.
    _credentials_file(world).unlink(missing_ok=True)
    shutil.copy(LAUNCHER, world.service_dir("route53") / "moto_server_authfix.py")


def _bootstrap(world: World) -> dict:
    """IAM user + key and the hosted zone, then authentication on. Safe to repeat after a failure."""
    import boto3  # noqa: PLC0415 - only needed when probing

    anonymous = {"endpoint_url": _endpoint(world), "region_name": "us-east-1",
                 "aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"}
    iam = boto3.client("iam", **anonymous)
    if USER not in {u["UserName"] for u in iam.list_users()["Users"]}:
        iam.create_user(UserName=USER)
    iam.put_user_policy(UserName=USER, PolicyName="route53-all", PolicyDocument=json.dumps(POLICY))
    for old in iam.list_access_keys(UserName=USER)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=USER, AccessKeyId=old["AccessKeyId"])
    key = iam.create_access_key(UserName=USER)["AccessKey"]
    route53 = boto3.client("route53", **anonymous)
    zones = [z for z in route53.list_hosted_zones_by_name(DNSName=DOMAIN)["HostedZones"] if z["Name"] == f"{DOMAIN}."]
    zone_id = (zones[0] if zones else route53.create_hosted_zone(Name=DOMAIN, CallerReference="fleetpulse-world")
               ["HostedZone"])["Id"].rsplit("/", 1)[-1]
    request = urllib.request.Request(f"{_endpoint(world)}/moto-api/reset-auth", data=b"0", method="POST",  # noqa: S310
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - the world's own endpoint
        response.read()
    creds = {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"], "hosted_zone_id": zone_id}
    path = _credentials_file(world)
    path.write_text(json.dumps(creds))
    path.chmod(0o600)
    return creds


def _credentials(world: World) -> dict:
    path = _credentials_file(world)
    return json.loads(path.read_text()) if path.exists() else _bootstrap(world)


def ready(world: World) -> bool:
    import boto3  # noqa: PLC0415

    creds = _credentials(world)
    client = boto3.client("route53", endpoint_url=_endpoint(world), region_name="us-east-1",
                          aws_access_key_id=creds["access_key"], aws_secret_access_key=creds["secret_key"])
    return client.get_hosted_zone(Id=creds["hosted_zone_id"])["HostedZone"]["Name"] == f"{DOMAIN}."


def info(world: World) -> dict:
    creds = _credentials(world)
    return {
        "endpoint": f"http://{HOST}:{PORT}",
        "controller_endpoint": _endpoint(world),
        "region": "us-east-1",
        "zone": DOMAIN,
        **creds,
    }


register(Service(
    name="route53",
    image="world",
    command=["/opt/world/bin/python", "/world/route53/moto_server_authfix.py", "-H", "0.0.0.0", "-p", str(PORT)],  # noqa: S104
    aliases=[HOST],
    doc="Route53 API (moto server mode, IAM authentication on)",
    prepare=prepare, ready=ready, info=info,
))
