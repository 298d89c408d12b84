"""The replica api: /api/v1/health with the real state of its dependencies, and a few read endpoints.

GET /api/v1/health   200 {"status": "ok", ...} or 503 {"status": "error", ...} naming the failed check:
                     database  (connect, the migrations shipped in this image are all applied, every
                                table answers a query)
                     redis     (PING)
                     storage   (the bucket exists and answers HEAD)
GET /api/v1/stats    row counts per table
GET /api/v1/tenants  the first 100 tenants
GET /api/v1/version  the version of this image
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import app_version, migrate
from .config import DEFAULT_MIGRATIONS, ConfigError, Database, Storage
from .seed import TABLES, counts, ensure_bucket

STARTED = time.time()


def _timed(check) -> dict:
    started = time.monotonic()
    try:
        detail = check() or {}
        return {"status": "up", "latencyMs": round((time.monotonic() - started) * 1000), **detail}
    except Exception as exc:  # every failure is reported, none crashes the endpoint
        return {"status": "down", "error": f"{type(exc).__name__}: {exc}".strip()[:500],
                "latencyMs": round((time.monotonic() - started) * 1000)}


def check_database() -> dict:
    db = Database.from_url(os.environ.get("DATABASE_URL"))
    applied, todo, failed = migrate.pending(db, DEFAULT_MIGRATIONS)
    if failed:
        raise RuntimeError(f"failed migrations: {', '.join(failed)}")
    if todo:
        raise RuntimeError(f"{len(todo)} pending migration(s): {', '.join(todo)} (run prisma migrate deploy)")
    with db.connect() as conn:
        for table in TABLES:
            conn.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchall()  # noqa: S608 - fixed table names
    return {"migrations": len(applied)}


def check_redis() -> dict:
    import redis  # noqa: PLC0415

    url = os.environ.get("REDIS_URL")
    if not url:
        raise ConfigError("REDIS_URL is not set")
    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    try:
        if not client.ping():
            raise RuntimeError("PING did not return PONG")
    finally:
        client.close()
    return {}


def check_storage() -> dict:
    storage = Storage.from_env()
    storage.client(timeout=3, retries=0).head_bucket(Bucket=storage.bucket)
    return {"bucket": storage.bucket}


def health() -> tuple[int, dict]:
    checks = {"database": _timed(check_database), "redis": _timed(check_redis), "storage": _timed(check_storage)}
    failed = sorted(name for name, result in checks.items() if result["status"] != "up")
    body = {"status": "error" if failed else "ok", "version": app_version(),
            "uptime": round(time.time() - STARTED), "checks": checks}
    if failed:
        body["failed"] = failed
    return (HTTPStatus.SERVICE_UNAVAILABLE if failed else HTTPStatus.OK), body


def stats() -> tuple[int, dict]:
    db = Database.from_url(os.environ.get("DATABASE_URL"))
    with db.connect() as conn:
        return HTTPStatus.OK, {k.lower() + "s": v for k, v in counts(conn).items()}


def tenants() -> tuple[int, dict]:
    db = Database.from_url(os.environ.get("DATABASE_URL"))
    with db.connect() as conn:
        rows = conn.execute('SELECT id, name, slug FROM "Tenant" ORDER BY slug LIMIT 100').fetchall()
    return HTTPStatus.OK, {"tenants": [{"id": i, "name": n, "slug": s} for i, n, s in rows]}


ROUTES = {
    "/api/v1/health": health,
    "/api/v1/stats": stats,
    "/api/v1/tenants": tenants,
    "/api/v1/version": lambda: (HTTPStatus.OK, {"version": app_version()}),
}


class Handler(BaseHTTPRequestHandler):
    server_version = "fleetpulse-replica-api"

    def _send(self, status: int, body: dict, head: bool = False) -> None:
        data = (json.dumps(body, sort_keys=True) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _route(self, head: bool = False) -> None:
        handler = ROUTES.get(self.path.split("?", 1)[0].rstrip("/") or "/")
        if handler is None:
            self._send(HTTPStatus.NOT_FOUND, {"statusCode": 404, "message": f"Cannot GET {self.path}"}, head)
            return
        try:
            status, body = handler()
        except Exception as exc:
            status, body = HTTPStatus.INTERNAL_SERVER_ERROR, {"statusCode": 500, "message": str(exc)[:500]}
        self._send(status, body, head)

    def do_GET(self) -> None:
        self._route()

    def do_HEAD(self) -> None:
        self._route(head=True)

    def log_message(self, fmt: str, *args: object) -> None:
        sys.stdout.write(f"{self.address_string()} - {fmt % args}\n")


def _create_bucket_when_reachable() -> None:
    """Create the bucket on first start (as the api does at boot), retrying while the store starts."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            storage = Storage.from_env()
            if ensure_bucket(storage.client(timeout=3, retries=0), storage.bucket):
                print(f"created bucket {storage.bucket}", flush=True)
            return
        except Exception as exc:
            print(f"bucket not reachable yet: {exc}", flush=True)
            time.sleep(2)


def serve(port: int) -> None:
    Database.from_url(os.environ.get("DATABASE_URL"))  # fail fast on a malformed URL
    if os.environ.get("MINIO_AUTO_CREATE_BUCKET", "true").lower() == "true":
        threading.Thread(target=_create_bucket_when_reachable, daemon=True).start()
    httpd = ThreadingHTTPServer(("0.0.0.0", port), Handler)  # noqa: S104 - a container's service port
    httpd.daemon_threads = True
    # As PID 1 the process would ignore SIGTERM: exit on it so `docker stop` is immediate.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"FleetPulse replica api {app_version()} listening on :{port}", flush=True)
    httpd.serve_forever()
