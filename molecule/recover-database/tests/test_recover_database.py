"""Plan 3.1 on the replica: the recovery restored the data, and every refusal left the live database alone.

prepare.yml took real backups with the backup program (an old one with a large extra
table, one whose migration history lacks its last migration, one in the plan's .sql.gz
format, and the newest, good one; the program copied each, gpg-encrypted, to the offsite
store), fingerprinted the data, then damaged it (the "Customer" table dropped, one
tenant's bookings deleted). converge.yml ran playbooks/recover-database.yml from the
offsite store, which had to pick the newest copy by itself, download, decrypt and prove it.

The later tests run the playbook again against bad backups, kill a restore half-way,
make the migrations fail for real, hold the lock as a backup would, and run the DR test:
each must leave the rows of the live database exactly as they were (fingerprint of every
row of every table, `fleetpulse-replica checksum`).
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fp_polling
import pytest

BACKUPS = "/opt/fleetpulse/backups"
DOWNLOADS = "/var/tmp/fleetpulse-offsite"  # noqa: S108 - db_restore_download_dir (molecule.yml), on the test host
LOCAL = ("-e", "db_restore_source=local")
STATE = "/root/recover-test/state.json"
SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", Path(__file__).resolve().parents[1]))
PSQL = "docker exec -i postgres psql -X -q -At -v ON_ERROR_STOP=1 -U fleetpulse"
DEADLINE = 120


# --------------------------------------------------------------------------- helpers

def _container() -> str:
    return f"{os.environ.get('FP_TEST_NS', 'fp')}-{os.environ['MOLECULE_SCENARIO_NAME']}-fleetpulse1"


def _host_ip() -> str:
    network = f"{os.environ.get('FP_TEST_NS', 'fp')}-world"
    fmt = '{{ (index .NetworkSettings.Networks "' + network + '").IPAddress }}'
    return subprocess.check_output(["docker", "inspect", "--format", fmt, _container()], text=True).strip()


def _playbook(name: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / name),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    out = proc.communicate(timeout=900)[0]
    return proc.returncode, " ".join(out.split())  # the callback wraps long messages


def _run(name: str, *extra: str) -> tuple[int, str]:
    return _finish(_playbook(name, *extra))


def _recover(*extra: str) -> tuple[int, str]:
    """recover-database.yml from the local backups (converge.yml's default source is offsite)."""
    return _run("converge.yml", *LOCAL, *extra)


def _sql(host, sql: str, db: str = "fleetpulse") -> str:
    return host.check_output(f"{PSQL} -d {db} <<'SQL'\n{sql}\nSQL")


def _databases(host) -> set[str]:
    return set(_sql(host, "SELECT datname FROM pg_database WHERE NOT datistemplate", "postgres").split())


def _fingerprint(host, db: str = "fleetpulse") -> dict:
    url = f"postgresql://fleetpulse:replica-db-password-0001@postgres:5432/{db}?schema=public"
    cmd = f"docker exec api fleetpulse-replica checksum --no-objects --database-url '{url}'"
    data = json.loads(host.check_output(cmd))
    return data["tables"]


def _started(host, container: str) -> str:
    return host.check_output(f"docker inspect --format '{{{{.State.StartedAt}}}}' {container}")


def _health() -> int:
    try:
        with urllib.request.urlopen(f"http://{_host_ip()}/api/v1/health", timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _wait(what: str, probe, timeout: float = DEADLINE, interval: float = 0.2):
    return fp_polling.wait_until(what, probe, timeout, interval)


@pytest.fixture(scope="module")
def state(host) -> dict:
    return json.loads(host.file(STATE).content_string)


@pytest.fixture(scope="module")
def live_before(host) -> dict:
    """The live database's fingerprint after the recovery: what every refusal must leave as it is."""
    return _fingerprint(host)


# --------------------------------------------------------------------------- the recovery

def test_the_newest_backup_was_restored_and_marked(host, state):
    comment = _sql(host, "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'fleetpulse'",
                   "postgres")
    marker = json.loads(comment.removeprefix("fleetpulse.dr restore: "))
    assert marker["backup"] == state["good"]["file"]
    assert marker["sha256"] == state["good"]["sha256"]
    assert marker["previous"].startswith("fleetpulse_pre_restore_")


def test_the_offsite_copy_was_downloaded_decrypted_and_proven(host, state):
    """converge restored from the offsite store: the copy on disk is the backup, byte for byte."""
    name = state["good"]["file"]
    downloaded = host.file(f"{DOWNLOADS}/{name}")
    assert downloaded.exists and downloaded.sha256sum == state["good"]["sha256"]
    assert downloaded.sha256sum == host.file(state["good"]["path"]).sha256sum
    manifest = json.loads(host.file(f"{DOWNLOADS}/{name}.manifest.json").content_string)
    assert manifest["sha256"] == state["good"]["sha256"]
    assert not host.check_output(f"ls -A {DOWNLOADS} | grep -v -e '^{name}$' -e '^{name}.manifest.json$' || true")


def test_restored_rows_equal_the_manifest_table_by_table_and_tenant_by_tenant(host, state):
    manifest = json.loads(host.file(f"{state['good']['path']}.manifest.json").content_string)
    for key, rows in manifest["row_counts"].items():
        table = key.split(".", 1)[1]
        assert int(_sql(host, f'SELECT count(*) FROM "{table}"')) == rows, key  # noqa: S608 - names from the manifest
    for key, tenants in manifest["tenant_row_counts"].items():
        table = key.split(".", 1)[1]
        got = dict(line.split("|") for line in _sql(
            host, f'SELECT "tenantId", count(*) FROM "{table}" GROUP BY 1').splitlines())  # noqa: S608 - as above
        assert {t: int(n) for t, n in got.items()} == tenants, key
    assert manifest["row_counts"]["public.Customer"] == 1000  # the dropped table is back


def test_restored_data_equals_the_data_before_the_damage(host, state):
    assert _fingerprint(host) == state["before"]["tables"]
    assert state["damaged"]["tables"] != state["before"]["tables"]  # the damage was real


def test_health_is_green_through_nginx():
    assert _health() == 200


def test_the_damaged_database_is_kept_aside_untouched(host, state):
    aside = sorted(d for d in _databases(host) if d.startswith("fleetpulse_pre_restore_"))
    assert len(aside) == 1, aside
    assert _fingerprint(host, aside[0]) == state["damaged"]["tables"]
    assert not [d for d in _databases(host) if d.startswith("fleetpulse_restore_")]  # no side database left


# --------------------------------------------------------------------------- refusals before any change

def _write_bad_backups(host, state) -> dict[str, str]:
    """Broken backups, named as from 2020 so that none of them is ever the newest."""
    script = r"""
import gzip, json, os, shutil, subprocess, sys
d, plain, good = sys.argv[1], sys.argv[2], sys.argv[3]
def name(n, ext): return os.path.join(d, f"car_rental_backup_20200101_00000{n}_manual{ext}")
data = open(plain, "rb").read()
open(name(1, ".sql.gz"), "wb").write(data[: len(data) * 2 // 3])                      # truncated gzip
sql = gzip.decompress(data)
open(name(2, ".sql.gz"), "wb").write(gzip.compress(sql[: sql.index(b"\nALTER TABLE ONLY")]))  # dump cut short
open(name(3, ".sql.gz"), "wb").close()                                                   # empty
open(name(4, ".sql.gz"), "w").write("<html>502 Bad Gateway</html>\n")                    # not gzip
raw = bytearray(open(good, "rb").read()); raw[len(raw) // 2] ^= 1                        # one bit flipped
open(name(5, ".dump"), "wb").write(bytes(raw))
man = json.load(open(good + ".manifest.json")); man["file"] = os.path.basename(name(5, ".dump"))
json.dump(man, open(name(5, ".dump") + ".manifest.json", "w"))
with open(name(6, ".dump"), "wb") as out:                                                # another database
    subprocess.run(["docker", "exec", "postgres", "pg_dump", "-U", "fleetpulse", "-Fc", "otherapp"],
                   stdout=out, check=True)
"""
    _sql(host, "DROP DATABASE IF EXISTS otherapp; CREATE DATABASE otherapp", "postgres")
    _sql(host, 'CREATE TABLE "Invoice" (id int PRIMARY KEY); INSERT INTO "Invoice" VALUES (1), (2)', "otherapp")
    host.check_output(f"python3 - {BACKUPS} {state['plain']['path']} {state['good']['path']} <<'PY'\n{script}\nPY")
    files = {
        "truncated gzip": ("1", ".sql.gz", "decompresses", "gzip stream ends early"),
        "gzip of a dump cut short": ("2", ".sql.gz", "complete", "completion trailer"),
        "empty file": ("3", ".sql.gz", "exists", "is empty (0 bytes)"),
        "not gzip": ("4", ".sql.gz", "format", "not a PostgreSQL dump"),
        "wrong checksum": ("5", ".dump", "checksum", "does not match its manifest"),
        "backup of another database": ("6", ".dump", "database", "dump of database 'otherapp'"),
    }
    return {case: (f"car_rental_backup_20200101_00000{n}_manual{ext}", check, words)
            for case, (n, ext, check, words) in files.items()}


@pytest.fixture(scope="module")
def refusals(host, state, live_before) -> dict[str, tuple[int, str]]:
    """Every bad backup through the real playbook, in parallel (each refuses before the lock), plus --check."""
    cases = _write_bad_backups(host, state)
    api_started = _started(host, "api")
    runs = {case: ("converge.yml", *LOCAL, "-e", f"db_restore_backup={name}") for case, (name, _c, _w) in cases.items()}
    runs["check mode"] = ("converge.yml", "--check", *LOCAL, "-e", "db_restore_force=true")
    # Offsite, on a server that has no copy yet: the plan says what would be downloaded.
    runs["check mode offsite"] = ("converge.yml", "--check", "-e", "db_restore_force=true",
                                  "-e", f"db_restore_download_dir={DOWNLOADS}-none")
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        done = dict(zip(runs, pool.map(lambda args: _run(*args), runs.values()), strict=True))
    done["_api_started"] = (0, api_started)
    done["_cases"] = (0, json.dumps(cases))
    return done


@pytest.mark.parametrize("case", ["truncated gzip", "gzip of a dump cut short", "empty file", "not gzip",
                                  "wrong checksum", "backup of another database"])
def test_a_bad_backup_is_refused_before_anything_stops(refusals, state, case):
    name, check, words = json.loads(refusals["_cases"][1])[case]
    rc, out = refusals[case]
    assert rc != 0, out[-2000:]
    assert f"The backup {BACKUPS}/{name} FAILED verification; nothing was stopped or changed" in out, out[-3000:]
    assert f"[{check}]" in out and words in out, out[-3000:]
    assert f"The next-newest valid backup is {state['good']['path']}" in out, out[-3000:]
    assert "Stop the application" not in out  # no task past the verification ran


def test_check_mode_shows_the_plan_and_changes_nothing(refusals, state):
    rc, out = refusals["check mode"]
    assert rc == 0, out[-3000:]
    assert "CHECK MODE: nothing will be changed" in out
    assert f"backup: {state['good']['path']}" in out
    assert "restore into the new database fleetpulse_restore_" in out and "stop api, web" in out


def test_check_mode_offsite_names_the_copy_and_downloads_nothing(host, refusals, state):
    rc, out = refusals["check mode offsite"]
    assert rc == 0, out[-3000:]
    assert f"A real run would download {state['good']['file']}" in out, out[-3000:]
    assert not host.file(f"{DOWNLOADS}-none").exists


def test_refusals_and_check_mode_left_everything_as_it_was(host, refusals, live_before):
    assert _fingerprint(host) == live_before
    assert _started(host, "api") == refusals["_api_started"][1]  # the api was never stopped
    assert not [d for d in _databases(host) if d.startswith("fleetpulse_restore_")]
    assert _health() == 200


# --------------------------------------------------------------------------- refusals during the run

def test_a_running_backup_blocks_the_restore(host, live_before):
    """A backup holds the lock: the restore fails naming it, before the application stops."""
    lock = "/run/lock/fleetpulse-db.lock"
    holder = host.check_output(
        f"setsid -f flock {lock} sh -c 'echo \"pid $$ (fleetpulse-backup db --type daily) since now\" > {lock}; "
        f"exec sleep 300' >/dev/null 2>&1; sleep 0; pgrep -n -f 'sleep 300'")
    try:
        _wait("the fake backup to hold the lock", lambda: "fleetpulse-backup db" in host.file(lock).content_string)
        api_started = _started(host, "api")
        rc, out = _recover("-e", "db_restore_force=true")
        assert rc != 0
        assert "held by pid" in out and "(fleetpulse-backup db --type daily)" in out, out[-3000:]
        assert "another backup or restore is running" in out
        assert _started(host, "api") == api_started
        assert _fingerprint(host) == live_before
    finally:
        host.run(f"kill {holder}")


def test_a_restore_killed_half_way_leaves_the_live_database_alone(host, state, live_before):
    proc = _playbook("converge.yml", *LOCAL, "-e", f"db_restore_backup={state['large']['file']}")
    try:
        def copying() -> bool:
            activity = _sql(host, "SELECT query FROM pg_stat_activity WHERE datname LIKE 'fleetpulse_restore_%'",
                            "postgres")
            return 'COPY public."Padding"' in activity

        _wait("the restore to be copying the large table", copying)
        name = host.check_output("docker ps --filter label=io.fleetpulse.dr.restore --format '{{.Names}}'")
        pid = host.check_output(f"docker inspect --format '{{{{.State.Pid}}}}' {name}")
        assert "pg_restore" in host.check_output(f"ps -o args= -p {pid}")
        host.check_output(f"kill -KILL {pid}")
    finally:
        rc, out = _finish(proc)
    assert rc != 0
    assert "The live database fleetpulse was NOT changed; the unfinished side database" in out, out[-3000:]
    assert "was dropped" in out and "api, web: started again on it" in out
    assert _fingerprint(host) == live_before
    assert not [d for d in _databases(host) if d.startswith("fleetpulse_restore_")]
    _wait("the api to be healthy again", lambda: _health() == 200)


def test_a_failing_migration_swaps_the_previous_database_back(host, state, live_before):
    rc, out = _recover("-e", f"db_restore_backup={state['migration']['file']}")
    assert rc != 0
    assert "RESTORE ROLLED BACK" in out, out[-4000:]
    assert "Run the migrations" in out and "already exists" in out  # it failed for real, in the migration
    assert "The previous database is live again as fleetpulse" in out
    assert _fingerprint(host) == live_before
    failed = [d for d in _databases(host) if d.startswith("fleetpulse_failed_restore_")]
    assert len(failed) == 1
    # The restored copy is kept for inspection: the migration's failure is recorded in it.
    assert _sql(host, 'SELECT count(*) FROM "_prisma_migrations" WHERE finished_at IS NULL', failed[0]) == "1"
    _wait("the api to be healthy again", lambda: _health() == 200)


# --------------------------------------------------------------------------- the DR test and the purge

def test_dr_test_appends_a_passing_record_and_leaves_no_test_database(host, live_before, tmp_path):
    # The broken backups of the refusal tests go first: the DR test's fresh backup copies every
    # local backup that has a manifest offsite, and the bit-flipped one would fail that upload.
    host.check_output(f"rm -f {BACKUPS}/car_rental_backup_20200101_*")
    text, jsonl = tmp_path / "dr-test-log.txt", tmp_path / "dr-test-log.jsonl"
    rc, out = _run("dr-test.yml", "-e", f"dr_test_text_log={text}", "-e", f"dr_test_json_log={jsonl}")
    assert rc == 0, out[-4000:]
    assert "DR TEST PASSED" in out
    line = text.read_text().strip()
    assert line.startswith("DR Test ") and "Database backup & restore successful" in line
    record = json.loads(jsonl.read_text().strip())
    assert record["result"] == "passed" and record["test"] == "database_restore"
    details = record["details"]
    assert details["counts"] and details["expected"]["public.Booking"] == 5000
    assert details["backup"].startswith("car_rental_backup_") and host.file(f"{BACKUPS}/{details['backup']}").exists
    assert "fleetpulse_dr_test" not in _databases(host)
    assert _fingerprint(host) == live_before


def test_purge_drops_only_the_databases_named(host):
    kept = sorted(d for d in _databases(host) if "_restore_" in d)
    failed = [d for d in kept if d.startswith("fleetpulse_failed_restore_")]
    rc, out = _recover("-e", "db_restore_action=purge", "-e", json.dumps({"db_restore_purge_names": failed}))
    assert rc == 0, out[-3000:]
    assert set(kept) - _databases(host) == set(failed)
    rc, out = _recover("-e", "db_restore_action=purge", "-e", '{"db_restore_purge_names": ["fleetpulse"]}')
    assert rc != 0 and "not a database kept aside by a restore" in out
    assert "fleetpulse" in _databases(host)
