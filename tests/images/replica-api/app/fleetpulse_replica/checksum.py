"""Fingerprint of the data: row counts and checksums per table, and of the bucket's objects.

Two databases (or a database and its restored copy) hold the same rows exactly when
their fingerprints are equal. The row checksum is order-independent: the sum of the
first 60 bits of md5(row as text) over all rows, computed in PostgreSQL (no row
leaves the server), with DateStyle and TimeZone fixed so text forms are stable.
Objects are fingerprinted from the listing (key, size, ETag = MD5 of the content).
"""

from __future__ import annotations

import hashlib

from .config import Database, Storage
from .seed import OBJECT_PREFIX, TABLES

ALL_TABLES = (*TABLES, "_prisma_migrations")


def database(db: Database) -> dict:
    out: dict = {"tables": {}}
    with db.connect() as conn:
        for table in ALL_TABLES:
            exists = conn.execute("SELECT to_regclass(%s)", (f'"{db.schema}"."{table}"',)).fetchone()[0]
            if exists is None:
                out["tables"][table] = None
                continue
            # Table names come from ALL_TABLES, never from input.
            query = ("SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0)::text "
                     'FROM "' + table + '" t')
            rows, total = conn.execute(query).fetchone()
            out["tables"][table] = {"rows": rows, "checksum": hashlib.sha256(f"{table}:{total}".encode()).hexdigest()}
        if out["tables"]["_prisma_migrations"] is not None:
            out["migrations"] = [r[0] for r in conn.execute(
                'SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL '
                "AND rolled_back_at IS NULL ORDER BY migration_name")]
    out["checksum"] = hashlib.sha256(repr(sorted(
        (t, v and v["checksum"]) for t, v in out["tables"].items())).encode()).hexdigest()
    return out


def objects(storage: Storage, prefix: str = OBJECT_PREFIX, deep: bool = False) -> dict:
    """Fingerprint the objects under ``prefix``; ``deep`` hashes their content instead of trusting the ETag
    (ETags of multipart uploads are not content MD5s, so compare deep fingerprints across copy tools)."""
    client = storage.client()
    digest = hashlib.sha256()
    count = size = 0
    entries = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            tag = obj["ETag"].strip('"')
            if deep:
                body = client.get_object(Bucket=storage.bucket, Key=obj["Key"])["Body"].read()
                tag = hashlib.md5(body).hexdigest()  # noqa: S324 - a fingerprint, not security
            entries.append((obj["Key"], obj["Size"], tag))
    for key, length, etag in sorted(entries):
        digest.update(f"{key}\t{length}\t{etag}\n".encode())
        count += 1
        size += length
    return {"bucket": storage.bucket, "prefix": prefix, "deep": deep, "count": count, "bytes": size,
            "checksum": digest.hexdigest()}
