"""The DR timeline record and the post-incident review draft, from synthetic runs."""

from __future__ import annotations

import re

from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_review import build_record, render_review

T0 = "2026-02-06T02:00:00.000Z"


def at(minutes: float) -> str:
    total = round(minutes * 60)
    return f"2026-02-06T{2 + total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}.000Z"


def run(phases, *, finished, markers=None, notifications=(), failed=(), backups=(), data_loss=None, incident=None):
    markers = markers if markers is not None else [
        {"phase": name, "at": when, **extra} for name, when, extra in phases]
    return {
        "playbook": "playbooks/recover-database.yml", "started_at": T0, "finished_at": finished,
        "failed_hosts": list(failed), "unreachable_hosts": [],
        "markers": markers,
        "phases": [{"name": name, "at": when, "scenario": extra.get("scenario", ""), "hosts": {"web1"},
                    "tasks": {"ok": 3, "changed": 1}, "failures": extra.get("failures", [])}
                   for name, when, extra in phases],
        "notifications": list(notifications), "incident": incident or {}, "backups": list(backups),
        "data_loss_seconds": data_loss,
    }


DB_RUN = [
    ("Preflight", at(0), {"scenario": "recover-database"}),
    ("Restore database", at(5), {}),
    ("Verify", at(70), {"milestone": "restored"}),
]


def test_phases_end_where_the_next_starts_and_the_last_at_the_end_of_the_run():
    rec = build_record(run(DB_RUN, finished=at(75)))
    assert [(p["name"], p["started_at"], p["finished_at"], p["duration_seconds"]) for p in rec["phases"]] == [
        ("Preflight", at(0), at(5), 300.0),
        ("Restore database", at(5), at(70), 3900.0),
        ("Verify", at(70), at(75), 300.0),
    ]
    assert all(p["scenario"] == "recover-database" for p in rec["phases"])
    assert rec["status"] == "restored"


def test_rto_is_measured_from_declaration_to_restoration_against_scenario_and_tiers():
    declaration = {"event": "declaration", "at": at(2), "status": "Investigating", "sent": 2, "failed": 0}
    rec = build_record(run(DB_RUN, finished=at(75), notifications=[declaration]))
    assert rec["clock"] == {"from": at(2), "from_source": "the declaration notice", "to": at(70),
                            "to_source": "the 'restored' marker", "elapsed_seconds": 68 * 60.0}
    verdicts = {o["name"]: (o["target_seconds"], o["met"]) for o in rec["objectives"]}
    assert verdicts == {
        "RTO 3.1 Database Corruption or Loss": (7200.0, True),                # 68 min < 2 h
        "Tier 1 (Critical: postgres, api) max downtime": (3600.0, False),     # 68 min > 1 h
        "Tier 2 (Important: web) max downtime": (7200.0, True),
        "Overall RTO (declaration to service restoration)": (14400.0, True),
    }


def test_a_run_without_a_restored_marker_is_restored_at_its_successful_end():
    rec = build_record(run([("Preflight", at(0), {"scenario": "dns-failover"}), ("Switch", at(10), {})],
                           finished=at(40)))
    assert rec["clock"]["to_source"] == "the end of the successful run"
    assert rec["clock"]["elapsed_seconds"] == 2400.0
    first = rec["objectives"][0]
    assert (first["name"], first["met"]) == ("RTO 3.5 DNS Failover", False)  # 40 > 30 min


def test_a_failed_run_is_not_restored_and_says_so():
    phases = [("Preflight", at(0), {"scenario": "rebuild-server"}),
              ("Restore database", at(3), {"failures": [{"task": "Restore", "host": "web1", "msg": "psql exited 3",
                                                         "at": at(4)}]})]
    rec = build_record(run(phases, finished=at(5), failed=["web1"]))
    assert rec["status"] == "failed"
    assert "restored" not in rec["milestones"]
    assert rec["phases"][1]["status"] == "failed"
    assert all(o["restored"] is False and o["met"] is False for o in rec["objectives"])
    review = render_review(rec)
    assert "| RTO 3.2 Complete Server Failure | plan 3.2 | 4 h | 0:05:00 | NOT RESTORED |" in review
    assert "| 02:04:00 | Phase 2 FAILED: task 'Restore' on web1: psql exited 3 |" in review
    assert "- **Duration:** 5 minutes 0 seconds so far, service NOT restored by this run" in review
    assert "| Complete the recovery and record when service was restored | TODO | P1 | TODO | Open |" in review


def test_a_nested_scenario_is_measured_over_its_own_phases():
    phases = [("Provision", at(0), {"scenario": "rebuild-server"}),
              ("Restore database", at(30), {"scenario": "recover-database"}),
              ("DNS", at(200), {"scenario": "rebuild-server"})]
    markers = [{"phase": n, "at": w, **e} for n, w, e in phases]
    rec = build_record(run(phases, markers=markers, finished=at(210)))
    by_name = {o["name"]: o for o in rec["objectives"]}
    assert by_name["RTO 3.2 Complete Server Failure"]["elapsed_seconds"] == 210 * 60.0
    assert by_name["RTO 3.2 Complete Server Failure"]["met"] is True
    nested = by_name["RTO 3.1 Database Corruption or Loss"]
    assert (nested["elapsed_seconds"], nested["met"]) == (170 * 60.0, False)  # 2 h 50 min > 2 h


def test_data_loss_window_runs_from_the_backup_to_the_start_of_the_incident():
    markers = [{"phase": "Alert", "at": at(-10), "milestone": "alert", "backdated": True},
               *({"phase": n, "at": w, **e} for n, w, e in DB_RUN)]
    backups = [{"name": "car_rental_backup_20260205_020000.sql.gz", "kind": "database"},   # 24 h before 02:00
               {"name": "mirror-2026-02-05", "kind": "objects", "taken_at": "2026-02-05T20:00:00Z"}]
    rec = build_record(run(DB_RUN, markers=markers, finished=at(75), backups=backups))
    assert [b["data_loss_seconds"] for b in rec["backups_used"]] == [(24 * 60 - 10) * 60.0, (6 * 60 - 10) * 60.0]
    assert rec["data_loss"]["seconds"] == (24 * 60 - 10) * 60.0   # the oldest backup decides
    assert rec["data_loss"]["met"] is True                       # under the 24 h RPO
    assert list(rec["milestones"]) == ["alert", "restored"]
    review = render_review(rec)
    assert "- **Data loss:** up to 23 hours 50 minutes of changes" in review
    assert "`car_rental_backup_20260205_020000.sql.gz` (database)" in review
    assert "`mirror-2026-02-05` (objects, taken 2026-02-05 20:00:00 UTC)" in review


def test_an_explicit_data_loss_window_wins_and_the_rpo_can_be_missed():
    old = [{"name": "car_rental_backup_20260204_020000.sql.gz"}]
    assert build_record(run(DB_RUN, finished=at(75), backups=old))["data_loss"]["met"] is False  # 48 h > 24 h
    pitr = build_record(run(DB_RUN, finished=at(75), backups=old, data_loss=45))
    assert pitr["data_loss"] == {"seconds": 45.0, "source": "dr_timeline_data_loss_seconds",
                                 "rpo_seconds": 86400.0, "met": True}


def test_review_follows_the_plans_template_and_fills_what_the_run_knows():
    notifications = [
        {"event": "declaration", "at": at(1), "status": "Investigating", "sent": 3, "failed": 0, "enabled": True},
        {"event": "update", "at": at(30), "status": "Monitoring", "summary": "Restore running", "sent": 2, "failed": 1,
         "enabled": True, "channels": [{"name": "pager", "type": "webhook", "status": "failed",
                                        "error": "unreachable: refused"}]},
        {"event": "resolution", "at": at(72), "status": "Resolved", "sent": 3, "failed": 0, "enabled": True},
    ]
    incident = {"title": "Database Corruption or Loss", "commander": "Dana", "severity": "P1",
                "root_cause": "Disk full", "impact": "API down"}
    rec = build_record(run(DB_RUN, finished=at(75), notifications=notifications, incident=incident))
    review = render_review(rec)
    headings = re.findall(r"^#+ (.+)$", review, flags=re.MULTILINE)
    assert headings == ["Post-Incident Review: Database Corruption or Loss (plan 3.1)", "Summary", "Timeline (UTC)",
                        "Phases", "Recovery objectives (plan section 1)", "Impact", "Root Cause", "What Went Well",
                        "What Went Poorly", "Action Items", "Lessons Learned", "Related Documents"]
    assert "- **Incident Commander:** Dana" in review
    assert "- **Severity:** P1" in review
    assert "- **Duration:** 1 hour 9 minutes (from the declaration notice to the 'restored' marker)" in review
    rows = re.findall(r"^\| (\d\d:\d\d:\d\d) \| (.+) \|$", review, flags=re.MULTILINE)
    timeline = rows[:rows.index(("03:15:00", "Recovery run ended: restored")) + 1]
    assert [row[0] for row in timeline] == sorted(row[0] for row in timeline)
    assert [row[1] for row in timeline] == [
        "Phase 1 started: Preflight",
        "Incident declared (the declaration notice)",
        "Declaration (Investigating; sent to 3 channel(s))",
        "Phase 2 started: Restore database",
        "Update (Monitoring; sent to 2 channel(s), 1 failed): Restore running",
        "Service restored",
        "Phase 3 started: Verify",
        "All-clear declared (the resolution notice)",
        "Resolution notice (Resolved; sent to 3 channel(s))",
        "Recovery run ended: restored",
    ]
    assert "## Root Cause\nDisk full\n" in review
    assert "- Update to webhook 'pager' failed: unreachable: refused" in review
    assert "| Repair notification channel webhook 'pager' | TODO | P1 | TODO | Open |" in review
    assert "hold the review by 2026-02-08 03:12 UTC" in review  # 48 h after the all-clear
    assert "- Backup used: TODO [filename] (none recorded by this run)" in review


def test_check_mode_runs_are_marked():
    collected = run(DB_RUN, finished=at(1))
    collected["check_mode"] = True
    assert build_record(collected)["status"] == "check_mode"
