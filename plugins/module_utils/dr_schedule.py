# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR test log (plan 5.1, 5.2) and the test schedule computed from it.

Two log formats, read line by line and tolerantly (a bad line is a warning, never an
error, so one typo cannot hide the whole schedule):

- the plan's text log, ``docs/dr-test-log.txt``, lines as written by
  ``echo "DR Test $(date): Database restore successful" >> docs/dr-test-log.txt``;
- the JSON-lines log, ``docs/dr-test-log.jsonl``, one object per line
  (schema ``fleetpulse.dr/dr-test/v1``, documented in docs/timeline.md).
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_catalog import (
    DR_TEST_MATCH_ORDER,
    DR_TESTS,
    iso,
    parse_time,
)

LOG_SCHEMA = "fleetpulse.dr/dr-test/v1"
_TEXT_LINE = re.compile(r"^\s*DR\s+Test\s+(?P<date>.+?):\s+(?P<what>.+?)\s*$", re.IGNORECASE)
# Whole words only: "DNS failover successful" passed.
_FAILED_WORDS = re.compile(r"\b(fail|failed|fails|failure|error|errors|unsuccessful|aborted|broken)\b")
_PASSED_WORDS = re.compile(
    r"\b(success|successful|successfully|succeeded|passed|pass|ok|verified|complete|completed)\b")


def test_catalog(tests: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The plan's tests, with any overrides (by key) merged in; new keys are added."""
    catalog = [dict(t) for t in DR_TESTS]
    for override in tests or []:
        key = str(override.get("key") or "").strip()
        if not key:
            continue
        current = next((t for t in catalog if t["key"] == key), None)
        if current is None:
            catalog.append({"name": key, "frequency": "", "months": 12, "match": (), **override})
        else:
            current.update({k: v for k, v in override.items() if v is not None})
    return catalog


def match_test(text: str, catalog: list[dict[str, Any]]) -> str | None:
    """The test a key, a name or a free-text description refers to."""
    norm = " ".join(str(text).lower().replace("_", " ").replace("-", " ").split())
    for t in catalog:
        if norm in (t["key"].replace("_", " "), t["name"].lower()):
            return t["key"]
    order = [k for k in DR_TEST_MATCH_ORDER if any(t["key"] == k for t in catalog)]
    order += [t["key"] for t in catalog if t["key"] not in order]
    for key in order:
        test = next(t for t in catalog if t["key"] == key)
        phrases = (" ".join(str(p).lower().replace("_", " ").replace("-", " ").split())
                   for p in test.get("match") or ())
        if any(phrase and phrase in norm for phrase in phrases):
            return key
    return None


def result_from_text(text: str) -> str:
    """passed / failed / unknown from free text; remarks in parentheses do not count."""
    low = re.sub(r"[(][^)]*[)]", " ", str(text)).lower()
    if _FAILED_WORDS.search(low):
        return "failed"
    if _PASSED_WORDS.search(low):
        return "passed"
    return "unknown"


def normalise_result(value: Any) -> str:
    if isinstance(value, bool):
        return "passed" if value else "failed"
    text = str(value or "").strip().lower()
    if text in ("passed", "pass", "success", "successful", "succeeded", "ok", "true", "yes", "green"):
        return "passed"
    if text in ("failed", "fail", "failure", "error", "false", "no", "red", "aborted"):
        return "failed"
    return result_from_text(text) if text else "unknown"


def parse_log(text: str, source: str, catalog: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Records and warnings from one log file's content (text and JSON lines may be mixed)."""
    records: list[dict[str, Any]] = []
    warnings: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{number}"
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                warnings.append(f"{where}: not valid JSON ({exc.msg}); line skipped")
                continue
            rec, problem = _from_json(obj, catalog)
        else:
            rec, problem = _from_text(line, catalog)
        if problem:
            warnings.append(f"{where}: {problem}; line skipped")
            continue
        rec["source"] = where
        records.append(rec)
    return records, warnings


def _from_json(obj: Any, catalog: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    if not isinstance(obj, dict):
        return {}, "a JSON record must be an object"
    what = obj.get("test") or obj.get("name") or obj.get("kind") or obj.get("summary") or ""
    key = match_test(str(what), catalog)
    if key is None:
        return {}, f"unknown test {what!r} (known: {', '.join(t['key'] for t in catalog)})"
    when = None
    for field in ("finished_at", "started_at", "date", "timestamp", "time", "at"):
        when = parse_time(obj.get(field))
        if when is not None:
            break
    if when is None:
        return {}, "no readable date (finished_at / started_at)"
    result = normalise_result(obj.get("result", obj.get("status", obj.get("outcome", obj.get("passed")))))
    return {"test": key, "at": when, "result": result, "summary": str(obj.get("summary") or "")}, ""


def _from_text(line: str, catalog: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    m = _TEXT_LINE.match(line)
    if not m:
        return {}, "not a 'DR Test <date>: <what happened>' line"
    when = parse_time(m.group("date"))
    if when is None:
        return {}, f"cannot read the date {m.group('date')!r}"
    key = match_test(m.group("what"), catalog)
    if key is None:
        return {}, f"cannot tell which test {m.group('what')!r} is"
    return {"test": key, "at": when, "result": result_from_text(m.group("what")), "summary": m.group("what")}, ""


def add_months(dt: datetime.datetime, months: int) -> datetime.datetime:
    """Calendar months later, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    month_index = dt.month - 1 + months
    year, month = dt.year + month_index // 12, month_index % 12 + 1
    next_first = datetime.date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_first - datetime.timedelta(days=1)).day
    return dt.replace(year=year, month=month, day=min(dt.day, last_day))


def schedule(records: list[dict[str, Any]], now: datetime.datetime, catalog: list[dict[str, Any]],
             due_soon_days: int = 14) -> list[dict[str, Any]]:
    """One row per test: last tested, last result, next due (from the last PASSING run), overdue flag."""
    rows = []
    for test in catalog:
        runs = sorted((r for r in records if r["test"] == test["key"]), key=lambda r: r["at"])
        last = runs[-1] if runs else None
        passes = [r for r in runs if r["result"] == "passed"]
        last_pass = passes[-1] if passes else None
        next_due = add_months(last_pass["at"], int(test["months"])) if last_pass else None
        if last is None:
            status, overdue = "NEVER TESTED", True
        elif last_pass is None:
            status, overdue = "NEVER PASSED", True
        elif now > next_due:  # type: ignore[operator]
            status, overdue = f"OVERDUE by {(now - next_due).days} days", True  # type: ignore[operator]
        elif last["result"] == "failed":
            status, overdue = "LAST RUN FAILED", False
        elif (next_due - now).days < due_soon_days:  # type: ignore[operator]
            status, overdue = f"due in {(next_due - now).days} days", False  # type: ignore[operator]
        else:
            status, overdue = "ok", False
        if last is not None and last["result"] == "failed" and status.startswith("OVERDUE"):
            status += ", last run failed"
        rows.append({
            "key": test["key"],
            "test": test["name"],
            "frequency": test["frequency"],
            "runs": len(runs),
            "last_tested": iso(last["at"]) if last else None,
            "last_result": last["result"] if last else None,
            "last_passed": iso(last_pass["at"]) if last_pass else None,
            "next_due": iso(next_due) if next_due else None,
            "overdue": overdue,
            "status": status,
        })
    return rows


def render_table(rows: list[dict[str, Any]], now: datetime.datetime) -> str:
    """Plan 5.1's table with the computed columns, as Markdown."""
    def day(value: str | None) -> str:
        dt = parse_time(value)
        return dt.strftime("%Y-%m-%d") if dt else "--"

    out = [f"<!-- generated by fleetpulse.dr.dr_test_schedule on {now.strftime('%Y-%m-%d')} from the DR test log -->",
           "| Test | Frequency | Last Tested | Last Result | Next Scheduled | Overdue |",
           "| ---- | --------- | ----------- | ----------- | -------------- | ------- |"]
    for r in rows:
        next_due = day(r["next_due"]) if r["next_due"] else "now"
        flag = f"**YES** ({r['status']})" if r["overdue"] else ("no" if r["status"] == "ok" else f"no ({r['status']})")
        out.append(f"| {r['test']} | {r['frequency']} | {day(r['last_tested'])} | {r['last_result'] or '--'} | "
                   f"{next_due} | {flag} |")
    return "\n".join(out) + "\n"


def text_line(name: str, when: datetime.datetime, result: str, summary: str = "") -> str:
    """The plan's text log line, ``DR Test <date -u>: <test> successful|FAILED[: summary]``."""
    stamp = f"{when:%a %b} {when.day:2d} {when:%H:%M:%S} UTC {when.year}"
    verdict = {"passed": "successful", "failed": "FAILED"}.get(result, result)
    return f"DR Test {stamp}: {name} {verdict}" + (f" ({summary})" if summary else "")
