# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of database backups: the plan's plain .sql.gz against the parallel-restore formats.

    FP_TEST_NS=bench python bench/db_backup.py [--bookings-per-tenant 150000] [--keep]

Starts a throwaway PostgreSQL 15 (tests/images/postgres, the replica's postgres) on a
private network, fills it with the replica's data generator (rows only, about 1.3 GB by
default: check `df -h /` first, the run needs about 3 GB), then measures:

* the backup program itself (fleetpulse-backup db, pg_dump inside the container, as on a
  server) in both formats it writes: plain.gz (the plan's) and custom (-Fc): wall time of
  the whole run (snapshot counts, dump, verification), of pg_dump alone, and the size;
* pg_dump -Fd (directory) with -j 1 and -j 2 inside the container, for comparison;
* restores into a scratch database: gunzip | psql for plain.gz, pg_restore -j 2 for custom.

Prints a Markdown table for docs/performance.md and removes everything (unless --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NS = os.environ.get("FP_TEST_NS", "fp")
NAME = f"{NS}-bench-backup"
LABELS = ["--label", f"io.fleetpulse.test.ns={NS}", "--label", "io.fleetpulse.test.service=bench-backup"]
USER, PASSWORD, DB = "fleetpulse", "bench-db-password", "fleetpulse"
# Inside the throwaway container (its own filesystem), for the directory dump and the restore.
IN_CONTAINER_DIR = "/var/lib/postgresql/bench-dump.dir"
IN_CONTAINER_FILE = "/var/lib/postgresql/bench-restore.dump"


def sh(*args: str, check: bool = True, **kwargs) -> str:
    res = subprocess.run(list(args), capture_output=True, text=True, check=False, **kwargs)
    if check and res.returncode != 0:
        raise SystemExit(f"{' '.join(args)}: {res.stderr.strip()[-2000:]}")
    return res.stdout.strip()


def psql(sql: str, db: str = DB) -> str:
    return sh("docker", "exec", NAME, "psql", "-U", USER, "-d", db, "-Atc", sql)


def wait(what: str, probe, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except Exception:  # noqa: S110 - not up yet
            pass
        time.sleep(0.5)
    raise SystemExit(f"{what} not ready after {timeout:.0f}s")


def timed(func, *args, **kwargs) -> tuple[float, object]:
    t0 = time.monotonic()
    value = func(*args, **kwargs)
    return time.monotonic() - t0, value


def start() -> str:
    image = sh(sys.executable, str(REPO / "tests/world/world.py"), "ref", "postgres")
    sh("docker", "network", "create", *LABELS, NAME, check=False)
    sh("docker", "run", "-d", "--name", NAME, "--network", NAME, *LABELS, "--shm-size", "256m",
       "-e", f"POSTGRES_USER={USER}", "-e", f"POSTGRES_PASSWORD={PASSWORD}", "-e", f"POSTGRES_DB={DB}",
       "-v", "/var/lib/postgresql/data", image)
    wait("postgres", lambda: subprocess.run(["docker", "exec", NAME, "pg_isready", "-h", "127.0.0.1", "-U", USER,
                                             "-d", DB], capture_output=True, check=False).returncode == 0)
    return sh("docker", "inspect", "--format", f'{{{{ (index .NetworkSettings.Networks "{NAME}").IPAddress }}}}',
              NAME)


def seed(ip: str, args: argparse.Namespace) -> dict:
    url = f"postgresql://{USER}:{PASSWORD}@{ip}:5432/{DB}?schema=public"
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests/images/replica-api/app")}
    base = [sys.executable, "-m", "fleetpulse_replica"]
    sh(*base, "migrate", "deploy", "--database-url", url, env=env)
    out = sh(*base, "seed", "--database-url", url, "--scale", "large", "--no-objects", "--seed", "1",
             "--tenants", str(args.tenants), "--vehicles-per-tenant", str(args.vehicles_per_tenant),
             "--customers-per-tenant", str(args.customers_per_tenant),
             "--bookings-per-tenant", str(args.bookings_per_tenant), env=env)
    psql("VACUUM ANALYZE")
    return json.loads(out)


def program(config: Path, fmt: str) -> dict:
    cmd = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); from ansible_collections."
           "fleetpulse.dr.plugins.module_utils.backup_cli import main; sys.exit(main())",
           str(REPO / ".collections"), "--config", str(config), "--json", "db", "--type", "manual", "--format", fmt]
    t, out = timed(sh, *cmd)
    data = json.loads(out)  # type: ignore[arg-type]
    data["wall"] = t
    return data


def directory_dump(jobs: int) -> tuple[float, int]:
    sh("docker", "exec", NAME, "rm", "-rf", IN_CONTAINER_DIR)
    t, _result = timed(sh, "docker", "exec", NAME, "pg_dump", "-U", USER, "-d", DB, "-Fd", "-j", str(jobs),
                       "-Z", "6", "--no-owner", "--no-acl", "-f", IN_CONTAINER_DIR)
    size = int(sh("docker", "exec", NAME, "du", "-sb", IN_CONTAINER_DIR).split()[0])
    sh("docker", "exec", NAME, "rm", "-rf", IN_CONTAINER_DIR)
    return t, size


def restore(fmt: str, path: str) -> float:
    psql("DROP DATABASE IF EXISTS scratch", db="postgres")
    psql(f"CREATE DATABASE scratch OWNER {USER}", db="postgres")
    if fmt == "plain.gz":
        def run() -> None:
            with subprocess.Popen(["gunzip", "-c", path], stdout=subprocess.PIPE) as gz:
                subprocess.run(["docker", "exec", "-i", NAME, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", USER,
                                "-d", "scratch"], stdin=gz.stdout, capture_output=True, check=True)
        t, _result = timed(run)
    else:
        sh("docker", "cp", path, f"{NAME}:{IN_CONTAINER_FILE}")
        t, _result = timed(sh, "docker", "exec", NAME, "pg_restore", "-U", USER, "-d", "scratch", "-j", "2",
                           "--no-owner", IN_CONTAINER_FILE)
        sh("docker", "exec", NAME, "rm", "-f", IN_CONTAINER_FILE)
    count = psql('SELECT count(*) FROM "Booking"', db="scratch")
    psql("DROP DATABASE scratch", db="postgres")
    return t if int(count) > 0 else float("nan")


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:,.0f} MiB"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tenants", type=int, default=20)
    p.add_argument("--vehicles-per-tenant", type=int, default=2000)
    p.add_argument("--customers-per-tenant", type=int, default=30000)
    p.add_argument("--bookings-per-tenant", type=int, default=150000)
    p.add_argument("--no-restore", action="store_true", help="skip the restore timings")
    p.add_argument("--keep", action="store_true", help="leave the container for inspection")
    args = p.parse_args()
    print(f"free disk: {shutil.disk_usage('/').free / 1e9:.1f} GB", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="fp-bench-backup-", dir="/var/tmp"))
    try:
        ip = start()
        t_seed, summary = timed(seed, ip, args)
        db_size = int(psql(f"SELECT pg_database_size('{DB}')"))
        rows = int(psql('SELECT (SELECT count(*) FROM "Booking") + (SELECT count(*) FROM "Customer") + '
                        '(SELECT count(*) FROM "Vehicle") + (SELECT count(*) FROM "Tenant")'))
        print(f"seeded {rows:,} rows, database {mib(db_size)} in {t_seed:.0f}s", file=sys.stderr)
        (work / "backups").mkdir()
        config = work / "backup.json"
        config.write_text(json.dumps({
            "database": {"name": DB, "user": USER, "pg_dump": "container", "container": NAME},
            "backup_dir": str(work / "backups"), "metrics_dir": str(work / "metrics"),
            "state_dir": str(work / "state"), "lock_path": str(work / "lock"), "min_free_factor": 0}))
        results = []
        for fmt in ("plain.gz", "custom"):
            data = program(config, fmt)
            restore_s = float("nan") if args.no_restore else restore(fmt, data["path"])
            results.append((fmt, data["wall"], data["dump_seconds"], data["size"], restore_s))
            print(f"{fmt}: {data['wall']:.1f}s ({data['dump_seconds']:.1f}s pg_dump), {mib(data['size'])}, "
                  f"restore {restore_s:.1f}s", file=sys.stderr)
            os.unlink(data["path"])
        dirs = []
        for jobs in (1, 2):
            t, size = directory_dump(jobs)
            dirs.append((jobs, t, size))
            print(f"directory -j {jobs}: {t:.1f}s, {mib(size)}", file=sys.stderr)
        print(f"\nDataset: {rows:,} rows (replica generator, rows only: {json.dumps(summary.get('rows', {}))}), "
              f"database {mib(db_size)}; {os.cpu_count()} CPUs, {platform.python_version()}, PostgreSQL "
              f"{psql('SHOW server_version')}.\n")
        print("| Format | Backup run (s) | of which pg_dump (s) | Size | Restore (s) |")
        print("| ------ | -------------: | -------------------: | ---: | ----------: |")
        label = {"plain.gz": "plain.gz (plan: `pg_dump \\| gzip`, restore `gunzip \\| psql`)",
                 "custom": "custom `-Fc` (default, restore `pg_restore -j 2`)"}
        for fmt, wall, dump, size, rest in results:
            print(f"| {label[fmt]} | {wall:.1f} | {dump:.1f} | {mib(size)} | {rest:.1f} |")
        for jobs, t, size in dirs:
            print(f"| directory `-Fd -j {jobs}` (pg_dump alone, for comparison) | - | {t:.1f} | {mib(size)} | - |")
    finally:
        if not args.keep:
            sh("docker", "rm", "-f", "-v", NAME, check=False)
            sh("docker", "network", "rm", NAME, check=False)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
