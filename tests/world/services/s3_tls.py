"""The offsite S3 store over HTTPS: SeaweedFS with a certificate from the world's CA.

pgBackRest speaks only HTTPS to S3 (as AWS S3 and every production store do), so
point-in-time recovery (WAL archive and base backups) uses this store rather than the
plain-HTTP ``s3`` service. Access-key authentication as in ``s3``, its own keys, bucket
``fleetpulse-pitr`` created at start. HTTPS on s3-tls.fleetpulse.test:8443; clients trust
the world CA (.world/<ns>/ca/ca.crt).

Tests simulate an unreachable store with ``docker pause`` / ``docker unpause`` of the
container (connections hang, like a black-holed network) or ``docker network disconnect``.
"""

from __future__ import annotations

import json

from world import Service, World, register

HOST = "s3-tls.fleetpulse.test"
PORT = 8443
ACCESS_KEY = "fleetpulse-pitr"
BUCKET = "fleetpulse-pitr"


def _secret(world: World) -> str:
    return world.secret("s3-tls-secret-key", 40)


def prepare(world: World) -> None:
    world.issue_cert("s3-tls", [HOST])
    identities = {"identities": [{
        "name": "pitr",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": _secret(world)}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}
    path = world.service_dir("s3-tls") / "identities.json"
    path.write_text(json.dumps(identities, indent=2))
    path.chmod(0o644)


def _client(world: World):
    import boto3  # noqa: PLC0415 - only needed when probing
    from botocore.config import Config  # noqa: PLC0415

    # Probed by IP from the controller, and the certificate names s3-tls.fleetpulse.test only:
    # this readiness probe does not verify it (pgBackRest, the real client, does).
    return boto3.client("s3", endpoint_url=f"https://{world.ip('s3-tls')}:{PORT}", region_name="us-east-1",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=_secret(world), verify=False,
                        config=Config(s3={"addressing_style": "path"}, connect_timeout=3, read_timeout=10,
                                      retries={"max_attempts": 1}))


def ready(world: World) -> bool:
    import urllib3  # noqa: PLC0415

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    client = _client(world)
    names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if BUCKET not in names:
        client.create_bucket(Bucket=BUCKET)
    return True


def info(world: World) -> dict:
    return {
        "host": HOST,
        "port": PORT,
        "endpoint": f"https://{HOST}:{PORT}",
        "controller_endpoint": f"https://{world.ip('s3-tls')}:{PORT}",
        "region": "us-east-1",
        "bucket": BUCKET,
        "access_key": ACCESS_KEY,
        "secret_key": _secret(world),
        "ca_cert": str(world.ca_cert),
    }


register(Service(
    name="s3-tls",
    image="world",
    command=["weed", "server", "-dir=/data", "-ip.bind=0.0.0.0", "-master.volumeSizeLimitMB=256",
             "-volume.max=0", "-s3", f"-s3.port={PORT}", "-s3.config=/world/s3-tls/identities.json",
             "-s3.cert.file=/world/certs/s3-tls.crt", "-s3.key.file=/world/certs/s3-tls.key"],
    aliases=[HOST],
    doc="offsite S3 over HTTPS (SeaweedFS, world CA, access-key auth) for pgBackRest",
    prepare=prepare, ready=ready, info=info,
))
