# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleetpulse.dr.backup_fetch against the test world's S3 (SeaweedFS), with copies uploaded by the
backup program's own offsite code (module_utils/offsite.py: gpg encryption, manifest uploaded last)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pg_world import PgCluster, make_backup, mf, run_module

from ansible_collections.fleetpulse.dr.plugins.module_utils import offsite as off

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PASSPHRASE = "fetch-test-passphrase-0001"


@pytest.fixture(scope="module")
def s3() -> dict:
    subprocess.run([sys.executable, str(REPO / "tests/world/world.py"), "up", "s3"], check=True, cwd=REPO,
                   capture_output=True)
    env = json.loads(subprocess.run([sys.executable, str(REPO / "tests/world/world.py"), "env"], check=True,
                                    capture_output=True, cwd=REPO).stdout)
    return env["services"]["s3"]


@pytest.fixture(scope="module")
def store(s3: dict) -> off.Store:
    settings = off.OffsiteSettings(bucket=f"fetch-test-{int(time.time())}", prefix="it",
                                   endpoint=s3["controller_endpoint"], access_key=s3["access_key"],
                                   secret_key=s3["secret_key"], encryption_key=PASSPHRASE)
    cli = off.Store(settings)
    cli.client.create_bucket(Bucket=settings.bucket)
    return cli


@pytest.fixture(scope="module")
def uploaded(pg: PgCluster, store: off.Store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three custom backups offsite, as the backup program leaves them: encrypted copy, then its manifest."""
    src = tmp_path_factory.mktemp("offsite-src")
    made = {}
    for label, hours in (("old", 50), ("middle", 26), ("new", 2)):
        stamp = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)).strftime("%Y%m%d_%H%M%S")
        path = src / f"car_rental_backup_{stamp}.dump"
        manifest = make_backup(pg, "fleetpulse", path, "custom")
        with off.Gpg(PASSPHRASE) as gpg:
            off.upload_file(store, str(path), store.settings.key("db-backups", path.name + ".gpg"),
                            manifest["sha256"], gpg)
        store.put_bytes(store.settings.key("db-backups", path.name + mf.MANIFEST_SUFFIX), mf.dumps(manifest).encode())
        made[label] = path
    # An upload that never completed: data without its manifest (the program uploads the manifest last).
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d_%H%M%S")
    store.put_bytes(store.settings.key("db-backups", f"car_rental_backup_{stamp}.dump.gpg"), b"half an upload")
    return made


def fetch(s3: dict, store: off.Store, dest: Path, check: bool = False, **extra) -> dict:
    args = {"bucket": store.settings.bucket, "prefix": "it", "endpoint": s3["controller_endpoint"],
            "access_key": s3["access_key"], "secret_key": s3["secret_key"], "encryption_key": PASSPHRASE,
            "dest": str(dest), **extra}
    return run_module("backup_fetch", args, python=sys.executable, check=check)


def test_the_newest_complete_copy_is_downloaded_decrypted_and_proven(s3, store, uploaded, tmp_path):
    result = fetch(s3, store, tmp_path / "backups")
    assert result["_rc"] == 0, result.get("msg")
    new = uploaded["new"]
    assert result["changed"] is True and result["downloaded"] is True and result["encrypted"] is True
    assert result["name"] == new.name  # not the newer, incomplete upload
    assert [c["name"] for c in result["candidates"]] == [uploaded[k].name for k in ("new", "middle", "old")]
    path = Path(result["path"])
    assert path.read_bytes() == new.read_bytes()  # decrypted to the very bytes that were backed up
    assert mf.read(mf.manifest_path_for(str(path))) == mf.read(mf.manifest_path_for(str(new)))
    assert not list(path.parent.glob("*.partial"))
    again = fetch(s3, store, tmp_path / "backups")
    assert again["_rc"] == 0 and again["changed"] is False and again["downloaded"] is False
    # The local copy is then a backup like any other: backup_verify proves it against its manifest.
    verified = run_module("backup_verify", {"path": str(path), "depth": "quick", "expected_database": "fleetpulse"})
    assert verified["_rc"] == 0 and verified["verified"] is True, verified.get("msg")


def test_check_mode_downloads_nothing(s3, store, uploaded, tmp_path):
    result = fetch(s3, store, tmp_path / "empty", check=True)
    assert result["_rc"] == 0 and result["changed"] is True and result["path"] is None
    assert result["name"] == uploaded["new"].name
    assert not (tmp_path / "empty").exists()


def test_a_named_copy_and_an_unknown_name(s3, store, uploaded, tmp_path):
    result = fetch(s3, store, tmp_path, name=uploaded["old"].name)
    assert result["_rc"] == 0 and result["name"] == uploaded["old"].name
    missing = fetch(s3, store, tmp_path, name="car_rental_backup_20200101_000000.dump")
    assert missing["_rc"] != 0
    assert "is not a complete backup" in missing["msg"] and uploaded["new"].name in missing["msg"]


def test_a_corrupt_copy_is_refused_naming_the_others_or_skipped_when_allowed(s3, store, uploaded, tmp_path):
    new = uploaded["new"]
    key = store.settings.key("db-backups", new.name + ".gpg")
    original = store.get_bytes(key, limit=1 << 30)
    try:
        # A copy that decrypts fine but is not the backup of the manifest (replaced by another encrypted file).
        with off.Gpg(PASSPHRASE) as gpg:
            off.upload_file(store, str(uploaded["old"]), key, "x", gpg)
        refused = fetch(s3, store, tmp_path / "a")
        assert refused["_rc"] != 0
        assert f"{new.name}: s3://" in refused["msg"] and "does not match its manifest" in refused["msg"]
        assert uploaded["middle"].name in refused["msg"]  # the copies not tried are named
        assert not list((tmp_path / "a").glob("car_rental_backup_*"))  # nothing kept, no partial file
        # Searching further: the next-newest copy is proven and named (ready to restore), yet not used.
        named = fetch(s3, store, tmp_path / "b", max_candidates=3)
        assert named["_rc"] != 0
        assert f"The next-newest good copy is {uploaded['middle'].name}" in named["msg"], named["msg"]
        assert named["fallback"]["name"] == uploaded["middle"].name
        assert Path(named["fallback"]["path"]).read_bytes() == uploaded["middle"].read_bytes()
        assert not (tmp_path / "b" / new.name).exists()
        fallback = fetch(s3, store, tmp_path / "c", max_candidates=3, allow_older=True)
        assert fallback["_rc"] == 0, fallback.get("msg")
        assert fallback["name"] == uploaded["middle"].name
        assert [r["name"] for r in fallback["rejected"]] == [new.name]
        assert Path(fallback["path"]).read_bytes() == uploaded["middle"].read_bytes()
    finally:
        store.client.put_object(Bucket=store.settings.bucket, Key=key, Body=original)


def test_copies_of_another_database_are_refused_without_download(s3, store, uploaded, tmp_path):
    result = fetch(s3, store, tmp_path / "d", expected_database="billing", max_candidates=3)
    assert result["_rc"] != 0
    assert "it is a backup of database 'fleetpulse', not 'billing'" in result["msg"], result["msg"]
    assert len(result["rejected"]) == 3 and not (tmp_path / "d").exists()


def test_a_wrong_passphrase_is_named_and_stops_the_search(s3, store, uploaded, tmp_path):
    result = fetch(s3, store, tmp_path, encryption_key="not-the-passphrase", max_candidates=3)
    assert result["_rc"] != 0
    assert "does not decrypt with the configured key" in result["msg"]
    assert [r["name"] for r in result["rejected"]] == [uploaded["new"].name]  # not every copy downloaded in vain
    assert "not-the-passphrase" not in json.dumps(result)
    assert not list(tmp_path.glob("car_rental_backup_*"))
