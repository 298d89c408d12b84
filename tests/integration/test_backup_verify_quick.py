# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_verify ``depth: quick``: one hashing read, content proven through the manifest.

A restore must not read a backup twice in full (docs/performance.md, recover-database),
so db_restore verifies backups that carry a manifest with ``depth: quick``. These tests
show what quick mode still catches on real pg_dump backups (every byte is hashed, the
header and table of contents are parsed) and that it never claims content it did not
prove: without a manifest it falls back to the full check.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from pg_world import PgCluster, backup_name, check_status, mf, run_module
from test_backup_verify import assert_failed, copy_backup

pytestmark = pytest.mark.integration

CONTENT_CHECKS = ("decompresses", "complete", "row_counts")


@pytest.mark.parametrize("fmt", ["plain.gz", "custom", "directory"])
def test_quick_passes_a_valid_backup_on_its_manifest(backups: dict[str, Path], pg: PgCluster, fmt: str) -> None:
    path = backups[fmt]
    result = run_module("backup_verify", {"path": str(path), "expected_database": "fleetpulse",
                                          "require_manifest": True, "format": fmt, "depth": "quick"})
    assert result["_rc"] == 0, result.get("msg")
    assert result["depth"] == "quick"
    statuses = check_status(result)
    for name in ("exists", "format", "tables", "database", "manifest", "checksum", *CONTENT_CHECKS):
        assert statuses[name] == "passed", (name, result["checks"][name])
    for name in CONTENT_CHECKS:
        assert "sha256 equals the manifest's" in result["checks"][name]["message"]
    assert result["sha256"] == mf.read(mf.manifest_path_for(str(path)))["sha256"]
    # Nothing past the header was decompressed: that is the point of quick.
    assert result["decompressed_bytes"] == 0
    if fmt != "plain.gz":
        assert {"public.Tenant", "public.Booking"} <= set(result["tables"])  # from the table of contents
        assert result["database"] == "fleetpulse"  # from the archive header


def test_quick_catches_a_flipped_byte_through_the_checksum(backups: dict[str, Path], tmp_path: Path) -> None:
    path = copy_backup(backups["custom"], tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside compressed table data: only a full decompression or the hash sees it
    path.write_bytes(bytes(data))
    result = run_module("backup_verify", {"path": str(path), "depth": "quick"})
    assert_failed(result, "checksum", "does not match its manifest")
    statuses = check_status(result)
    assert all(statuses[name] == "skipped" for name in CONTENT_CHECKS), statuses  # never claimed without proof


def test_quick_catches_a_truncated_gzip_with_its_manifest(backups: dict[str, Path], tmp_path: Path) -> None:
    path = copy_backup(backups["plain.gz"], tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    result = run_module("backup_verify", {"path": str(path), "depth": "quick"})
    assert_failed(result, "checksum", "does not match its manifest")


def test_quick_reads_the_custom_header_of_another_database(pg: PgCluster, tmp_path: Path) -> None:
    path = tmp_path / backup_name(suffix=".dump")
    pg.pg_dump("otherapp", path, "custom")
    data = mf.build(file=path.name, fmt="custom", size=path.stat().st_size, sha256=mf.sha256_file(str(path)),
                    database="otherapp", server_version="15", pg_dump_version="15", started_at=mf.utc_now(),
                    finished_at=mf.utc_now(), row_counts={"public.Account": 1})
    mf.write(mf.manifest_path_for(str(path)), data)
    result = run_module("backup_verify", {"path": str(path), "depth": "quick", "expected_database": "fleetpulse"})
    assert_failed(result, "database", "dump of database 'otherapp'", "archive header")
    assert_failed(result, "tables", "lacks expected table(s) public.Tenant")


def test_quick_without_a_manifest_falls_back_to_the_full_check(backups: dict[str, Path], tmp_path: Path) -> None:
    """The plan's legacy .sql.gz has no manifest: quick must read it all, and still find a cut dump."""
    sql = gzip.decompress(backups["plain.gz"].read_bytes())
    path = tmp_path / backup_name()
    path.write_bytes(gzip.compress(sql[: sql.index(b"\nALTER TABLE ONLY")]))
    result = run_module("backup_verify", {"path": str(path), "depth": "quick"})
    assert result["depth"] == "full"
    assert_failed(result, "complete", "completion trailer")

    good = copy_backup(backups["plain.gz"], tmp_path, name=backup_name(), with_manifest=False)
    result = run_module("backup_verify", {"path": str(good), "depth": "quick"})
    assert result["_rc"] == 0, result.get("msg")
    assert result["depth"] == "full" and result["decompressed_bytes"] > 0
    assert result["row_counts"]["public.Booking"] > 0  # counted from the dump's COPY data


def test_quick_with_a_manifest_of_another_file_falls_back_and_fails(
        backups: dict[str, Path], tmp_path: Path) -> None:
    path = copy_backup(backups["custom"], tmp_path)
    manifest_path = mf.manifest_path_for(str(path))
    data = mf.read(manifest_path)
    data["file"] = "car_rental_backup_20200101_000000.dump"
    mf.write(manifest_path, data)
    result = run_module("backup_verify", {"path": str(path), "depth": "quick"})
    assert result["depth"] == "full"
    assert_failed(result, "manifest", "describes 'car_rental_backup_20200101_000000.dump'")
