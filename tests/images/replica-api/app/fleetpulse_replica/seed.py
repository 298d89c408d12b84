"""Deterministic FleetPulse data: tenants, vehicles, customers, bookings and their files.

The same seed and scale always give the same rows (ids, names, dates, prices) and the
same objects (keys and bytes), so a restored copy can be compared with the original
by checksum (see checksum.py). Rows are generated inside PostgreSQL with
``INSERT ... SELECT FROM generate_series`` in chunks: no row crosses the network, which
makes gigabytes a matter of minutes. Objects (vehicle photos, signed contracts,
signature images) are uploaded to the bucket by a pool of threads.

Scales (rows; objects are one photo per vehicle plus a contract and a signature for
one active/completed booking in ``doc_every``):

    tiny     2 tenants,      20 vehicles,      40 customers,        100 bookings  (~0.3 MB of objects)
    small    5 tenants,     200 vehicles,   1,000 customers,      5,000 bookings  (~5 MB: Molecule scenarios)
    medium  20 tenants,  10,000 vehicles, 100,000 customers,    500,000 bookings  (0.26 GB rows, 0.37 GB objects)
    large   50 tenants, 100,000 vehicles, 2,000,000 customers, 10,000,000 bookings (~5 GB rows, ~3.5 GB objects)
"""

from __future__ import annotations

import hashlib
import random
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, replace

from .config import Database, Storage

TABLES = ("Tenant", "Vehicle", "Customer", "Booking")
OBJECT_PREFIX = "tenants/"


@dataclass(frozen=True)
class Scale:
    tenants: int
    vehicles_per_tenant: int
    customers_per_tenant: int
    bookings_per_tenant: int
    doc_every: int  # one booking in doc_every (of those active or completed) has a contract and a signature
    photo_kb: int  # average vehicle photo size


SCALES = {
    "tiny": Scale(2, 10, 20, 50, 5, 4),
    "small": Scale(5, 40, 200, 1_000, 10, 12),
    "medium": Scale(20, 500, 5_000, 25_000, 20, 24),
    "large": Scale(50, 2_000, 40_000, 200_000, 50, 24),
}
CHUNK = 100_000  # rows per INSERT statement: progress every few seconds at any scale
BULK = 200_000  # from this many rows on, a table is loaded without its secondary indexes

# Deterministic pseudo-random fields come from md5(seed:kind:n), which is also the row id:
# r0..r3 are its first four 28-bit slices. Every LATERAL step ends in OFFSET 0, which keeps
# PostgreSQL from inlining it: md5 and the slices are computed once per row, not once
# per use (three times faster).
RANDOMS = ("LATERAL (SELECT " + ", ".join(f"('x' || substr(h, {1 + 7 * k}, 7))::bit(28)::int AS r{k}"
                                          for k in range(4)) + " OFFSET 0) rr")


def r(k: int) -> str:
    return f"r{k}"


MAKES = ["Toyota|Corolla", "Toyota|RAV4", "Volkswagen|Golf", "Volkswagen|Passat", "Ford|Focus", "Ford|Transit",
         "Renault|Clio", "Peugeot|308", "Skoda|Octavia", "BMW|320d", "Mercedes-Benz|C 200", "Audi|A4",
         "Hyundai|i30", "Kia|Ceed", "Tesla|Model 3", "Nissan|Qashqai", "Opel|Astra", "Fiat|500", "Volvo|XC60",
         "Dacia|Duster"]
FIRST = ["Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Katrin", "Lukas",
         "Marta", "Nils", "Olga", "Paul", "Queenie", "Rafael", "Sofia", "Tom", "Ursula", "Victor", "Wanda", "Xavier",
         "Yasmin", "Zoe", "Amir", "Bianca", "Carlos", "Dana", "Emil", "Fatima", "Georg", "Hana", "Ivan", "Julia"]
LAST = ["Schmidt", "Garcia", "Rossi", "Dubois", "Novak", "Kowalski", "Jensen", "Silva", "Costa", "Meyer", "Larsen",
        "Horvat", "Popescu", "Nagy", "Murphy", "Smith", "Jones", "Brown", "Martin", "Bernard", "Weber", "Fischer",
        "Moreau", "Lopez", "Santos", "Ivanova", "Petrov", "Berg", "Lindqvist", "Keller"]
NOTES = ["Airport pick-up", "Child seat requested", "Returned with full tank", "Late return agreed by phone",
         "Corporate account", "Second driver added", "Snow chains included", "One-way rental", "Pet on board",
         "Upgrade offered at counter"]
CITIES = ["Lisbon", "Porto", "Madrid", "Lyon", "Berlin", "Vienna", "Prague", "Krakow", "Milan", "Ghent", "Oslo",
          "Dublin"]


def _array(values: list[str]) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _pick(values: list[str], k: int) -> str:
    return f"({_array(values)})[1 + {r(k)} % {len(values)}]"


def _sql(text: str) -> str:
    """Double the modulo operators: psycopg reads a lone % as a placeholder."""
    return text.replace(" % ", " %% ")


def _id(kind: str, n: str) -> str:
    return f"md5(%(seed)s || ':{kind}:' || {n})::uuid::text"


def tenant_sql() -> str:
    return _sql(f"""
INSERT INTO "Tenant" (id, name, slug, "contactEmail", "createdAt", "updatedAt")
SELECT h::uuid::text, city || ' ' || kind || ' ' || n, 'tenant-' || n, 'ops@tenant-' || n || '.example',
       created, created + interval '1 day'
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) n,
     LATERAL (SELECT md5(%(seed)s || ':t:' || n) AS h OFFSET 0) x,
     {RANDOMS},
     LATERAL (SELECT {_pick(CITIES, 0)} AS city, {_pick(["Car Rental", "Fleet", "Mobility", "Motors"], 1)} AS kind,
                     timestamp '2023-01-01' + n * interval '1 day' AS created OFFSET 0) y
""")  # noqa: S608 - constant SQL; values are bound parameters


def vehicle_sql() -> str:
    return _sql(f"""
INSERT INTO "Vehicle" (id, "tenantId", vin, "plateNumber", make, model, year, status, "dailyRate", mileage,
                       "photoKey", "createdAt", "updatedAt")
SELECT h::uuid::text, tid, upper(substr(md5(h), 1, 17)), 'FP-' || lpad(n::text, 7, '0'),
       split_part(mm, '|', 1), split_part(mm, '|', 2), 2015 + {r(1)} % 10,
       (ARRAY['AVAILABLE','AVAILABLE','AVAILABLE','RENTED','RENTED','MAINTENANCE','RETIRED'])[1 + {r(2)} % 7]
           ::"VehicleStatus",
       29 + ({r(3)} % 15000) / 100.0, {r(2)} % 200000,
       'tenants/' || tid || '/vehicles/' || h::uuid::text || '/photo.jpg', created, created + interval '3 hours'
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) n,
     LATERAL (SELECT md5(%(seed)s || ':v:' || n) AS h, {_id("t", "((n - 1) / %(per)s + 1)")} AS tid OFFSET 0) x,
     {RANDOMS},
     LATERAL (SELECT {_pick(MAKES, 0)} AS mm,
                     timestamp '2023-06-01' + ({r(1)} % 500) * interval '1 day' + n * interval '1 second'
                         AS created OFFSET 0) y
""")  # noqa: S608 - constant SQL; values are bound parameters


def customer_sql() -> str:
    return _sql(f"""
INSERT INTO "Customer" (id, "tenantId", "firstName", "lastName", email, phone, "licenseNumber", "createdAt",
                        "updatedAt")
SELECT h::uuid::text, tid, first, last, lower(first) || '.' || lower(last) || '.' || n || '@mail.example',
       '+35191' || lpad(({r(2)} % 10000000)::text, 7, '0'), 'DL-' || upper(substr(h, 20, 10)),
       created, created + ({r(3)} % 86400) * interval '1 second'
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) n,
     LATERAL (SELECT md5(%(seed)s || ':c:' || n) AS h, {_id("t", "((n - 1) / %(per)s + 1)")} AS tid OFFSET 0) x,
     {RANDOMS},
     LATERAL (SELECT {_pick(FIRST, 0)} AS first, {_pick(LAST, 1)} AS last,
                     timestamp '2023-06-01' + ({r(3)} % 700) * interval '1 day' AS created OFFSET 0) y
""")  # noqa: S608 - constant SQL; values are bound parameters


def booking_sql() -> str:
    # Booking n belongs to tenant t and picks a vehicle and a customer of that tenant.
    return _sql(f"""
INSERT INTO "Booking" (id, "tenantId", "vehicleId", "customerId", "startDate", "endDate", status, "totalPrice",
                       notes, "contractKey", "signatureKey", "createdAt", "updatedAt")
SELECT id, tid, vid, cid, start, start + days * interval '1 day', status::"BookingStatus",
       days * (29 + ({r(3)} % 15000) / 100.0),
       CASE WHEN {r(1)} % 10 < 3 THEN NULL ELSE {_pick(NOTES, 2)} || ' (ref ' || substr(h, 1, 10) || ')' END,
       CASE WHEN doc THEN 'tenants/' || tid || '/bookings/' || id || '/contract.pdf' END,
       CASE WHEN doc THEN 'tenants/' || tid || '/bookings/' || id || '/signature.png' END,
       start - (1 + {r(2)} % 30) * interval '1 day', start - (1 + {r(2)} % 30) * interval '1 day' + interval '5 minutes'
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) n,
     LATERAL (SELECT md5(%(seed)s || ':b:' || n) AS h, (n - 1) / %(per)s AS t0 OFFSET 0) x,
     {RANDOMS},
     LATERAL (SELECT h::uuid::text AS id, {_id("t", "(t0 + 1)")} AS tid,
                     {_id("v", f"(t0 * %(vpt)s + 1 + {r(0)} % %(vpt)s)")} AS vid,
                     {_id("c", f"(t0 * %(cpt)s + 1 + {r(1)} % %(cpt)s)")} AS cid,
                     timestamp '2024-01-01' + ({r(2)} % 730) * interval '1 day' + ({r(3)} % 24) * interval '1 hour'
                         AS start,
                     1 + {r(0)} % 14 AS days,
                     (ARRAY['COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','CANCELLED',
                            'ACTIVE','CONFIRMED','PENDING'])[1 + {r(1)} % 10] AS status OFFSET 0) y,
     LATERAL (SELECT y.status IN ('ACTIVE', 'COMPLETED') AND n % %(doc_every)s = 0 AS doc OFFSET 0) z
""")  # noqa: S608 - constant SQL; values are bound parameters


def _log(msg: str) -> None:
    print(f"[seed] {msg}", file=sys.stderr, flush=True)


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def counts(conn) -> dict[str, int]:
    return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLES}  # noqa: S608


def _insert(conn, table: str, sql: str, total: int, params: dict) -> None:
    """Insert ``total`` rows in chunks; from BULK rows on, into the table without its secondary indexes.

    Building an index once over all rows is several times faster than growing it row by
    row: the indexes (not the primary key) are dropped and recreated from their own
    definitions inside the same transaction, so they end up exactly as the migrations
    made them, and a failure rolls everything back.
    """
    started = time.monotonic()
    indexes = []
    if total >= BULK:
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            (table, f'"{table}"')).fetchall()
        for index in indexes:
            conn.execute(f'DROP INDEX "{index[0]}"')
    done = 0
    while done < total:
        hi = min(done + CHUNK, total)
        conn.execute(sql, {**params, "lo": done + 1, "hi": hi})
        done = hi
        rate = done / max(time.monotonic() - started, 1e-6)
        _log(f"{table}: {done:,}/{total:,} rows ({rate:,.0f} rows/s)")
    if indexes:
        index_started = time.monotonic()
        for index in indexes:
            conn.execute(index[1])
        _log(f"{table}: {len(indexes)} indexes rebuilt in {time.monotonic() - index_started:.1f}s")


def _fast_load(conn) -> None:
    """Settings for a bulk load in this transaction only.

    The rows reference each other correctly by construction, so as a superuser (the
    POSTGRES_USER of the official image is one) the foreign-key triggers are skipped
    (session_replication_role = replica): checking them row by row is most of the cost.
    The constraints stay in the schema and hold for the data.
    """
    conn.execute("SET LOCAL synchronous_commit = off")
    conn.execute("SET LOCAL work_mem = '64MB'")
    conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
    conn.execute("SET LOCAL enable_memoize = off")  # caching per-row LATERAL results never hits
    if conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
        conn.execute("SET LOCAL session_replication_role = replica")
    else:
        _log("not a superuser: foreign keys are checked row by row (slower)")


def object_payload(seed: str, key: str, scale: Scale) -> tuple[bytes, str]:
    """The bytes and content type of object ``key``: a function of seed and key only."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 - reproducible filler, not secrets
    spread = 0.5 + digest[8] / 255  # 0.5x .. 1.5x the average size
    if key.endswith(".jpg"):
        body = rng.randbytes(int(scale.photo_kb * 1024 * spread))
        return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + body + b"\xff\xd9", "image/jpeg"
    if key.endswith(".png"):
        return b"\x89PNG\r\n\x1a\n" + rng.randbytes(int(2048 * spread)), "image/png"
    text = f"%PDF-1.4\n% FleetPulse rental contract {key}\n".encode()
    return text + rng.randbytes(int(6144 * spread)) + b"\n%%EOF\n", "application/pdf"


def object_keys(conn) -> Iterator[str]:
    with conn.cursor(name="fp_object_keys") as cur:
        cur.itersize = 5000
        cur.execute('SELECT "photoKey" FROM "Vehicle" WHERE "photoKey" IS NOT NULL '
                    'UNION ALL SELECT "contractKey" FROM "Booking" WHERE "contractKey" IS NOT NULL '
                    'UNION ALL SELECT "signatureKey" FROM "Booking" WHERE "signatureKey" IS NOT NULL')
        for (key,) in cur:
            yield key


def ensure_bucket(client, bucket: str) -> bool:
    """Create the bucket if missing; True when it was created."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        client.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    client.create_bucket(Bucket=bucket)
    return True


def delete_prefix(client, bucket: str, prefix: str) -> int:
    deleted = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted


def upload_objects(db: Database, storage: Storage, seed: str, scale: Scale, *, jobs: int,
                   skip: set[str] = frozenset()) -> tuple[int, int]:
    """Upload the object of every key the rows reference, except those in ``skip``; return (count, bytes)."""
    client = storage.client()
    started = time.monotonic()
    count = size = 0
    lock = threading.Lock()
    last = [started]

    def put(key: str) -> None:
        nonlocal count, size
        body, ctype = object_payload(seed, key, scale)
        client.put_object(Bucket=storage.bucket, Key=key, Body=body, ContentType=ctype)
        with lock:
            count += 1
            size += len(body)
            now = time.monotonic()
            if now - last[0] >= 2:
                last[0] = now
                _log(f"objects: {count:,} uploaded ({_human(size)}, {_human(size / (now - started))}/s)")

    with db.connect(autocommit=False) as conn, ThreadPoolExecutor(max_workers=jobs) as pool:
        running: set[Future] = set()
        for key in object_keys(conn):
            if key in skip:
                continue
            running.add(pool.submit(put, key))
            if len(running) >= jobs * 4:
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    f.result()
        for f in running:
            f.result()
    elapsed = time.monotonic() - started
    _log(f"objects: {count:,} uploaded ({_human(size)}) in {elapsed:.1f}s, {len(skip):,} already there")
    return count, size


def seed(db: Database, storage: Storage | None, seed_value: str, scale: Scale, *, reset: bool = False,
         if_empty: bool = False, jobs: int = 8) -> dict:
    """Generate the data set; return a summary. Raises SystemExit with a message on refusal.

    With ``if_empty``, existing rows are kept and only missing objects are uploaded (an
    interrupted seed completes; a complete one changes nothing).
    """
    from . import migrate  # noqa: PLC0415

    started = time.monotonic()
    _applied, todo, failed = migrate.pending(db, migrate_dir())
    if todo or failed:
        raise SystemExit(f"[seed] the schema is not migrated (pending: {', '.join(todo) or '-'}; failed: "
                         f"{', '.join(failed) or '-'}): run `fleetpulse-replica migrate deploy` first")
    changed = False
    with db.connect(autocommit=False) as conn:
        rows = counts(conn)
        if any(rows.values()) and not reset and not if_empty:
            raise SystemExit(f"[seed] the database already holds data ({rows}); pass --reset to replace it "
                             "(TRUNCATE) or --if-empty to keep it")
        if any(rows.values()) and if_empty:
            _log(f"rows already there, kept: {rows}")
        else:
            if reset:
                _log("reset: truncating " + ", ".join(TABLES))
                conn.execute('TRUNCATE "Booking", "Customer", "Vehicle", "Tenant"')
            params = {"seed": seed_value, "vpt": scale.vehicles_per_tenant, "cpt": scale.customers_per_tenant,
                      "doc_every": scale.doc_every}
            _fast_load(conn)
            _insert(conn, "Tenant", tenant_sql(), scale.tenants, {**params, "per": 1})
            _insert(conn, "Vehicle", vehicle_sql(), scale.tenants * scale.vehicles_per_tenant,
                    {**params, "per": scale.vehicles_per_tenant})
            _insert(conn, "Customer", customer_sql(), scale.tenants * scale.customers_per_tenant,
                    {**params, "per": scale.customers_per_tenant})
            _insert(conn, "Booking", booking_sql(), scale.tenants * scale.bookings_per_tenant,
                    {**params, "per": scale.bookings_per_tenant})
            conn.commit()
            rows = counts(conn)
            changed = True
    with db.connect() as conn:
        if changed:
            conn.execute("ANALYZE")
        db_bytes = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    rows_seconds = time.monotonic() - started
    if changed:
        _log(f"rows: {sum(rows.values()):,} in {rows_seconds:.1f}s (database now {_human(db_bytes)})")
    objects = None
    if storage is not None:
        client = storage.client()
        ensure_bucket(client, storage.bucket)
        if reset:
            removed = delete_prefix(client, storage.bucket, OBJECT_PREFIX)
            _log(f"reset: deleted {removed:,} objects under {OBJECT_PREFIX}")
        present = {o["Key"] for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=storage.bucket, Prefix=OBJECT_PREFIX) for o in page.get("Contents", [])}
        count, size = upload_objects(db, storage, seed_value, scale, jobs=jobs, skip=present)
        changed = changed or count > 0
        objects = {"bucket": storage.bucket, "uploaded": count, "uploaded_bytes": size, "kept": len(present)}
    return {"changed": changed, "seed": seed_value, "scale": asdict(scale), "rows": rows, "database_bytes": db_bytes,
            "objects": objects, "seconds": round(time.monotonic() - started, 1),
            "rows_seconds": round(rows_seconds, 1)}


def migrate_dir():
    from .config import DEFAULT_MIGRATIONS  # noqa: PLC0415

    return DEFAULT_MIGRATIONS


def scale_from_args(name: str, **overrides: int | None) -> Scale:
    if name not in SCALES:
        raise SystemExit(f"[seed] unknown scale {name!r}; choose one of {', '.join(SCALES)}")
    chosen = {k: v for k, v in overrides.items() if v is not None}
    return replace(SCALES[name], **chosen)
