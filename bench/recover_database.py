# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the plan's own database recovery (3.1) against playbooks/recover-database.yml.

    FP_TEST_NS=bench python bench/recover_database.py [--bookings-per-tenant 150000] [--rounds 3]
        [--variant "j1:db_restore_jobs=1"] [--keep] [--reuse]

Stands the FleetPulse replica up on a test host (`molecule create`, `prepare` and
`converge -s recover-database`: the same host, stack and backup program as the Molecule
scenario; its world needs S3 for the offsite copies), generates a database
of at least 1 GB with the replica's generator (rows only; check `df -h /` first: the run
needs about 4x the database size), takes two backups of it with the backup program
(the plan's plain .sql.gz and the default custom format), then, in one run on the same data:

* the plan's procedure, step by step as dr-plan.md 3.1 writes it: stop api web,
  pg_terminate_backend, dropdb, createdb, `gunzip -c backup | docker exec -i postgres psql`,
  `docker compose run --rm api npx prisma migrate deploy`, `up -d api web`, poll the health
  URL, the spot-check query. "bare" is drop + create + gunzip | psql alone;
* our own steps as bare shell commands, without Ansible (the floor: verification, stop, side
  database and pg_restore -j 2, rows against the manifest, swap, migrations, start, health URL
  and Docker's healthy verdict, spot-check), i.e. what any orchestration of them costs at least;
* playbooks/recover-database.yml with every check (verification, side database, rows per
  table and tenant against the manifest, swap, migrations, start, health, spot-check,
  summary), restoring the custom backup (the nightly format) and, with --also-plain, the
  .sql.gz one.

With --rounds N the procedures alternate N times on the same data and the medians are
reported; each --variant NAME:VAR=VALUE[;VAR=VALUE] adds a run of recover-database.yml with
those extra variables in every round (the role's defaults always run, as "default").

Each timed procedure starts after a CHECKPOINT and a sync, so that none pays for the
writeback of the one before. Both restores are fingerprinted afterwards (`fleetpulse-replica checksum`): they must hold
the same rows. Prints the timings as a Markdown table for docs/performance.md and destroys
the test host (unless --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NS = os.environ.get("FP_TEST_NS", "fp")
SCENARIO = "recover-database"
HOST = f"{NS}-{SCENARIO}-fleetpulse1"
COMPOSE = "docker compose --project-directory /opt/fleetpulse -p carrental -f /opt/fleetpulse/docker-compose.prod.yml"
PSQL = "docker exec -i postgres psql -X -q -At -U fleetpulse"
ENV = {**os.environ, "FP_TEST_NS": NS, "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
       "ANSIBLE_ROLES_PATH": str(REPO / "roles"), "ANSIBLE_PIPELINING": "true", "ANSIBLE_FORCE_COLOR": "false",
       "MOLECULE_PROJECT_DIRECTORY": str(REPO)}

# Steps the plan's procedure and the floor share (dr-plan.md 3.1 steps 5, 6 and 8).
MIGRATE = f"{COMPOSE} run --rm -T api npx prisma migrate deploy"
UP = f"{COMPOSE} up -d api web"
SPOT_CHECK = (
    PSQL + " -d fleetpulse -c 'SELECT count(*) FROM \"Tenant\"; SELECT count(*) FROM \"Booking\"; "  # noqa: S608 - constant SQL
    "SELECT count(*) FROM \"Vehicle\"; SELECT count(*) FROM \"Customer\"' >/dev/null")


def health_url_poll(interval: float) -> str:
    """Poll the api's health URL until it answers 200 (plan 3.1 step 7), every `interval` seconds."""
    return (f"for i in $(seq 1 600); do curl -sf http://localhost:3000/api/v1/health >/dev/null && exit 0; "
            f"sleep {interval}; done; exit 1")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(cmd: list[str], check: bool = True, **kwargs) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, env=ENV, **kwargs)
    if check and res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)[:200]} failed ({res.returncode}): {(res.stdout + res.stderr)[-3000:]}")
    return res.stdout.strip()


def on_host(script: str, check: bool = True) -> str:
    return sh(["docker", "exec", HOST, "bash", "-euo", "pipefail", "-c", script], check=check)


def timed_on_host(script: str) -> float:
    t0 = time.monotonic()
    on_host(script)
    return time.monotonic() - t0


def sql(query: str, db: str = "fleetpulse") -> str:
    return on_host(f"{PSQL} -d {db} <<'SQL'\n{query}\nSQL")


def host_exists() -> bool:
    return sh(["docker", "ps", "-q", "--filter", f"name=^{HOST}$"], check=False) != ""


def inventory(directory: Path) -> Path:
    world_dir = REPO / ".world" / NS
    path = directory / "inventory.yml"
    path.write_text(json.dumps({"all": {"children": {"fleetpulse": {"hosts": {"fleetpulse1": {
        "ansible_connection": "community.docker.docker", "ansible_host": HOST}}}},
        "vars": {"fp_ns": NS, "fp_repo": str(REPO), "fp_world_dir": str(world_dir),
                 "fp_world": json.loads((world_dir / "world.json").read_text())}}}))
    return path


def seed(args: argparse.Namespace) -> dict:
    log(f"generating rows: {args.tenants} tenants x {args.bookings_per_tenant} bookings (no objects)")
    t0 = time.monotonic()
    out = on_host(f"docker exec api fleetpulse-seed --reset --no-objects --seed 1 --tenants {args.tenants} "
                  f"--vehicles-per-tenant {args.vehicles_per_tenant} --customers-per-tenant "
                  f"{args.customers_per_tenant} --bookings-per-tenant {args.bookings_per_tenant} 2>/dev/null")
    summary = json.loads(out)
    size = int(sql("SELECT pg_database_size('fleetpulse')"))
    rows = int(sql('SELECT (SELECT count(*) FROM "Tenant") + (SELECT count(*) FROM "Vehicle") + '
                   '(SELECT count(*) FROM "Customer") + (SELECT count(*) FROM "Booking")'))
    log(f"database: {size / 1e9:.2f} GB, {rows:,} rows, generated in {time.monotonic() - t0:.0f} s")
    summary.update(database_bytes=size, rows=rows)
    return summary


def backup(fmt: str) -> dict:
    log(f"backup ({fmt}) with the backup program")
    out = on_host(f"/usr/local/sbin/fleetpulse-backup --json db --type manual --format {fmt} --no-offsite")
    result = json.loads(out)
    log(f"  {result['file']}: {result['size'] / 1e6:.0f} MB in {result['duration_seconds']:.0f} s")
    return result


def settle() -> None:
    """Start each timed procedure from the same state: the previous one's dirty pages written out."""
    sql("CHECKPOINT", "postgres")
    on_host("sync")


def plan_procedure(backup_path: str) -> dict[str, float]:
    """dr-plan.md 3.1, steps 1 and 3-8, as written (psql without ON_ERROR_STOP, as the plan has it)."""
    settle()
    steps: dict[str, float] = {}
    t0 = time.monotonic()
    steps["1 stop api web"] = timed_on_host(f"{COMPOSE} stop api web")
    steps["3 terminate, dropdb, createdb"] = timed_on_host(
        PSQL + " -d postgres -c \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "  # noqa: S608 - constant SQL
        "'fleetpulse'\" >/dev/null; docker exec postgres dropdb -U fleetpulse fleetpulse; "
        "docker exec postgres createdb -U fleetpulse fleetpulse")
    steps["4 gunzip -c | psql"] = timed_on_host(
        f"gunzip -c {backup_path} | docker exec -i postgres psql -q -U fleetpulse -d fleetpulse >/dev/null")
    steps["5 prisma migrate deploy"] = timed_on_host(MIGRATE)
    steps["6 up -d api web"] = timed_on_host(UP)
    steps["7 health"] = timed_on_host(health_url_poll(0.5))
    steps["8 spot-check"] = timed_on_host(SPOT_CHECK)
    steps["total"] = time.monotonic() - t0
    steps["bare (3 + 4)"] = steps["3 terminate, dropdb, createdb"] + steps["4 gunzip -c | psql"]
    return steps


# Rows per table and per tenant, in the manifest's shape (what db_record_counts compares).
FLOOR_COUNTS = """
SELECT json_build_object(
  'tables', json_build_object('public.Booking', (SELECT count(*) FROM "Booking"),
    'public.Customer', (SELECT count(*) FROM "Customer"), 'public.Tenant', (SELECT count(*) FROM "Tenant"),
    'public.Vehicle', (SELECT count(*) FROM "Vehicle")),
  'tenants', json_build_object(
    'public.Booking', (SELECT json_object_agg("tenantId", n)
                      FROM (SELECT "tenantId", count(*) AS n FROM "Booking" GROUP BY 1) c),
    'public.Customer', (SELECT json_object_agg("tenantId", n)
                      FROM (SELECT "tenantId", count(*) AS n FROM "Customer" GROUP BY 1) c),
    'public.Vehicle', (SELECT json_object_agg("tenantId", n)
                      FROM (SELECT "tenantId", count(*) AS n FROM "Vehicle" GROUP BY 1) c)))
"""


def floor_procedure(backup: dict) -> dict[str, float]:
    """recover-database.yml's own steps as bare commands, without Ansible: the least any orchestration costs.

    Verification (sha256 against the manifest), stop, side database and `pg_restore -j 2` in
    the throwaway client container (as the role runs it), rows per table and per tenant
    against the manifest, swap by renames in one transaction, migrations, start, health (the
    URL, then Docker's healthy verdict for api and web, as the role waits for both), spot-check.
    """
    settle()
    path, name = backup["path"], backup["file"]
    manifest = json.loads(on_host(f"cat {path}.manifest.json"))
    side, aside = "fleetpulse_floor_side", "fleetpulse_floor_aside"
    steps: dict[str, float] = {}
    t0 = time.monotonic()
    steps["verify (sha256)"] = timed_on_host(f"test \"$(sha256sum {path} | cut -d' ' -f1)\" = {manifest['sha256']}")
    steps["stop api web"] = timed_on_host(f"{COMPOSE} stop api web")
    steps["side database + pg_restore -j 2"] = timed_on_host(
        f"{PSQL} -d postgres -c 'CREATE DATABASE {side} TEMPLATE template0' && {COMPOSE} run --rm --no-deps -T "
        f"--volume {os.path.dirname(path)}:/r:ro --entrypoint sh postgres -c 'PGPASSWORD=$POSTGRES_PASSWORD exec "
        f"pg_restore --exit-on-error --no-owner --no-acl -j 2 -h postgres -U fleetpulse -d {side} /r/{name}'")
    t1 = time.monotonic()
    counts = json.loads(sql(FLOOR_COUNTS, side))
    steps["row check (tables, tenants)"] = time.monotonic() - t1
    for table, count in counts["tables"].items():
        assert manifest["row_counts"][table] == count, f"floor: {table} has {count} rows"
    for table, per_tenant in counts["tenants"].items():
        assert manifest["tenant_row_counts"][table] == per_tenant, f"floor: {table} per tenant differs"
    steps["swap"] = timed_on_host(
        f"{PSQL} -d postgres <<'SQL'\nSELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname IN "
        f"('fleetpulse', '{side}') AND pid <> pg_backend_pid();\nBEGIN;\nALTER DATABASE fleetpulse RENAME TO {aside};\n"
        f"ALTER DATABASE {side} RENAME TO fleetpulse;\nCOMMIT;\nSQL")
    steps["migrations"] = timed_on_host(MIGRATE)
    steps["up -d api web"] = timed_on_host(UP)
    steps["health URL"] = timed_on_host(health_url_poll(0.2))
    steps["then Docker healthy"] = timed_on_host(
        "for i in $(seq 1 600); do [ \"$(docker inspect -f '{{.State.Health.Status}}' api web | sort -u)\" = healthy ] "
        "&& exit 0; sleep 0.2; done; exit 1")
    steps["spot-check"] = timed_on_host(SPOT_CHECK)
    steps["total"] = time.monotonic() - t0
    steps["total, health as the plan (URL only)"] = steps["total"] - steps["then Docker healthy"]
    sql(f'DROP DATABASE "{aside}" WITH (FORCE)', "postgres")
    return steps


DURATIONS = re.compile(
    r"Durations: verify ([\d.]+) s \((\w+) check\), restore ([\d.]+) s \(([^)]*)\), row check ([\d.]+) s, swap and "
    r"migrations ([\d.]+) s, start and health ([\d.]+) s; application down ([\d.]+) s; total ([\d.]+) s")


def ours(inv: Path, backup_name: str, extra: dict[str, object] | None = None) -> dict[str, float]:
    cmd = ["ansible-playbook", "-i", str(inv), str(REPO / "molecule" / SCENARIO / "converge.yml"),
           "-e", "db_restore_source=local", "-e", f"db_restore_backup={backup_name}", "-e", "db_restore_force=true"]
    if extra:
        cmd += ["-e", json.dumps(extra)]
    settle()
    t0 = time.monotonic()
    out = sh(cmd)
    wall = time.monotonic() - t0
    text = " ".join(out.split())
    m = DURATIONS.search(text)
    if not m:
        raise SystemExit(f"no Durations line in the playbook's output:\n{out[-3000:]}")
    keys = ["verify", "depth", "restore", "client", "row check", "swap and migrations", "start and health",
            "application down", "role total"]
    found = dict(zip(keys, m.groups(), strict=True))
    result = {k: float(v) for k, v in found.items() if k not in ("depth", "client")}
    result["playbook wall"] = wall
    log(f"  recover-database.yml: {wall:.1f} s ({found['client']}, {found['depth']} verification)")
    return result


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per-key median of several runs (the middle value; the lower middle for an even count)."""
    return {key: sorted(run[key] for run in runs)[(len(runs) - 1) // 2] for key in runs[0]}


def fingerprint() -> dict:
    return json.loads(on_host("docker exec api fleetpulse-replica checksum --no-objects"))["tables"]


def purge_kept() -> None:
    names = sql("SELECT datname FROM pg_database WHERE datname ~ '^fleetpulse_(pre|failed)_restore_'",
                "postgres").split()
    for name in names:
        sql(f'DROP DATABASE "{name}" WITH (FORCE)', "postgres")


def main() -> None:  # noqa: PLR0912, PLR0915 - one linear benchmark
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--vehicles-per-tenant", type=int, default=2000)
    parser.add_argument("--customers-per-tenant", type=int, default=30000)
    parser.add_argument("--bookings-per-tenant", type=int, default=150000)
    parser.add_argument("--also-plain", action="store_true", help="also time recover-database.yml on the .sql.gz")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the procedures N times; report medians")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:VAR=VALUE[;VAR=VALUE]",
                        help="also time recover-database.yml with these extra variables")
    parser.add_argument("--reuse", action="store_true", help="use the test host already there")
    parser.add_argument("--keep", action="store_true", help="leave the test host running")
    args = parser.parse_args()
    variants: dict[str, dict[str, object]] = {"default": {}}
    for spec in args.variant:  # NAME:VAR=VALUE;VAR=VALUE, each VALUE JSON or a plain string
        name, _sep, assignments = spec.partition(":")
        variants[name] = {}
        for item in filter(None, assignments.split(";")):
            key, _sep, value = item.partition("=")
            try:
                variants[name][key] = json.loads(value)
            except ValueError:
                variants[name][key] = value

    if not (args.reuse and host_exists()):
        for step in ("create", "prepare", "converge"):
            log(f"test host {HOST}: molecule {step} -s {SCENARIO}")
            sh(["molecule", step, "-s", SCENARIO], cwd=REPO)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            inv = inventory(Path(tmp))
            purge_kept()
            data = seed(args)
            plain, custom = backup("plain.gz"), backup("custom")
            before = fingerprint()

            plans: list[dict[str, float]] = []
            floors: list[dict[str, float]] = []
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            plain_runs: list[dict[str, float]] = []
            for round_no in range(1, args.rounds + 1):
                log(f"round {round_no}/{args.rounds}: the plan's procedure (3.1)")
                plans.append(plan_procedure(plain["path"]))
                log(f"  plan: bare {plans[-1]['bare (3 + 4)']:.1f} s, total {plans[-1]['total']:.1f} s")
                assert fingerprint() == before, "the plan's restore does not hold the backed-up rows"
                log(f"round {round_no}/{args.rounds}: our steps as bare commands (the floor)")
                floors.append(floor_procedure(custom))
                log(f"  floor: total {floors[-1]['total']:.1f} s")
                assert fingerprint() == before, "the floor's restore does not hold the backed-up rows"
                for name, extra in variants.items():
                    log(f"round {round_no}/{args.rounds}: recover-database.yml on the custom backup ({name})")
                    runs[name].append(ours(inv, custom["file"], extra))
                    assert fingerprint() == before, "recover-database.yml does not hold the backed-up rows"
                    purge_kept()
                if args.also_plain:
                    log(f"round {round_no}/{args.rounds}: recover-database.yml on the .sql.gz backup")
                    plain_runs.append(ours(inv, plain["file"]))
                    assert fingerprint() == before
                    purge_kept()
            plan = median_of(plans)
            floor = median_of(floors)
            mine = median_of(runs["default"])
            mine_plain = median_of(plain_runs) if plain_runs else None

        report = {"database_bytes": data["database_bytes"], "rows": data["rows"],
                  "plain_backup_bytes": plain["size"], "custom_backup_bytes": custom["size"],
                  "rounds": args.rounds, "load_average": os.getloadavg(),
                  "plan": plan, "floor": floor, "ours_custom": mine, "ours_plain": mine_plain,
                  "variants": {name: median_of(r) for name, r in runs.items()},
                  "all_runs": {"plan": plans, "floor": floors, **runs, "plain": plain_runs},
                  "ratio_vs_bare": mine["playbook wall"] / plan["bare (3 + 4)"],
                  "ratio_vs_plan_total": mine["playbook wall"] / plan["total"],
                  "ratio_floor_vs_bare": floor["total"] / plan["bare (3 + 4)"]}
        print(json.dumps(report, indent=2))
        print()
        print(f"database {data['database_bytes'] / 1e9:.2f} GB; backups: plain.gz {plain['size'] / 1e6:.0f} MB, "
              f"custom {custom['size'] / 1e6:.0f} MB")
        print()
        print("| step | plan 3.1 (s) | recover-database.yml, custom (s) |")
        print("| ---- | ------------ | -------------------------------- |")
        rows = [("verify the backup", "-", mine["verify"]),
                ("stop api web", plan["1 stop api web"], "(in restore)"),
                ("drop/create + restore", plan["bare (3 + 4)"], mine["restore"]),
                ("row check against the manifest", "-", mine["row check"]),
                ("swap + migrations", plan["5 prisma migrate deploy"], mine["swap and migrations"]),
                ("start + health", plan["6 up -d api web"] + plan["7 health"], mine["start and health"]),
                ("spot-check", plan["8 spot-check"], "(in summary)"),
                ("total", plan["total"], mine["playbook wall"])]
        for name, a, b in rows:
            fa = f"{a:.1f}" if isinstance(a, float) else a
            fb = f"{b:.1f}" if isinstance(b, float) else b
            print(f"| {name} | {fa} | {fb} |")
        print()
        print(f"ratio recover-database.yml / plan bare (drop, create, gunzip | psql): {report['ratio_vs_bare']:.2f}")
        print(f"ratio recover-database.yml / plan procedure (steps 1-8): {report['ratio_vs_plan_total']:.2f}")
        print()
        print("Our steps as bare commands (no Ansible), medians:")
        print("| step | s |")
        print("| ---- | -: |")
        for name, value in floor.items():
            print(f"| {name} | {value:.1f} |")
        print(f"ratio floor / plan bare: {report['ratio_floor_vs_bare']:.2f}; with the plan's health check (URL only): "
              f"{floor['total, health as the plan (URL only)'] / plan['bare (3 + 4)']:.2f}")
        for name, result in report["variants"].items():
            print(f"variant {name} ({variants[name] or 'role defaults'}): restore {result['restore']:.1f} s, "
                  f"playbook {result['playbook wall']:.1f} s, ratio to bare "
                  f"{result['playbook wall'] / plan['bare (3 + 4)']:.2f}")
    finally:
        if not args.keep:
            log("destroying the test host")
            sh(["molecule", "destroy", "-s", SCENARIO], cwd=REPO, check=False)


if __name__ == "__main__":
    main()
