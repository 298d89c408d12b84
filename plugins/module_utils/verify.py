# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn what a scan found into the checks ``backup_verify`` reports, each with a verdict.

Every failed check says what is wrong with which file and, where there is one, the fix.
"""

from __future__ import annotations

import datetime as _dt
import glob
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.fleetpulse.dr.plugins.module_utils import manifest as mf
from ansible_collections.fleetpulse.dr.plugins.module_utils.dumpscan import ScanResult

CHECK_ORDER = ("exists", "format", "decompresses", "complete", "tables", "database", "manifest", "checksum",
               "row_counts", "age", "size")
NAME_TIMESTAMP = re.compile(r"(\d{8})_(\d{6})")
FIXES = {
    "exists": "check the path; if the backup job did not run or failed before writing data, take a new backup "
              "and read the backup job's log",
    "format": "point the check at a pg_dump backup (plain .sql.gz, custom -Fc or directory -Fd), or fix the "
              "backup job that wrote this file",
    "decompresses": "the file is damaged or was cut during a copy: fetch it again from the offsite copy, or take "
                    "a new backup",
    "complete": "pg_dump did not finish (killed, disk full, lost connection): take a new backup and check the "
                "backup job's log; do not restore from this file",
    "tables": "this is probably a dump of another database (or the schema changed): check the database name or "
              "DATABASE_URL the backup job uses, and expected_tables",
    "database": "the dump comes from another database: check the database name or DATABASE_URL the backup job uses",
    "manifest": "rewrite the manifest with the backup tooling, or point 'manifest' at this backup's manifest",
    "checksum": "the file changed after it was written (corruption, or a partial copy): fetch it again from the "
                "offsite copy, or take a new backup",
    "row_counts": "the dump does not hold the rows counted in its snapshot: take a new backup",
    "age": "the newest backup is older than the RPO: check that the daily backup job runs (02:00 UTC) and take a "
           "backup now",
    "size": "the backup shrank suddenly: check the database for lost data and the dump for completeness before "
            "relying on it, or raise max_shrink_percent if the shrink is expected",
}


@dataclass
class Check:
    status: str  # passed, failed, skipped
    message: str

    def as_dict(self, name: str) -> dict[str, Any]:
        data = {"status": self.status, "message": self.message}
        if self.status == "failed" and name in FIXES:
            data["fix"] = FIXES[name]
        return data


@dataclass
class Candidate:
    """Another backup beside this one (for the size comparison)."""

    location: str
    size: int
    mtime: float


@dataclass
class VerifyInput:
    location: str
    name: str
    exists: bool
    size_on_disk: int
    mtime: float | None
    result: ScanResult | None
    expected_format: str = "auto"
    expected_tables: list[str] = field(default_factory=list)
    expected_database: str | None = None
    manifest: dict | None = None
    manifest_location: str | None = None
    manifest_error: str | None = None
    require_manifest: bool = False
    max_age_hours: float = 24.0
    previous: Candidate | None = None
    previous_error: str | None = None
    max_shrink_percent: float = 20.0
    now: _dt.datetime | None = None


def timestamp_from_name(name: str) -> _dt.datetime | None:
    """``car_rental_backup_20260206_020000.sql.gz`` -> 2026-02-06 02:00:00 UTC (the plan's naming)."""
    m = NAME_TIMESTAMP.search(name)
    if not m:
        return None
    try:
        return _dt.datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def sibling_pattern(name: str) -> str | None:
    """A glob matching other backups named like ``name`` (the timestamp wildcarded)."""
    if not NAME_TIMESTAMP.search(name):
        return None
    return NAME_TIMESTAMP.sub("[0-9]" * 8 + "_" + "[0-9]" * 6, glob.escape(name), count=1)


def pick_previous(name: str, mtime: float | None, candidates: list[Candidate]) -> Candidate | None:
    """The newest backup older than this one, by the ``YYYYMMDD_HHMMSS`` timestamp in the names."""
    mine = timestamp_from_name(name)
    best: tuple[float, Candidate] | None = None
    for cand in candidates:
        cname = os.path.basename(cand.location.rstrip("/"))
        if cname == name or cname.endswith(mf.MANIFEST_SUFFIX):
            continue
        stamp = timestamp_from_name(cname)
        if mine is None or stamp is None or stamp >= mine:
            continue
        key = stamp.timestamp()
        if best is None or key > best[0]:
            best = (key, cand)
    return best[1] if best else None


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h {minutes}m"
    return f"{hours}h {minutes}m"


def evaluate(inp: VerifyInput) -> tuple[dict[str, Check], dict[str, Any]]:
    """All checks, in CHECK_ORDER, plus facts (created_at, age_seconds, ...) for the module's result."""
    checks: dict[str, Check] = {}
    facts: dict[str, Any] = {"created_at": None, "created_at_source": None, "age_seconds": None}
    now = inp.now or _dt.datetime.now(_dt.timezone.utc)
    res = inp.result

    def skip_rest(reason: str) -> None:
        for name in CHECK_ORDER:
            checks.setdefault(name, Check("skipped", reason))

    if not inp.exists:
        checks["exists"] = Check("failed", f"{inp.location} does not exist")
        skip_rest("not checked: the backup does not exist")
        return checks, facts
    if inp.size_on_disk == 0:
        checks["exists"] = Check("failed", f"{inp.location} is empty (0 bytes): the backup job wrote no data")
        skip_rest("not checked: the backup is empty")
        return checks, facts
    checks["exists"] = Check("passed", f"{inp.location} exists ({_human(inp.size_on_disk)})")
    assert res is not None

    # format
    if res.format_error:
        checks["format"] = Check("failed", f"{inp.location} is {res.format_error}")
    elif inp.expected_format not in ("auto", res.format):
        checks["format"] = Check("failed", f"{inp.location} is a {res.format} dump, expected {inp.expected_format}")
    else:
        checks["format"] = Check("passed", f"{res.format} dump, {res.compression} compression, "
                                           f"pg_dump {res.pg_dump_version or 'unknown'}")

    # decompresses
    if res.decompress_ok is True:
        checks["decompresses"] = Check("passed", f"{_human(res.size)} decompress to {_human(res.decompressed_bytes)}"
                                       if res.compression != "none" else "stored uncompressed; read to the end")
    elif res.decompress_ok is False:
        checks["decompresses"] = Check("failed", f"{inp.location} does not decompress: {res.decompress_error}")
    else:
        why = "; ".join(res.notes) or "the archive's table of contents could not be read"
        checks["decompresses"] = Check("skipped", f"not checked: {why}")

    # complete
    if res.format_error:
        checks["complete"] = Check("skipped", "not checked: not a PostgreSQL dump")
    elif res.complete:
        if res.format in ("plain", "plain.gz"):
            detail = f"ends with pg_dump's completion trailer; {len(res.row_counts)} COPY blocks all terminated"
        else:
            detail = (f"table of contents readable ({res.toc_entries} entries), all {res.data_members} data "
                      f"members present and complete")
        checks["complete"] = Check("passed", detail)
    else:
        checks["complete"] = Check("failed", f"{inp.location} is incomplete: {res.complete_error}")

    readable = not res.format_error and (res.complete or res.format in ("plain", "plain.gz") or res.tables)

    # tables
    if not inp.expected_tables:
        checks["tables"] = Check("skipped", "no expected_tables given")
    elif not readable:
        checks["tables"] = Check("skipped", "not checked: the dump's contents could not be read")
    else:
        missing = [t for t in inp.expected_tables if t not in res.tables]
        if missing:
            found = ", ".join(res.tables[:8]) + (", ..." if len(res.tables) > 8 else "") if res.tables else "none"
            checks["tables"] = Check("failed", f"{inp.location} lacks expected table(s) {', '.join(missing)} "
                                               f"(it has {len(res.tables)}: {found})")
        else:
            checks["tables"] = Check("passed", f"all {len(inp.expected_tables)} expected tables present "
                                               f"({len(res.tables)} tables in the dump)")

    # database
    dump_db = res.database
    source = "the archive header" if res.format in ("custom", "directory") else "the dump's \\connect line"
    if dump_db is None and inp.manifest:
        dump_db, source = inp.manifest.get("database"), "the manifest"
    if not inp.expected_database:
        checks["database"] = Check("skipped", "no expected_database given")
    elif dump_db is None:
        checks["database"] = Check("skipped", "not checked: a plain dump without --create names no database and "
                                              "there is no manifest (the tables check still applies)")
    elif dump_db != inp.expected_database:
        checks["database"] = Check("failed", f"{inp.location} is a dump of database {dump_db!r} (per {source}), "
                                             f"expected {inp.expected_database!r}")
    else:
        checks["database"] = Check("passed", f"dump of database {dump_db!r} (per {source})")

    # manifest + checksum + row counts
    man = inp.manifest
    if inp.manifest_error:
        checks["manifest"] = Check("failed", f"the manifest of {inp.location} is unusable: {inp.manifest_error}")
    elif man is None:
        if inp.require_manifest:
            checks["manifest"] = Check("failed", f"{inp.location} has no manifest ({inp.manifest_location} not found)")
        else:
            checks["manifest"] = Check("skipped", f"no manifest ({inp.manifest_location} not found)")
    elif man["file"] != inp.name:
        checks["manifest"] = Check("failed", f"the manifest {inp.manifest_location} describes {man['file']!r}, "
                                             f"not {inp.name!r}")
    elif not res.format_error and man["format"] != res.format:
        checks["manifest"] = Check("failed", f"the manifest {inp.manifest_location} says format {man['format']!r}, "
                                             f"but {inp.location} is {res.format!r}")
    else:
        checks["manifest"] = Check("passed", f"manifest {inp.manifest_location} (schema {man['schema_version']})")
    man_ok = man is not None and checks["manifest"].status == "passed"
    if not man_ok:
        checks["checksum"] = Check("skipped", "not checked: no usable manifest to compare with")
    elif man["sha256"] != res.sha256 or man["size"] != res.size:
        checks["checksum"] = Check("failed", f"{inp.location} does not match its manifest: sha256 {res.sha256[:16]}... "
                                             f"({res.size} bytes), manifest says {man['sha256'][:16]}... "
                                             f"({man['size']} bytes)")
    else:
        checks["checksum"] = Check("passed", f"sha256 {res.sha256} and size {res.size} match the manifest")

    expected_rows = man.get("row_counts") if man_ok else None
    if not expected_rows:
        checks["row_counts"] = Check("skipped", "not checked: no row counts in a usable manifest")
    elif not res.complete or not res.row_counts:
        checks["row_counts"] = Check("skipped", "not checked: the dump's rows could not be counted"
                                     + (f" ({'; '.join(res.notes)})" if res.notes else ""))
    else:
        wrong = [f"{t}: manifest {n}, dump {res.row_counts.get(t, 'no data')}"
                 for t, n in expected_rows.items() if res.row_counts.get(t) != n]
        if wrong:
            checks["row_counts"] = Check("failed", f"{inp.location} holds other row counts than its manifest: "
                                                   + "; ".join(wrong[:8]))
        else:
            checks["row_counts"] = Check("passed", f"rows of all {len(expected_rows)} tables match the manifest "
                                                   f"({sum(expected_rows.values())} rows)")

    # age
    created: _dt.datetime | None = None
    if man_ok:
        created, facts["created_at_source"] = mf.parse_time(man["finished_at"]), "manifest"
    if created is None:
        created = timestamp_from_name(inp.name)
        facts["created_at_source"] = "file name" if created else None
    if created is None and inp.mtime is not None:
        created = _dt.datetime.fromtimestamp(inp.mtime, _dt.timezone.utc)
        facts["created_at_source"] = "modification time"
    if created is not None:
        facts["created_at"] = mf.format_time(created)
        facts["age_seconds"] = int((now - created).total_seconds())
    if inp.max_age_hours <= 0:
        checks["age"] = Check("skipped", "max_age_hours is 0 (age not checked)")
    elif created is None:
        checks["age"] = Check("failed", f"the age of {inp.location} is unknown (no manifest, no timestamp in the "
                                        "name, no modification time)")
    else:
        age = facts["age_seconds"]
        limit = inp.max_age_hours * 3600
        if age > limit:
            checks["age"] = Check("failed", f"{inp.location} is {_duration(age)} old (created {facts['created_at']} "
                                            f"per {facts['created_at_source']}), more than the maximum "
                                            f"{inp.max_age_hours:g}h")
        else:
            checks["age"] = Check("passed", f"{_duration(max(age, 0))} old (created {facts['created_at']} per "
                                            f"{facts['created_at_source']}), within {inp.max_age_hours:g}h")

    # size vs previous
    prev = inp.previous
    if inp.previous_error:
        checks["size"] = Check("failed", inp.previous_error)
    elif inp.max_shrink_percent <= 0 or inp.max_shrink_percent >= 100:
        checks["size"] = Check("skipped", "max_shrink_percent disables the size comparison")
    elif prev is None:
        checks["size"] = Check("skipped", "no previous backup to compare with")
    elif prev.size > 0 and res.size < prev.size * (1 - inp.max_shrink_percent / 100):
        shrink = 100 * (prev.size - res.size) / prev.size
        checks["size"] = Check("failed", f"{inp.location} ({_human(res.size)}) is {shrink:.0f}% smaller than the "
                                         f"previous backup {prev.location} ({_human(prev.size)}); the limit is "
                                         f"{inp.max_shrink_percent:g}%")
    else:
        change = 0.0 if prev.size == 0 else 100 * (res.size - prev.size) / prev.size
        checks["size"] = Check("passed", f"{_human(res.size)}, {change:+.1f}% against the previous backup "
                                         f"{prev.location}")
    ordered = {name: checks[name] for name in CHECK_ORDER if name in checks}
    return ordered, facts


def failure_message(location: str, checks: dict[str, Check]) -> str:
    failed = [(n, c) for n, c in checks.items() if c.status == "failed"]
    parts = []
    for name, check in failed:
        fix = FIXES.get(name)
        parts.append(f"[{name}] {check.message}" + (f" -> fix: {fix}" if fix else ""))
    return f"backup {location} failed {len(failed)} check(s): " + " | ".join(parts)
