# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup program (fleetpulse-backup) against a real PostgreSQL 15 and the world's S3.

pg_dump runs on the host here (``database.pg_dump: host``); the Molecule scenario
``backup`` runs it inside the replica's postgres container. These tests cover what is
easier to force on a local cluster: a pg_dump killed mid-stream, a disk filling up during
the dump, a pg_dump older than the server, encrypted offsite copies and their retention.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import pytest
from pg_world import APP_PASSWORD, APP_USER, REPO, PgCluster, wait_until

from ansible_collections.fleetpulse.dr.plugins.module_utils import manifest as mf

SECRET_PASSPHRASE = "integration-offsite-passphrase-0001"  # a test-only key


def run_program(config: Path, *args: str, env: dict | None = None, wait: bool = True):
    cmd = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); from ansible_collections."
           "fleetpulse.dr.plugins.module_utils.backup_cli import main; sys.exit(main())",
           str(REPO / ".collections"), "--config", str(config), "--json", *args]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **(env or {})})
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600,
                         check=False)
    out = json.loads(res.stdout) if res.stdout.strip() else {}
    return res.returncode, out, " ".join(res.stderr.split())


@pytest.fixture
def setup(pg: PgCluster, tmp_path: Path):
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir()
    cfg = {"database": {"name": "fleetpulse", "user": APP_USER, "password": APP_PASSWORD, "host": pg.host,
                        "port": pg.port, "pg_dump": "host"},
           "backup_dir": str(backup_dir), "metrics_dir": str(tmp_path / "metrics"),
           "state_dir": str(tmp_path / "state"), "lock_path": str(tmp_path / "db.lock"), "lock_timeout": 5}
    path = tmp_path / "backup.json"

    def write(**changes):
        """Change the configuration (nested dictionaries are updated) and write it."""
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(cfg.get(key), dict):
                cfg[key].update(value)
            else:
                cfg[key] = value
        path.write_text(json.dumps(cfg))
        return path

    write()
    return {"config": path, "dir": backup_dir, "write": write, "tmp": tmp_path}


def files(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir() if p.is_file()}


@pytest.mark.parametrize("fmt", ["plain.gz", "custom"])
def test_both_formats_restore_with_the_counted_rows(setup, pg: PgCluster, fmt: str):
    rc, out, err = run_program(setup["config"], "db", "--format", fmt, "--type", "daily")
    assert rc == 0, err
    path = Path(out["path"])
    assert path.name.endswith(".sql.gz" if fmt == "plain.gz" else ".dump") and "_daily" not in path.name
    manifest = mf.read(str(path) + ".manifest.json")
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["pg_dump_options"] == (["--clean", "--if-exists", "--no-owner", "--no-acl"] if fmt == "plain.gz"
                                           else ["-Fc", "--no-owner", "--no-acl"])
    # Restore into a scratch database and count: the manifest's numbers come back.
    scratch = f"restore_{fmt.replace('.', '_')}"
    pg.psql("postgres", f'DROP DATABASE IF EXISTS "{scratch}"')
    pg.psql("postgres", f'CREATE DATABASE "{scratch}" OWNER {APP_USER}')
    env = {**pg.admin_env(), "PGDATABASE": scratch}
    if fmt == "plain.gz":
        with subprocess.Popen(["gunzip", "-c", str(path)], stdout=subprocess.PIPE) as gz:
            subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"], stdin=gz.stdout, env=env, check=True,
                           capture_output=True)
    else:
        subprocess.run(["pg_restore", "-j", "2", "--no-owner", "-d", scratch, str(path)], env=env, check=True,
                       capture_output=True)
    restored = {f"public.{t}": n for t, n in pg.counts(scratch).items()}
    assert restored == {k: v for k, v in manifest["row_counts"].items() if k in restored}


def test_a_pg_dump_killed_mid_stream_fails_the_backup(setup, pg: PgCluster):
    before = files(setup["dir"])
    # A session holding a lock on "Booking" makes pg_dump wait after it has started writing.
    locker = subprocess.Popen(["psql", "-X", "-d", "fleetpulse", "-c",
                               'BEGIN; LOCK TABLE "Booking" IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120);'],
                              env=pg.admin_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        held = ("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'Booking' AND l.granted AND l.mode = 'AccessExclusiveLock'")
        wait_until("the lock is held", lambda: pg.psql("fleetpulse", held) == "1")
        # Count "Booking" rows before the lock, so that only pg_dump (not the counting) waits: list the others.
        setup["write"](tables=["Tenant"])
        proc = run_program(setup["config"], "db", "--format", "plain.gz", wait=False)
        waiting = ("FROM pg_stat_activity WHERE application_name = 'fleetpulse.dr' AND wait_event_type = 'Lock' "
                   "AND query NOT LIKE '%pg_sleep%'")
        wait_until("pg_dump waits for the lock", lambda: pg.psql("fleetpulse", f"SELECT count(*) {waiting}") == "1")
        assert [p for p in setup["dir"].iterdir() if p.name.endswith(".partial")]  # it is writing its file
        pg.psql("postgres", f"SELECT pg_terminate_backend(pid) {waiting}")
        _stdout, err = proc.communicate(timeout=120)
    finally:
        pg.psql("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(120)%' "
                            "AND pid <> pg_backend_pid()")
        locker.wait(timeout=60)
    assert proc.returncode == 1
    assert "pg_dump failed (exit 1)" in " ".join(err.split())
    assert files(setup["dir"]) == before  # no partial, no final name


def test_a_full_disk_during_the_dump_leaves_nothing(setup, pg: PgCluster):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    small = setup["tmp"] / "small"
    small.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "fleetpulse-test", str(small)],
                         capture_output=True, check=False)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")
    try:
        (small / "earlier.txt").write_text("an earlier file\n")
        cfg = setup["write"](backup_dir=str(small))
        rc, _out, err = run_program(cfg, "db", "--format", "custom")  # about 12 KiB: does not fit
        assert rc == 1
        assert "the backup directory is full" in err and "the partial file was removed" in err, err
        assert sorted(p.name for p in small.iterdir()) == ["earlier.txt"]
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_an_older_pg_dump_is_refused_before_anything_is_written(setup, tmp_path: Path):
    # Test double for the client only: Debian 12 ships no older pg_dump. The server is real.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pg_dump").write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.14'\n")
    (fake / "pg_dump").chmod(0o755)
    rc, _out, err = run_program(setup["config"], "db", env={"PATH": f"{fake}:{os.environ['PATH']}"})
    assert rc == 1
    assert "pg_dump 13.14 in 127.0.0.1:" in err and "is older than the server (PostgreSQL 15." in err, err
    assert "postgresql-client-15" in err
    assert list(setup["dir"].iterdir()) == []


@pytest.fixture(scope="module")
def s3_world() -> dict:
    subprocess.run([sys.executable, str(REPO / "tests/world/world.py"), "up", "s3"], check=True, cwd=REPO,
                   capture_output=True)
    env = json.loads(subprocess.run([sys.executable, str(REPO / "tests/world/world.py"), "env"], check=True,
                                    capture_output=True, cwd=REPO).stdout)
    return env["services"]["s3"]


def test_encrypted_offsite_copies_decrypt_to_the_backup_and_expire(setup, s3_world: dict, tmp_path: Path):
    client = boto3.client("s3", endpoint_url=s3_world["controller_endpoint"], region_name="us-east-1",
                          aws_access_key_id=s3_world["access_key"], aws_secret_access_key=s3_world["secret_key"])
    bucket = f"backup-program-{int(time.time())}"
    client.create_bucket(Bucket=bucket)
    prefix = "it/db-backups/"
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=45)).strftime("%Y%m%d_%H%M%S")
    expired = f"car_rental_backup_{old}.dump.gpg"
    client.put_object(Bucket=bucket, Key=prefix + expired, Body=b"old")
    client.put_object(Bucket=bucket, Key=prefix + f"car_rental_backup_{old}.dump.manifest.json", Body=b"{}")
    cfg = setup["write"](offsite={"enabled": True, "bucket": bucket, "prefix": "it",
                                  "endpoint": s3_world["controller_endpoint"], "access_key": s3_world["access_key"],
                                  "secret_key": s3_world["secret_key"], "encryption_key": SECRET_PASSPHRASE},
                         keep_min=1)
    rc, out, err = run_program(cfg, "db", "--type", "daily")
    assert rc == 0, err
    assert SECRET_PASSPHRASE not in err and s3_world["secret_key"] not in err
    upload = out["offsite"]["uploads"][0]
    assert upload["encrypted"] and upload["key"] == prefix + out["file"] + ".gpg"
    stored = client.get_object(Bucket=bucket, Key=upload["key"])["Body"].read()
    assert stored[:20] != Path(out["path"]).read_bytes()[:20]  # not the plain archive
    keyfile = tmp_path / "key"
    keyfile.write_text(SECRET_PASSPHRASE)
    with tempfile.TemporaryDirectory() as home:
        plain = subprocess.run(["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback",
                                "--passphrase-file", str(keyfile), "-d"], input=stored, capture_output=True,
                               check=True).stdout
    assert hashlib.sha256(plain).hexdigest() == out["sha256"]
    manifest = json.loads(client.get_object(Bucket=bucket, Key=prefix + out["file"] + ".manifest.json")["Body"].read())
    assert manifest["offsite_encryption"] == "gpg-symmetric-aes256" and manifest["sha256"] == out["sha256"]
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])}
    assert prefix + expired not in keys and prefix + f"car_rental_backup_{old}.dump.manifest.json" not in keys
    assert out["offsite"]["removed"] == [prefix + expired]
    # Unencrypted copies (no key) work too: the manifest of each says which.
    rc, out2, err = run_program(setup["write"](offsite={"encryption_key": ""}), "db", "--type", "manual")
    assert rc == 0, err
    assert out2["offsite"]["uploads"][0]["key"] == prefix + out2["file"]
    metrics = (setup["tmp"] / "metrics" / "fleetpulse_backup_fleetpulse.prom").read_text()
    assert 'fleetpulse_backup_offsite_last_run_success{database="fleetpulse"} 1' in metrics
    assert f'fleetpulse_backup_offsite_files{{database="fleetpulse"}} {out2["offsite"]["count"]}' in metrics


def test_a_local_backup_damaged_on_disk_is_never_shipped_and_does_not_block_the_new_one(setup, s3_world: dict):
    client = boto3.client("s3", endpoint_url=s3_world["controller_endpoint"], region_name="us-east-1",
                          aws_access_key_id=s3_world["access_key"], aws_secret_access_key=s3_world["secret_key"])
    bucket = f"backup-damaged-{int(time.time())}"
    client.create_bucket(Bucket=bucket)
    rc, first, err = run_program(setup["config"], "db", "--type", "manual")  # offsite not configured yet
    assert rc == 0, err
    damaged = Path(first["path"])
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the checksum can tell
    damaged.write_bytes(bytes(data))
    time.sleep(1.1)  # backup names carry the second; the next one must sort after this one
    cfg = setup["write"](offsite={"enabled": True, "bucket": bucket, "prefix": "it",
                                  "endpoint": s3_world["controller_endpoint"], "access_key": s3_world["access_key"],
                                  "secret_key": s3_world["secret_key"], "encryption_key": ""})
    run = run_program(cfg, "db", "--type", "manual")
    rc, err = run[0], run[2]
    assert rc == 3, err  # the offsite step failed, the new local backup is kept
    assert f"{damaged.name} in {setup['dir']} no longer match their manifests" in err
    assert "1 other backup(s) were" in err
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="it/").get("Contents", [])}
    new_name = next(n for n in files(setup["dir"]) if n != damaged.name and not n.endswith(".json"))
    assert f"it/db-backups/{new_name}" in keys and f"it/db-backups/{new_name}.manifest.json" in keys
    assert not any(damaged.name in k for k in keys)
