"""The command line's own logic: extra vars, the confirmation rule, and reading runner events."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleetpulse_dr.cli import Refused, check_confirmation, parse_extravars
from fleetpulse_dr.runner import EventTracker, Progress
from fleetpulse_dr.scenarios import Scenario

DANGER = Scenario(name="recover-database", playbook="playbooks/recover-database.yml", description="",
                  destructive=True, confirm_var="db_restore_confirm")
SAFE = Scenario(name="status", playbook="playbooks/status.yml", description="", destructive=False)


def test_extravars_like_ansible_playbook(tmp_path: Path) -> None:
    (tmp_path / "vars.yml").write_text("a: 1\nb: [x]\n")
    assert parse_extravars(["k=v x=1", "@" + str(tmp_path / "vars.yml"), '{"j": true}']) == {
        "k": "v", "x": "1", "a": 1, "b": ["x"], "j": True}
    for bad in ["novalue", "=v", "{broken", "@/nonexistent.yml"]:
        with pytest.raises(Refused):
            parse_extravars([bad])


def test_destructive_needs_confirmation_naming_the_environment() -> None:
    with pytest.raises(Refused, match="--confirm ENV"):
        check_confirmation(DANGER, {}, None, "staging")
    with pytest.raises(Refused, match="does not name the target environment staging"):
        check_confirmation(DANGER, {}, "production", "staging")
    assert check_confirmation(DANGER, {"x": 1}, "staging", "staging") == {"x": 1, "db_restore_confirm": "staging"}
    # -e db_restore_confirm=... is the same confirmation
    assert check_confirmation(DANGER, {"db_restore_confirm": "local"}, None, None)["db_restore_confirm"] == "local"
    assert check_confirmation(SAFE, {"x": 1}, None, None) == {"x": 1}


def ev(kind: str, **data) -> dict:
    return {"event": kind, "event_data": data}


def test_events_give_phases_failures_summary_and_recap() -> None:
    seen: list[Progress] = []
    tracker = EventTracker(seen.append)
    for event in [
        ev("playbook_on_play_start", play="Stop the app"),
        ev("playbook_on_task_start", task="Stop api and web"),
        ev("runner_on_failed", host="h1", task="Try the fast way", res={"msg": "no"}),  # rescued below
        ev("runner_on_failed", host="h2", task="Ignored", res={"msg": "meh"}, ignore_errors=True),
        ev("playbook_on_task_start", task="Phase: restore"),
        ev("runner_on_unreachable", host="h3", task="Ping", res={"msg": "ssh: no route"}),
        ev("runner_on_ok", host="h1", task="Summary", task_action="ansible.builtin.debug",
           res={"msg": ["restored 3 tables", "took 2s"]}),
        ev("runner_on_ok", host="h1", task="Other", task_action="ansible.builtin.debug", res={"msg": "not it"}),
        ev("playbook_on_stats", ok={"h1": 5, "h3": 1}, changed={"h1": 2}, failures={}, dark={"h3": 1},
           skipped={}, rescued={"h1": 1}, ignored={"h2": 1}),
    ]:
        tracker.handle(event)
    tracker.finish()
    assert [p.name for p in tracker.phases] == ["Stop the app", "restore"]
    assert tracker.summary == ["restored 3 tables", "took 2s"]
    # h1's failure was rescued, h2's ignored: only the unreachable h3 is a failure
    assert tracker.failures == ["h3: unreachable: ssh: no route"]
    assert tracker.recap["h1"] == {"ok": 5, "changed": 2, "failed": 0, "unreachable": 0, "skipped": 0,
                                   "rescued": 1, "ignored": 0}
    kinds = [p.kind for p in seen]
    assert kinds.count("phase_start") == 2 and kinds.count("phase_done") == 2
    assert "host_unreachable" in kinds and kinds.count("host_failed") == 1
