"""The monitoring role's `dr_tests` entry point: the DR test log becomes textfile metrics.

Runs the role on the controller (tests/promtool/publish_dr_tests.yml) against DR test logs
in both formats (docs/timeline.md) and checks the file the alert rules read.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess

from monitoring_render import PROMTOOL_TESTS, REPO, run, tool

UTC = datetime.UTC


def epoch(text: str) -> int:
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def publish(tmp_path, logs: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        ["ansible-playbook", str(PROMTOOL_TESTS / "publish_dr_tests.yml"), "-e", f"monitoring_test_out={tmp_path}",
         "-e", json.dumps({"monitoring_dr_test_logs": logs})],
        cwd=REPO, env=env, capture_output=True, text=True, check=False)


def samples(text: str) -> dict[tuple[str, str], float]:
    return {(m[0], m[1]): float(m[2])
            for m in re.findall(r'^(fleetpulse_dr_test_\w+)\{test="(\w+)"\} (\S+)$', text, re.M)}


def test_the_log_becomes_the_metrics_of_the_contract(tmp_path):
    text_log = tmp_path / "dr-test-log.txt"
    text_log.write_text("DR Test Mon Jan  5 10:00:00 UTC 2026: Communication plan drill successful\n")
    json_log = tmp_path / "dr-test-log.jsonl"
    json_log.write_text("\n".join(json.dumps(r) for r in [
        {"schema": "fleetpulse.dr/dr-test/v1", "test": "database_restore", "result": "passed",
         "finished_at": "2026-02-06T02:05:12.000Z"},
        {"schema": "fleetpulse.dr/dr-test/v1", "test": "server_rebuild", "result": "passed",
         "finished_at": "2025-12-01T09:00:00.000Z"},
        {"schema": "fleetpulse.dr/dr-test/v1", "test": "server_rebuild", "result": "failed",
         "finished_at": "2026-03-02T09:30:00.000Z"},
    ]) + "\n")
    res = publish(tmp_path, [str(text_log), str(json_log)])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "4 tests" in res.stdout

    prom = (tmp_path / "textfile" / "fleetpulse_dr_tests.prom").read_text()
    lint = run([tool("promtool"), "check", "metrics"], tmp_path, stdin=prom)
    assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), lint.stdout + lint.stderr
    assert samples(prom) == {
        ("fleetpulse_dr_test_last_success_timestamp_seconds", "communication_drill"): epoch("2026-01-05T10:00:00"),
        ("fleetpulse_dr_test_last_success_timestamp_seconds", "database_restore"): epoch("2026-02-06T02:05:12"),
        ("fleetpulse_dr_test_last_success_timestamp_seconds", "dns_failover"): 0,  # never passed
        # the failed run in March does not move the last success
        ("fleetpulse_dr_test_last_success_timestamp_seconds", "server_rebuild"): epoch("2025-12-01T09:00:00"),
        ("fleetpulse_dr_test_last_run_timestamp_seconds", "communication_drill"): epoch("2026-01-05T10:00:00"),
        ("fleetpulse_dr_test_last_run_timestamp_seconds", "database_restore"): epoch("2026-02-06T02:05:12"),
        ("fleetpulse_dr_test_last_run_timestamp_seconds", "dns_failover"): 0,
        ("fleetpulse_dr_test_last_run_timestamp_seconds", "server_rebuild"): epoch("2026-03-02T09:30:00"),
        ("fleetpulse_dr_test_last_run_success", "communication_drill"): 1,
        ("fleetpulse_dr_test_last_run_success", "database_restore"): 1,
        ("fleetpulse_dr_test_last_run_success", "server_rebuild"): 0,  # DRTestFailed
    }
    assert oct((tmp_path / "textfile" / "fleetpulse_dr_tests.prom").stat().st_mode & 0o777) == "0o644"

    # Nothing new in the log: the file is left alone (changed=0).
    again = publish(tmp_path, [str(text_log), str(json_log)])
    assert again.returncode == 0 and re.search(r"localhost\s+: ok=\d+\s+changed=0 ", again.stdout), again.stdout[-2000:]


def test_no_log_yet_means_every_test_never_passed(tmp_path):
    res = publish(tmp_path, [str(tmp_path / "missing.jsonl")])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    values = samples((tmp_path / "textfile" / "fleetpulse_dr_tests.prom").read_text())
    tests = {"communication_drill", "database_restore", "dns_failover", "server_rebuild"}
    assert values == {**{("fleetpulse_dr_test_last_success_timestamp_seconds", t): 0 for t in tests},
                      **{("fleetpulse_dr_test_last_run_timestamp_seconds", t): 0 for t in tests}}
