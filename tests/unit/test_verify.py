# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check verdicts of backup_verify (plugins/module_utils/verify.py) on crafted scan results."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))
from ansible_collections.fleetpulse.dr.plugins.module_utils.dumpscan import ScanResult
from ansible_collections.fleetpulse.dr.plugins.module_utils.verify import (
    CHECK_ORDER,
    Candidate,
    VerifyInput,
    evaluate,
    failure_message,
    pick_previous,
    sibling_pattern,
    timestamp_from_name,
)

NOW = dt.datetime(2026, 2, 7, 1, 0, 0, tzinfo=dt.UTC)
NAME = "car_rental_backup_20260206_020000.sql.gz"


def good_result(**over) -> ScanResult:
    res = ScanResult(format="plain.gz", compression="gzip", size=1000, sha256="a" * 64, decompress_ok=True,
                     complete=True, tables=["public.Tenant", "public.Booking"], row_counts={"public.Tenant": 3},
                     decompressed_bytes=5000)
    for k, v in over.items():
        setattr(res, k, v)
    return res


def inp(**over) -> VerifyInput:
    fields = {"location": f"/b/{NAME}", "name": NAME, "exists": True, "size_on_disk": 1000, "mtime": None,
              "result": good_result(), "expected_tables": ["public.Tenant", "public.Booking"], "now": NOW}
    fields.update(over)
    return VerifyInput(**fields)


def test_all_checks_reported_in_order() -> None:
    checks, facts = evaluate(inp())
    assert tuple(checks) == CHECK_ORDER
    assert {n for n, c in checks.items() if c.status == "failed"} == set()
    assert facts == {"created_at": "2026-02-06T02:00:00Z", "created_at_source": "file name", "age_seconds": 82800}


def test_age_boundary() -> None:
    assert evaluate(inp(max_age_hours=22.99))[0]["age"].status == "failed"
    assert evaluate(inp(max_age_hours=23))[0]["age"].status == "passed"  # 23h old, 23h allowed
    assert evaluate(inp(max_age_hours=0))[0]["age"].status == "skipped"


def test_size_shrink_threshold() -> None:
    prev = Candidate("/b/car_rental_backup_20260205_020000.sql.gz", 1300, 0)
    assert evaluate(inp(previous=prev, max_shrink_percent=20))[0]["size"].status == "failed"  # -23%
    assert evaluate(inp(previous=prev, max_shrink_percent=25))[0]["size"].status == "passed"
    assert evaluate(inp(previous=prev, max_shrink_percent=0))[0]["size"].status == "skipped"


def test_missing_and_empty_backups_skip_the_rest() -> None:
    checks, _facts = evaluate(inp(exists=False, result=None))
    assert checks["exists"].status == "failed" and "does not exist" in checks["exists"].message
    assert all(c.status == "skipped" for n, c in checks.items() if n != "exists")
    checks, _facts = evaluate(inp(size_on_disk=0, result=None))
    assert "is empty (0 bytes)" in checks["exists"].message


def test_manifest_for_another_file_is_refused() -> None:
    man = {"file": "other.sql.gz", "format": "plain.gz", "sha256": "a" * 64, "size": 1000, "schema_version": 1,
           "finished_at": "2026-02-06T02:00:41Z", "row_counts": {}, "database": "fleetpulse"}
    checks, _facts = evaluate(inp(manifest=man, manifest_location="/b/m.json"))
    assert checks["manifest"].status == "failed" and "describes 'other.sql.gz'" in checks["manifest"].message
    assert checks["checksum"].status == "skipped"
    man["file"] = NAME
    checks, facts = evaluate(inp(manifest=man, manifest_location="/b/m.json", expected_database="fleetpulse"))
    assert checks["checksum"].status == "passed" and checks["database"].status == "passed"
    assert facts["created_at"] == "2026-02-06T02:00:41Z" and facts["created_at_source"] == "manifest"


def test_failure_message_names_check_file_and_fix() -> None:
    checks, _facts = evaluate(inp(result=good_result(complete=False, complete_error="it ends inside the data")))
    msg = failure_message(f"/b/{NAME}", checks)
    assert msg.startswith(f"backup /b/{NAME} failed 1 check(s): [complete]")
    assert "fix: pg_dump did not finish" in msg


def test_names_and_previous() -> None:
    assert timestamp_from_name(NAME) == dt.datetime(2026, 2, 6, 2, 0, tzinfo=dt.UTC)
    assert timestamp_from_name("fleetpulse.dump") is None
    assert sibling_pattern(NAME) == "car_rental_backup_[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]_" + \
        "[0-9][0-9][0-9][0-9][0-9][0-9].sql.gz"
    cands = [Candidate(f"/b/car_rental_backup_2026020{d}_020000.sql.gz", d, 0) for d in (3, 5, 7)]
    cands.append(Candidate(f"/b/{NAME}.manifest.json", 1, 0))
    assert pick_previous(NAME, None, cands).location.endswith("20260205_020000.sql.gz")
    assert pick_previous("car_rental_backup_20260101_000000.sql.gz", None, cands) is None
