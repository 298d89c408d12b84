"""The DR test log reader and the plan 5.1 schedule computed from it."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.fleetpulse.dr.plugins.module_utils import dr_schedule as s
from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_catalog import UTC, parse_time

CATALOG = s.test_catalog()
NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def rows_by_key(text: str, now: datetime.datetime = NOW) -> dict[str, dict]:
    records, warnings = s.parse_log(text, "log", CATALOG)
    assert warnings == []
    return {r["key"]: r for r in s.schedule(records, now, CATALOG)}


@pytest.mark.parametrize(("line", "test", "when", "result"), [
    # what the plan's `echo "DR Test $(date): ..."` writes, in C and en_GB locales
    ("DR Test Fri Feb  6 02:00:00 UTC 2026: Database restore successful",
     "database_restore", "2026-02-06T02:00:00", "passed"),
    ("DR Test Fri  6 Feb 2026 02:00:00 GMT: Database restore successful",
     "database_restore", "2026-02-06T02:00:00", "passed"),
    ("DR Test 2026-03-01T10:00:00+01:00: Full server rebuild FAILED",
     "server_rebuild", "2026-03-01T09:00:00", "failed"),
    ("DR Test Mon Mar  2 10:00:00 +0200 2026: DNS failover drill ok", "dns_failover", "2026-03-02T08:00:00", "passed"),
    ("DR Test 2026-04-01 09:00:00: Communication plan drill successful (0 errors)",
     "communication_drill", "2026-04-01T09:00:00", "passed"),
    ("DR Test 2026-04-01: server rebuilt from offsite backups", "server_rebuild", "2026-04-01T00:00:00", "unknown"),
    ("DR Test Sat Apr  4 10:00:00 UTC 2026: DNS failover successful", "dns_failover", "2026-04-04T10:00:00", "passed"),
])
def test_plan_text_lines_are_read(line, test, when, result):
    records, warnings = s.parse_log(line, "dr-test-log.txt", CATALOG)
    assert warnings == []
    assert records[0]["test"] == test
    assert records[0]["at"] == parse_time(when)
    assert records[0]["result"] == result


def test_json_records_are_read_and_bad_lines_only_warn():
    good = {"schema": "fleetpulse.dr/dr-test/v1", "test": "database_restore", "result": "passed",
            "started_at": "2026-06-01T02:00:00Z", "finished_at": "2026-06-01T02:05:00Z"}
    text = "\n".join([
        json.dumps(good),
        '{"test": "Full server rebuild", "status": "failure", "date": "2026-05-02"}',  # tolerant field names
        '{"test": "dns_failover", "finished_at": "2026-05-03T00:00:00Z", "passed": true}',
        '{"test": "database_restore", "result": "passed"',                  # truncated JSON
        '{"test": "chaos monkey", "finished_at": "2026-05-03T00:00:00Z"}',   # unknown test
        '{"test": "dns_failover", "result": "passed"}',                      # no date
        "DR Test sometime last week: Database restore successful",            # unreadable date
        "# a comment",
        "",
        "random garbage",
    ])
    records, warnings = s.parse_log(text, "dr-test-log.jsonl", CATALOG)
    assert [(r["test"], r["result"], r["source"]) for r in records] == [
        ("database_restore", "passed", "dr-test-log.jsonl:1"),
        ("server_rebuild", "failed", "dr-test-log.jsonl:2"),
        ("dns_failover", "passed", "dr-test-log.jsonl:3"),
    ]
    assert records[0]["at"] == parse_time("2026-06-01T02:05:00Z")  # finished_at wins
    assert [w.split(":")[1] for w in warnings] == ["4", "5", "6", "7", "10"]
    assert "not valid JSON" in warnings[0]
    assert "unknown test 'chaos monkey'" in warnings[1]
    assert "no readable date" in warnings[2]
    assert "cannot read the date 'sometime last week'" in warnings[3]
    assert "not a 'DR Test <date>: <what happened>' line" in warnings[4]


def test_lines_we_write_read_back_the_same():
    when = datetime.datetime(2026, 2, 6, 2, 5, 12, tzinfo=UTC)
    line = s.text_line("Database backup & restore", when, "passed", "restored x.sql.gz, 0 errors")
    assert line == ("DR Test Fri Feb  6 02:05:12 UTC 2026: "
                    "Database backup & restore successful (restored x.sql.gz, 0 errors)")
    (record,) = s.parse_log(line, "t", CATALOG)[0]
    assert (record["test"], record["at"], record["result"]) == ("database_restore", when, "passed")
    (failed,) = s.parse_log(s.text_line("Full server rebuild", when, "failed"), "t", CATALOG)[0]
    assert failed["result"] == "failed"


@pytest.mark.parametrize(("start", "months", "expected"), [
    ("2026-01-31", 1, "2026-02-28"),
    ("2028-01-31", 1, "2028-02-29"),
    ("2026-11-30", 3, "2027-02-28"),
    ("2026-08-15", 6, "2027-02-15"),
    ("2026-02-06", 12, "2027-02-06"),
])
def test_frequencies_are_calendar_months(start, months, expected):
    dt = datetime.datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert s.add_months(dt, months).date().isoformat() == expected


def test_schedule_flags_overdue_never_tested_and_failed_tests():
    rows = rows_by_key("\n".join([
        "DR Test 2026-05-20T02:00:00Z: Database restore successful",   # monthly: due 06-20, due in 4 days
        "DR Test 2026-01-10T02:00:00Z: Full server rebuild successful",  # quarterly: due 04-10, overdue
        "DR Test 2026-06-01T02:00:00Z: Full server rebuild FAILED",      # ...and the retry failed
        "DR Test 2026-06-10T02:00:00Z: DNS failover FAILED",             # never passed
    ]))
    db = rows["database_restore"]
    assert (db["overdue"], db["next_due"], db["last_result"]) == (False, "2026-06-20T02:00:00.000Z", "passed")
    assert db["status"] == "due in 4 days"
    server = rows["server_rebuild"]
    assert server["overdue"] is True
    assert server["last_tested"] == "2026-06-01T02:00:00.000Z"       # last run, even failed
    assert server["last_passed"] == "2026-01-10T02:00:00.000Z"
    assert server["next_due"] == "2026-04-10T02:00:00.000Z"          # counted from the last pass
    assert server["status"] == "OVERDUE by 66 days, last run failed"
    dns = rows["dns_failover"]
    assert (dns["overdue"], dns["status"], dns["next_due"]) == (True, "NEVER PASSED", None)
    comms = rows["communication_drill"]
    assert (comms["overdue"], comms["status"], comms["runs"]) == (True, "NEVER TESTED", 0)


def test_a_failed_run_inside_the_window_is_flagged_but_not_overdue():
    rows = rows_by_key("DR Test 2026-06-01T00:00:00Z: Database restore successful\n"
                       "DR Test 2026-06-10T00:00:00Z: Database restore FAILED\n")
    assert rows["database_restore"]["overdue"] is False
    assert rows["database_restore"]["status"] == "LAST RUN FAILED"


def test_the_newest_pass_counts_whatever_the_line_order():
    rows = rows_by_key("DR Test 2026-06-01T00:00:00Z: Database restore successful\n"
                       "DR Test 2026-01-01T00:00:00Z: Database restore successful\n")
    assert rows["database_restore"]["next_due"] == "2026-07-01T00:00:00.000Z"
    assert rows["database_restore"]["runs"] == 2


def test_table_has_the_plans_columns_and_the_flags():
    records = s.parse_log("DR Test 2026-05-20T02:00:00Z: Database restore successful", "t", CATALOG)[0]
    table = s.render_table(s.schedule(records, NOW, CATALOG), NOW)
    lines = table.splitlines()
    assert lines[1] == "| Test | Frequency | Last Tested | Last Result | Next Scheduled | Overdue |"
    assert lines[3] == "| Database backup & restore | Monthly | 2026-05-20 | passed | 2026-06-20 | no (due in 4 days) |"
    assert lines[4] == "| Full server rebuild | Quarterly | -- | -- | now | **YES** (NEVER TESTED) |"
    assert [line.split(" | ")[1] for line in lines[3:]] == ["Monthly", "Quarterly", "Semi-annually", "Annually"]


def test_catalog_overrides_change_frequency_and_add_tests():
    catalog = s.test_catalog([{"key": "database_restore", "months": 3, "frequency": "Quarterly"},
                              {"key": "pitr_restore", "name": "Point-in-time restore", "frequency": "Monthly",
                               "months": 1, "match": ["point-in-time"]}])
    records, warnings = s.parse_log("DR Test 2026-05-01T00:00:00Z: Database restore successful\n"
                                    "DR Test 2026-05-01T00:00:00Z: point-in-time restore successful\n", "t", catalog)
    assert warnings == []
    rows = {r["key"]: r for r in s.schedule(records, NOW, catalog)}
    assert rows["database_restore"]["next_due"] == "2026-08-01T00:00:00.000Z"
    assert rows["pitr_restore"]["next_due"] == "2026-06-01T00:00:00.000Z"
    assert rows["pitr_restore"]["overdue"] is True
