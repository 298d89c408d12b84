"""Plan 5.1 end to end: the communication drill (playbooks/comms-drill.yml) sends through
real receivers and logs its result; playbooks/dr-test-schedule.yml turns the DR test log
into the schedule table."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from notify_receivers import HttpReceiver, SmtpReceiver, free_port
from notify_run import REPO, Run, run_playbook, write_inventory

from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_schedule import add_months

pytestmark = pytest.mark.integration

DRILL = REPO / "playbooks" / "comms-drill.yml"
SCHEDULE = REPO / "playbooks" / "dr-test-schedule.yml"


@pytest.fixture
def receivers(tmp_path: Path):
    with SmtpReceiver(tmp_path / "tls") as smtp, HttpReceiver() as http:
        yield smtp, http


def drill_inventory(tmp_path: Path, smtp: SmtpReceiver, slack_url: str) -> Path:
    return write_inventory(tmp_path / "inventory.yml", {
        "fleetpulse_environment": "production",
        "notify_enabled": True,
        "notify_smtp_host": "127.0.0.1", "notify_smtp_port": smtp.port,
        "notify_smtp_username": smtp.username, "notify_smtp_password": smtp.password,
        "notify_ca_file": str(smtp.ca), "notify_timeout": 3, "notify_retries": 0,
        "notify_channels": [{"name": "ops-slack", "type": "slack", "url": slack_url},
                            {"name": "on-call", "type": "email", "to": ["oncall@fleetpulse.test"]}],
    })


def logs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "dr-test-log.txt", tmp_path / "dr-test-log.jsonl"


def drill(tmp_path: Path, inventory: Path) -> Run:
    text, jsonl = logs(tmp_path)
    return run_playbook(DRILL, inventory, tmp_path, "-e",
                        json.dumps({"comms_drill_text_log": str(text), "comms_drill_json_log": str(jsonl)}),
                        timeline=False)


def schedule(tmp_path: Path, inventory: Path, *extra: str) -> Run:
    text, jsonl = logs(tmp_path)
    return run_playbook(SCHEDULE, inventory, tmp_path, "-e", json.dumps({
        "dr_schedule_logs": [str(text), str(jsonl)], "dr_schedule_dest": str(tmp_path / "schedule.md")}),
        *extra, timeline=False)


def table_rows(path: Path) -> dict[str, list[str]]:
    rows = [line.strip("|").split(" | ") for line in path.read_text().splitlines()[3:]]
    return {r[0].strip(): [c.strip() for c in r[1:]] for r in rows}


def test_drill_passes_logs_itself_and_the_schedule_shows_it(tmp_path, receivers):
    smtp, http = receivers
    inventory = drill_inventory(tmp_path, smtp, f"{http.url}/slack/T0/B0/drill")
    result = drill(tmp_path, inventory)
    assert result.rc == 0, result.output
    assert [m.message["Subject"].split(":")[0] for m in smtp.mails] == [
        "[DRILL] [INCIDENT] FleetPulse - P1", "[DRILL] [UPDATE] FleetPulse - P1", "[DRILL] [RESOLVED] FleetPulse - P1"]
    assert len(http.on("/slack/")) == 3
    text, jsonl = logs(tmp_path)
    (line,) = text.read_text().splitlines()
    assert line.startswith("DR Test ") and ": Communication plan drill successful (6 deliveries, 0 failed)" in line
    (record,) = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert (record["schema"], record["test"], record["result"]) == (
        "fleetpulse.dr/dr-test/v1", "communication_drill", "passed")
    assert [e["event"] for e in record["details"]["events"]] == ["declaration", "update", "resolution"]

    result = schedule(tmp_path, inventory)
    assert result.rc == 0, result.output
    rows = table_rows(tmp_path / "schedule.md")
    tested = datetime.datetime.fromisoformat(record["finished_at"].replace("Z", "+00:00"))
    assert rows["Communication plan drill"] == [
        "Annually", tested.strftime("%Y-%m-%d"), "passed", add_months(tested, 12).strftime("%Y-%m-%d"), "no"]
    for name, frequency in [("Database backup & restore", "Monthly"), ("Full server rebuild", "Quarterly"),
                            ("DNS failover", "Semi-annually")]:
        assert rows[name] == [frequency, "--", "--", "now", "**YES** (NEVER TESTED)"]
    assert "4 tests, 3 overdue: Database backup & restore, Full server rebuild, DNS failover" in result.stdout
    assert "2 log records read, 0 lines skipped" in result.stdout

    again = schedule(tmp_path, inventory)
    assert again.rc == 0 and "changed=0" in again.stdout  # idempotent
    strict = schedule(tmp_path, inventory, "-e", "dr_schedule_fail_on_overdue=true")
    assert strict.rc == 2
    assert "Overdue DR tests: Database backup & restore, Full server rebuild, DNS failover" in strict.output


def test_a_drill_with_a_dead_channel_fails_and_is_logged_as_failed(tmp_path, receivers):
    smtp = receivers[0]
    inventory = drill_inventory(tmp_path, smtp, f"http://127.0.0.1:{free_port()}/slack/dead")
    result = drill(tmp_path, inventory)
    assert result.rc == 2, result.output
    assert "The communication drill FAILED: 3 deliveries failed" in result.output
    assert len(smtp.mails) == 3  # the working channel still got every message
    text, jsonl = logs(tmp_path)
    assert "Communication plan drill FAILED (3 deliveries, 3 failed)" in text.read_text()
    assert json.loads(jsonl.read_text())["result"] == "failed"
    schedule(tmp_path, inventory)
    assert table_rows(tmp_path / "schedule.md")["Communication plan drill"][-1] == "**YES** (NEVER PASSED)"


def test_schedule_reads_the_plans_text_log_and_skips_bad_lines(tmp_path):
    text = logs(tmp_path)[0]
    now = datetime.datetime.now(datetime.UTC)
    recent = now - datetime.timedelta(days=3)
    old = now - datetime.timedelta(days=200)
    text.write_text(
        f"DR Test {recent:%a %b} {recent.day:2d} {recent:%H:%M:%S} UTC {recent.year}: Database restore successful\n"
        "DR Test yesterday-ish: Database restore successful\n"
        f"DR Test {old:%Y-%m-%dT%H:%M:%SZ}: DNS failover successful\n")
    inventory = write_inventory(tmp_path / "inventory.yml", {})
    result = schedule(tmp_path, inventory)
    assert result.rc == 0, result.output
    assert f"{text}:2: cannot read the date 'yesterday-ish'; line skipped" in result.output
    assert "no such DR test log yet" in result.output  # the JSON log does not exist: not an error
    rows = table_rows(tmp_path / "schedule.md")
    assert rows["Database backup & restore"][:4] == [
        "Monthly", recent.strftime("%Y-%m-%d"), "passed", add_months(recent, 1).strftime("%Y-%m-%d")]
    assert rows["Database backup & restore"][4].startswith("no")
    assert rows["DNS failover"][1] == old.strftime("%Y-%m-%d")
    assert rows["DNS failover"][4].startswith("**YES** (OVERDUE by ")  # 200 days > 6 months
