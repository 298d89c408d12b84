"""Command line of the replica: ``fleetpulse-replica <command>`` (or ``python -m fleetpulse_replica``).

    serve [--port 3000]                       the api
    migrate deploy|status                     as `prisma migrate deploy|status`
    prisma migrate deploy|status              the same, under the name the plan uses (`npx prisma ...`)
    seed --scale small [--seed 1] [--reset | --if-empty] [--no-objects] [--jobs 8]
    checksum [--no-objects] [--deep]          JSON fingerprint of rows and objects

Connection settings come from the environment the api gets (DATABASE_URL, REDIS_URL,
MINIO_ENDPOINT, MINIO_PORT, MINIO_USE_SSL, MINIO_ACCESS_KEY, MINIO_SECRET_KEY,
MINIO_BUCKET) or from --database-url / --s3-endpoint / --s3-access-key /
--s3-secret-key / --bucket, so the same commands run inside the api container and
from the controller against any PostgreSQL and S3 endpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import app_version
from .config import DEFAULT_MIGRATIONS, ConfigError, Database, Storage


def _connections(parser: argparse.ArgumentParser, s3: bool = True) -> None:
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="postgresql://USER:PASSWORD@HOST:PORT/DB?schema=public (default: $DATABASE_URL)")
    if s3:
        parser.add_argument("--s3-endpoint", help="http(s)://HOST:PORT (default: from $MINIO_ENDPOINT/$MINIO_PORT)")
        parser.add_argument("--s3-access-key", help="default: $MINIO_ACCESS_KEY")
        parser.add_argument("--s3-secret-key", help="default: $MINIO_SECRET_KEY")
        parser.add_argument("--bucket", help="default: $MINIO_BUCKET or fleetpulse")


def _storage(args: argparse.Namespace) -> Storage:
    return Storage.from_env(endpoint=args.s3_endpoint, access_key=args.s3_access_key,
                            secret_key=args.s3_secret_key, bucket=args.bucket)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetpulse-replica", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=app_version())
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve", help="run the api")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    for name in ("migrate", "prisma"):
        p = sub.add_parser(name, help="prisma migrate deploy|status")
        if name == "prisma":
            p.add_argument("migrate_word", choices=["migrate"])
        p.add_argument("action", choices=["deploy", "status"])
        p.add_argument("--migrations", type=Path, default=DEFAULT_MIGRATIONS)
        p.add_argument("--schema", help="ignored (Prisma's flag; the replica's schema is built in)")
        _connections(p, s3=False)
    p = sub.add_parser("seed", help="generate deterministic data")
    from .seed import SCALES  # noqa: PLC0415

    p.add_argument("--scale", default="small", choices=sorted(SCALES))
    p.add_argument("--seed", default="1", help="any string; same seed + scale = same data (default 1)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--reset", action="store_true", help="replace existing rows and objects")
    mode.add_argument("--if-empty", action="store_true", help="do nothing when the database already holds data")
    p.add_argument("--no-objects", action="store_true", help="rows only, no uploads")
    p.add_argument("--jobs", type=int, default=8, help="parallel uploads (default 8)")
    for field in ("tenants", "vehicles_per_tenant", "customers_per_tenant", "bookings_per_tenant", "doc_every",
                  "photo_kb"):
        p.add_argument("--" + field.replace("_", "-"), dest=field, type=int, help="override the scale's value")
    _connections(p)
    p = sub.add_parser("checksum", help="fingerprint rows and objects (JSON)")
    p.add_argument("--no-objects", action="store_true")
    p.add_argument("--deep", action="store_true", help="hash object content instead of trusting ETags")
    _connections(p)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from .server import serve  # noqa: PLC0415 - each command imports only what it needs

    serve(args.port)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from . import migrate  # noqa: PLC0415

    db = Database.from_url(args.database_url)
    try:
        if args.action == "deploy":
            migrate.deploy(db, args.migrations)
            return 0
        return migrate.status(db, args.migrations)
    except migrate.MigrationError as exc:
        print(exc, file=sys.stderr)
        return 1


def _seed(args: argparse.Namespace) -> int:
    from . import seed  # noqa: PLC0415

    scale = seed.scale_from_args(args.scale, tenants=args.tenants, vehicles_per_tenant=args.vehicles_per_tenant,
                                 customers_per_tenant=args.customers_per_tenant,
                                 bookings_per_tenant=args.bookings_per_tenant, doc_every=args.doc_every,
                                 photo_kb=args.photo_kb)
    storage = None if args.no_objects else _storage(args)
    summary = seed.seed(Database.from_url(args.database_url), storage, args.seed, scale, reset=args.reset,
                        if_empty=args.if_empty, jobs=args.jobs)
    print(json.dumps(summary, sort_keys=True))
    return 0


def _checksum(args: argparse.Namespace) -> int:
    from . import checksum  # noqa: PLC0415

    result = checksum.database(Database.from_url(args.database_url))
    if not args.no_objects:
        result["objects"] = checksum.objects(_storage(args), deep=args.deep)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


COMMANDS = {"serve": _serve, "migrate": _migrate, "prisma": _migrate, "seed": _seed, "checksum": _checksum}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.cmd](args)
    except ConfigError as exc:
        print(f"fleetpulse-replica: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if type(exc).__module__.startswith(("psycopg", "botocore", "boto3")):
            print(f"fleetpulse-replica {args.cmd}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
