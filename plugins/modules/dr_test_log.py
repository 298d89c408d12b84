#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dr_test_log
short_description: Append a DR test result to the DR test log (plan 5.1, 5.2)
version_added: "0.1.0"
description:
  - Appends one DR test run to the plan's text log (C(DR Test <date>) followed by the test and
    C(successful) or C(FAILED)) and/or
    to the JSON-lines log (schema C(fleetpulse.dr/dr-test/v1), see docs/timeline.md), the two files
    M(fleetpulse.dr.dr_test_schedule) reads to compute plan 5.1's schedule.
  - Each call records a new run, so it reports C(changed) every time, except when O(run_id) is
    already in the JSON log (a retried task does not record the same run twice).
author:
  - FleetPulse Platform Engineering (@fleetpulse)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Builds the record and the line and reports a change, without appending.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  test:
    description:
      - Which test ran, by key (C(database_restore), C(server_rebuild), C(dns_failover), C(communication_drill))
        or plan 5.1 name (C(Database backup & restore), ...).
    type: str
    required: true
  result:
    description: Whether the test passed.
    type: str
    required: true
    choices: [passed, failed]
  started_at:
    description: Start of the test run (ISO 8601). Defaults to O(finished_at).
    type: str
  finished_at:
    description: End of the test run (ISO 8601). Defaults to now.
    type: str
  summary:
    description: One line on what happened (shown in the text log in parentheses).
    type: str
    default: ""
  environment:
    description: Where the test ran (C(staging), C(production)).
    type: str
    default: ""
  details:
    description: Anything else worth keeping (backup used, durations, record counts); stored in the JSON record.
    type: dict
    default: {}
  run_id:
    description: Identifier of the run; a record with the same C(run_id) in O(json_log) is not appended twice.
    type: str
  text_log:
    description: The plan's text log, e.g. C(docs/dr-test-log.txt). Created when missing.
    type: path
  json_log:
    description: The JSON-lines log, e.g. C(docs/dr-test-log.jsonl). Created when missing.
    type: path
"""

EXAMPLES = r"""
- name: Record the monthly database restore test
  fleetpulse.dr.dr_test_log:
    test: database_restore
    result: passed
    started_at: "{{ dr_test_started }}"
    summary: restored car_rental_backup_20260206_020000.sql.gz, counts equal the manifest
    environment: staging
    details:
      backup: car_rental_backup_20260206_020000.sql.gz
      duration_seconds: 312
    text_log: "{{ playbook_dir }}/../docs/dr-test-log.txt"
    json_log: "{{ playbook_dir }}/../docs/dr-test-log.jsonl"
  delegate_to: localhost
"""

RETURN = r"""
record:
  description: The JSON record appended.
  returned: always
  type: dict
  sample: {"schema": "fleetpulse.dr/dr-test/v1", "test": "database_restore", "name": "Database backup & restore",
           "result": "passed", "started_at": "2026-02-06T02:00:00.000Z", "finished_at": "2026-02-06T02:05:12.000Z",
           "duration_seconds": 312.0, "environment": "staging", "summary": "restored ...", "details": {}}
line:
  description: The text line appended.
  returned: always
  type: str
  sample: "DR Test Fri Feb  6 02:05:12 UTC 2026: Database backup & restore successful (restored ...)"
"""

import datetime
import json
import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_catalog import UTC, iso, parse_time
from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_schedule import (
    LOG_SCHEMA,
    match_test,
    test_catalog,
    text_line,
)


def _seen(path: str, run_id: str) -> bool:
    if not run_id or not os.path.exists(path):
        return False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("run_id") == run_id:
                return True
    return False


def _append(module: AnsibleModule, path: str, line: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        module.fail_json(msg=f"{path}: directory {directory} does not exist")
    needs_newline = False
    if os.path.exists(path) and os.path.getsize(path) > 0:
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            needs_newline = fh.read(1) != b"\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(("\n" if needs_newline else "") + line + "\n")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "test": {"type": "str", "required": True},
            "result": {"type": "str", "required": True, "choices": ["passed", "failed"]},
            "started_at": {"type": "str"},
            "finished_at": {"type": "str"},
            "summary": {"type": "str", "default": ""},
            "environment": {"type": "str", "default": ""},
            "details": {"type": "dict", "default": {}},
            "run_id": {"type": "str"},
            "text_log": {"type": "path"},
            "json_log": {"type": "path"},
        },
        required_one_of=[("text_log", "json_log")],
        supports_check_mode=True,
    )
    p = module.params
    catalog = test_catalog()
    key = match_test(p["test"], catalog)
    if key is None:
        module.fail_json(msg=f"test: unknown DR test {p['test']!r}; use one of "
                             + ", ".join(f"{t['key']} ({t['name']})" for t in catalog))
    name = next(t["name"] for t in catalog if t["key"] == key)
    times: dict[str, datetime.datetime] = {}
    for field in ("started_at", "finished_at"):
        if p[field]:
            parsed = parse_time(p[field])
            if parsed is None:
                module.fail_json(msg=f"{field}: cannot read {p[field]!r} as a time; use ISO 8601")
            times[field] = parsed  # type: ignore[assignment]
    finished = times.get("finished_at") or datetime.datetime.now(UTC)
    started = times.get("started_at") or finished
    record: dict[str, Any] = {
        "schema": LOG_SCHEMA, "test": key, "name": name, "result": p["result"],
        "started_at": iso(started), "finished_at": iso(finished),
        "duration_seconds": round((finished - started).total_seconds(), 3),
        "environment": p["environment"], "summary": p["summary"], "details": p["details"],
    }
    if p["run_id"]:
        record["run_id"] = p["run_id"]
    line = text_line(name, finished, p["result"], " ".join(p["summary"].split()))
    if p["json_log"] and _seen(p["json_log"], p["run_id"] or ""):
        module.exit_json(changed=False, record=record, line=line, msg=f"run {p['run_id']} is already recorded")
    if not module.check_mode:
        if p["text_log"]:
            _append(module, p["text_log"], line)
        if p["json_log"]:
            _append(module, p["json_log"], json.dumps(record, sort_keys=True))
    module.exit_json(changed=True, record=record, line=line)


if __name__ == "__main__":
    main()
