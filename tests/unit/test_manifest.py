# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manifest reader/writer (plugins/module_utils/manifest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))
from ansible_collections.fleetpulse.dr.plugins.module_utils import manifest as mf


def sample(**over) -> dict:
    fields = {
        "file": "car_rental_backup_20260206_020000.sql.gz", "fmt": "plain.gz", "size": 1234, "sha256": "ab" * 32,
        "database": "fleetpulse", "server_version": "15.18", "pg_dump_version": "15.18",
        "started_at": "2026-02-06T02:00:00Z", "finished_at": "2026-02-06T02:00:41Z",
        "row_counts": {"public.Tenant": 3, "public.Booking": 30},
        "tenant_row_counts": {"public.Booking": {"t2": 20, "t1": 10}}, "tenant_column": "tenantId",
        "snapshot": "00000003-0000001B-1",
    }
    fields.update(over)
    return mf.build(**fields)


def test_build_write_read_round_trip(tmp_path: Path) -> None:
    data = sample()
    path = tmp_path / "x.sql.gz.manifest.json"
    mf.write(str(path), data)
    assert mf.read(str(path)) == data
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    assert data["schema_version"] == mf.SCHEMA_VERSION and data["kind"] == mf.KIND
    assert list(data["row_counts"]) == ["public.Booking", "public.Tenant"]  # sorted: stable diffs
    assert list(data["tenant_row_counts"]["public.Booking"]) == ["t1", "t2"]
    assert not list(tmp_path.glob(".manifest-*"))  # no temp file left behind


def test_manifest_path_is_beside_the_backup() -> None:
    assert mf.manifest_path_for("/b/car.sql.gz") == "/b/car.sql.gz.manifest.json"
    assert mf.manifest_path_for("/b/dump.dir/") == "/b/dump.dir.manifest.json"


@pytest.mark.parametrize(("change", "error"), [
    ({"sha256": "XYZ"}, "sha256 must be 64 lowercase hexadecimal"),
    ({"fmt": "zip"}, "format must be one of"),
    ({"size": -1}, "size must not be negative"),
    ({"file": ""}, "bare file name"),
    ({"finished_at": "2026-02-06 02:00"}, "has no timezone"),
    ({"started_at": "yesterday"}, "not an ISO 8601 time"),
    ({"row_counts": {"public.Tenant": -3}}, "non-negative integer"),
    ({"row_counts": {"public.Tenant": True}}, "non-negative integer"),
    ({"tenant_row_counts": {"public.Booking": 5}}, "must be an object"),
])
def test_invalid_manifests_are_refused(change: dict, error: str) -> None:
    with pytest.raises(mf.ManifestError, match=error):
        sample(**change)


def test_reader_names_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"schema_version": 2, "kind": mf.KIND}))
    with pytest.raises(mf.ManifestError) as err:
        mf.read(str(path))
    assert str(path) in str(err.value)
    assert "missing required field 'sha256'" in str(err.value)
    path.write_text("{not json")
    with pytest.raises(mf.ManifestError, match="not valid JSON"):
        mf.read(str(path))
    with pytest.raises(mf.ManifestError, match="cannot read manifest"):
        mf.read(str(tmp_path / "absent.json"))


def test_future_schema_version_is_refused() -> None:
    data = sample()
    data["schema_version"] = 2
    assert any("schema_version 2 is not supported" in e for e in mf.validate(data))


def test_write_refuses_invalid_data_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    mf.write(str(path), sample())
    before = path.read_text()
    bad = sample()
    bad["size"] = "big"
    with pytest.raises(mf.ManifestError):
        mf.write(str(path), bad)
    assert path.read_text() == before


def test_directory_checksum_matches_the_documented_shell_recipe(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "toc.dat").write_bytes(b"PGDMP...")
    (tmp_path / "d" / "3385.dat.gz").write_bytes(b"\x1f\x8b data")
    (tmp_path / "d" / "sub" / "Z.dat").write_bytes(b"z")
    (tmp_path / "d" / "a b.dat").write_bytes(b"space")
    recipe = ("cd d && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum")
    shell = subprocess.run(["bash", "-c", recipe], cwd=tmp_path, capture_output=True, check=True).stdout.split()[0]
    assert mf.sha256_directory(str(tmp_path / "d")) == shell.decode()
