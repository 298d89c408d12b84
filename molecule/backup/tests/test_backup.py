"""Plan 2.1/2.3/2.4 on the FleetPulse replica with the world's S3 (SeaweedFS).

converge installed fleetpulse.dr.db_backup; side_effect ran playbooks/backup.yml (manual
backup + configuration backup) and the pre_deploy entry point. These tests check what
that left, run the program the timer runs, and inject faults. They run in file order:
the fault tests come after the checks of the good backups, retention last.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shlex
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import boto3
import fp_polling
import pytest

PROGRAM = "/usr/local/sbin/fleetpulse-backup"
CONFIG = "/etc/fleetpulse/backup.json"
BACKUP_DIR = "/opt/fleetpulse/backups"
LOCK = "/run/lock/fleetpulse-db.lock"
METRICS = "/var/lib/node_exporter/textfile_collector/fleetpulse_backup_fleetpulse.prom"
BUCKET = "fleetpulse-offsite-backup-test"
DB_PREFIX = "fleetpulse/db-backups/"
PASSPHRASE = "backup-test-config-passphrase-0001"  # noqa: S105 - a test-only key (molecule.yml)
NAME_RE = re.compile(r"^car_rental_backup_\d{8}_\d{6}(_pre-deploy|_manual)?\.(dump|sql\.gz)$")


# --------------------------------------------------------------------------- helpers

def world() -> dict:
    base = os.environ.get("FP_WORLD_DIR") or str(
        Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / ".world" / os.environ.get("FP_TEST_NS", "fp"))
    return json.loads((Path(base) / "world.json").read_text())


def s3():
    svc = world()["services"]["s3"]
    return boto3.client("s3", endpoint_url=svc["controller_endpoint"], region_name="us-east-1",
                        aws_access_key_id=svc["access_key"], aws_secret_access_key=svc["secret_key"])


def offsite_keys() -> set[str]:
    pages = s3().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=DB_PREFIX)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def wait_until(what: str, probe, timeout: float = 120, interval: float = 0.5):
    return fp_polling.wait_until(what, probe, timeout, interval)


def run(host, *args: str, config: str = CONFIG) -> tuple[int, dict, str]:
    """Run the installed program as the timer does; return (rc, JSON result, stderr collapsed)."""
    cmd = f"{PROGRAM} --config {config} --json " + " ".join(shlex.quote(a) for a in args)
    res = host.run(cmd)
    try:
        out = json.loads(res.stdout)
    except ValueError:
        out = {}
    return res.rc, out, " ".join(res.stderr.split())


def snapshot(host, directory: str = BACKUP_DIR) -> dict[str, str]:
    """sha256 of every file in the backup directory (what a failed run must leave untouched)."""
    out = host.check_output(f"find {directory} -maxdepth 1 -type f -print0 | xargs -0 -r sha256sum")
    return {line.split("  ", 1)[1].rsplit("/", 1)[1]: line.split("  ", 1)[0] for line in out.splitlines()}


def assert_nothing_left_behind(host, before: dict[str, str], directory: str = BACKUP_DIR) -> None:
    after = snapshot(host, directory)
    assert after == before, f"files changed: {set(after.items()) ^ set(before.items())}"
    assert not [n for n in after if n.endswith(".partial")]


def read_config(host) -> dict:
    return json.loads(host.check_output(f"cat {CONFIG}"))


def write_config(host, path: str, data: dict) -> str:
    text = json.dumps(data)
    host.check_output(f"umask 077; printf %s {shlex.quote(text)} > {path}")
    return path


def metrics(host) -> dict[str, float]:
    values = {}
    for line in host.file(METRICS).content_string.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            values[key] = float(value)
    return values


def sql(host, query: str) -> str:
    return host.check_output(f"docker exec postgres psql -U fleetpulse -d fleetpulse -Atc {shlex.quote(query)}")


def results(host) -> dict:
    return json.loads(host.file("/root/backup-test-results.json").content_string)


def secrets(host) -> list[str]:
    cfg = read_config(host)
    found = [cfg["offsite"]["secret_key"], cfg["config_backup"]["encryption_key"], cfg["database"]["password"]]
    assert all(found), "the scenario must configure every secret for these checks to mean anything"
    return found


# --------------------------------------------------------------------------- schedule and files

def test_daily_backup_is_scheduled_at_0200_utc(host):
    show = host.check_output("systemctl show fleetpulse-backup.timer -p TimersCalendar -p UnitFileState "
                             "-p ActiveState -p Persistent")
    assert "OnCalendar=*-*-* 02:00:00 UTC" in show
    assert "UnitFileState=enabled" in show and "ActiveState=active" in show and "Persistent=yes" in show
    # systemd's own idea of the next start: 02:00:00 UTC, within the next 24 hours.
    line = host.check_output("systemctl list-timers fleetpulse-backup.timer --all --no-legend")
    stamp = re.search(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (\S+)", line)
    assert stamp, line
    when = dt.datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S")
    assert (when.hour, when.minute, when.second) == (2, 0, 0) and stamp.group(2) == "UTC", line
    service = host.check_output("systemctl show fleetpulse-backup.service -p ExecStart --value")
    assert f"{PROGRAM} --config {CONFIG} db --type daily" in " ".join(service.split())


def test_configuration_is_private_and_secrets_stay_in_it(host):
    cfg = host.file(CONFIG)
    assert (cfg.user, cfg.group, cfg.mode) == ("root", "root", 0o600)
    assert host.file("/etc/fleetpulse").mode == 0o755
    leaks = host.run("grep -rlF -f /dev/stdin /etc/systemd/system/fleetpulse-* " + PROGRAM + " "
                     "/var/lib/node_exporter /var/lib/fleetpulse-backup " + BACKUP_DIR,
                     stdin="\n".join(secrets(host)))
    # grep exits 1 when nothing matches: no secret outside the 0600 configuration.
    assert leaks.rc == 1, leaks.stdout


# --------------------------------------------------------------------------- the on-demand backup

def test_on_demand_backup_is_verified_and_its_counts_equal_the_live_database(host):
    res = results(host)["manual"]
    assert res["ok"] and res["rc"] == 0, res
    path = res["path"]
    assert NAME_RE.match(os.path.basename(path)) and path.endswith("_manual.dump")
    manifest = json.loads(host.file(path + ".manifest.json").content_string)
    assert manifest["sha256"] == host.check_output(f"sha256sum {path}").split()[0]
    assert manifest["size"] == host.file(path).size and manifest["format"] == "custom"
    assert manifest["backup_type"] == "manual" and manifest["snapshot"] == res["snapshot"]
    # The data is idle in the test: the counts in the dump's snapshot equal the live database, table by table.
    live = {}
    for table in manifest["row_counts"]:
        schema, name = table.split(".", 1)
        live[table] = int(sql(host, f'SELECT count(*) FROM "{schema}"."{name}"'))  # noqa: S608 - names from the manifest
    assert manifest["row_counts"] == live
    assert live["public.Booking"] > 1000  # the replica's seed (small) is really there
    # pg_restore can read the archive, and it holds the tables.
    listing = host.check_output(f"docker exec -i postgres pg_restore --list < {path}")
    assert re.search(r"TABLE DATA public Booking ", listing), listing[-2000:]


def test_offsite_copy_has_the_manifests_checksum(host):
    res = results(host)["manual"]
    manifest = json.loads(host.file(res["path"] + ".manifest.json").content_string)
    key = DB_PREFIX + res["file"]
    assert res["offsite_ok"] is True
    assert key in [u["key"] for u in res["offsite"]["uploads"]]
    body = s3().get_object(Bucket=BUCKET, Key=key)
    assert hashlib.sha256(body["Body"].read()).hexdigest() == manifest["sha256"]
    assert body["Metadata"]["sha256"] == manifest["sha256"]
    remote_manifest = json.loads(s3().get_object(Bucket=BUCKET, Key=key + ".manifest.json")["Body"].read())
    assert remote_manifest == manifest


def test_pre_deploy_entry_point_takes_a_pre_deploy_backup(host):
    res = json.loads(host.file("/root/backup-test-predeploy.json").content_string)
    assert res["backup_type"] == "pre-deploy" and res["file"].endswith("_pre-deploy.dump")
    assert host.file(res["path"]).exists and host.file(res["path"] + ".manifest.json").exists
    assert DB_PREFIX + res["file"] in offsite_keys()


def test_configuration_backup_offsite_decrypts_to_the_servers_files(host, tmp_path):
    res = results(host)["config"]
    assert res["verified"] and res["key"].startswith("fleetpulse/config-backups/fleetpulse1/")
    encrypted = tmp_path / "config.tar.gz.gpg"
    encrypted.write_bytes(s3().get_object(Bucket=BUCKET, Key=res["key"])["Body"].read())
    keyfile = tmp_path / "key"
    keyfile.write_text(PASSPHRASE)
    archive = tmp_path / "config.tar.gz"
    with tempfile.TemporaryDirectory() as home:
        subprocess.run(["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase-file",
                        str(keyfile), "-o", str(archive), "-d", str(encrypted)], check=True, capture_output=True)
    with tarfile.open(archive) as tar:
        env = tar.extractfile("opt/fleetpulse/.env").read()
        names = tar.getnames()
    assert hashlib.sha256(env).hexdigest() == hashlib.sha256(host.file("/opt/fleetpulse/.env").content).hexdigest()
    assert "opt/fleetpulse/docker-compose.prod.yml" in names
    assert "opt/fleetpulse/docker/nginx/nginx.conf" in names
    manifest = json.loads(s3().get_object(Bucket=BUCKET, Key=res["manifest_key"])["Body"].read())
    assert {f["path"] for f in manifest["files"]} == set(names)
    assert b"MINIO_SECRET_KEY" not in encrypted.read_bytes()  # encrypted, not merely compressed


def test_the_timers_service_runs_the_same_program(host):
    before = set(snapshot(host))
    host.check_output("systemctl start fleetpulse-backup.service")  # oneshot: returns when the run is over
    assert host.check_output("systemctl show fleetpulse-backup.service -p Result --value") == "success"
    new = [n for n in set(snapshot(host)) - before if NAME_RE.match(n)]
    assert len(new) == 1 and re.match(r"^car_rental_backup_\d{8}_\d{6}\.dump$", new[0]), new
    journal = host.check_output("journalctl -t fleetpulse-backup -o cat --no-pager -n 20")
    assert f"OK daily backup {BACKUP_DIR}/{new[0]}" in journal


def test_metrics_describe_the_last_verified_backup(host):
    m = metrics(host)
    assert m['fleetpulse_backup_last_run_success{database="fleetpulse"}'] == 1
    assert m['fleetpulse_backup_offsite_last_run_success{database="fleetpulse"}'] == 1
    assert abs(m['fleetpulse_backup_last_success_timestamp_seconds{database="fleetpulse"}'] - time.time()) < 600
    newest = sorted(n for n in snapshot(host) if NAME_RE.match(n))[-1]
    manifest = json.loads(host.file(f"{BACKUP_DIR}/{newest}.manifest.json").content_string)
    assert m['fleetpulse_backup_size_bytes{database="fleetpulse"}'] == manifest["size"]
    for table, count in manifest["row_counts"].items():  # docs/metrics.md: table="Booking" for public."Booking"
        label = table.removeprefix("public.")
        assert m[f'fleetpulse_backup_table_rows{{database="fleetpulse",table="{label}"}}'] == count
    assert m['fleetpulse_backup_files{database="fleetpulse"}'] == len(
        [n for n in snapshot(host) if NAME_RE.match(n)])
    assert m['fleetpulse_backup_offsite_last_success_timestamp_seconds{database="fleetpulse"}'] >= \
        m['fleetpulse_backup_last_success_timestamp_seconds{database="fleetpulse"}']


def test_no_secret_on_any_command_line_during_a_run(host):
    script = (f"{PROGRAM} db --type manual >/dev/null 2>&1 & pid=$!; "
              "while kill -0 $pid 2>/dev/null; do ps -eo args; done; wait $pid")
    res = host.run(script)
    assert res.rc == 0, res.stderr
    seen = res.stdout
    assert "pg_dump" in seen or "docker exec" in seen  # the run's commands were seen
    for secret in secrets(host):
        assert secret not in seen


# --------------------------------------------------------------------------- faults

def test_database_down_fails_clearly_and_changes_nothing(host):
    before = snapshot(host)
    success_before = metrics(host)['fleetpulse_backup_last_success_timestamp_seconds{database="fleetpulse"}']
    host.check_output("docker stop postgres")
    try:
        rc, out, err = run(host, "db", "--type", "manual")
    finally:
        host.check_output("docker start postgres")
        wait_until("postgres accepts connections",
                   lambda: host.run("docker exec postgres pg_isready -U fleetpulse -d fleetpulse").rc == 0)
    assert rc == 1 and out["ok"] is False and out["path"] == ""
    assert "FAILED manual backup of database fleetpulse: the database is not reachable" in err
    assert "no running container" in err and "docker compose up -d postgres" in err
    assert_nothing_left_behind(host, before)
    m = metrics(host)
    assert m['fleetpulse_backup_last_run_success{database="fleetpulse"}'] == 0
    assert m['fleetpulse_backup_last_success_timestamp_seconds{database="fleetpulse"}'] == success_before


def test_the_ansible_entry_point_fails_with_the_reason_when_the_database_is_down(host):
    before = snapshot(host)
    host.check_output("docker stop postgres")
    try:
        playbook = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "verbose-run.yml"
        res = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook)],
                             capture_output=True, text=True, timeout=600, check=False)
    finally:
        host.check_output("docker start postgres")
        wait_until("postgres accepts connections",
                   lambda: host.run("docker exec postgres pg_isready -U fleetpulse -d fleetpulse").rc == 0)
    output = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0
    assert "The manual backup failed on fleetpulse1 (exit 1): the database is not reachable" in output, output[-3000:]
    assert "Earlier backups are untouched" in output
    assert_nothing_left_behind(host, before)


@pytest.mark.parametrize("fault", ["wrong credentials", "unreachable"])
def test_offsite_failure_keeps_the_local_backup_and_reports_it(host, fault):
    cfg = read_config(host)
    if fault == "wrong credentials":
        cfg["offsite"]["secret_key"] = "not-the-secret-key-0000000000000000000000"  # noqa: S105 - wrong on purpose
        expect = "refused the credentials"
    else:
        cfg["offsite"]["endpoint"] = "http://127.0.0.1:9"  # nothing listens there
        expect = "is unreachable"
    bad = write_config(host, "/root/backup-test-bad-offsite.json", cfg)
    before = snapshot(host)
    keys_before = offsite_keys()
    rc, out, err = run(host, "db", "--type", "manual", config=bad)
    assert rc == 3, err
    assert out["ok"] is True and out["offsite_ok"] is False and expect in out["offsite_error"]
    assert f"FAILED manual backup of database fleetpulse: offsite copy failed, the local backup {out['file']} " \
           "is kept" in err
    assert cfg["offsite"]["secret_key"] not in err
    # The new local backup is complete and verified; nothing else changed; nothing new offsite.
    after = snapshot(host)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {out["file"], out["file"] + ".manifest.json"}
    assert offsite_keys() == keys_before
    m = metrics(host)
    assert m['fleetpulse_backup_last_run_success{database="fleetpulse"}'] == 1
    assert m['fleetpulse_backup_offsite_last_run_success{database="fleetpulse"}'] == 0


def test_next_run_uploads_what_the_offsite_store_missed(host):
    local = {n for n in snapshot(host) if NAME_RE.match(n)}
    missing = {n for n in local if DB_PREFIX + n not in offsite_keys()}
    assert missing  # left by the offsite failures above
    rc, out, err = run(host, "offsite")
    assert rc == 0, err
    keys = offsite_keys()
    assert all(DB_PREFIX + n in keys and DB_PREFIX + n + ".manifest.json" in keys for n in missing)
    assert metrics(host)['fleetpulse_backup_offsite_last_run_success{database="fleetpulse"}'] == 0  # db runs only
    assert {u["file"] for u in out["uploads"]} == missing


def test_full_backup_directory_fails_cleanly(host):
    before = snapshot(host)
    used = int(host.check_output(f"du -sb {BACKUP_DIR} | cut -f1"))
    newest = sorted(n for n in before if NAME_RE.match(n) and n.endswith(".dump"))[-1]
    free = int(host.file(f"{BACKUP_DIR}/{newest}").size * 0.4)  # less than a new backup needs
    host.check_output(f"rm -rf /root/stash && cp -a {BACKUP_DIR} /root/stash")
    # A small filesystem over the backup directory holding the same backups, with 40% of a backup free.
    host.check_output(f"mount -t tmpfs -o size={used + free},mode=0750 fleetpulse-test-full {BACKUP_DIR} "
                      f"&& cp -a /root/stash/. {BACKUP_DIR}/")
    try:
        assert snapshot(host) == before
        rc, _out, err = run(host, "db", "--type", "manual")
        assert rc == 1 and "not enough space in /opt/fleetpulse/backups" in err, err
        assert_nothing_left_behind(host, before)
        cfg = read_config(host)
        cfg["min_free_factor"] = 0  # no preflight: the dump itself hits the full disk
        rc, _out, err = run(host, "db", "--type", "manual",
                            config=write_config(host, "/root/backup-test-nopreflight.json", cfg))
        assert rc == 1 and "the backup directory is full" in err and "partial file was removed" in err, err
        assert_nothing_left_behind(host, before)
    finally:
        host.run(f"umount {BACKUP_DIR}")
    assert snapshot(host) == before


def test_second_run_waits_for_the_lock_then_fails_clearly(host):
    # Hold a lock on "Booking" so that a first run stops inside its snapshot, holding the backup lock.
    host.check_output("docker exec -d postgres psql -U fleetpulse -d fleetpulse -c "
                      "'BEGIN; LOCK TABLE \"Booking\" IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(300) /* hold */;'")
    wait_until("the table lock is held", lambda: sql(
        host, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
              "WHERE c.relname = 'Booking' AND l.mode = 'AccessExclusiveLock' AND l.granted") == "1")
    host.check_output("rm -f /root/run1.* /root/run3.*")
    host.check_output(f"setsid sh -c '{PROGRAM} --json db --type manual > /root/run1.json 2> /root/run1.err; "
                      "echo $? > /root/run1.rc' > /dev/null 2>&1 &")
    wait_until("the first run holds the lock", lambda: "pid" in host.file(LOCK).content_string)
    try:
        rc, _out, err = run(host, "db", "--type", "manual", "--lock-timeout", "2")
        assert rc == 75
        assert (f"another backup or restore is running (lock {LOCK} held by pid" in err
                and "(fleetpulse-backup db --type manual)" in err and "waited 2s" in err), err
        # A third run that may wait long enough gets its turn once the first is done.
        host.check_output(f"setsid sh -c '{PROGRAM} --json db --type manual --lock-timeout 300 > /root/run3.json "
                          "2> /root/run3.err; echo $? > /root/run3.rc' > /dev/null 2>&1 &")
        wait_until("the third run waits", lambda: "fleetpulse-backup --json db --type manual --lock-timeout 300"
                   in host.check_output("ps -eo args"))
    finally:
        sql(host, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                  "WHERE query LIKE '%pg_sleep(300) /* hold */%' AND pid <> pg_backend_pid()")
    for name in ("run1", "run3"):
        wait_until(f"{name} finishes", lambda n=name: host.file(f"/root/{n}.rc").exists, timeout=300)
        error = host.file(f"/root/{name}.err").content_string
        assert host.file(f"/root/{name}.rc").content_string.strip() == "0", error
    third = json.loads(host.file("/root/run3.json").content_string)
    assert third["ok"] and third["lock_wait_seconds"] > 0


# --------------------------------------------------------------------------- retention

def _fake_backup(host, source: str, name: str, with_manifest: bool = True) -> None:
    """A copy of a real backup under an older name, with a valid manifest for that name."""
    host.check_output(f"cp {BACKUP_DIR}/{source} {BACKUP_DIR}/{name}")
    if with_manifest:
        manifest = json.loads(host.file(f"{BACKUP_DIR}/{source}.manifest.json").content_string)
        manifest["file"] = name
        write_config(host, f"{BACKUP_DIR}/{name}.manifest.json", manifest)


def _old(days: int, kind: str = "") -> str:
    stamp = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).strftime("%Y%m%d_%H%M%S")
    return f"car_rental_backup_{stamp}{'_' + kind if kind else ''}.dump"


def test_retention_removes_only_expired_backups_locally_and_offsite(host):
    source = sorted(n for n in snapshot(host) if NAME_RE.match(n) and n.endswith(".dump"))[-1]
    expired = [_old(40), _old(10, "pre-deploy"), _old(50)]
    kept = [_old(20), _old(3, "pre-deploy"), _old(400, "manual")]
    for name in expired[:2] + kept:
        _fake_backup(host, source, name)
    _fake_backup(host, source, expired[2], with_manifest=False)  # invalid: never protected
    host.check_output(f"touch {BACKUP_DIR}/notes.txt {BACKUP_DIR}/car_rental_backup_notes.sql.gz")
    client = s3()
    manifest_body = host.file(f"{BACKUP_DIR}/{source}.manifest.json").content
    for name in (expired[0], kept[2]):
        client.put_object(Bucket=BUCKET, Key=DB_PREFIX + name, Body=b"offsite copy")
        client.put_object(Bucket=BUCKET, Key=DB_PREFIX + name + ".manifest.json", Body=manifest_body)
    before = snapshot(host)

    rc, out, err = run(host, "db", "--type", "daily")
    assert rc == 0, err
    after = snapshot(host)
    assert sorted(out["removed_local"]) == sorted(expired)
    for name in expired:
        assert name not in after and name + ".manifest.json" not in after
    for name in [*kept, source, "notes.txt", "car_rental_backup_notes.sql.gz"]:
        assert after.get(name) == before[name]
    assert set(before) - set(after) == {*expired, expired[0] + ".manifest.json", expired[1] + ".manifest.json"}
    keys = offsite_keys()
    assert DB_PREFIX + expired[0] not in keys and DB_PREFIX + expired[0] + ".manifest.json" not in keys
    assert DB_PREFIX + kept[2] in keys and DB_PREFIX + kept[2] + ".manifest.json" in keys


def test_retention_never_removes_the_newest_valid_backups(host):
    directory = "/root/keepmin-backups"
    host.check_output(f"rm -rf {directory} && mkdir -m 0750 {directory}")
    source = sorted(n for n in snapshot(host) if NAME_RE.match(n) and n.endswith(".dump"))[-1]
    olds = [_old(35), _old(40), _old(60)]
    for name in olds:
        host.check_output(f"cp {BACKUP_DIR}/{source} {directory}/{name}")
        manifest = json.loads(host.file(f"{BACKUP_DIR}/{source}.manifest.json").content_string)
        manifest["file"] = name
        write_config(host, f"{directory}/{name}.manifest.json", manifest)
    cfg = read_config(host)
    cfg.update(backup_dir=directory, keep_min=2)
    cfg["offsite"]["enabled"] = False
    rc, out, err = run(host, "db", "--type", "daily", config=write_config(host, "/root/keepmin.json", cfg))
    assert rc == 0, err
    left = {n for n in snapshot(host, directory) if NAME_RE.match(n)}
    # All three old ones are past 30 days; the newest of them is one of the 2 newest valid backups: kept.
    assert left == {out["file"], olds[0]}
    assert sorted(out["removed_local"]) == sorted(olds[1:])


def test_verbose_ansible_output_shows_no_secret(host):
    playbook = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "verbose-run.yml"
    res = subprocess.run(["ansible-playbook", "-vvv", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-3000:]
    # From the play of the role on: the harness's own variable loading before it is not under test.
    output = (res.stdout + res.stderr).split("PLAY [Configure and back up at -vvv]", 1)[-1]
    assert "Write the configuration" in output and "sha256 matches the manifest" in output  # it ran
    for secret in secrets(host):
        assert secret not in output
