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
* restores into a scratch database: gunzip | psql for plain.gz, pg_restore -j 1 and -j 2
  for custom.

Wall time and CPU time (the PostgreSQL container's cgroup plus this script's children):
the machine is shared, and CPU seconds do not depend on what else runs. Prints a
Markdown table for docs/performance.md and removes everything (unless --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
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


def container_cpu() -> float:
    """CPU seconds used so far by the PostgreSQL container (server, pg_dump, pg_restore; cgroup v1 or v2)."""
    cid = sh("docker", "inspect", "--format", "{{.Id}}", NAME)
    for path in (f"/sys/fs/cgroup/cpu,cpuacct/docker/{cid}/cpuacct.usage", f"/sys/fs/cgroup/cpuacct/docker/{cid}/"
                 "cpuacct.usage"):
        if os.path.exists(path):
            return int(Path(path).read_text()) / 1e9
    path = f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat"
    if os.path.exists(path):
        return int(Path(path).read_text().split("usage_usec")[1].split()[0]) / 1e6
    return float("nan")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(func, *args, **kwargs) -> tuple[float, object]:
    """(wall seconds, value); the CPU seconds of the container and of local children go to timed.cpu."""
    c0, k0, t0 = container_cpu(), children_cpu(), time.monotonic()
    value = func(*args, **kwargs)
    timed.cpu = (container_cpu() - c0) + (children_cpu() - k0)  # type: ignore[attr-defined]
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
    """One run of the backup program; wall and CPU seconds (program + container) added to its result."""
    cmd = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); from ansible_collections."
           "fleetpulse.dr.plugins.module_utils.backup_cli import main; sys.exit(main())",
           str(REPO / ".collections"), "--config", str(config), "--json", "db", "--type", "manual", "--format", fmt]
    t, out = timed(sh, *cmd)
    data = json.loads(out)  # type: ignore[arg-type]
    data["wall"], data["cpu"] = t, timed.cpu  # type: ignore[attr-defined]
    return data


def directory_dump(jobs: int) -> tuple[float, float, int]:
    sh("docker", "exec", NAME, "rm", "-rf", IN_CONTAINER_DIR)
    t, _result = timed(sh, "docker", "exec", NAME, "pg_dump", "-U", USER, "-d", DB, "-Fd", "-j", str(jobs),
                       "-Z", "6", "--no-owner", "--no-acl", "-f", IN_CONTAINER_DIR)
    cpu = timed.cpu  # type: ignore[attr-defined]
    size = int(sh("docker", "exec", NAME, "du", "-sb", IN_CONTAINER_DIR).split()[0])
    sh("docker", "exec", NAME, "rm", "-rf", IN_CONTAINER_DIR)
    return t, cpu, size


def restore(fmt: str, path: str, jobs: int = 2) -> tuple[float, float]:
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
        t, _result = timed(sh, "docker", "exec", NAME, "pg_restore", "-U", USER, "-d", "scratch", "-j", str(jobs),
                           "--no-owner", IN_CONTAINER_FILE)
        sh("docker", "exec", NAME, "rm", "-f", IN_CONTAINER_FILE)
    cpu = timed.cpu  # type: ignore[attr-defined]
    count = psql('SELECT count(*) FROM "Booking"', db="scratch")
    psql("DROP DATABASE scratch", db="postgres")
    if int(count) == 0:
        raise SystemExit(f"the {fmt} restore holds no bookings")
    return t, cpu


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:,.0f} MiB"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tenants", type=int, default=20)
    p.add_argument("--vehicles-per-tenant", type=int, default=2000)
    p.add_argument("--customers-per-tenant", type=int, default=30000)
    p.add_argument("--bookings-per-tenant", type=int, default=150000)
    p.add_argument("--no-restore", action="store_true", help="skip the restore timings")
    p.add_argument("--repeat", type=int, default=1, help="runs of each measurement (the median is reported)")
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
        rows_out = []
        med = statistics.median
        for fmt in ("plain.gz", "custom"):
            runs = [program(config, fmt) for _round in range(args.repeat)]
            for data in runs[:-1]:
                os.unlink(data["path"])
            last = runs[-1]
            rows_out.append((f"{fmt} backup run (fleetpulse-backup db)", med(r["wall"] for r in runs),
                             med(r["cpu"] for r in runs), last["size"],
                             f"pg_dump {med(r['dump_seconds'] for r in runs):.1f} s of it"))
            if not args.no_restore:
                variants = [("gunzip | psql", 1)] if fmt == "plain.gz" else [("pg_restore -j 1", 1),
                                                                             ("pg_restore -j 2", 2)]
                for label, jobs in variants:
                    times = [restore(fmt, last["path"], jobs) for _round in range(args.repeat)]
                    rows_out.append((f"{fmt} restore ({label})", med(t for t, _c in times),
                                     med(c for _t, c in times), None, ""))
            os.unlink(last["path"])
            print(rows_out[-1], file=sys.stderr)
        for jobs in (1, 2):
            runs = [directory_dump(jobs) for _round in range(args.repeat)]
            rows_out.append((f"directory pg_dump -Fd -j {jobs} (for comparison)", med(t for t, _c, _s in runs),
                             med(c for _t, c, _s in runs), runs[-1][2], "pg_dump alone"))
            print(rows_out[-1], file=sys.stderr)
        load = os.getloadavg()[0]
        print(f"\nDataset: {rows:,} rows (replica generator, rows only: {json.dumps(summary.get('rows', {}))}), "
              f"database {mib(db_size)}; {os.cpu_count()} CPUs, load average {load:.1f} at the end, PostgreSQL "
              f"{psql('SHOW server_version')}; median of {args.repeat} run(s).\n")
        print("| What | Wall (s) | CPU (s) | Size | Note |")
        print("| ---- | -------: | ------: | ---: | ---- |")
        for what, wall, cpu, size, note in rows_out:
            print(f"| {what} | {wall:.1f} | {cpu:.1f} | {mib(size) if size else '-'} | {note} |")
    finally:
        if not args.keep:
            sh("docker", "rm", "-f", "-v", NAME, check=False)
            sh("docker", "network", "rm", NAME, check=False)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
