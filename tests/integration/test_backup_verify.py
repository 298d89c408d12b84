# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleetpulse.dr.backup_verify run through Ansible on real pg_dump backups of a real PostgreSQL 15.

The module runs under Debian's /usr/bin/python3 (no psycopg, no boto3), as on a managed
host, except for the S3 tests, which need boto3.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from pg_world import (
    PgCluster,
    backup_name,
    check_status,
    make_backup,
    mf,
    run_module,
    wait_until,
)

pytestmark = pytest.mark.integration
EXPECTED_ROWS = {"public.Tenant": 3, "public.Booking": 30, "public.Vehicle": 12, "public.Customer": 18}


def copy_backup(src: Path, dest_dir: Path, name: str | None = None, with_manifest: bool = True) -> Path:
    dest = dest_dir / (name or src.name)
    if src.is_dir():
        shutil.copytree(src, dest)
    else:
        shutil.copy2(src, dest)
    if with_manifest:
        data = mf.read(mf.manifest_path_for(str(src)))
        data["file"] = dest.name
        mf.write(mf.manifest_path_for(str(dest)), data)
    return dest


def assert_failed(result: dict, check: str, *words: str) -> None:
    """The task failed, the named check failed, and the message names the check, the file and the reason."""
    assert result["_rc"] != 0, f"expected a failure of {check}, got success: {result.get('summary')}"
    assert result.get("failed") is True
    assert check in result["failed_checks"], result["failed_checks"]
    msg = result["msg"]
    assert f"[{check}]" in msg, msg
    assert result["location"] in msg, msg
    for word in words:
        assert word in msg, f"{word!r} not in: {msg}"
    assert "fix:" in msg, msg


@pytest.mark.parametrize("fmt", ["plain.gz", "custom", "directory"])
def test_valid_backup_passes_every_check(backups: dict[str, Path], pg: PgCluster, fmt: str) -> None:
    path = backups[fmt]
    result = run_module("backup_verify", {"path": str(path), "expected_database": "fleetpulse",
                                          "require_manifest": True, "format": fmt})
    assert result["_rc"] == 0, result.get("msg")
    assert result["verified"] is True and result["changed"] is False
    statuses = check_status(result)
    for name in ("exists", "format", "decompresses", "complete", "tables", "database", "manifest", "checksum",
                 "row_counts", "age"):
        assert statuses[name] == "passed", (name, result["checks"][name])
    assert result["format"] == fmt
    assert result["sha256"] == mf.read(mf.manifest_path_for(str(path)))["sha256"]
    # The rows found in the dump's data are the rows of the database (nothing wrote since).
    truth = {f"public.{t}": n for t, n in pg.counts("fleetpulse").items()}
    assert {k: result["row_counts"][k] for k in truth} == truth
    assert set(truth) <= set(result["tables"])
    assert result["pg_dump_version"].startswith("15.")
    assert result["created_at_source"] == "manifest"
    assert 0 <= result["age_seconds"] < 3600


def test_check_mode_reads_only_and_reports_the_same(backups: dict[str, Path], tmp_path: Path) -> None:
    path = copy_backup(backups["plain.gz"], tmp_path)
    before = (path.stat().st_mtime_ns, mf.sha256_file(str(path)))
    normal = run_module("backup_verify", {"path": str(path)})
    checked = run_module("backup_verify", {"path": str(path)}, check=True)
    assert normal["_rc"] == checked["_rc"] == 0
    assert checked["changed"] is False
    assert check_status(checked) == check_status(normal)
    assert (path.stat().st_mtime_ns, mf.sha256_file(str(path))) == before


def test_truncated_gzip_fails(backups: dict[str, Path], tmp_path: Path) -> None:
    path = copy_backup(backups["plain.gz"], tmp_path, with_manifest=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    result = run_module("backup_verify", {"path": str(path)})
    assert_failed(result, "decompresses", "gzip stream ends early", "truncated")
    assert check_status(result)["complete"] == "failed"


def test_valid_gzip_of_a_cut_dump_fails_on_the_missing_trailer(backups: dict[str, Path], tmp_path: Path) -> None:
    """gunzip -t passes this file (the plan's only check); the module must not."""
    sql = gzip.decompress(backups["plain.gz"].read_bytes())
    cut_at = sql.index(b"\nALTER TABLE ONLY")  # after all data, before the constraints: every COPY is complete
    path = tmp_path / backup_name()
    path.write_bytes(gzip.compress(sql[:cut_at]))
    assert subprocess.run(["gzip", "-t", str(path)], check=False).returncode == 0
    result = run_module("backup_verify", {"path": str(path)})
    assert_failed(result, "complete", "completion trailer", "cut short")
    assert check_status(result)["decompresses"] == "passed"


def test_gzip_cut_inside_table_data_names_the_table(backups: dict[str, Path], tmp_path: Path) -> None:
    sql = gzip.decompress(backups["plain.gz"].read_bytes())
    cut_at = sql.index(b"COPY public.\"Customer\"") + 200
    path = tmp_path / backup_name()
    path.write_bytes(gzip.compress(sql[:cut_at]))
    result = run_module("backup_verify", {"path": str(path)})
    assert_failed(result, "complete", "inside the data of table public.Customer")


def test_empty_file_fails(tmp_path: Path) -> None:
    path = tmp_path / backup_name()
    path.write_bytes(b"")
    result = run_module("backup_verify", {"path": str(path)})
    assert_failed(result, "exists", "is empty (0 bytes)")


def test_missing_file_fails(tmp_path: Path) -> None:
    result = run_module("backup_verify", {"path": str(tmp_path / backup_name())})
    assert_failed(result, "exists", "does not exist")


def test_non_gzip_file_fails(tmp_path: Path) -> None:
    path = tmp_path / backup_name()
    path.write_text("<html>502 Bad Gateway</html>\n")
    result = run_module("backup_verify", {"path": str(path)})
    assert_failed(result, "format", "not a PostgreSQL dump", "name ends in .gz")
    assert_failed(result, "decompresses", "not gzip data")


def test_dump_of_the_wrong_database_fails(pg: PgCluster, tmp_path: Path) -> None:
    plain = tmp_path / backup_name()
    pg.pg_dump("otherapp", plain, "plain.gz")
    result = run_module("backup_verify", {"path": str(plain)})
    assert_failed(result, "tables", "lacks expected table(s) public.Tenant, public.Booking")
    custom = tmp_path / backup_name(suffix=".dump")
    pg.pg_dump("otherapp", custom, "custom")
    result = run_module("backup_verify", {"path": str(custom), "expected_database": "fleetpulse"})
    assert_failed(result, "database", "dump of database 'otherapp'", "expected 'fleetpulse'")


def test_manifest_with_a_wrong_checksum_fails(backups: dict[str, Path], tmp_path: Path) -> None:
    path = copy_backup(backups["custom"], tmp_path)
    manifest_path = mf.manifest_path_for(str(path))
    data = mf.read(manifest_path)
    data["sha256"] = "0" * 64
    mf.write(manifest_path, data)
    result = run_module("backup_verify", {"path": str(path)})
    assert_failed(result, "checksum", "does not match its manifest")


def test_file_changed_after_its_manifest_fails(backups: dict[str, Path], tmp_path: Path) -> None:
    """A bit flip the gzip CRC would catch too; here the checksum check must name it on its own."""
    path = copy_backup(backups["directory"], tmp_path)
    (path / "extra.dat").write_bytes(b"left behind\n")
    result = run_module("backup_verify", {"path": str(path)})
    assert_failed(result, "checksum", "does not match its manifest")


def test_manifest_row_counts_must_match_the_dump(backups: dict[str, Path], tmp_path: Path) -> None:
    path = copy_backup(backups["plain.gz"], tmp_path)
    manifest_path = mf.manifest_path_for(str(path))
    data = mf.read(manifest_path)
    data["row_counts"]["public.Booking"] += 7
    mf.write(manifest_path, data)
    result = run_module("backup_verify", {"path": str(path)})
    assert_failed(result, "row_counts", "public.Booking: manifest 37, dump 30")


def test_unreadable_manifest_fails(backups: dict[str, Path], tmp_path: Path) -> None:
    path = copy_backup(backups["plain.gz"], tmp_path)
    Path(mf.manifest_path_for(str(path))).write_text('{"schema_version": 1, "file": ')
    result = run_module("backup_verify", {"path": str(path)})
    assert_failed(result, "manifest", "not valid JSON")


def test_required_manifest_missing_fails(backups: dict[str, Path], tmp_path: Path) -> None:
    path = copy_backup(backups["plain.gz"], tmp_path, with_manifest=False)
    result = run_module("backup_verify", {"path": str(path), "require_manifest": True})
    assert_failed(result, "manifest", "has no manifest")


def test_old_backup_fails_on_age(backups: dict[str, Path], tmp_path: Path) -> None:
    old = copy_backup(backups["plain.gz"], tmp_path, backup_name(age=dt.timedelta(days=3)), with_manifest=False)
    result = run_module("backup_verify", {"path": str(old)})
    assert_failed(result, "age", "old (created", "per file name", "more than the maximum 24h")
    assert result["created_at_source"] == "file name"
    assert 3 * 86400 - 60 < result["age_seconds"] < 3 * 86400 + 600
    # The same file passes with a wider limit: the check really compares with max_age_hours.
    assert run_module("backup_verify", {"path": str(old), "max_age_hours": 100})["_rc"] == 0


def test_old_backup_by_manifest_time(backups: dict[str, Path], tmp_path: Path) -> None:
    path = copy_backup(backups["custom"], tmp_path)
    manifest_path = mf.manifest_path_for(str(path))
    data = mf.read(manifest_path)
    data["finished_at"] = mf.format_time(dt.datetime.now(dt.UTC) - dt.timedelta(hours=30))
    mf.write(manifest_path, data)
    result = run_module("backup_verify", {"path": str(path)})
    assert_failed(result, "age", "per manifest")


def test_sudden_shrink_against_the_previous_backup_fails(pg: PgCluster, tmp_path: Path) -> None:
    previous = tmp_path / backup_name(age=dt.timedelta(hours=23))
    pg.pg_dump("fleetpulse", previous, "plain.gz")
    small = tmp_path / backup_name(age=dt.timedelta(minutes=1))
    pg.pg_dump("otherapp", small, "plain.gz")
    result = run_module("backup_verify", {"path": str(small), "expected_tables": []})
    assert_failed(result, "size", "smaller than the previous backup", previous.name)
    assert result["previous"]["location"] == str(previous)
    same = tmp_path / backup_name(age=dt.timedelta(seconds=10))
    shutil.copy(previous, same)
    ok = run_module("backup_verify", {"path": str(same)})
    assert ok["_rc"] == 0 and ok["checks"]["size"]["status"] == "passed", ok.get("msg")


def test_truncated_custom_archive_fails(backups: dict[str, Path], tmp_path: Path) -> None:
    path = copy_backup(backups["custom"], tmp_path, with_manifest=False)
    data = path.read_bytes()
    path.write_bytes(data[:-40])
    result = run_module("backup_verify", {"path": str(path)})
    assert_failed(result, "complete", "archive ends early", "truncated")


def test_custom_archive_cut_between_members_fails(backups: dict[str, Path], tmp_path: Path) -> None:
    """pg_restore --list still reads this archive (its TOC is intact); the module must see the lost data."""
    path = copy_backup(backups["custom"], tmp_path, with_manifest=False)
    data = path.read_bytes()
    cut = next(i for i in range(len(data) - 1, 0, -1) if _is_block_start(data, i))  # the last data block
    path.write_bytes(data[:cut])
    assert subprocess.run(["pg_restore", "--list", str(path)], capture_output=True, check=False).returncode == 0
    bad = run_module("backup_verify", {"path": str(path)})
    assert_failed(bad, "complete", "data members are missing", "cut short")


def _is_block_start(data: bytes, i: int) -> bool:
    """A custom archive data block: type 1, dump id (sign byte + 4 bytes), then the chunk lengths to the end."""
    if data[i] != 1 or i + 6 > len(data) or data[i + 1] != 0:
        return False
    pos = i + 6
    while pos + 5 <= len(data):
        length = int.from_bytes(data[pos + 1:pos + 5], "little")
        pos += 5
        if length == 0:
            return pos == len(data)
        pos += length
    return False


def test_directory_archive_with_a_missing_member_fails(backups: dict[str, Path], tmp_path: Path) -> None:
    path = copy_backup(backups["directory"], tmp_path, with_manifest=False)
    biggest = max((p for p in path.iterdir() if p.name != "toc.dat"), key=lambda p: p.stat().st_size)
    biggest.unlink()
    result = run_module("backup_verify", {"path": str(path)})
    assert_failed(result, "complete", f"{biggest.name.removesuffix('.gz')} (TABLE DATA", "is missing")


def test_directory_archive_with_a_truncated_member_fails(backups: dict[str, Path], tmp_path: Path) -> None:
    path = copy_backup(backups["directory"], tmp_path, with_manifest=False)
    member = max((p for p in path.iterdir() if p.name != "toc.dat"), key=lambda p: p.stat().st_size)
    member.write_bytes(member.read_bytes()[:-30])
    result = run_module("backup_verify", {"path": str(path)})
    assert_failed(result, "decompresses", member.name, "truncated")
    assert_failed(result, "complete", member.name, "damaged")


def test_manifest_counts_come_from_the_dump_snapshot_under_writes(pg: PgCluster, tmp_path: Path) -> None:
    """Rows inserted while the dump runs are in neither the dump nor the manifest: the two agree exactly."""
    stop = threading.Event()
    inserted = [0]

    def writer() -> None:
        while not stop.is_set() and inserted[0] < 5000:
            pg.psql("fleetpulse", 'INSERT INTO "Booking" SELECT \'live\' || :\'n\', "tenantId", "vehicleId", '
                    '"customerId", "startDate", "endDate", status, "totalAmount" FROM "Booking" LIMIT 1',
                    "-v", f"n={inserted[0]}")
            inserted[0] += 1

    thread = threading.Thread(target=writer)
    before = pg.counts("fleetpulse")["Booking"]
    thread.start()
    try:
        wait_until("the writer's first rows", lambda: inserted[0] >= 3)
        path = tmp_path / backup_name()
        manifest = make_backup(pg, "fleetpulse", path)
        done_at = inserted[0]
        wait_until("rows written after the dump", lambda: inserted[0] >= done_at + 3)
    finally:
        stop.set()
        thread.join()
    after = pg.counts("fleetpulse")["Booking"]
    try:
        assert after > manifest["row_counts"]["public.Booking"] >= before, (before, manifest["row_counts"], after)
        result = run_module("backup_verify", {"path": str(path), "require_manifest": True})
        assert result["_rc"] == 0, result.get("msg")
        assert result["checks"]["row_counts"]["status"] == "passed"
        assert result["row_counts"]["public.Booking"] == manifest["row_counts"]["public.Booking"]
    finally:
        pg.psql("fleetpulse", "DELETE FROM \"Booking\" WHERE id LIKE 'live%'")


def test_fail_on_error_false_reports_without_failing(tmp_path: Path) -> None:
    path = tmp_path / backup_name()
    path.write_bytes(gzip.compress(b"--\n-- PostgreSQL database dump\n--\n\nCOPY public.x (a) FROM stdin;\n1\n"))
    result = run_module("backup_verify", {"path": str(path), "fail_on_error": False})
    assert result["_rc"] == 0 and result["verified"] is False
    assert "complete" in result["failed_checks"]


# --------------------------------------------------------------------------- S3 (real SeaweedFS)

@pytest.fixture(scope="module")
def s3_world() -> dict:
    """The test world's S3 service (SeaweedFS), started in this FP_TEST_NS."""
    repo = Path(__file__).resolve().parents[2]
    subprocess.run(["python", str(repo / "tests/world/world.py"), "up", "s3"], check=True, cwd=repo)
    env = json.loads(subprocess.run(["python", str(repo / "tests/world/world.py"), "env"], check=True,
                                    capture_output=True, cwd=repo).stdout)
    return env["services"]["s3"]


def test_s3_object_is_streamed_and_checked(s3_world: dict, backups: dict[str, Path], pg: PgCluster) -> None:
    import boto3  # noqa: PLC0415 - only the S3 tests need it

    cli = boto3.client("s3", endpoint_url=s3_world["controller_endpoint"], region_name="us-east-1",
                       aws_access_key_id=s3_world["access_key"], aws_secret_access_key=s3_world["secret_key"])
    bucket = "hb-backup-verify"
    with contextlib.suppress(cli.exceptions.BucketAlreadyOwnedByYou):
        cli.create_bucket(Bucket=bucket)
    src = backups["plain.gz"]
    key = f"fleetpulse/db-backups/{src.name}"
    cli.upload_file(str(src), bucket, key)
    cli.upload_file(mf.manifest_path_for(str(src)), bucket, mf.manifest_path_for(key))
    bad_key = f"fleetpulse/db-backups/{backup_name(age=dt.timedelta(minutes=1))}"
    data = src.read_bytes()
    cli.put_object(Bucket=bucket, Key=bad_key, Body=data[: len(data) // 2])
    args = {"s3_bucket": bucket, "s3_endpoint_url": s3_world["controller_endpoint"],
            "s3_access_key": s3_world["access_key"], "s3_secret_key": s3_world["secret_key"]}
    venv_python = shutil.which("python")
    good = run_module("backup_verify", {**args, "s3_object": key, "require_manifest": True}, python=venv_python)
    assert good["_rc"] == 0, good.get("msg")
    assert good["checks"]["checksum"]["status"] == "passed"
    assert good["row_counts"]["public.Booking"] == pg.counts("fleetpulse")["Booking"]
    assert s3_world["secret_key"] not in json.dumps(good)
    bad = run_module("backup_verify", {**args, "s3_object": bad_key}, python=venv_python)
    assert_failed(bad, "decompresses", "truncated")
    assert bad["location"] == f"s3://{bucket}/{bad_key}"
    assert_failed(bad, "size", "smaller than the previous backup", key)
    wrong = run_module("backup_verify", {**args, "s3_object": key, "s3_secret_key": "wrong"}, python=venv_python)
    assert wrong["_rc"] != 0 and "denied" in wrong["msg"] and "s3_secret_key" in wrong["msg"], wrong["msg"]
