# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 plumbing shared by the object mirror and the offsite archive: clients, listings,
streaming reads into bounded spools, verified uploads, error messages that name the fix.

Works with any S3 API (AWS S3, MinIO, SeaweedFS, Garage, Ceph RGW). Nothing here imports
Ansible, so the same file runs inside a module and in the scheduled command on the server
(roles/object_mirror/files/fleetpulse-object-mirror). boto3 is optional at import time:
callers check ``HAS_BOTO3``.

Memory stays bounded whatever the object size: bodies are read in chunks of ``CHUNK``
bytes into a ``SpooledTemporaryFile`` that moves to disk above ``SPOOL_MEMORY`` bytes, and
uploads above ``MULTIPART_THRESHOLD`` go in parts of ``MULTIPART_CHUNK`` bytes.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

# boto3 is optional on managed hosts; HAS_BOTO3 and BOTO3_IMPORT_ERROR are re-exported for the modules.
from ansible_collections.fleetpulse.dr.plugins.module_utils.s3deps import (  # noqa: F401  pylint: disable=unused-import
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    BotoCoreError,
    ClientError,
    Config,
    TransferConfig,
    boto3,
)

CHUNK = 1024 * 1024
SPOOL_MEMORY = 2 * 1024 * 1024
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024
NOT_FOUND = ("404", "NoSuchKey", "NotFound")
# datetime.UTC needs Python 3.11; Ubuntu 22.04 servers run 3.10.
UTC = timezone.utc  # noqa: UP017


class ObjectStoreError(Exception):
    """An S3 request failed; the message names the store, the cause and the fix.

    ``missing`` is true when the failure is only that the object does not exist (any more).
    """

    def __init__(self, message: str, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class Endpoint:
    """Where an S3 API answers and how to sign in. ``name`` says which store this is in messages."""

    name: str
    endpoint_url: str | None = None
    region: str | None = "us-east-1"
    access_key: str | None = None
    secret_key: str | None = None
    validate_certs: bool = True
    ca_bundle: str | None = None

    def describe(self) -> str:
        return f"{self.name} store ({self.endpoint_url or 'AWS S3'})"

    def client(self, workers: int = 8):
        """A thread-safe boto3 client sized for ``workers`` concurrent transfers."""
        config = Config(
            # Transient errors are retried with backoff; a store that is down is reported within ~20 s.
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=120,
            max_pool_connections=max(10, workers * 2),
            s3={"addressing_style": "path"} if self.endpoint_url else {},
        )
        kwargs = {
            "endpoint_url": self.endpoint_url or None,
            "region_name": self.region or None,
            "aws_access_key_id": self.access_key or None,
            "aws_secret_access_key": self.secret_key or None,
            "config": config,
        }
        if not self.validate_certs:
            kwargs["verify"] = False
        elif self.ca_bundle:
            kwargs["verify"] = self.ca_bundle
        return boto3.client("s3", **{k: v for k, v in kwargs.items() if v is not None})


@dataclass
class Listed:
    """One object as a listing shows it."""

    key: str
    size: int
    etag: str
    last_modified: str  # ISO 8601, UTC


def utc_iso(value: datetime | None = None) -> str:
    value = value or datetime.now(UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def clean_etag(etag: str | None) -> str:
    return (etag or "").strip('"')


def error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def explain(exc: Exception, endpoint: Endpoint, bucket: str, key: str = "", action: str = "access") -> str:
    """A message naming the store, what failed, why, and what to check."""
    where = f"s3://{bucket}/{key}" if key else f"bucket {bucket!r}"
    store = endpoint.describe()
    code = error_code(exc)
    if isinstance(exc, ClientError):
        if code in NOT_FOUND:
            return f"cannot {action} {where} on the {store}: it does not exist"
        if code == "NoSuchBucket":
            return (f"cannot {action} {where} on the {store}: the bucket does not exist; check the bucket name "
                    f"(or create it)")
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"):
            return (f"cannot {action} {where} on the {store}: access denied ({code}); check the access key, "
                    f"the secret key and the bucket policy")
        return f"cannot {action} {where} on the {store}: {code or exc}"
    return (f"cannot {action} {where}: the {store} is unreachable ({exc}); check the endpoint URL, that the "
            f"service runs, and the network")


def list_objects(client, endpoint: Endpoint, bucket: str, prefix: str = "") -> dict[str, Listed]:
    """Every object under ``prefix``; any error (unreachable, denied, no bucket) raises ObjectStoreError."""
    found: dict[str, Listed] = {}
    kwargs = {"Bucket": bucket}
    if prefix:
        kwargs["Prefix"] = prefix
    try:
        for page in client.get_paginator("list_objects_v2").paginate(**kwargs):
            for item in page.get("Contents", []) or []:
                found[item["Key"]] = Listed(
                    key=item["Key"], size=int(item["Size"]), etag=clean_etag(item.get("ETag")),
                    last_modified=utc_iso(item["LastModified"]))
    except (ClientError, BotoCoreError) as exc:
        raise ObjectStoreError(explain(exc, endpoint, bucket, prefix, "list")) from None
    return found


def bucket_exists(client, endpoint: Endpoint, bucket: str) -> bool:
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise ObjectStoreError(explain(exc, endpoint, bucket, action="open")) from None
    except BotoCoreError as exc:
        raise ObjectStoreError(explain(exc, endpoint, bucket, action="open")) from None
    return True


def create_bucket(client, endpoint: Endpoint, bucket: str) -> None:
    kwargs: dict = {"Bucket": bucket}
    if endpoint.region and endpoint.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": endpoint.region}
    try:
        client.create_bucket(**kwargs)
    except ClientError as exc:
        if error_code(exc) in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            return
        raise ObjectStoreError(explain(exc, endpoint, bucket, action="create")) from None
    except BotoCoreError as exc:
        raise ObjectStoreError(explain(exc, endpoint, bucket, action="create")) from None


class Spool:
    """An object's bytes read once into a bounded spool, with their SHA-256 and MD5.

    Memory holds at most SPOOL_MEMORY bytes per spool; larger bodies go to a temporary
    file in ``tmp_dir``. Close it (or use it as a context manager) to free the space.
    """

    def __init__(self, tmp_dir: str | None = None) -> None:
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, dir=tmp_dir)  # noqa: SIM115
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5()  # noqa: S324 - Content-MD5 for the S3 upload, not for security
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.md5.update(chunk)
        self.file.write(chunk)
        self.size += len(chunk)

    def rewind(self):
        self.file.seek(0)
        return self.file

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Fetched:
    """What a GET returned besides the bytes."""

    size: int
    etag: str
    last_modified: str
    content_type: str
    metadata: dict


def fetch(client, endpoint: Endpoint, bucket: str, key: str, spool: Spool) -> Fetched:
    """Read ``key`` into ``spool``, chunk by chunk; raise ObjectStoreError on any failure or a short read."""
    try:
        resp = client.get_object(Bucket=bucket, Key=key)
        body = resp["Body"]
        try:
            for chunk in body.iter_chunks(CHUNK):
                spool.feed(chunk)
        finally:
            body.close()
    except ClientError as exc:
        missing = error_code(exc) in NOT_FOUND
        raise ObjectStoreError(explain(exc, endpoint, bucket, key, "read"), missing=missing) from None
    except BotoCoreError as exc:
        raise ObjectStoreError(explain(exc, endpoint, bucket, key, "read")) from None
    expected = int(resp.get("ContentLength", spool.size))
    if spool.size != expected:
        raise ObjectStoreError(f"short read of s3://{bucket}/{key} from the {endpoint.describe()}: "
                               f"{spool.size} of {expected} bytes; the transfer was cut, run again")
    return Fetched(size=spool.size, etag=clean_etag(resp.get("ETag")),
                   last_modified=utc_iso(resp["LastModified"]) if resp.get("LastModified") else utc_iso(),
                   content_type=resp.get("ContentType") or "", metadata=dict(resp.get("Metadata") or {}))


def hash_object(client, endpoint: Endpoint, bucket: str, key: str) -> tuple[str, int]:
    """SHA-256 and size of an object, streamed (nothing kept)."""
    digest = hashlib.sha256()
    size = 0
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            for chunk in body.iter_chunks(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        finally:
            body.close()
    except ClientError as exc:
        missing = error_code(exc) in NOT_FOUND
        raise ObjectStoreError(explain(exc, endpoint, bucket, key, "read"), missing=missing) from None
    except BotoCoreError as exc:
        raise ObjectStoreError(explain(exc, endpoint, bucket, key, "read")) from None
    return digest.hexdigest(), size


def upload(client, endpoint: Endpoint, bucket: str, key: str, spool: Spool, *, content_type: str = "",
           metadata: dict | None = None, storage_class: str = "") -> None:
    """Upload a spool; the store checks Content-MD5 on single PUTs, the size is checked after every upload."""
    extra: dict = {"Metadata": dict(metadata or {})}
    if content_type:
        extra["ContentType"] = content_type
    if storage_class and storage_class != "STANDARD":
        extra["StorageClass"] = storage_class
    try:
        if spool.size < MULTIPART_THRESHOLD:
            client.put_object(Bucket=bucket, Key=key, Body=spool.rewind(),
                              ContentMD5=base64.b64encode(spool.md5.digest()).decode(), ContentLength=spool.size,
                              **extra)
        else:
            client.upload_fileobj(spool.rewind(), bucket, key, ExtraArgs=extra, Config=TransferConfig(
                multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK, max_concurrency=1,
                use_threads=False))
        head = client.head_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        raise ObjectStoreError(explain(exc, endpoint, bucket, key, "write")) from None
    if int(head["ContentLength"]) != spool.size:
        raise ObjectStoreError(f"s3://{bucket}/{key} on the {endpoint.describe()} has {head['ContentLength']} bytes "
                               f"after upload, {spool.size} were sent; run again")


def put_small(client, endpoint: Endpoint, bucket: str, key: str, data: bytes, *, content_type: str,
              metadata: dict | None = None) -> None:
    """Write a small object (a manifest) from memory, with Content-MD5."""
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324 - integrity, not security
    try:
        client.put_object(Bucket=bucket, Key=key, Body=data, ContentMD5=md5, ContentType=content_type,
                          Metadata=dict(metadata or {}))
    except (ClientError, BotoCoreError) as exc:
        raise ObjectStoreError(explain(exc, endpoint, bucket, key, "write")) from None


def get_small(client, endpoint: Endpoint, bucket: str, key: str, limit: int = 512 * 1024 * 1024) -> tuple[bytes, dict]:
    """A small object (a manifest) and its user metadata; refuses anything above ``limit`` bytes."""
    try:
        resp = client.get_object(Bucket=bucket, Key=key)
        if int(resp.get("ContentLength", 0)) > limit:
            resp["Body"].close()
            raise ObjectStoreError(f"s3://{bucket}/{key} is larger than {limit} bytes; it is not a manifest")
        data = resp["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise ObjectStoreError(explain(exc, endpoint, bucket, key, "read")) from None
    return data, dict(resp.get("Metadata") or {})


def delete_keys(client, endpoint: Endpoint, bucket: str, keys: list[str]) -> int:
    """Delete ``keys`` in batches of 1000; returns how many were deleted; errors raise ObjectStoreError."""
    deleted = 0
    for start in range(0, len(keys), 1000):
        batch = keys[start:start + 1000]
        try:
            resp = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch],
                                                                "Quiet": True})
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError(explain(exc, endpoint, bucket, batch[0], "delete")) from None
        errors = resp.get("Errors") or []
        if errors:
            first = errors[0]
            raise ObjectStoreError(f"cannot delete s3://{bucket}/{first.get('Key')} on the {endpoint.describe()}: "
                                   f"{first.get('Code')} {first.get('Message', '')}".strip())
        deleted += len(batch)
    return deleted


class Progress:
    """Throttled progress lines: at most one per ``every`` seconds, plus the ones forced."""

    def __init__(self, sink, every: float = 10.0) -> None:
        self.sink = sink
        self.every = every
        self.lock = threading.Lock()
        self.last = 0.0

    def __call__(self, message: str, force: bool = False) -> None:
        if self.sink is None:
            return
        import time  # noqa: PLC0415 - keep the module import light

        with self.lock:
            now = time.monotonic()
            if force or now - self.last >= self.every:
                self.last = now
                self.sink(message)
