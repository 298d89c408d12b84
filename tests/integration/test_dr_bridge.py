"""The Slack bridge over real HTTP: what it refuses, how it confirms, and a real run end to end."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import dr_testhosts
import pytest
from dr_bridge_helpers import (
    ONCALL,
    OTHER,
    RANDOM,
    STRANGER,
    Receiver,
    bridge_config,
    final_posted,
    running_bridge,
    serving,
)
from dr_testhosts import DrHosts, make_project
from fleetpulse_dr.cli import main
from fleetpulse_dr.security import verify_chain

pytestmark = pytest.mark.integration
dr_hosts = dr_testhosts.dr_hosts


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving(Receiver()) as server:
        yield server


@pytest.fixture
def setup(tmp_path: Path, receiver: Receiver):
    """A bridge on a project with the real status playbook and a destructive stand-in run on localhost."""
    marker = tmp_path / "marker"
    project = make_project(tmp_path / "project", marker)
    config = bridge_config(tmp_path, receiver.url, project / "inventories/local/hosts.yml")
    with running_bridge(project, config, receiver) as (bridge, slack):
        yield bridge, slack, marker, tmp_path


def actions(bridge) -> list[str]:
    return [r["action"] for r in bridge.audit.records()]


def test_unsigned_wrongly_signed_stale_and_replayed_requests_are_rejected(setup, receiver: Receiver) -> None:
    bridge, slack, _marker, tmp_path = setup
    body = slack.body("status env=test")
    status, reply = slack.post(body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert (status, reply["error"]) == (401, "unsigned request (no X-Slack-Signature / X-Slack-Request-Timestamp)")
    status, reply = slack.post(body, slack.headers(body, secret="not-the-secret"))
    assert (status, reply["error"]) == (401, "bad signature")
    tampered = slack.headers(body)
    status, reply = slack.post(body.replace(b"status", b"danger"), tampered)
    assert (status, reply["error"]) == (401, "bad signature")
    status, reply = slack.post(body, slack.headers(body, ts=int(slack.clock()) - 600))
    assert status == 401 and reply["error"].startswith("stale request")
    # a genuine request, then the very same bytes again
    help_body = slack.body("help")
    headers = slack.headers(help_body)
    status, reply = slack.post(help_body, headers)
    assert status == 200 and "Usage" in reply["text"] and "*status*" in reply["text"]
    status, reply = slack.post(help_body, headers)
    assert (status, reply["error"]) == (401, "replayed request (signature already seen)")
    assert actions(bridge) == ["rejected"] * 5
    assert not (tmp_path / "artifacts").exists() and receiver.messages == [] and bridge.jobs == {}


def test_unauthorised_users_channels_and_addresses_are_refused(setup, receiver: Receiver) -> None:
    bridge, slack, _marker, tmp_path = setup
    status, reply = slack.command("status env=test", user=STRANGER)
    assert status == 200 and reply["text"] == f":no_entry: user {STRANGER} is not allowed to run recovery scenarios"
    status, reply = slack.command("status env=test", channel=RANDOM)
    assert reply["text"] == f":no_entry: recovery scenarios cannot be run from channel {RANDOM}"
    status, reply = slack.command("status env=test", response_url="http://127.0.0.1:9/elsewhere")
    assert reply["text"] == ":no_entry: the request's response_url is not an allowed Slack address"
    status, reply = slack.command("unlisted env=test")
    assert "not in the scenario registry" in reply["text"]
    status, reply = slack.command("status env=test ansible_connection=local")
    assert "status takes no parameter 'ansible_connection'" in reply["text"]
    records = bridge.audit.records()
    assert [r["action"] for r in records] == ["refused"] * 5
    assert records[0]["user_id"] == STRANGER and records[1]["channel_id"] == RANDOM
    assert not (tmp_path / "artifacts").exists() and receiver.messages == []


def test_destructive_scenario_runs_only_with_its_one_time_code(setup, receiver: Receiver) -> None:
    bridge, slack, marker, _tmp = setup
    _status, reply = slack.command("danger danger_level=high")
    assert "danger is destructive: name the target environment (env=test)" in reply["text"]
    _status, reply = slack.command("danger env=test danger_level=extreme")
    assert "danger_level must be one of low, high" in reply["text"]
    _status, reply = slack.command("danger env=test danger_level=high")
    assert "*danger* is destructive" in reply["text"] and "`danger_confirm=test`" in reply["text"]
    code = re.search(r"/dr confirm (\d{4}-\d{4})", reply["text"]).group(1)
    assert not marker.exists() and receiver.messages == []  # asking runs nothing
    wrong = "0000-0000" if code != "0000-0000" else "1111-1111"
    _status, reply = slack.command(f"confirm {wrong}")
    assert reply["text"] == f":no_entry: unknown code {wrong}: nothing was run"
    _status, reply = slack.command(f"confirm {code}", user=OTHER)
    assert reply["text"] == f":no_entry: code {code} was issued to another user: nothing was run"
    assert not marker.exists() and bridge.jobs == {}
    _status, reply = slack.command(f"confirm {code}")
    assert reply["text"].startswith(":rocket: Starting *danger* on *test*")
    final = receiver.wait_for(final_posted)[-1]
    assert "danger SUCCEEDED" in final["text"], final
    assert "danger done: level high" in final["text"] and final["response_type"] == "in_channel"
    assert marker.read_text() == "test high"  # the playbook got danger_confirm=test and the parameter
    assert bridge.wait_idle(60)
    marker.unlink()
    _status, reply = slack.command(f"confirm {code}")
    assert reply["text"] == f":no_entry: code {code} was already used: nothing was run"
    # a code that waits too long expires
    _status, reply = slack.command("danger env=test")
    late = re.search(r"/dr confirm (\d{4}-\d{4})", reply["text"]).group(1)
    slack.clock.offset += 301
    _status, reply = slack.command(f"confirm {late}")
    assert re.match(rf":no_entry: code {late} expired \d+s ago: ask again", reply["text"])
    assert not marker.exists() and bridge.wait_idle(0)
    assert actions(bridge) == ["refused", "refused", "confirmation_requested", "refused", "refused", "confirmed",
                               "started", "finished", "refused", "confirmation_requested", "refused"]


def test_status_end_to_end_on_real_hosts(tmp_path: Path, receiver: Receiver, dr_hosts: DrHosts) -> None:
    project = make_project(tmp_path / "project", tmp_path / "marker")
    config = bridge_config(tmp_path, receiver.url, dr_hosts.inventory)
    with running_bridge(project, config, receiver) as (bridge, slack):
        status, reply = slack.command("status env=test")
        assert status == 200
        assert reply == {"response_type": "ephemeral",
                         "text": ":rocket: Starting *status* on *test* via ansible-runner; progress follows here."}
        _status, busy = slack.command("status")  # the only environment is the default; one job per environment
        assert re.match(r":no_entry: status is running on test \(started by U0ONCALL ", busy["text"])
        msgs = receiver.wait_for(final_posted)
        assert bridge.wait_idle(30)
    texts = [m["text"] for m in msgs]
    assert texts[0] == f"<@{ONCALL}> started *status* on *test*"
    assert any(t.startswith("status on test: ghost: unreachable") for t in texts[1:-1])
    assert len(msgs) <= 5  # Slack takes five messages per response_url
    final = texts[-1]
    assert final.startswith(":white_check_mark: ```\nstatus SUCCEEDED in ")
    assert "FleetPulse status: 3 host(s), 2 reachable, 1 unreachable" in final
    assert re.search(r"host2: stack 2/3 services running; newest backup 2\.\d h old \(within RPO 24 h\)", final)
    assert "Totals: services running 2/3 on 1 stack(s); backups within RPO on 1/3 host(s); problems 4" in final
    records = bridge.audit.records()
    # the busy request is logged and refused; the thread's "started" may come before or after it
    assert sorted(r["action"] for r in records) == ["finished", "refused", "request", "request", "started"]
    assert records[0]["action"] == "request" and "is running on test" in next(
        r["reason"] for r in records if r["action"] == "refused")
    done = records[-1]
    assert done["result"] == "succeeded" and done["rc"] == 0 and done["totals"]["changed"] == 0
    assert done["user_id"] == ONCALL and done["scenario"] == "status" and done["post_errors"] == []
    assert (Path(done["artifacts"]) / "fleetpulse-dr.json").is_file()
    assert verify_chain(config.audit_log) == 5
    assert main(["audit-verify", str(config.audit_log)]) == 0
