"""Incident notifications delivered by real ansible-playbook runs to a real SMTP server
(aiosmtpd, STARTTLS and AUTH required) and a real HTTP receiver (Slack-style and
generic JSON webhooks), on loopback. The playbook is tests/integration/playbooks/
recovery_scenario.yml, shaped like the scenario playbooks."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from notify_receivers import HttpReceiver, SmtpReceiver, free_port
from notify_run import PLAYBOOKS, Run, run_playbook, write_inventory

pytestmark = pytest.mark.integration

SCENARIO = PLAYBOOKS / "recovery_scenario.yml"
SLACK_PATH = "/slack/T000/B000/XXXXslacktoken"
HOOK_PATH = "/hook/pager-secret-path"
HOOK_TOKEN = "Bearer hook-token-123"


@pytest.fixture
def smtp(tmp_path: Path):
    with SmtpReceiver(tmp_path / "tls") as server:
        yield server


@pytest.fixture
def http():
    with HttpReceiver() as server:
        yield server


def notify_vars(smtp: SmtpReceiver, http: HttpReceiver, **overrides) -> dict:
    variables = {
        "fleetpulse_environment": "staging",
        "notify_enabled": True,
        "notify_smtp_host": "127.0.0.1",
        "notify_smtp_port": smtp.port,
        "notify_smtp_username": smtp.username,
        "notify_smtp_password": smtp.password,
        "notify_smtp_from": "dr-bot@fleetpulse.test",
        "notify_ca_file": str(smtp.ca),
        "notify_timeout": 5,
        "notify_channels": [
            {"name": "ops-slack", "type": "slack", "url": f"{http.url}{SLACK_PATH}"},
            {"name": "on-call", "type": "email", "to": ["oncall@fleetpulse.test", "lead@fleetpulse.test"]},
            {"name": "pager", "type": "webhook", "url": f"{http.url}{HOOK_PATH}",
             "headers": {"Authorization": HOOK_TOKEN}},
        ],
    }
    variables.update(overrides)
    return variables


def scenario(tmp_path: Path, variables: dict, *args: str) -> Run:
    # no work in the phases: these tests are about messages (the timeline tests time the phases)
    return run_playbook(SCENARIO, write_inventory(tmp_path / "inventory.yml", variables), tmp_path,
                        "-e", "scenario_work_seconds=0", *args)


def assert_no_secret_in(output: str, smtp: SmtpReceiver) -> None:
    for secret in (SLACK_PATH, HOOK_PATH, HOOK_TOKEN, smtp.password):
        assert secret not in output


def lines(text: str) -> list[str]:
    return text.strip().splitlines()


def test_messages_arrive_on_every_channel_with_the_plans_fields(tmp_path, smtp, http):
    result = scenario(tmp_path, notify_vars(smtp, http))
    assert result.rc == 0, result.output
    assert "rescued=0" in result.stdout
    assert_no_secret_in(result.output, smtp)

    # Email: three mails, over STARTTLS, authenticated, the plan's lines, threaded.
    assert [m.message["Subject"] for m in smtp.mails] == [
        "[INCIDENT] FleetPulse (staging) - P1: Database Corruption or Loss",
        "[UPDATE] FleetPulse (staging) - P1: Database Corruption or Loss",
        "[RESOLVED] FleetPulse (staging) - P1: Database Corruption or Loss",
    ]
    assert all(m.tls and m.user == smtp.username for m in smtp.mails)
    assert all(sorted(m.rcpt_tos) == ["lead@fleetpulse.test", "oncall@fleetpulse.test"] for m in smtp.mails)
    declaration, update, resolution = (lines(m.message.get_content()) for m in smtp.mails)
    assert declaration[0] == "[INCIDENT] FleetPulse (staging) - P1"
    assert [line.split(":")[0] for line in declaration[1:]] == [
        "Status", "Impact", "Start Time", "Incident Commander", "Next Update"]
    assert declaration[1:3] == ["Status: Investigating", "Impact: API returns 500 errors for all tenants"]
    assert declaration[4] == "Incident Commander: Dana On-Call"
    assert update[1:3] == ["Status: Monitoring", "Summary: Database restored from the 02:00 backup; verifying"]
    assert update[3].startswith("ETA to Resolution: ") and update[3].endswith("(plan 3.1 RTO 2 h)")
    assert re.fullmatch(r"Duration: \d+ seconds?", resolution[1]), resolution[1]
    assert resolution[2:4] == ["Root Cause: Disk full on the database volume corrupted the Booking table",
                               "Impact: API returns 500 errors for all tenants"]
    assert resolution[4].startswith("Follow-up: Post-incident review scheduled for 20")
    root = smtp.mails[0].message["Message-ID"]
    assert [m.message["In-Reply-To"] for m in smtp.mails[1:]] == [root, root]

    # Slack incoming webhook: the same text, header in bold.
    slack = [r.json["text"] for r in http.on(SLACK_PATH)]
    assert [t.split("\n")[0] for t in slack] == ["*[INCIDENT] FleetPulse (staging) - P1*",
                                                 "*[UPDATE] FleetPulse (staging) - P1*",
                                                 "*[RESOLVED] FleetPulse (staging) - P1*"]
    assert lines(slack[0])[1:] == declaration[1:]

    # Generic JSON webhook: structured fields, the auth header, one incident id.
    hooks = http.on(HOOK_PATH)
    assert [h.json["event"] for h in hooks] == ["declaration", "update", "resolution"]
    assert all(h.headers["authorization"] == HOOK_TOKEN for h in hooks)
    assert {h.json["incident"]["id"] for h in hooks} == {smtp.mails[0].message["X-FleetPulse-Incident"]}
    assert hooks[0].json["fields"]["Impact"] == "API returns 500 errors for all tenants"
    assert hooks[2].json["status"] == "Resolved"
    assert hooks[2].json["incident"]["root_cause"] == "Disk full on the database volume corrupted the Booking table"


def test_dead_channels_never_fail_the_recovery(tmp_path, smtp, http):
    closed_port = free_port()  # nothing listens there: connection refused
    variables = notify_vars(smtp, http, notify_smtp_password="wrong-password", notify_channels=[
        {"name": "ops-slack", "type": "slack", "url": f"{http.url}/status/404{SLACK_PATH}"},
        {"name": "on-call", "type": "email", "to": ["oncall@fleetpulse.test"]},
        {"name": "pager", "type": "webhook", "url": f"http://127.0.0.1:{closed_port}{HOOK_PATH}"},
    ])
    result = scenario(tmp_path, variables)
    assert result.rc == 0, result.output
    assert "failed=0" in result.stdout
    assert "rescued=0" in result.stdout  # handled by the notification itself, not by the safety net
    assert "webhook 'pager': failed (unreachable: [Errno 111] Connection refused)" in result.stdout
    assert_no_secret_in(result.output.replace("wrong-password", ""), smtp)
    for event in ("declaration", "update", "resolution"):
        assert (f"incident {event} notification to webhook channel 'pager' failed: unreachable: "
                "[Errno 111] Connection refused (the recovery continues)") in result.output
        assert (f"incident {event} notification to email channel 'on-call' failed: SMTP authentication failed (535)"
                in result.output)
        assert f"incident {event} notification to slack channel 'ops-slack' failed: HTTP 404" in result.output
    # the recovery ran to its end: the resolution was rendered, reported as undelivered
    assert "[RESOLVED] FleetPulse (staging) - P1: sent to 0 channel(s), 3 failed, 0 not routed" in result.stdout
    assert smtp.mails == []
    assert smtp.auth_attempts and not any(attempt[1] for attempt in smtp.auth_attempts)
    assert len(http.on("/status/404")) == 3  # a 404 is permanent: not retried


def test_a_silent_endpoint_costs_at_most_the_timeout(tmp_path, smtp, http):
    with socket.socket() as silent:  # accepts connections (kernel backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}{HOOK_PATH}"
        variables = notify_vars(smtp, http, notify_timeout=1, notify_retries=0, notify_channels=[
            {"name": "pager", "type": "webhook", "url": url},
            {"name": "ops-slack", "type": "slack", "url": f"{http.url}{SLACK_PATH}"},
        ])
        result = scenario(tmp_path, variables)
    assert result.rc == 0, result.output
    assert "incident declaration notification to webhook channel 'pager' failed: no answer within 1s" in result.output
    assert len(http.on(SLACK_PATH)) == 3  # the other channel still got every message


def test_severity_routes_channels_as_the_plans_matrix(tmp_path, smtp, http):
    result = scenario(tmp_path, notify_vars(smtp, http), "-e", "notify_severity=P2")
    assert result.rc == 0, result.output
    assert len(http.on(SLACK_PATH)) == 3
    assert len(smtp.mails) == 3
    assert http.on(HOOK_PATH) == []  # the "Phone" webhook is for P1 only
    assert "webhook 'pager': skipped (not routed for P2 (severities: P1))" in result.stdout
    assert smtp.mails[0].message["Subject"].startswith("[INCIDENT] FleetPulse (staging) - P2")


def test_notifications_are_off_by_default(tmp_path, smtp, http):
    variables = notify_vars(smtp, http)
    del variables["notify_enabled"]
    result = scenario(tmp_path, variables)
    assert result.rc == 0, result.output
    assert smtp.mails == [] and http.requests == []
    assert ("[INCIDENT] FleetPulse (staging) - P1 recorded; notifications are off (notify_enabled: false)"
            in result.stdout)


def test_check_mode_sends_nothing(tmp_path, smtp, http):
    result = scenario(tmp_path, notify_vars(smtp, http), "--check")
    assert result.rc == 0, result.output
    assert smtp.mails == [] and http.requests == []
    assert "[INCIDENT] FleetPulse (staging) - P1: check mode, would send to 3 channel(s)" in result.stdout


def test_an_unusable_configuration_is_rescued(tmp_path, smtp, http):
    variables = notify_vars(smtp, http, notify_channels=[
        {"name": "ops-slack", "type": "slack", "url": "{{ vault_notify_slack_url }}"}])  # not in any vault
    result = scenario(tmp_path, variables)
    assert result.rc == 0, result.output
    assert "WARNING: the incident declaration notification was NOT sent; the recovery continues." in result.stdout
    assert "vault_notify_slack_url" in result.stdout  # the error names what is missing
    assert "PHASE: Verify" in result.stdout or "phase 3: Verify" in result.stdout


def test_later_plays_on_other_hosts_continue_the_same_incident(tmp_path, smtp, http):
    inventory = write_inventory(tmp_path / "inventory.yml", notify_vars(smtp, http), {"servers": ["web1", "web2"]})
    result = run_playbook(PLAYBOOKS / "cross_play.yml", inventory, tmp_path)
    assert result.rc == 0, result.output
    assert http.on(HOOK_PATH) == []  # redeploy-app is P2: no "Phone" webhook; Slack and email carry it
    slack = [r.json["text"] for r in http.on(SLACK_PATH)]
    assert [t.split("\n", maxsplit=1)[0] for t in slack] == [  # once each, although two servers ran the play
        "*[INCIDENT] FleetPulse (staging) - P2*", "*[UPDATE] FleetPulse (staging) - P2*",
        "*[RESOLVED] FleetPulse (staging) - P2*"]
    assert "ETA to Resolution: " in slack[1] and "(plan 3.3 RTO 1 h)" in slack[1]
    assert "Impact: Web frontend shows errors" in slack[2]
    assert len({m.message["X-FleetPulse-Incident"] for m in smtp.mails}) == 1
    assert [m.message["Subject"] for m in smtp.mails][-1] == (
        "[RESOLVED] FleetPulse (staging) - P2: Application Redeploy from Container Registry")
