"""The dr_timeline callback in real ansible-playbook runs: the JSON record and the review
draft must match the phases that actually ran (names, order, times, durations)."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from notify_run import PLAYBOOKS, run_playbook, write_inventory

pytestmark = pytest.mark.integration

SCENARIO = PLAYBOOKS / "recovery_scenario.yml"


def ts(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def review_rows(review: str) -> list[tuple[str, str]]:
    """The rows of the review's "Timeline (UTC)" table."""
    section = review.split("## Timeline (UTC)")[1].split("###", maxsplit=1)[0]
    return re.findall(r"^\| (\d\d:\d\d:\d\d) \| (.+) \|$", section, flags=re.MULTILINE)


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    return write_inventory(tmp_path / "inventory.yml", {"fleetpulse_environment": "staging"})


def test_successful_run_writes_a_timeline_that_matches_the_phases(tmp_path, inventory):
    result = run_playbook(SCENARIO, inventory, tmp_path, env={"FLEETPULSE_DR_REVIEW_AUTHOR": "Ci Bot"})
    assert result.rc == 0, result.output
    (record,) = result.records()
    (review,) = result.reviews()

    phases = record["phases"]
    assert [p["name"] for p in phases] == ["Preflight", "Restore database", "Verify"]
    starts = [ts(p["started_at"]) for p in phases]
    assert starts == sorted(starts) and len(set(starts)) == 3                       # strictly increasing
    assert [p["finished_at"] for p in phases[:-1]] == [p["started_at"] for p in phases[1:]]  # contiguous
    assert phases[-1]["finished_at"] == record["run"]["finished_at"]
    assert ts(record["run"]["started_at"]) <= starts[0]
    for p in phases:
        span = (ts(p["finished_at"]) - ts(p["started_at"])).total_seconds()
        assert p["duration_seconds"] == pytest.approx(span, abs=0.002)
    # each of the last two phases ran a 1 s command: the durations measure real time
    assert phases[1]["duration_seconds"] >= 1.0
    assert phases[2]["duration_seconds"] >= 1.0
    assert phases[1]["tasks"]["changed"] >= 1 and all(p["tasks"]["failed"] == 0 for p in phases)
    assert sum(p["duration_seconds"] for p in phases) == pytest.approx(
        (ts(phases[-1]["finished_at"]) - starts[0]).total_seconds(), abs=0.01)

    assert record["status"] == "restored"
    assert record["incident"]["scenario"] == "recover-database"
    assert record["incident"]["commander"] == "Dana On-Call"
    assert list(record["milestones"]) == ["declared", "identified", "restored", "all_clear"]
    assert record["milestones"]["restored"]["at"] == phases[2]["started_at"]         # the Verify marker
    assert record["milestones"]["identified"]["at"] == phases[1]["started_at"]
    assert [n["event"] for n in record["notifications"]] == ["declaration", "update", "resolution"]
    clock = record["clock"]
    assert clock["elapsed_seconds"] == pytest.approx(
        (ts(record["milestones"]["restored"]["at"]) - ts(record["milestones"]["declared"]["at"])).total_seconds(),
        abs=0.002)
    rto = record["objectives"][0]
    assert (rto["name"], rto["target_seconds"], rto["met"]) == ("RTO 3.1 Database Corruption or Loss", 7200.0, True)
    # the playbook restored a backup "taken" 3 h before the run, then recorded two more in a loop
    assert record["backups_used"][0]["name"].startswith("car_rental_backup_")
    assert [(b["name"], b["kind"]) for b in record["backups_used"][1:]] == [
        ("fleetpulse_config_20260206_020000.tar.gz.gpg", "config"), ("objects of bucket fleetpulse", "objects")]
    assert record["backups_used"][2]["data_loss_seconds"] == pytest.approx(3600, abs=60)
    # the run's window: the oldest DATA backup (3 h), not the months-old configuration backup
    assert record["backups_used"][1]["data_loss_seconds"] > 30 * 86400
    assert record["data_loss"]["seconds"] == pytest.approx(3 * 3600, abs=60)
    assert record["data_loss"]["source"] == "oldest data backup used, to the start of the incident"
    assert record["data_loss"]["met"] is True

    # The review draft: the plan's template, with the same timeline.
    assert review.startswith("# Post-Incident Review: Database Corruption or Loss (plan 3.1)\n")
    assert "- **Author:** Ci Bot" in review
    assert "- **Incident Commander:** Dana On-Call" in review
    rows = review_rows(review)
    phase_rows = [(t, e) for t, e in rows if e.startswith("Phase ")]
    assert phase_rows == [(ts(p["started_at"]).strftime("%H:%M:%S"), f"Phase {p['index']} started: {p['name']}")
                          for p in phases]
    times = [row[0] for row in rows]
    assert times == sorted(times)
    assert rows[-1][1] == "Recovery run ended: restored"
    assert "| 2 | Restore database |" in review
    elapsed = f"0:00:{round(clock['elapsed_seconds']):02d}"
    assert f"| RTO 3.1 Database Corruption or Loss | plan 3.1 | 2 h | {elapsed} | met |" in review
    assert "## Root Cause\nDisk full on the database volume corrupted the Booking table\n" in review
    assert f"- Backup used: `{record['backups_used'][0]['name']}` (database" in review
    assert "DR TIMELINE SUMMARY: recover-database (plan 3.1): RESTORED" in result.stdout


def test_failed_run_records_where_it_failed_and_that_service_is_not_restored(tmp_path, inventory):
    result = run_playbook(SCENARIO, inventory, tmp_path, "-e", "scenario_fail=true")
    assert result.rc == 2, result.output   # the scenario re-raises after notifying
    (record,) = result.records()
    (review,) = result.reviews()
    assert record["status"] == "failed"
    assert [(p["name"], p["status"]) for p in record["phases"]] == [("Preflight", "ok"), ("Restore database", "failed")]
    failure = record["phases"][1]["failures"][0]
    assert (failure["task"], failure["msg"]) == ("Fail here when asked", "restore failed: psql exited 3 (test-induced)")
    assert ts(record["phases"][1]["started_at"]) <= ts(failure["at"]) <= ts(record["run"]["finished_at"])
    assert "restored" not in record["milestones"]
    assert [n["event"] for n in record["notifications"]] == ["declaration", "failure"]
    assert all(o["met"] is False and o["restored"] is False for o in record["objectives"])
    assert "| Phase 2 FAILED: task 'Fail here when asked' on localhost: restore failed: psql exited 3" in review
    assert "| NOT RESTORED |" in review
    assert "service NOT restored by this run" in review


def test_check_mode_writes_nothing(tmp_path, inventory):
    result = run_playbook(SCENARIO, inventory, tmp_path, "--check")
    assert result.rc == 0, result.output
    assert not result.timeline_dir.exists() or list(result.timeline_dir.iterdir()) == []
    assert "check mode: no record written" in result.stdout


def test_runs_without_phase_markers_leave_no_trace(tmp_path, inventory):
    playbook = tmp_path / "plain.yml"
    playbook.write_text("- name: Plain\n  hosts: localhost\n  gather_facts: false\n  tasks:\n"
                        "    - name: Nothing\n      ansible.builtin.debug:\n        msg: hi\n")
    result = run_playbook(playbook, inventory, tmp_path)
    assert result.rc == 0, result.output
    assert not result.timeline_dir.exists()
    assert "DR TIMELINE" not in result.stdout
