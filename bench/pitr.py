# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of recovery time: point-in-time recovery (pgBackRest) against the plan's `gunzip | psql`.

    FP_TEST_NS=bench python tests/world/world.py up s3-tls
    FP_TEST_NS=bench python bench/pitr.py [--bookings-per-tenant 150000] [--keep]

Starts a throwaway PostgreSQL 15 (tests/images/postgres, with pgBackRest) on the world
network, archiving to the world's SeaweedFS over HTTPS as db_pitr sets it up (async, lz4),
fills it with the replica's data generator (about 1.3 GB by default: check `df -h /`
first, the run needs about 4 GB), takes a full pgBackRest backup and the plan's
`pg_dump | gzip` dump of the same data, then measures the recovery of each into an empty
server, until it answers queries with every booking:

* PITR: `pgbackrest restore` into an empty volume, start, replay to the end of the archive,
  promotion (what fleetpulse.dr.db_pitr's recover does, without its checks);
* the plan 3.1 procedure: `gunzip -c backup.sql.gz | psql` into an empty database.

Prints a Markdown table for docs/performance.md and removes everything (unless --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
import db_backup as base  # noqa: E402 - the same container helpers and data generator

NS = os.environ.get("FP_TEST_NS", "fp")
NAME = f"{NS}-bench-pitr"
TARGET = f"{NS}-bench-pitr-target"
LABELS = ["--label", f"io.fleetpulse.test.ns={NS}", "--label", "io.fleetpulse.test.service=bench-pitr"]
USER, PASSWORD, DB = base.USER, base.PASSWORD, base.DB
STANZA = "bench"


def sh(*args: str, check: bool = True, **kwargs) -> str:
    return base.sh(*args, check=check, **kwargs)


def world() -> dict:
    root = Path(os.environ.get("FP_WORLD_DIR") or REPO / ".world" / NS)
    return json.loads((root / "world.json").read_text())


def config_dir(work: Path, svc: dict, repo_path: str) -> Path:
    conf = work / "pgbackrest"
    conf.mkdir()
    shutil.copy(svc["ca_cert"], conf / "ca.crt")
    host, port = svc["endpoint"].removeprefix("https://").split(":")
    (conf / "pgbackrest.conf").write_text(f"""[global]
repo1-type=s3
repo1-path={repo_path}
repo1-s3-bucket={svc['bucket']}
repo1-s3-endpoint={host}
repo1-s3-port={port}
repo1-s3-region={svc['region']}
repo1-s3-uri-style=path
repo1-s3-key={svc['access_key']}
repo1-s3-key-secret={svc['secret_key']}
repo1-s3-ca-file=/etc/pgbackrest/ca.crt
compress-type=lz4
start-fast=y
archive-async=y
spool-path=/var/spool/pgbackrest
process-max=2
log-level-console=warn
log-level-file=off

[{STANZA}]
pg1-path=/var/lib/postgresql/data
pg1-socket-path=/var/run/postgresql
pg1-user={USER}
""")
    for path in (conf, *conf.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return conf


def run_server(name: str, conf: Path, image: str, network: str, volume: str, *extra: str) -> None:
    sh("docker", "run", "-d", "--init", "--name", name, "--network", network, *LABELS, "--shm-size", "256m",
       "-e", f"POSTGRES_USER={USER}", "-e", f"POSTGRES_PASSWORD={PASSWORD}", "-e", f"POSTGRES_DB={DB}",
       "-v", f"{volume}:/var/lib/postgresql/data", "-v", f"{conf}:/etc/pgbackrest:ro", image, "postgres", *extra)


def q(name: str, sql: str, db: str = DB) -> str:
    return sh("docker", "exec", "-u", "postgres", name, "psql", "-U", USER, "-d", db, "-Atc", sql)


def answers(name: str):
    def probe() -> bool:
        return subprocess.run(["docker", "exec", "-u", "postgres", name, "psql", "-U", USER, "-d", DB, "-Atc",
                               "SELECT 1"], capture_output=True, check=False).returncode == 0
    return probe


def ready(name: str, bookings: int, db: str = DB):
    def probe() -> bool:
        res = subprocess.run(["docker", "exec", "-u", "postgres", name, "psql", "-U", USER, "-d", db, "-Atc",
                              'SELECT NOT pg_is_in_recovery(), (SELECT count(*) FROM "Booking")'],
                             capture_output=True, text=True, check=False)
        return res.stdout.strip() == f"t|{bookings}"
    return probe


def main() -> int:  # noqa: PLR0915 - one measured sequence, easier to follow in one place
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tenants", type=int, default=20)
    p.add_argument("--vehicles-per-tenant", type=int, default=2000)
    p.add_argument("--customers-per-tenant", type=int, default=30000)
    p.add_argument("--bookings-per-tenant", type=int, default=150000)
    p.add_argument("--keep", action="store_true", help="leave the containers and volumes for inspection")
    args = p.parse_args()
    print(f"free disk: {shutil.disk_usage('/').free / 1e9:.1f} GB", file=sys.stderr)
    svc = world()["services"]["s3-tls"]
    network = f"{NS}-world"
    image = sh(sys.executable, str(REPO / "tests/world/world.py"), "ref", "postgres")
    work = Path(tempfile.mkdtemp(prefix="fp-bench-pitr-", dir="/var/tmp"))
    conf = config_dir(work, svc, f"/bench-{int(time.time())}")
    volumes = [f"{NAME}-data", f"{TARGET}-data"]
    base.NAME = NAME  # the helpers of bench/db_backup.py talk to this container
    try:
        run_server(NAME, conf, image, network, volumes[0], "-c", "archive_mode=on", "-c",
                   f"archive_command=pgbackrest --stanza={STANZA} archive-push %p", "-c", "archive_timeout=30")
        base.wait("postgres", answers(NAME))
        ip = sh("docker", "inspect", "--format", f'{{{{ (index .NetworkSettings.Networks "{network}").IPAddress }}}}',
                NAME)
        sh("docker", "exec", "-u", "postgres", NAME, "pgbackrest", f"--stanza={STANZA}", "stanza-create")
        t_seed, summary = base.timed(base.seed, ip, args)
        db_size = int(q(NAME, f"SELECT pg_database_size('{DB}')"))
        bookings = int(q(NAME, 'SELECT count(*) FROM "Booking"'))
        print(f"seeded {bookings:,} bookings, database {base.mib(db_size)} in {t_seed:.0f}s", file=sys.stderr)
        t_backup, _out = base.timed(sh, "docker", "exec", "-u", "postgres", NAME, "pgbackrest", f"--stanza={STANZA}",
                                    "--type=full", "backup")
        cpu_backup = base.timed.cpu  # type: ignore[attr-defined]
        # A little activity after the backup, archived: the recovery replays WAL as in real life.
        q(NAME, "CREATE TABLE bench_after (id int); INSERT INTO bench_after SELECT generate_series(1, 100000)")
        segment = q(NAME, "SELECT pg_walfile_name(pg_switch_wal())")
        base.wait("the last segment archived",
                  lambda: q(NAME, "SELECT last_archived_wal FROM pg_stat_archiver") >= segment, timeout=300)
        dump = work / "backup.sql.gz"

        def plan_dump() -> None:
            with dump.open("wb") as out, subprocess.Popen(
                    ["docker", "exec", NAME, "pg_dump", "-U", USER, "-d", DB], stdout=subprocess.PIPE) as pg:
                subprocess.run(["gzip", "-6"], stdin=pg.stdout, stdout=out, check=True)
        t_dump, _result = base.timed(plan_dump)
        cpu_dump = base.timed.cpu  # type: ignore[attr-defined]
        print(f"backup {t_backup:.1f}s, dump {t_dump:.1f}s ({base.mib(dump.stat().st_size)})", file=sys.stderr)
        sh("docker", "rm", "-f", NAME)

        # PITR: restore into an empty volume, start, replay, promote, answer with every booking.
        def pitr() -> None:
            sh("docker", "run", "--rm", "--network", network, *LABELS, "-v", f"{volumes[1]}:/var/lib/postgresql/data",
               "-v", f"{conf}:/etc/pgbackrest:ro", "--entrypoint", "/bin/sh", image, "-c",
               'chown postgres: "$PGDATA" && chmod 700 "$PGDATA" && exec setpriv --reuid=postgres --regid=postgres '
               f'--init-groups pgbackrest --stanza={STANZA} --type=default restore')
            run_server(TARGET, conf, image, network, volumes[1])
            base.wait("PITR copy promoted with every booking", ready(TARGET, bookings), timeout=3600)
        base.NAME = TARGET
        t0 = time.monotonic()
        pitr()
        t_pitr = time.monotonic() - t0
        print(f"PITR recovery {t_pitr:.1f}s", file=sys.stderr)
        sh("docker", "rm", "-f", "-v", TARGET)
        sh("docker", "volume", "rm", volumes[1])

        # The plan 3.1 procedure into an empty server.
        def plan_restore() -> None:
            run_server(TARGET, conf, image, network, volumes[1])
            base.wait("empty server", answers(TARGET))
            with subprocess.Popen(["gunzip", "-c", str(dump)], stdout=subprocess.PIPE) as gz:
                subprocess.run(["docker", "exec", "-i", TARGET, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                "-U", USER, "-d", DB], stdin=gz.stdout, capture_output=True, check=True)
            base.wait("dump restored with every booking", ready(TARGET, bookings))
        t0 = time.monotonic()
        plan_restore()
        t_plan = time.monotonic() - t0
        load = os.getloadavg()[0]
        print(f"\nDataset: {bookings:,} bookings (replica generator, rows only: {json.dumps(summary.get('rows', {}))}),"
              f" database {base.mib(db_size)}, dump {base.mib(dump.stat().st_size)}; {os.cpu_count()} CPUs, load "
              f"average {load:.1f} at the end; one run.\n")
        print("| What | Wall (s) | Note |")
        print("| ---- | -------: | ---- |")
        print(f"| pgBackRest full backup to S3 (HTTPS, lz4) | {t_backup:.1f} | CPU {cpu_backup:.1f} s |")
        print(f"| plan dump `pg_dump \\| gzip` | {t_dump:.1f} | CPU {cpu_dump:.1f} s |")
        print(f"| **recovery by PITR** (restore from S3, replay, promote) | {t_pitr:.1f} | |")
        print(f"| **recovery by `gunzip \\| psql`** (plan 3.1) | {t_plan:.1f} | |")
        print(f"| ratio PITR / gunzip \\| psql | {t_pitr / t_plan:.2f}x | goal <= 0.3x |")
    finally:
        if not args.keep:
            for name in (NAME, TARGET):
                sh("docker", "rm", "-f", "-v", name, check=False)
            for volume in volumes:
                sh("docker", "volume", "rm", volume, check=False)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
