#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dr_test_schedule
short_description: The DR test schedule of plan 5.1, computed from the DR test log
version_added: "0.1.0"
description:
  - Reads the DR test log, the plan's text lines (C(DR Test <date>) followed by what happened) and the
    JSON-lines records that C(fleetpulse.dr.dr_test_log) and the dr-test playbook append, and computes
    for each test of plan 5.1 (database backup & restore monthly, full server rebuild quarterly, DNS
    failover semi-annually, communication plan drill annually) when it was last tested, its result,
    when it is next due and whether it is overdue.
  - The next due date counts from the last B(passing) run; a test never run, or never passed, is overdue.
  - Tolerant reader. A line it cannot read (bad JSON, unknown test, no date) is skipped with a
    warning naming file and line, and a missing log file counts as no tests run yet.
  - Optionally writes the table as Markdown to O(dest) (changed only when the content differs).
author:
  - FleetPulse Platform Engineering (@fleetpulse)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Computes the table and reports whether O(dest) would change, without writing it.
  diff_mode:
    support: full
    details: Shows the table's changes in O(dest).
  platform:
    platforms: posix
options:
  logs:
    description: DR test log files to read, text or JSON lines (the format is told line by line).
    type: list
    elements: path
    required: true
  now:
    description: Reference time (ISO 8601) instead of the current time, to see the schedule as of a date.
    type: str
  due_soon_days:
    description: A test due within this many days is shown as due soon.
    type: int
    default: 14
  tests:
    description:
      - Overrides or additions to the plan's tests, each with C(key) (C(database_restore), C(server_rebuild),
        C(dns_failover), C(communication_drill) or a new one), and any of C(name), C(frequency) (text shown),
        C(months) (interval), C(match) (lowercase phrases recognised in text lines).
    type: list
    elements: dict
    default: []
  dest:
    description: Write the Markdown table to this file.
    type: path
  mode:
    description: Permissions of O(dest) when it is created.
    type: raw
    default: "0644"
"""

EXAMPLES = r"""
- name: Compute the DR test schedule
  fleetpulse.dr.dr_test_schedule:
    logs:
      - "{{ playbook_dir }}/../docs/dr-test-log.txt"
      - "{{ playbook_dir }}/../docs/dr-test-log.jsonl"
    dest: "{{ playbook_dir }}/../docs/dr-test-schedule.md"
  register: schedule

- name: Fail when a DR test is overdue (for a cron job or CI)
  ansible.builtin.assert:
    that: schedule.overdue | length == 0
    fail_msg: "Overdue DR tests: {{ schedule.overdue | join(', ') }}"
"""

RETURN = r"""
rows:
  description: One row per test.
  returned: always
  type: list
  elements: dict
  contains:
    key:
      description: Test key.
      type: str
      sample: database_restore
    test:
      description: Test name as in plan 5.1.
      type: str
      sample: Database backup & restore
    frequency:
      description: Frequency as in plan 5.1.
      type: str
      sample: Monthly
    runs:
      description: Runs found in the logs.
      type: int
    last_tested:
      description: Time of the last run (UTC ISO 8601), or null.
      type: str
    last_result:
      description: passed, failed or unknown, or null when never run.
      type: str
    last_passed:
      description: Time of the last passing run, or null.
      type: str
    next_due:
      description: Last passing run plus the frequency, or null (due now).
      type: str
    overdue:
      description: Whether the test is overdue (past due, never run, or never passed).
      type: bool
    status:
      description: Human summary, e.g. C(ok), C(due in 5 days), C(OVERDUE by 12 days), C(NEVER TESTED).
      type: str
table:
  description: The schedule as a Markdown table (plan 5.1's columns plus last result and overdue flag).
  returned: always
  type: str
overdue:
  description: Names of the overdue tests.
  returned: always
  type: list
  elements: str
records:
  description: Number of log records read.
  returned: always
  type: int
skipped_lines:
  description: Number of log lines that could not be read (each one is also a warning).
  returned: always
  type: int
"""

import datetime
import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_catalog import UTC, parse_time
from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_schedule import (
    parse_log,
    render_table,
    schedule,
    test_catalog,
)


def _write_table(module: AnsibleModule, dest: str, table: str, mode: Any, result: dict[str, Any]) -> bool:
    """Write the table to dest when it differs (diff and check mode aware); returns changed."""
    before = ""
    if os.path.exists(dest):
        with open(dest, encoding="utf-8", errors="replace") as fh:
            before = fh.read()
    changed = before != table
    if changed and module._diff:
        result["diff"] = {"before": before, "after": table, "before_header": dest, "after_header": dest}
    if module.check_mode:
        return changed
    if changed:
        directory = os.path.dirname(os.path.abspath(dest))
        if not os.path.isdir(directory):
            module.fail_json(msg=f"dest: directory {directory} does not exist")
        tmp = f"{dest}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(table)
        module.atomic_move(tmp, dest)
    file_args = module.load_file_common_arguments({"path": dest, "mode": mode})
    return module.set_fs_attributes_if_different(file_args, changed)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "logs": {"type": "list", "elements": "path", "required": True},
            "now": {"type": "str"},
            "due_soon_days": {"type": "int", "default": 14},
            "tests": {"type": "list", "elements": "dict", "default": []},
            "dest": {"type": "path"},
            "mode": {"type": "raw", "default": "0644"},
        },
        supports_check_mode=True,
    )
    p = module.params
    now = datetime.datetime.now(UTC)
    if p["now"]:
        parsed = parse_time(p["now"])
        if parsed is None:
            module.fail_json(msg=f"now: cannot read {p['now']!r} as a time; use ISO 8601, e.g. 2026-02-06T00:00:00Z")
        now = parsed  # type: ignore[assignment]
    catalog = test_catalog(p["tests"])
    records: list[dict[str, Any]] = []
    skipped = 0
    for path in p["logs"]:
        if not os.path.exists(path):
            module.warn(f"{path}: no such DR test log yet; counted as no tests run")
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                content = fh.read()
        except OSError as exc:
            module.fail_json(msg=f"{path}: cannot read the DR test log: {exc}")
        found, warnings = parse_log(content, path, catalog)
        records.extend(found)
        skipped += len(warnings)
        for w in warnings:
            module.warn(w)
    rows = schedule(records, now, catalog, p["due_soon_days"])
    table = render_table(rows, now)
    result: dict[str, Any] = {
        "changed": False, "rows": rows, "table": table, "records": len(records), "skipped_lines": skipped,
        "overdue": [r["test"] for r in rows if r["overdue"]],
    }
    if p["dest"]:
        result["changed"] = _write_table(module, p["dest"], table, p["mode"], result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
