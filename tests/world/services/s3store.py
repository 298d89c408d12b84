"""A second real S3 server playing the app's object store (MinIO in the plan).

SeaweedFS again, with its own data and its own access key, on store.fleetpulse.test:9000
(MinIO's port). Tests of the object mirror need two independent S3 servers: this one
as the source (and restore target), the world's `s3` service as the offsite store.
Molecule scenarios that run the real FleetPulse replica use its `minio` service
instead; this one serves module-level tests that run on the controller.
"""

from __future__ import annotations

import json

from world import Service, World, register

HOST = "store.fleetpulse.test"
PORT = 9000
ACCESS_KEY = "fleetpulse-minio"


def prepare(world: World) -> None:
    identities = {"identities": [{
        "name": "minio-root",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": world.secret("s3store-secret-key", 40)}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}
    path = world.service_dir("s3store") / "identities.json"
    path.write_text(json.dumps(identities, indent=2))
    path.chmod(0o644)


def ready(world: World) -> bool:
    import boto3  # noqa: PLC0415 - only needed when probing

    client = boto3.client("s3", endpoint_url=f"http://{world.ip('s3store')}:{PORT}", region_name="us-east-1",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=world.secret("s3store-secret-key", 40))
    client.list_buckets()
    return True


def info(world: World) -> dict:
    return {
        "endpoint": f"http://{HOST}:{PORT}",
        "controller_endpoint": f"http://{world.ip('s3store')}:{PORT}",
        "region": "us-east-1",
        "access_key": ACCESS_KEY,
        "secret_key": world.secret("s3store-secret-key", 40),
    }


register(Service(
    name="s3store",
    image="world",
    command=["weed", "server", "-dir=/data", "-ip.bind=0.0.0.0", "-master.volumeSizeLimitMB=256",
             "-volume.max=0", "-s3", f"-s3.port={PORT}", "-s3.config=/world/s3store/identities.json"],
    aliases=[HOST],
    doc="the app's object store for module tests (SeaweedFS on :9000, plays MinIO)",
    prepare=prepare, ready=ready, info=info,
))
