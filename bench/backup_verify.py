# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark fleetpulse.dr.backup_verify against `gzip -t` on a ~1 GB plain .sql.gz (not a test).

The dataset is a REAL pg_dump: a throwaway PostgreSQL 15 cluster gets the FleetPulse-like
Prisma schema (tests/integration/fixtures) and generated rows (random cuid-like ids,
timestamps, amounts, statuses, free-text notes), then `pg_dump --clean --if-exists
--no-owner --no-acl | gzip` (the plan's command, gzip's default level) writes the file.

Then, on the same file, page cache warm, alternating, ROUNDS times each:
  * gzip -t FILE                          (what the plan's script checks)
  * the backup_verify module, run directly under /usr/bin/python3 (Debian's, as on a
    managed host) with its arguments file: sha256 + decompression + parsing, all checks
and prints a table: wall time (median, min), CPU time, ratios to gzip -t, peak RSS (GNU time, apt
package `time`). The machine is shared, so CPU time is the steadier comparison.

    python3 bench/backup_verify.py                 # ~1 GB; generate, measure, delete
    python3 bench/backup_verify.py --size-mb 100   # smaller, quicker
    python3 bench/backup_verify.py --keep          # keep the dataset in --workdir for another run

Needs root (the cluster runs as the postgres user), Debian's postgresql package, and
free disk (checked first: about 8x the target size while generating).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from pg_world import FIXTURES, PgCluster  # noqa: E402

MODULE = REPO / "plugins" / "modules" / "backup_verify.py"
GENERATE = """
INSERT INTO "Tenant" ("id", "name", "slug", "updatedAt")
SELECT 'tenant' || lpad(t::text, 4, '0'), 'Rental Co ' || t, 'rental-' || t, now()
FROM generate_series(1, 50) AS t ON CONFLICT DO NOTHING;
INSERT INTO "Vehicle" ("id", "tenantId", "make", "model", "plate", "dailyRate")
SELECT 'cv' || substr(md5(v::text), 1, 23), 'tenant' || lpad((1 + v % 50)::text, 4, '0'),
       (ARRAY['Toyota','Ford','VW','Skoda','Renault','Fiat','Kia'])[1 + v % 7], 'Model ' || (v % 41),
       'P-' || v, 25 + (v % 90)
FROM generate_series(1, 5000) AS v ON CONFLICT DO NOTHING;
INSERT INTO "Customer" ("id", "tenantId", "name", "email", "notes")
SELECT 'cc' || substr(md5('c' || c), 1, 23), 'tenant' || lpad((1 + c % 50)::text, 4, '0'),
       'Customer ' || c, 'customer' || c || '@example.com',
       CASE WHEN c % 3 = 0 THEN 'Prefers automatic; licence checked ' || md5(c::text) END
FROM generate_series(:start, :stop) AS c;
INSERT INTO "Booking" ("id", "tenantId", "vehicleId", "customerId", "startDate", "endDate", "status", "totalAmount")
SELECT 'cb' || substr(md5(random()::text), 1, 23), 'tenant' || lpad((1 + b % 50)::text, 4, '0'),
       'cv' || substr(md5((1 + b % 5000)::text), 1, 23),
       'cc' || substr(md5('c' || (:start + b % (:stop - :start + 1))), 1, 23),
       timestamp '2024-01-01' + (b % 70000) * interval '17 minutes',
       timestamp '2024-01-02' + (b % 70000) * interval '17 minutes' + (b % 9) * interval '1 day',
       (ARRAY['PENDING','CONFIRMED','ACTIVE','COMPLETED','CANCELLED']::"BookingStatus"[])[1 + b % 5],
       round((40 + random() * 900)::numeric, 2)
FROM generate_series((:start - 1) * 4 + 1, :stop * 4) AS b;
"""


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_gb(path: Path) -> float:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize / 1e9


def dump(cluster: PgCluster, target: Path) -> None:
    env = {**cluster.admin_env(), "PGHOST": str(cluster.socket_dir)}
    with open(target, "wb") as out:
        pg_dump = subprocess.Popen(["pg_dump", "--clean", "--if-exists", "--no-owner", "--no-acl", "fleetpulse"],
                                   stdout=subprocess.PIPE, env=env)
        subprocess.run(["gzip"], stdin=pg_dump.stdout, stdout=out, check=True)
        pg_dump.stdout.close()
        if pg_dump.wait() != 0:
            raise SystemExit("pg_dump failed")


def generate(target: Path, size_mb: int, workdir: Path) -> None:
    """Grow the database in batches until its dump reaches ``size_mb`` compressed (estimated from a first batch)."""
    cluster = PgCluster(Path(tempfile.mkdtemp(prefix="fp-bench-pg-", dir=workdir)))
    try:
        cluster.start()
        cluster.psql("postgres", "CREATE DATABASE fleetpulse")
        cluster.psql("fleetpulse", (FIXTURES / "prisma_schema.sql").read_text())
        start, batch = 1, 200_000
        cluster.psql("fleetpulse", GENERATE, "-v", f"start={start}", "-v", f"stop={start + batch - 1}")
        start += batch
        dump(cluster, target)
        per_batch = target.stat().st_size
        batches = max(0, round(size_mb * 1e6 / per_batch) - 1)
        log(f"first batch dumps to {per_batch / 1e6:.1f} MB; adding {batches} more batches")
        t0 = time.monotonic()
        for i in range(batches):
            cluster.psql("fleetpulse", GENERATE, "-v", f"start={start}", "-v", f"stop={start + batch - 1}")
            start += batch
            if i % 10 == 9:
                log(f"  {i + 1}/{batches} batches ({time.monotonic() - t0:.0f}s)")
        log("pg_dump | gzip ...")
        t0 = time.monotonic()
        dump(cluster, target)
        log(f"dumped {target.stat().st_size / 1e6:.0f} MB in {time.monotonic() - t0:.0f}s")
    finally:
        cluster.stop()


def measure(cmd: list[str], workdir: Path, env: dict | None = None) -> dict:
    """One run under GNU time: wall and CPU seconds, peak RSS (KiB) of the command itself, exit status, stdout.

    GNU time reports the rusage of the process it starts, so the peak RSS is the command's own and not
    inherited from this (much larger) Python process.
    """
    report = workdir / "time.out"
    proc = subprocess.run(["/usr/bin/time", "-o", str(report), "-f", "%e %U %S %M", *cmd], capture_output=True,
                          env=env, check=False)
    wall, user, system, rss = report.read_text().split()[-4:]
    return {"wall": float(wall), "cpu": float(user) + float(system), "rss_kib": int(rss), "rc": proc.returncode,
            "stdout": proc.stdout.decode(), "stderr": proc.stderr.decode()}


def report(runs: dict[str, list[dict]], size: int, target: Path, result: dict,
           args: argparse.Namespace) -> tuple[list[dict], bool, float]:
    """Print the results table; return its rows, whether the goal is met, and the load average."""
    base_wall = statistics.median(x["wall"] for x in runs["gzip -t"])
    base_cpu = statistics.median(x["cpu"] for x in runs["gzip -t"])
    rows = []
    for name, samples in runs.items():
        wall = statistics.median(x["wall"] for x in samples)
        cpu = statistics.median(x["cpu"] for x in samples)
        rows.append({"tool": name, "wall_s": round(wall, 2), "min_wall_s": round(min(x["wall"] for x in samples), 2),
                     "cpu_s": round(cpu, 2), "wall_ratio": round(wall / base_wall, 2),
                     "cpu_ratio": round(cpu / base_cpu, 2),
                     "peak_rss_mib": round(max(x["rss_kib"] for x in samples) / 1024, 1),
                     "mb_per_s": round(size / 1e6 / wall, 1)})
    load = os.getloadavg()[0]
    print(f"\ndataset: {target.name}, {size / 1e6:.0f} MB compressed, "
          f"{result['decompressed_bytes'] / 1e6:.0f} MB of SQL, {sum(result['row_counts'].values())} rows "
          f"in {len(result['row_counts'])} tables; {args.rounds} rounds alternating, page cache warm; "
          f"module under {args.python}; load average {load:.1f} on {os.cpu_count()} cores\n")
    print("| tool | wall median (s) | wall min (s) | CPU (s) | wall vs gzip -t | CPU vs gzip -t "
          "| peak RSS (MiB) | compressed MB/s |")
    print("| ---- | --------------- | ------------ | ------- | --------------- | -------------- "
          "| -------------- | --------------- |")
    for row in rows:
        print(f"| {row['tool']} | {row['wall_s']} | {row['min_wall_s']} | {row['cpu_s']} | {row['wall_ratio']}x | "
              f"{row['cpu_ratio']}x | {row['peak_rss_mib']} | {row['mb_per_s']} |")
    verdict = rows[1]["wall_ratio"] <= 1.3 and rows[1]["peak_rss_mib"] < 64
    print(f"\ngoal (<= 1.3x gzip -t wall time, < 64 MiB peak RSS): {'met' if verdict else 'NOT met'}")
    return rows, verdict, load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1000, help="compressed size of the dataset (default 1000)")
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "results" / "data",
                        help="dataset and cluster (removed at the end unless --keep)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--python", default="/usr/bin/python3", help="interpreter for the module (managed host's)")
    parser.add_argument("--keep", action="store_true", help="keep the dataset for another run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    need = args.size_mb * 8 / 1000
    log(f"free disk in {args.workdir}: {free_gb(args.workdir):.1f} GB (need about {need:.1f} GB)")
    if free_gb(args.workdir) < need:
        raise SystemExit(f"not enough free disk in {args.workdir}: {free_gb(args.workdir):.1f} GB < {need:.1f} GB")
    target = args.workdir / f"car_rental_backup_bench_{args.size_mb}mb.sql.gz"
    try:
        if target.exists():
            log(f"reusing {target} ({target.stat().st_size / 1e6:.0f} MB)")
        else:
            generate(target, args.size_mb, args.workdir)
        size = target.stat().st_size
        argfile = args.workdir / "args.json"
        argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
            "path": str(target), "max_age_hours": 0, "previous": "none", "fail_on_error": True}}))
        # The module runs as Ansible would run it on the host, minus the AnsiballZ wrapper: it needs ansible's
        # module_utils (pure Python) and the collection on its path, nothing else.
        import ansible  # noqa: PLC0415

        shim = args.workdir / "pythonpath"
        shim.mkdir(exist_ok=True)
        if not (shim / "ansible").exists():
            (shim / "ansible").symlink_to(Path(ansible.__file__).parent)
        env = {**os.environ, "PYTHONPATH": f"{REPO / '.collections'}:{shim}"}
        subprocess.run(["cat", str(target)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        runs: dict[str, list[dict]] = {"gzip -t": [], "backup_verify": []}
        result = {}
        for r in range(args.rounds):
            run = measure(["gzip", "-t", str(target)], args.workdir)
            if run["rc"] != 0:
                raise SystemExit(f"gzip -t failed on the dataset: {run['stderr']}")
            runs["gzip -t"].append(run)
            run = measure([args.python, str(MODULE), str(argfile)], args.workdir, env=env)
            result = json.loads(run["stdout"]) if run["stdout"].strip() else {"failed": True, "msg": run["stderr"]}
            if run["rc"] != 0 or result.get("failed"):
                raise SystemExit(f"backup_verify failed on the dataset: {result.get('msg')}")
            runs["backup_verify"].append(run)
            base = runs["gzip -t"][-1]
            log(f"round {r + 1}: gzip -t {base['wall']:.2f}s wall/{base['cpu']:.2f}s cpu,"
                f" backup_verify {run['wall']:.2f}s wall/{run['cpu']:.2f}s cpu")
        rows, verdict, load = report(runs, size, target, result, args)
        if args.json:
            args.json.write_text(json.dumps({"size": size, "rows": rows, "goal_met": verdict, "load": load}, indent=2))
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
            log(f"removed {args.workdir}")


if __name__ == "__main__":
    sys.exit(main())
