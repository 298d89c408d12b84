# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real PostgreSQL for the module tests: throwaway clusters, real pg_dump dumps, Ansible runs.

A cluster is Debian's PostgreSQL 15 (``apt-get install postgresql``), initialised in a
temporary directory as the ``postgres`` user (we run as root) on a free loopback port,
with password (scram) authentication over TCP and trust on its private socket, and
removed at the end. The schema is a small FleetPulse-like Prisma schema
(fixtures/prisma_schema.sql) filled by fixtures/prisma_data.sql.

Imported by the test modules (fixtures) and by bench/backup_verify.py (the cluster).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import fp_polling
import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
COLLECTIONS = REPO / ".collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.fleetpulse.dr.plugins.module_utils import manifest as mf  # noqa: E402
from ansible_collections.fleetpulse.dr.plugins.module_utils.pg import ConnParams, PsqlRunner  # noqa: E402
from ansible_collections.fleetpulse.dr.plugins.module_utils.snapshot import SnapshotSession  # noqa: E402

PG_BIN = Path(os.environ.get("FP_PG_BIN", "/usr/lib/postgresql/15/bin"))
APP_USER = "fleetpulse"
APP_PASSWORD = "s3cr:t/p@ss%word"  # URL-special characters on purpose: DATABASE_URL must percent-encode them
TABLES = ("Tenant", "Booking", "Vehicle", "Customer")
DUMP_OPTIONS = ["--clean", "--if-exists", "--no-owner", "--no-acl"]  # the plan's pg_dump options
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3, like a managed host: no psycopg, no boto3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_postgres(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command as the postgres user (initdb and postgres refuse to run as root)."""
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, **kwargs)


class PgCluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1:<free port>."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.data = base / "data"
        self.socket_dir = base / "sock"
        self.port = free_port()
        self.host = "127.0.0.1"

    def start(self) -> PgCluster:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL 15 binaries not found in {PG_BIN}: apt-get install postgresql")
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        pw = pwd.getpwnam("postgres")
        for path in (self.base, self.socket_dir):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        pwfile = self.base / "pw"
        pwfile.write_text("postgres-admin\n")
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", f"--pwfile={pwfile}",
                     "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"])
        pwfile.unlink()
        as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "log"), "-w", "-t", "60",
                     "-o", f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                           "-c synchronous_commit=off -c full_page_writes=off", "start"])
        self.psql("postgres", f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}'")
        return self

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
                            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, check=False)
        shutil.rmtree(self.base, ignore_errors=True)

    def admin_env(self) -> dict[str, str]:
        return {**os.environ, "PGHOST": str(self.socket_dir), "PGPORT": str(self.port), "PGUSER": "postgres"}

    def psql(self, db: str, sql: str, *args: str) -> str:
        res = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db, *args],
                             input=sql.encode(), capture_output=True, env=self.admin_env(), check=False)
        if res.returncode != 0:
            raise RuntimeError(f"psql failed: {res.stderr.decode()}")
        return res.stdout.decode().strip()

    def create_fleetpulse_db(self, name: str, tenants: int = 3, vehicles: int = 2, customers: int = 3,
                             bookings: int = 5) -> None:
        self.psql("postgres", f'CREATE DATABASE "{name}" OWNER {APP_USER}')
        self.psql(name, f"SET ROLE {APP_USER};\n" + (FIXTURES / "prisma_schema.sql").read_text())
        data = f"SET ROLE {APP_USER};\n" + (FIXTURES / "prisma_data.sql").read_text()
        self.psql(name, data, "-v", f"tenants={tenants}", "-v", f"vehicles={vehicles}", "-v",
                  f"customers={customers}", "-v", f"bookings={bookings}")

    def counts(self, db: str, tables: tuple[str, ...] = TABLES) -> dict[str, int]:
        """Ground truth, counted independently of the modules."""
        return {t: int(self.psql(db, f'SELECT count(*) FROM "{t}"')) for t in tables}  # noqa: S608 - test names

    def database_url(self, db: str, password: str = APP_PASSWORD) -> str:
        from urllib.parse import quote  # noqa: PLC0415

        return f"postgresql://{APP_USER}:{quote(password, safe='')}@{self.host}:{self.port}/{db}?schema=public"

    def conn_params(self, db: str) -> ConnParams:
        return ConnParams(host=self.host, port=self.port, user=APP_USER, password=APP_PASSWORD, database=db)

    def pg_dump(self, db: str, target: Path, fmt: str = "plain.gz", snapshot: str | None = None,
                extra: list[str] | None = None) -> None:
        """A real dump: plain.gz is the plan's `pg_dump --clean --if-exists --no-owner --no-acl | gzip`."""
        env = {**os.environ, "PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": APP_USER,
               "PGPASSWORD": APP_PASSWORD}
        args = ["pg_dump", *DUMP_OPTIONS, *(extra or []), *([f"--snapshot={snapshot}"] if snapshot else []), db]
        if fmt == "plain.gz":
            with open(target, "wb") as out:
                dump = subprocess.Popen(args, stdout=subprocess.PIPE, env=env)
                subprocess.run(["gzip", "-c"], stdin=dump.stdout, stdout=out, check=True)
                dump.stdout.close()
                if dump.wait() != 0:
                    raise RuntimeError("pg_dump failed")
        else:
            flag = {"custom": "-Fc", "directory": "-Fd", "plain": "-Fp"}[fmt]
            subprocess.run([*args[:-1], flag, "-f", str(target), db], env=env, check=True, capture_output=True)


def make_backup(cluster: PgCluster, db: str, target: Path, fmt: str = "plain.gz",
                per_tenant: bool = True) -> dict:
    """Dump ``db`` and write its manifest, with row counts taken in the dump's own snapshot."""
    runner = PsqlRunner(cluster.conn_params(db))
    started = mf.utc_now()
    with SnapshotSession(runner) as snap:
        counted = snap.counts([("public", t) for t in [*TABLES, "_prisma_migrations"]], per_tenant=per_tenant)
        cluster.pg_dump(db, target, fmt, snapshot=snap.snapshot_id)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) if target.is_dir() else target.stat().st_size
    digest = mf.sha256_directory(str(target)) if target.is_dir() else mf.sha256_file(str(target))
    version = subprocess.run(["pg_dump", "--version"], capture_output=True, check=True).stdout.decode().split(
        "pg_dump (PostgreSQL) ")[-1].strip()
    data = mf.build(file=target.name, fmt=fmt, size=size, sha256=digest, database=counted.database,
                    server_version=counted.server_version, pg_dump_version=version, started_at=started,
                    finished_at=mf.utc_now(), row_counts=counted.totals, tenant_row_counts=counted.per_tenant,
                    tenant_column="tenantId", snapshot=snap.snapshot_id, pg_dump_options=DUMP_OPTIONS,
                    tool="tests/integration/pg_world.py")
    mf.write(mf.manifest_path_for(str(target)), data)
    return data


def backup_name(age: dt.timedelta = dt.timedelta(minutes=5), suffix: str = ".sql.gz") -> str:
    """The plan's file name, car_rental_backup_YYYYMMDD_HHMMSS.sql.gz, for a backup ``age`` old."""
    stamp = (dt.datetime.now(dt.UTC) - age).strftime("%Y%m%d_%H%M%S")
    return f"car_rental_backup_{stamp}{suffix}"


# --------------------------------------------------------------------------- running modules

def run_module(module: str, args: dict, *, python: str = SYSTEM_PYTHON, check: bool = False,
               env: dict | None = None) -> dict:
    """Run ``fleetpulse.dr.<module>`` for real through Ansible (ad-hoc, local connection); return its result."""
    cmd = ["ansible", "localhost", "-c", "local", "-m", f"fleetpulse.dr.{module}", "-a", json.dumps(args),
           "-e", f"ansible_python_interpreter={python}"]
    if check:
        cmd.append("--check")
    run_env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
               "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
               "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_LOCALHOST_WARNING": "0",
               "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0", "ANSIBLE_NOCOLOR": "1", **(env or {})}
    res = subprocess.run(cmd, capture_output=True, env=run_env, cwd=REPO, check=False, timeout=600)
    out = res.stdout.decode()
    try:
        data = json.loads(out[out.index("{"):])
        host = data["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError) as exc:
        raise AssertionError(f"no JSON result from ansible ({exc}):\n{out[-3000:]}\n"
                             f"{res.stderr.decode()[-3000:]}") from None
    host["_rc"] = res.returncode
    return host


def check_status(result: dict) -> dict[str, str]:
    return {name: c["status"] for name, c in result["checks"].items()}


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster]:
    base = Path(tempfile.mkdtemp(prefix="fp-pg-"))
    cluster = PgCluster(base)
    try:
        cluster.start()
        cluster.create_fleetpulse_db("fleetpulse")
        cluster.create_fleetpulse_db("otherapp", tenants=1)
        cluster.psql("otherapp", 'ALTER TABLE "Tenant" RENAME TO "Account"; ALTER TABLE "Booking" RENAME TO "Order"')
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def backups(pg: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real backups of the fleetpulse database, each with its manifest."""
    out = tmp_path_factory.mktemp("backups")
    made = {}
    for fmt, suffix in (("plain.gz", ".sql.gz"), ("custom", ".dump"), ("directory", ".dir")):
        sub = out / fmt
        sub.mkdir()
        path = sub / backup_name(suffix=suffix)
        make_backup(pg, "fleetpulse", path, fmt)
        made[fmt] = path
    return made


def wait_until(what: str, probe, timeout: float = 60.0, interval: float = 0.3):
    """Poll ``probe`` until it returns a truthy value (errors count as not yet); fail naming ``what``."""
    return fp_polling.wait_until(what, probe, timeout, interval, tolerate=(Exception,))
