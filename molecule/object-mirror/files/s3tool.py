"""Test helper run on the test host (python3 with Debian's boto3): looks at and changes an S3
store directly, behind the back of the code under test. Settings from the environment:
S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY. Prints JSON.

    s3tool.py fingerprint BUCKET            {"objects": N, "bytes": B, "sha256": {key: sha256}}
    s3tool.py change BUCKET N               rewrite the first N objects with new bytes
    s3tool.py add BUCKET N                  add N new objects
    s3tool.py empty BUCKET                  delete every object (the bucket stays)
    s3tool.py listing BUCKET PREFIX         {key: [size, etag]} of everything under PREFIX
    s3tool.py corrupt BUCKET KEY            flip one byte of KEY, same size
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

import boto3
from botocore.config import Config

client = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1",
                      aws_access_key_id=os.environ["S3_ACCESS_KEY"], aws_secret_access_key=os.environ["S3_SECRET_KEY"],
                      config=Config(s3={"addressing_style": "path"}))


def keys(bucket: str, prefix: str = "") -> list[dict]:
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += page.get("Contents", [])
    return sorted(out, key=lambda o: o["Key"])


def body(n: int, size: int) -> bytes:
    seed = hashlib.sha256(f"object-mirror-scenario-{n}".encode()).digest()
    return (seed * (size // 32 + 1))[:size]


def main() -> None:
    cmd, bucket, *rest = sys.argv[1:]
    if cmd == "fingerprint":
        shas = {o["Key"]: hashlib.sha256(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()).hexdigest()
                for o in keys(bucket)}
        sizes = sum(o["Size"] for o in keys(bucket))
        print(json.dumps({"objects": len(shas), "bytes": sizes, "sha256": shas}, sort_keys=True))
    elif cmd in ("change", "add"):
        n = int(rest[0])
        targets = ([o["Key"] for o in keys(bucket)][:n] if cmd == "change"
                   else [f"tenants/scenario/documents/added-{i}.pdf" for i in range(n)])
        total = 0
        for i, key in enumerate(targets):
            data = body(i + (0 if cmd == "change" else 1000), 7000 + 1111 * i)
            client.put_object(Bucket=bucket, Key=key, Body=data)
            total += len(data)
        print(json.dumps({"keys": targets, "bytes": total}))
    elif cmd == "empty":
        found = keys(bucket)
        for o in found:
            client.delete_object(Bucket=bucket, Key=o["Key"])
        print(json.dumps({"deleted": len(found)}))
    elif cmd == "listing":
        print(json.dumps({o["Key"]: [o["Size"], o["ETag"]] for o in keys(bucket, rest[0])}, sort_keys=True))
    elif cmd == "corrupt":
        data = bytearray(client.get_object(Bucket=bucket, Key=rest[0])["Body"].read())
        data[len(data) // 2] ^= 0xFF
        client.put_object(Bucket=bucket, Key=rest[0], Body=bytes(data))
        print(json.dumps({"corrupted": rest[0], "size": len(data)}))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
