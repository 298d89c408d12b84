# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming reads from S3-compatible storage (AWS S3, MinIO, SeaweedFS) with boto3.

boto3 is optional: callers check ``HAS_BOTO3`` and report ``missing_required_lib``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# boto3 is optional on managed hosts; HAS_BOTO3 and BOTO3_IMPORT_ERROR are re-exported for the modules.
from ansible_collections.fleetpulse.dr.plugins.module_utils.s3deps import (  # noqa: F401  pylint: disable=unused-import
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    BotoCoreError,
    ClientError,
    Config,
    boto3,
)

CHUNK = 1024 * 1024


class S3Error(Exception):
    """An S3 request failed; the message names the cause and the fix."""


@dataclass
class S3Object:
    key: str
    size: int
    mtime: float


def client(endpoint_url: str | None, region: str | None, access_key: str | None, secret_key: str | None):
    kwargs = {
        "endpoint_url": endpoint_url or None,
        "region_name": region or None,
        "aws_access_key_id": access_key or None,
        "aws_secret_access_key": secret_key or None,
        "config": Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60,
                         s3={"addressing_style": "path"} if endpoint_url else None),
    }
    return boto3.client("s3", **{k: v for k, v in kwargs.items() if v is not None})


def explain(exc: Exception, bucket: str, key: str) -> str:
    where = f"s3://{bucket}/{key}"
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            return f"{where} does not exist"
        if code in ("NoSuchBucket",):
            return f"bucket {bucket!r} does not exist: check s3_bucket"
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return f"access to {where} was denied ({code}): check s3_access_key/s3_secret_key and the bucket policy"
        return f"S3 request for {where} failed ({code or exc})"
    return f"S3 endpoint unreachable for {where} ({exc}): check s3_endpoint_url and the network"


def head(cli, bucket: str, key: str) -> S3Object | None:
    """Size and time of an object, or None when it does not exist."""
    try:
        meta = cli.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise S3Error(explain(exc, bucket, key)) from None
    except BotoCoreError as exc:
        raise S3Error(explain(exc, bucket, key)) from None
    return S3Object(key, int(meta["ContentLength"]), meta["LastModified"].timestamp())


def stream(cli, bucket: str, key: str, chunk: int = CHUNK) -> Iterator[bytes]:
    """The object's bytes, chunk by chunk (never the whole object in memory)."""
    try:
        body = cli.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(chunk)
        finally:
            body.close()
    except (ClientError, BotoCoreError) as exc:
        raise S3Error(explain(exc, bucket, key)) from None


def read_text(cli, bucket: str, key: str, limit: int = 4 * 1024 * 1024) -> str | None:
    """A small object as text, or None when it does not exist."""
    try:
        body = cli.get_object(Bucket=bucket, Key=key)["Body"]
        return body.read(limit).decode("utf-8", "replace")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise S3Error(explain(exc, bucket, key)) from None
    except BotoCoreError as exc:
        raise S3Error(explain(exc, bucket, key)) from None


def list_prefix(cli, bucket: str, prefix: str) -> list[S3Object]:
    found = []
    try:
        for page in cli.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found.append(S3Object(item["Key"], int(item["Size"]), item["LastModified"].timestamp()))
    except (ClientError, BotoCoreError) as exc:
        raise S3Error(explain(exc, bucket, prefix)) from None
    return found
