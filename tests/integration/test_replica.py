"""The replica api, its migrations and its data generator, against real PostgreSQL, Redis and SeaweedFS.

Other scenarios trust these behaviours (a broken restore must show as unhealthy, the
same seed must give the same data, migrate must behave like `prisma migrate deploy`),
so they are tested here on their own. Containers are labelled with the namespace
(FP_TEST_NS) and removed at the end; the controller-side code path (benchmarks) is
exercised by importing the package from tests/images/replica-api/app.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "world"))
sys.path.insert(0, str(REPO / "tests" / "images" / "replica-api" / "app"))

import world  # noqa: E402
from fleetpulse_replica import checksum, migrate, seed  # noqa: E402
from fleetpulse_replica.config import DEFAULT_MIGRATIONS, Database, Storage  # noqa: E402

pytestmark = pytest.mark.integration

NS = os.environ.get("FP_TEST_NS", "fp")
PREFIX = f"{NS}-replica-pytest"
LABELS = ["--label", f"io.fleetpulse.test.ns={NS}", "--label", "io.fleetpulse.test.service=replica-pytest"]
PASSWORD = "replica-pytest-db"
S3_KEY, S3_SECRET = "replica-pytest", "replica-pytest-secret"
REDIS_PASSWORD = "replica-pytest-redis"


def docker(*args: str, check: bool = True) -> str:
    res = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {res.stderr}")
    return res.stdout.strip()


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except Exception as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"{what} not ready after {timeout}s ({last})")


def ip(name: str) -> str:
    return docker("inspect", "--format", f'{{{{ (index .NetworkSettings.Networks "{PREFIX}").IPAddress }}}}', name)


@pytest.fixture(scope="module")
def services() -> Iterator[dict[str, str]]:
    """PostgreSQL, Redis and the minio (SeaweedFS) service of the replica, on a private network."""
    with world.locked(world.IMAGES_LOCK):
        world.build_images(["postgres", "replica-redis", "replica-minio", "replica-api"])
    docker("rm", "-f", f"{PREFIX}-postgres", f"{PREFIX}-redis", f"{PREFIX}-minio", f"{PREFIX}-api", check=False)
    docker("network", "rm", PREFIX, check=False)
    docker("network", "create", *LABELS, PREFIX)
    run = ["run", "-d", "--network", PREFIX, *LABELS]
    docker(*run, "--name", f"{PREFIX}-postgres", "--network-alias", "postgres", "-e", "POSTGRES_USER=fleetpulse",
           "-e", f"POSTGRES_PASSWORD={PASSWORD}", "-e", "POSTGRES_DB=fleetpulse", world.image_ref("postgres"))
    docker(*run, "--name", f"{PREFIX}-redis", "--network-alias", "redis", world.image_ref("replica-redis"),
           "redis-server", "--requirepass", REDIS_PASSWORD)
    docker(*run, "--name", f"{PREFIX}-minio", "--network-alias", "minio", "-e", f"MINIO_ROOT_USER={S3_KEY}",
           "-e", f"MINIO_ROOT_PASSWORD={S3_SECRET}", world.image_ref("replica-minio"))
    try:
        info = {"postgres": ip(f"{PREFIX}-postgres"), "minio": ip(f"{PREFIX}-minio")}
        wait_for("postgres", lambda: docker("exec", f"{PREFIX}-postgres", "pg_isready", "-h", "127.0.0.1",
                                            "-U", "fleetpulse", check=False).endswith("accepting connections"))
        storage = Storage(endpoint=f"http://{info['minio']}:9000", access_key=S3_KEY, secret_key=S3_SECRET,
                          bucket="fleetpulse")
        wait_for("minio", lambda: storage.client(timeout=2, retries=0).list_buckets() is not None)
        yield info
    finally:
        docker("rm", "-f", "-v", f"{PREFIX}-postgres", f"{PREFIX}-redis", f"{PREFIX}-minio", f"{PREFIX}-api",
               check=False)
        docker("network", "rm", PREFIX, check=False)


def fresh_db(services: dict[str, str], name: str) -> Database:
    """An empty database ``name`` on the test server."""
    admin = Database.from_url(f"postgresql://fleetpulse:{PASSWORD}@{services['postgres']}:5432/fleetpulse")
    with admin.connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return Database.from_url(f"postgresql://fleetpulse:{PASSWORD}@{services['postgres']}:5432/{name}?schema=public")


def bucket(services: dict[str, str], name: str) -> Storage:
    return Storage(endpoint=f"http://{services['minio']}:9000", access_key=S3_KEY, secret_key=S3_SECRET, bucket=name)


def test_migrate_deploy_applies_in_order_then_has_nothing_to_do(services):
    db = fresh_db(services, "mig_ok")
    first, second = io.StringIO(), io.StringIO()
    assert migrate.deploy(db, DEFAULT_MIGRATIONS, out=first) == 3
    assert "All migrations have been successfully applied." in first.getvalue()
    assert migrate.deploy(db, DEFAULT_MIGRATIONS, out=second) == 0
    assert "No pending migrations to apply." in second.getvalue()
    with db.connect() as conn:
        rows = conn.execute('SELECT migration_name, checksum, finished_at IS NOT NULL, applied_steps_count '
                            'FROM "_prisma_migrations" ORDER BY migration_name').fetchall()
        columns = [r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns "
                                              "WHERE table_name = 'Booking' ORDER BY ordinal_position")]
    names = sorted(p.name for p in DEFAULT_MIGRATIONS.iterdir() if p.is_dir())
    assert [r[0] for r in rows] == names
    assert all(r[2] and r[3] == 1 and len(r[1]) == 64 for r in rows)
    assert {"tenantId", "vehicleId", "customerId", "contractKey", "signatureKey"} <= set(columns)
    assert migrate.status(db, DEFAULT_MIGRATIONS, out=io.StringIO()) == 0


def test_migrate_refuses_a_non_empty_schema_without_history(services):
    db = fresh_db(services, "mig_baseline")
    with db.connect() as conn:
        conn.execute('CREATE TABLE "Tenant" (id TEXT PRIMARY KEY)')
    with pytest.raises(migrate.MigrationError) as err:
        migrate.deploy(db, DEFAULT_MIGRATIONS, out=io.StringIO())
    assert err.value.code == "P3005"


def test_a_failed_migration_is_recorded_and_blocks_the_next_deploy(services, tmp_path):
    db = fresh_db(services, "mig_failed")
    broken = tmp_path / "migrations"
    (broken / "20250101000000_ok").mkdir(parents=True)
    (broken / "20250101000000_ok" / "migration.sql").write_text('CREATE TABLE "A" (id INT);')
    (broken / "20250102000000_broken").mkdir()
    (broken / "20250102000000_broken" / "migration.sql").write_text('ALTER TABLE "Missing" ADD COLUMN x INT;')
    with pytest.raises(migrate.MigrationError) as err:
        migrate.deploy(db, broken, out=io.StringIO())
    assert err.value.code == "P3018"
    with pytest.raises(migrate.MigrationError) as err:
        migrate.deploy(db, broken, out=io.StringIO())
    assert err.value.code == "P3009"
    assert migrate.status(db, broken, out=io.StringIO()) == 1


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not(services):
    scale = seed.SCALES["tiny"]
    prints = []
    for name, value in (("seed_a", "7"), ("seed_b", "7"), ("seed_c", "8")):
        db = fresh_db(services, name)
        migrate.deploy(db, DEFAULT_MIGRATIONS, out=io.StringIO())
        summary = seed.seed(db, bucket(services, name.replace("_", "-")), value, scale)
        assert summary["rows"] == {"Tenant": 2, "Vehicle": 20, "Customer": 40, "Booking": 100}
        assert summary["objects"]["uploaded"] > 20  # a photo per vehicle, documents for some bookings
        fingerprint = checksum.database(db)
        objects = checksum.objects(bucket(services, name.replace("_", "-")))
        prints.append(({t: v for t, v in fingerprint["tables"].items() if t != "_prisma_migrations"}, objects))
    (rows_a, obj_a), (rows_b, obj_b), (rows_c, obj_c) = prints
    assert rows_a == rows_b
    assert {k: v for k, v in obj_a.items() if k != "bucket"} == {k: v for k, v in obj_b.items() if k != "bucket"}
    assert rows_a != rows_c
    assert obj_a["checksum"] != obj_c["checksum"]


def test_seed_refuses_existing_data_and_if_empty_changes_nothing(services):
    db = fresh_db(services, "seed_twice")
    migrate.deploy(db, DEFAULT_MIGRATIONS, out=io.StringIO())
    storage = bucket(services, "seed-twice")
    seed.seed(db, storage, "1", seed.SCALES["tiny"])
    before = checksum.database(db), checksum.objects(storage)
    with pytest.raises(SystemExit, match="already holds data"):
        seed.seed(db, storage, "1", seed.SCALES["tiny"])
    assert seed.seed(db, storage, "1", seed.SCALES["tiny"], if_empty=True)["changed"] is False
    assert (checksum.database(db), checksum.objects(storage)) == before


def test_seed_refuses_an_unmigrated_database(services):
    db = fresh_db(services, "seed_unmigrated")
    with pytest.raises(SystemExit, match="not migrated"):
        seed.seed(db, None, "1", seed.SCALES["tiny"])


def _health(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - a local test container
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_api_health_reports_each_dependency_for_real(services):
    db_url = f"postgresql://fleetpulse:{PASSWORD}@postgres:5432/api_health?schema=public"
    fresh_db(services, "api_health")
    docker("run", "-d", "--network", PREFIX, *LABELS, "--name", f"{PREFIX}-api",
           "-e", f"DATABASE_URL={db_url}", "-e", f"REDIS_URL=redis://:{REDIS_PASSWORD}@redis:6379",
           "-e", "MINIO_ENDPOINT=minio", "-e", f"MINIO_ACCESS_KEY={S3_KEY}", "-e", f"MINIO_SECRET_KEY={S3_SECRET}",
           "-e", "MINIO_BUCKET=api-health", world.image_ref("replica-api"))
    url = f"http://{ip(f'{PREFIX}-api')}:3000/api/v1/health"
    wait_for("api", lambda: _health(url)[0] in (200, 503))

    # Not migrated: the database check fails and names the pending migrations.
    status, body = _health(url)
    assert status == 503 and body["failed"] == ["database"], body
    assert "pending migration" in body["checks"]["database"]["error"]

    docker("exec", f"{PREFIX}-api", "npx", "prisma", "migrate", "deploy")
    wait_for("healthy api", lambda: _health(url)[0] == 200)  # the api created its bucket at start
    assert {k: v["status"] for k, v in _health(url)[1]["checks"].items()} == {
        "database": "up", "redis": "up", "storage": "up"}

    docker("stop", f"{PREFIX}-redis")
    try:
        status, body = _health(url)
        assert status == 503 and body["failed"] == ["redis"], body
    finally:
        docker("start", f"{PREFIX}-redis")
    wait_for("redis back", lambda: _health(url)[0] == 200)

    db = Database.from_url(f"postgresql://fleetpulse:{PASSWORD}@{services['postgres']}:5432/api_health")
    with db.connect() as conn:
        conn.execute('DROP TABLE "Booking"')
    status, body = _health(url)
    assert status == 503 and body["failed"] == ["database"], body
    assert "Booking" in body["checks"]["database"]["error"]
