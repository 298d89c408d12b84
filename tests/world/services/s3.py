"""The offsite S3 store: a real SeaweedFS server with access-key authentication.

Plays AWS S3 (plan 2.4) for backups, mirrors and configuration archives; the
MinIO API the app uses is S3 too. HTTP on s3.fleetpulse.test:8333.
"""

from __future__ import annotations

import json

from world import Service, World, register

HOST = "s3.fleetpulse.test"
PORT = 8333
ACCESS_KEY = "fleetpulse-offsite"


def prepare(world: World) -> None:
    identities = {"identities": [{
        "name": "offsite",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": world.secret("s3-secret-key", 40)}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}
    path = world.service_dir("s3") / "identities.json"
    path.write_text(json.dumps(identities, indent=2))
    path.chmod(0o644)


def ready(world: World) -> bool:
    import boto3  # noqa: PLC0415 - only needed when probing

    client = boto3.client("s3", endpoint_url=f"http://{world.ip('s3')}:{PORT}", region_name="us-east-1",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=world.secret("s3-secret-key", 40))
    client.list_buckets()
    return True


def info(world: World) -> dict:
    return {
        "endpoint": f"http://{HOST}:{PORT}",
        "controller_endpoint": f"http://{world.ip('s3')}:{PORT}",
        "region": "us-east-1",
        "access_key": ACCESS_KEY,
        "secret_key": world.secret("s3-secret-key", 40),
    }


register(Service(
    name="s3",
    image="world",
    command=["weed", "server", "-dir=/data", "-ip.bind=0.0.0.0", "-master.volumeSizeLimitMB=256",
             "-volume.max=0", "-s3", f"-s3.port={PORT}", "-s3.config=/world/s3/identities.json"],
    aliases=[HOST],
    doc="offsite S3 (SeaweedFS, access-key auth)",
    prepare=prepare, ready=ready, info=info,
))
