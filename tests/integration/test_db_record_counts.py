# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleetpulse.dr.db_record_counts run through Ansible against real PostgreSQL 15 servers.

Three ways in: psycopg (the venv's Python), the psql client (Debian's python3, no
driver), and psql inside a container of the replica postgres image started by Docker
Compose (the stack's way: ``docker compose exec``/``docker exec``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_world import (
    APP_PASSWORD,
    APP_USER,
    FIXTURES,
    REPO,
    PgCluster,
    backup_name,
    make_backup,
    mf,
    run_module,
    wait_until,
)

from ansible_collections.fleetpulse.dr.plugins.module_utils.pg import DriverRunner, PgError, PsqlRunner

pytestmark = pytest.mark.integration
VENV_PYTHON = shutil.which("python") or "python"


def conn(pg: PgCluster, db: str = "fleetpulse") -> dict:
    return {"login_host": pg.host, "login_port": pg.port, "login_user": APP_USER, "login_password": APP_PASSWORD,
            "login_db": db}


def assert_mismatch(result: dict, *words: str) -> None:
    assert result["_rc"] != 0 and result.get("failed") is True, result.get("summary")
    msg = result["msg"]
    assert "differ from the expected counts" in msg, msg
    assert "expected" in msg and "actual" in msg and "MISMATCH" in msg, msg
    for word in words:
        assert word in msg, f"{word!r} not in: {msg}"


@pytest.mark.parametrize("python", [VENV_PYTHON, "/usr/bin/python3"], ids=["psycopg", "psql-client"])
def test_exact_counts_match_the_database(pg: PgCluster, python: str) -> None:
    result = run_module("db_record_counts", conn(pg), python=python)
    assert result["_rc"] == 0, result.get("msg")
    assert result["counts"] == pg.counts("fleetpulse")
    assert result["via"] == ("psycopg" if python == VENV_PYTHON else "psql")
    assert result["changed"] is False and result["matched"] is True and result["compared"] == 0
    assert result["database"] == "fleetpulse" and result["method"] == "exact"
    assert APP_PASSWORD not in str(result)


def test_database_url_with_encoded_password_and_schema(pg: PgCluster) -> None:
    result = run_module("db_record_counts", {"database_url": pg.database_url("fleetpulse"),
                                             "expected": {"Tenant": 3, "Booking": 30}})
    assert result["_rc"] == 0, result.get("msg")
    assert result["counts"]["Tenant"] == 3
    assert [r["ok"] for r in result["differences"]] == [True, True]
    assert APP_PASSWORD not in str(result) and "s3cr" not in str(result)


def test_mismatch_fails_with_a_table_of_expected_and_actual(pg: PgCluster) -> None:
    result = run_module("db_record_counts", {**conn(pg), "expected": {"Tenant": 3, "Booking": 45}})
    assert_mismatch(result, "Booking", "45", "30", "-15")
    rows = {r["table"]: r for r in result["differences"]}
    assert rows["Booking"] == {"table": "Booking", "expected": 45, "actual": 30, "difference": -15,
                               "tolerance": "0", "allowed": 0, "ok": False}
    assert rows["Tenant"]["ok"] is True
    assert result["mismatches"] == 1


def test_tolerances_absolute_and_percent(pg: PgCluster) -> None:
    ok = run_module("db_record_counts", {**conn(pg), "expected": {"Booking": 31, "Customer": 19},
                                         "tolerances": {"Booking": "1", "Customer": "10%"}})
    assert ok["_rc"] == 0, ok.get("msg")
    bad = run_module("db_record_counts", {**conn(pg), "expected": {"Booking": 32}, "tolerance": "5%"})
    assert_mismatch(bad, "Booking")  # 5% of 32 is 1 row; the difference is 2


def test_fail_on_mismatch_false_returns_the_differences(pg: PgCluster) -> None:
    result = run_module("db_record_counts", {**conn(pg), "expected": {"Vehicle": 1}, "fail_on_mismatch": False})
    assert result["_rc"] == 0 and result["matched"] is False and result["mismatches"] == 1
    assert result["differences"][0]["difference"] == pg.counts("fleetpulse")["Vehicle"] - 1


def test_restore_that_lost_one_tenant_fails_per_tenant_though_totals_match(pg: PgCluster, tmp_path: Path) -> None:
    """Restore a real backup, move tenant 2's bookings to tenant 3: totals equal, per-tenant counts do not."""
    backup = tmp_path / backup_name(suffix=".dump")
    make_backup(pg, "fleetpulse", backup, "custom")
    manifest_path = mf.manifest_path_for(str(backup))
    db = f"restored_{uuid.uuid4().hex[:8]}"
    pg.psql("postgres", f'CREATE DATABASE "{db}" OWNER {APP_USER}')
    env = {**os.environ, "PGHOST": pg.host, "PGPORT": str(pg.port), "PGUSER": APP_USER, "PGPASSWORD": APP_PASSWORD}
    subprocess.run(["pg_restore", "--no-owner", "-d", db, str(backup)], env=env, check=True, capture_output=True)
    try:
        ok = run_module("db_record_counts", {**conn(pg, db), "per_tenant": True,
                                             "expected_from_manifest": manifest_path})
        assert ok["_rc"] == 0, ok.get("msg")
        assert ok["compared"] == 4 + 3 * 3  # 4 totals + 3 tenant tables x 3 tenants
        assert ok["tenant_counts"]["Booking"] == {"tenant0001": 5, "tenant0002": 10, "tenant0003": 15}
        assert ok["skipped_tenant_tables"] == ["Tenant"]
        pg.psql(db, 'UPDATE "Booking" SET "tenantId" = \'tenant0003\' WHERE "tenantId" = \'tenant0002\'')
        totals_only = run_module("db_record_counts", {**conn(pg, db), "expected_from_manifest": manifest_path})
        assert totals_only["_rc"] == 0, "totals are unchanged, so a totals-only check passes"
        bad = run_module("db_record_counts", {**conn(pg, db), "per_tenant": True,
                                              "expected_from_manifest": manifest_path})
        assert_mismatch(bad, "per tenant", "Booking/tenant0002", "Booking/tenant0003")
        wrong = {r["table"]: r for r in bad["tenant_differences"]}
        assert wrong["Booking/tenant0002"]["actual"] == 0 and wrong["Booking/tenant0002"]["expected"] == 10
        assert wrong["Booking/tenant0003"]["actual"] == 25
    finally:
        pg.psql("postgres", f'DROP DATABASE "{db}" WITH (FORCE)')


def test_estimates_read_the_planner_statistics(pg: PgCluster) -> None:
    result = run_module("db_record_counts", {**conn(pg), "estimate": True, "expected": {"Booking": 30},
                                             "tolerance": "20%"})
    assert result["_rc"] == 0, result.get("msg")
    assert result["method"] == "estimate"
    truth = pg.counts("fleetpulse")
    for table, value in result["counts"].items():
        assert abs(value - truth[table]) <= max(2, truth[table] // 5), (table, value, truth[table])


@pytest.mark.parametrize(("change", "words"), [
    ({"login_password": "not-the-password-42"}, ["wrong credentials", "login_password"]),
    ({"login_port": 1}, ["unreachable", "login_host/login_port"]),
    ({"login_db": "nosuchdb"}, ["wrong database name", "login_db"]),
    ({"login_db": "otherapp"}, ["table(s) not found", "public.Tenant", "right database"]),
], ids=["bad-password", "unreachable", "no-such-database", "wrong-database"])
def test_bad_connection_fails_with_the_cause_and_fix(pg: PgCluster, change: dict, words: list[str]) -> None:
    for python in (VENV_PYTHON, "/usr/bin/python3"):
        result = run_module("db_record_counts", {**conn(pg), **change}, python=python)
        assert result["_rc"] != 0, result
        for word in words:
            assert word in result["msg"], (python, result["msg"])


def test_check_mode_counts_and_changes_nothing(pg: PgCluster) -> None:
    result = run_module("db_record_counts", conn(pg), check=True)
    assert result["_rc"] == 0 and result["changed"] is False
    assert result["counts"] == pg.counts("fleetpulse")


def test_table_names_cannot_smuggle_sql(pg: PgCluster) -> None:
    evil = 'Tenant"; DELETE FROM "Booking"; --'
    result = run_module("db_record_counts", {**conn(pg), "tables": [evil]})
    assert result["_rc"] != 0 and "not found" in result["msg"]
    assert pg.counts("fleetpulse")["Booking"] == 30


@pytest.mark.parametrize("runner_class", [DriverRunner, PsqlRunner])
def test_sessions_are_read_only(pg: PgCluster, runner_class: type) -> None:
    """Both ways in open read-only sessions (default_transaction_read_only): a write is refused by the server."""
    runner = runner_class(pg.conn_params("fleetpulse"))
    with pytest.raises(PgError, match="read-only transaction"):
        runner.scalar('DELETE FROM "Booking"')
    assert pg.counts("fleetpulse")["Booking"] == 30


# --------------------------------------------------------------------------- inside the postgres container

@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A Compose project with the replica postgres image (the official image's interface), loaded with data."""
    ns = os.environ.get("FP_TEST_NS", "fp")
    image = subprocess.run(["python", str(REPO / "tests/world/world.py"), "ref", "postgres"], check=True,
                           capture_output=True, cwd=REPO).stdout.decode().split()[-1]
    project_dir = tmp_path_factory.mktemp("stack")
    project = f"{ns}-dbcounts"
    (project_dir / "docker-compose.prod.yml").write_text(f"""\
services:
  postgres:
    image: {image}
    environment:
      POSTGRES_USER: {APP_USER}
      POSTGRES_PASSWORD: stack-password
      POSTGRES_DB: fleetpulse
    labels:
      io.fleetpulse.test.ns: "{ns}"
""")
    compose = ["docker", "compose", "--project-directory", str(project_dir), "-f", "docker-compose.prod.yml",
               "-p", project]
    up = subprocess.run([*compose, "up", "-d"], capture_output=True, check=False, cwd=project_dir)
    assert up.returncode == 0, f"docker compose up failed: {up.stderr.decode()[-2000:]}"
    try:
        container = subprocess.run([*compose, "ps", "-q", "postgres"], check=True, capture_output=True,
                                   cwd=project_dir).stdout.decode().strip()

        def ready() -> bool:
            probe = ["docker", "exec", container, "psql", "-U", APP_USER, "-d", "fleetpulse", "-c", "select 1"]
            return subprocess.run(probe, capture_output=True, check=False).returncode == 0

        wait_until("postgres in the stack", ready, timeout=120)
        sql = ((FIXTURES / "prisma_schema.sql").read_text()
               + "\n\\set tenants 2\n\\set vehicles 1\n\\set customers 2\n\\set bookings 4\n"
               + (FIXTURES / "prisma_data.sql").read_text())
        subprocess.run(["docker", "exec", "-i", container, "psql", "-q", "-v", "ON_ERROR_STOP=1", "-U", APP_USER,
                        "-d", "fleetpulse"], input=sql.encode(), check=True, capture_output=True)
        name = subprocess.run(["docker", "inspect", "-f", "{{.Name}}", container], check=True,
                              capture_output=True).stdout.decode().strip().lstrip("/")
        yield {"dir": str(project_dir), "project": project, "container": name}
    finally:
        subprocess.run([*compose, "down", "-v", "--remove-orphans"], capture_output=True, check=False,
                       cwd=project_dir)


STACK_COUNTS = {"Tenant": 2, "Booking": 4 + 8, "Vehicle": 1 + 2, "Customer": 2 + 4}


def test_counts_inside_the_container_by_name(stack: dict) -> None:
    result = run_module("db_record_counts", {"container": stack["container"], "login_user": APP_USER,
                                             "login_db": "fleetpulse", "expected": STACK_COUNTS})
    assert result["_rc"] == 0, result.get("msg")
    assert result["counts"] == STACK_COUNTS
    assert result["via"] == f"psql in container {stack['container']}"


def test_counts_inside_the_compose_service_with_the_apps_database_url(stack: dict) -> None:
    """The app's DATABASE_URL names host 'postgres'; inside the container the local socket is used."""
    result = run_module("db_record_counts", {
        "compose_project_dir": stack["dir"], "compose_files": ["docker-compose.prod.yml"],
        "compose_project_name": stack["project"], "compose_service": "postgres",
        "database_url": "postgresql://fleetpulse:stack-password@postgres:5432/fleetpulse?schema=public",
        "per_tenant": True, "expected_per_tenant": {"Booking": {"tenant0001": 4, "tenant0002": 8}},
    })
    assert result["_rc"] == 0, result.get("msg")
    assert result["counts"] == STACK_COUNTS
    assert result["tenant_counts"]["Customer"] == {"tenant0001": 2, "tenant0002": 4}
    assert "stack-password" not in str(result)


def test_stopped_container_fails_with_the_fix(stack: dict) -> None:
    result = run_module("db_record_counts", {"container": f"{stack['container']}-gone", "login_user": APP_USER})
    assert result["_rc"] != 0
    assert "container is not running" in result["msg"] and "docker ps" in result["msg"], result["msg"]
    result = run_module("db_record_counts", {"compose_project_dir": stack["dir"], "compose_service": "api",
                                             "compose_files": ["docker-compose.prod.yml"],
                                             "compose_project_name": stack["project"]})
    assert result["_rc"] != 0 and "docker compose failed" in result["msg"] and "api" in result["msg"], result["msg"]
