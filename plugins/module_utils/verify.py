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
        return _dt.datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S").replace(tzinfo=_dt.UTC)
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


def _check_format(inp: VerifyInput, res: ScanResult) -> Check:
    if res.format_error:
        return Check("failed", f"{inp.location} is {res.format_error}")
    if inp.expected_format not in ("auto", res.format):
        return Check("failed", f"{inp.location} is a {res.format} dump, expected {inp.expected_format}")
    return Check("passed", f"{res.format} dump, {res.compression} compression, "
                           f"pg_dump {res.pg_dump_version or 'unknown'}")


def _check_decompresses(inp: VerifyInput, res: ScanResult) -> Check:
    if res.decompress_ok is True:
        if res.compression == "none":
            return Check("passed", "stored uncompressed; read to the end")
        return Check("passed", f"{_human(res.size)} decompress to {_human(res.decompressed_bytes)}")
    if res.decompress_ok is False:
        return Check("failed", f"{inp.location} does not decompress: {res.decompress_error}")
    why = "; ".join(res.notes) or "the archive's table of contents could not be read"
    return Check("skipped", f"not checked: {why}")


def _check_complete(inp: VerifyInput, res: ScanResult) -> Check:
    if res.format_error:
        return Check("skipped", "not checked: not a PostgreSQL dump")
    if not res.complete:
        return Check("failed", f"{inp.location} is incomplete: {res.complete_error}")
    if res.format in ("plain", "plain.gz"):
        return Check("passed", f"ends with pg_dump's completion trailer; {len(res.row_counts)} COPY blocks all "
                               "terminated")
    return Check("passed", f"table of contents readable ({res.toc_entries} entries), all {res.data_members} data "
                           "members present and complete")


def _check_tables(inp: VerifyInput, res: ScanResult) -> Check:
    if not inp.expected_tables:
        return Check("skipped", "no expected_tables given")
    if res.depth == "quick" and res.format in ("plain", "plain.gz"):
        return Check("skipped", "not checked: a quick verification does not read a plain dump's tables")
    readable = not res.format_error and (res.complete or res.format in ("plain", "plain.gz") or res.tables)
    if not readable:
        return Check("skipped", "not checked: the dump's contents could not be read")
    missing = [t for t in inp.expected_tables if t not in res.tables]
    if not missing:
        return Check("passed", f"all {len(inp.expected_tables)} expected tables present "
                               f"({len(res.tables)} tables in the dump)")
    found = (", ".join(res.tables[:8]) + (", ..." if len(res.tables) > 8 else "")) if res.tables else "none"
    return Check("failed", f"{inp.location} lacks expected table(s) {', '.join(missing)} "
                           f"(it has {len(res.tables)}: {found})")


def _check_database(inp: VerifyInput, res: ScanResult) -> Check:
    dump_db = res.database
    source = "the archive header" if res.format in ("custom", "directory") else "the dump's \\connect line"
    if dump_db is None and inp.manifest:
        dump_db, source = inp.manifest.get("database"), "the manifest"
    if not inp.expected_database:
        return Check("skipped", "no expected_database given")
    if dump_db is None:
        return Check("skipped", "not checked: a plain dump without --create names no database and there is no "
                                "manifest (the tables check still applies)")
    if dump_db != inp.expected_database:
        return Check("failed", f"{inp.location} is a dump of database {dump_db!r} (per {source}), "
                               f"expected {inp.expected_database!r}")
    return Check("passed", f"dump of database {dump_db!r} (per {source})")


def _check_manifest(inp: VerifyInput, res: ScanResult) -> Check:
    man = inp.manifest
    if inp.manifest_error:
        return Check("failed", f"the manifest of {inp.location} is unusable: {inp.manifest_error}")
    if man is None:
        if inp.require_manifest:
            return Check("failed", f"{inp.location} has no manifest ({inp.manifest_location} not found)")
        return Check("skipped", f"no manifest ({inp.manifest_location} not found)")
    if man["file"] != inp.name:
        return Check("failed", f"the manifest {inp.manifest_location} describes {man['file']!r}, not {inp.name!r}")
    if not res.format_error and man["format"] != res.format:
        return Check("failed", f"the manifest {inp.manifest_location} says format {man['format']!r}, "
                               f"but {inp.location} is {res.format!r}")
    return Check("passed", f"manifest {inp.manifest_location} (schema {man['schema_version']})")


def _check_checksum(inp: VerifyInput, res: ScanResult, man: dict | None) -> Check:
    if man is None:
        return Check("skipped", "not checked: no usable manifest to compare with")
    if man["sha256"] != res.sha256 or man["size"] != res.size:
        return Check("failed", f"{inp.location} does not match its manifest: sha256 {res.sha256[:16]}... "
                               f"({res.size} bytes), manifest says {man['sha256'][:16]}... ({man['size']} bytes)")
    return Check("passed", f"sha256 {res.sha256} and size {res.size} match the manifest")


def _check_row_counts(inp: VerifyInput, res: ScanResult, man: dict | None) -> Check:
    expected_rows = man.get("row_counts") if man else None
    if not expected_rows:
        return Check("skipped", "not checked: no row counts in a usable manifest")
    if not res.complete or not res.row_counts:
        notes = f" ({'; '.join(res.notes)})" if res.notes else ""
        return Check("skipped", f"not checked: the dump's rows could not be counted{notes}")
    wrong = [f"{t}: manifest {n}, dump {res.row_counts.get(t, 'no data')}"
             for t, n in expected_rows.items() if res.row_counts.get(t) != n]
    if wrong:
        return Check("failed", f"{inp.location} holds other row counts than its manifest: " + "; ".join(wrong[:8]))
    return Check("passed", f"rows of all {len(expected_rows)} tables match the manifest "
                           f"({sum(expected_rows.values())} rows)")


def _created_at(inp: VerifyInput, man: dict | None) -> tuple[_dt.datetime | None, str | None]:
    if man:
        return mf.parse_time(man["finished_at"]), "manifest"
    stamp = timestamp_from_name(inp.name)
    if stamp is not None:
        return stamp, "file name"
    if inp.mtime is not None:
        return _dt.datetime.fromtimestamp(inp.mtime, _dt.UTC), "modification time"
    return None, None


def _check_age(inp: VerifyInput, facts: dict[str, Any]) -> Check:
    if inp.max_age_hours <= 0:
        return Check("skipped", "max_age_hours is 0 (age not checked)")
    if facts["created_at"] is None:
        return Check("failed", f"the age of {inp.location} is unknown (no manifest, no timestamp in the name, "
                               "no modification time)")
    age = facts["age_seconds"]
    when = f"created {facts['created_at']} per {facts['created_at_source']}"
    if age > inp.max_age_hours * 3600:
        return Check("failed", f"{inp.location} is {_duration(age)} old ({when}), more than the maximum "
                               f"{inp.max_age_hours:g}h")
    return Check("passed", f"{_duration(max(age, 0))} old ({when}), within {inp.max_age_hours:g}h")


def _check_size(inp: VerifyInput, res: ScanResult) -> Check:
    prev = inp.previous
    if inp.previous_error:
        return Check("failed", inp.previous_error)
    if inp.max_shrink_percent <= 0 or inp.max_shrink_percent >= 100:
        return Check("skipped", "max_shrink_percent disables the size comparison")
    if prev is None:
        return Check("skipped", "no previous backup to compare with")
    if prev.size > 0 and res.size < prev.size * (1 - inp.max_shrink_percent / 100):
        shrink = 100 * (prev.size - res.size) / prev.size
        return Check("failed", f"{inp.location} ({_human(res.size)}) is {shrink:.0f}% smaller than the previous "
                               f"backup {prev.location} ({_human(prev.size)}); the limit is "
                               f"{inp.max_shrink_percent:g}%")
    change = 0.0 if prev.size == 0 else 100 * (res.size - prev.size) / prev.size
    return Check("passed", f"{_human(res.size)}, {change:+.1f}% against the previous backup {prev.location}")


def evaluate(inp: VerifyInput) -> tuple[dict[str, Check], dict[str, Any]]:
    """All checks, in CHECK_ORDER, plus facts (created_at, age_seconds, ...) for the module's result."""
    facts: dict[str, Any] = {"created_at": None, "created_at_source": None, "age_seconds": None}
    if not inp.exists or inp.size_on_disk == 0 or inp.result is None:
        if not inp.exists:
            first, reason = f"{inp.location} does not exist", "the backup does not exist"
        else:
            first, reason = f"{inp.location} is empty (0 bytes): the backup job wrote no data", "the backup is empty"
        checks = {"exists": Check("failed", first)}
        checks.update({n: Check("skipped", f"not checked: {reason}") for n in CHECK_ORDER if n != "exists"})
        return checks, facts
    res = inp.result
    now = inp.now or _dt.datetime.now(_dt.UTC)
    checks = {
        "exists": Check("passed", f"{inp.location} exists ({_human(inp.size_on_disk)})"),
        "format": _check_format(inp, res),
        "decompresses": _check_decompresses(inp, res),
        "complete": _check_complete(inp, res),
        "tables": _check_tables(inp, res),
        "database": _check_database(inp, res),
        "manifest": _check_manifest(inp, res),
    }
    man = inp.manifest if checks["manifest"].status == "passed" else None
    checks["checksum"] = _check_checksum(inp, res, man)
    checks["row_counts"] = _check_row_counts(inp, res, man)
    if res.depth == "quick":
        _quick_checks(inp, res, checks, man)
    created, facts["created_at_source"] = _created_at(inp, man)
    if created is not None:
        facts["created_at"] = mf.format_time(created)
        facts["age_seconds"] = int((now - created).total_seconds())
    checks["age"] = _check_age(inp, facts)
    checks["size"] = _check_size(inp, res)
    return checks, facts


PROVEN = ("proven when the backup was taken: its sha256 equals the manifest's, and the backup tooling writes "
          "the manifest only after this check passed on every byte")


def _quick_checks(inp: VerifyInput, res: ScanResult, checks: dict[str, Check], man: dict | None) -> None:
    """A quick scan hashed every byte but decompressed only the header: the content checks rest on the manifest.

    A file whose sha256 equals its manifest's is byte for byte the file the backup tooling
    verified in full before writing that manifest (docs/manifest.md), so ``decompresses``,
    ``complete`` and ``row_counts`` carry over; without that proof they are not claimed.
    """
    proven = checks["checksum"].status == "passed"
    why_not = ("not checked: a quick verification proves content only through a matching manifest checksum "
               f"({checks['checksum'].message})")
    if res.format_error:
        return
    if res.decompress_ok is False:
        checks["decompresses"] = Check("failed", f"{inp.location} does not decompress: {res.decompress_error}")
    else:
        checks["decompresses"] = Check("passed", PROVEN) if proven else Check("skipped", why_not)
    if res.complete is False:
        checks["complete"] = Check("failed", f"{inp.location} is incomplete: {res.complete_error}")
    elif proven:
        toc = (f"table of contents readable ({res.toc_entries} entries); " if res.toc_entries is not None else
               "pg_dump's header present; ")
        checks["complete"] = Check("passed", toc + PROVEN)
    else:
        checks["complete"] = Check("skipped", why_not)
    if proven and man and man.get("row_counts"):
        rows = man["row_counts"]
        checks["row_counts"] = Check("passed", f"{len(rows)} tables, {sum(rows.values())} rows per the manifest; "
                                               + PROVEN)
    elif not proven:
        checks["row_counts"] = Check("skipped", why_not)
    if checks["tables"].status == "skipped" and inp.expected_tables and proven and man:
        # A plain dump's tables are spread through the script: the manifest lists those whose data the full
        # check found in the dump (every manifest table had a COPY block with the counted rows).
        known = set(man.get("row_counts") or {})
        missing = [t for t in inp.expected_tables if t not in known]
        checks["tables"] = (Check("passed", f"all {len(inp.expected_tables)} expected tables present (per the "
                                            "manifest's tables, " + PROVEN.split(":", 1)[0] + ")")
                            if not missing else
                            Check("failed", f"{inp.location} lacks expected table(s) {', '.join(missing)} "
                                            f"(its manifest lists {', '.join(sorted(known)[:8])})"))


def failure_message(location: str, checks: dict[str, Check]) -> str:
    failed = [(n, c) for n, c in checks.items() if c.status == "failed"]
    parts = []
    for name, check in failed:
        fix = FIXES.get(name)
        parts.append(f"[{name}] {check.message}" + (f" -> fix: {fix}" if fix else ""))
    return f"backup {location} failed {len(failed)} check(s): " + " | ".join(parts)
