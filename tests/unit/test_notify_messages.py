"""Incident messages (plan 4.2), routing (4.1, 4.3) and delivery helpers, without a network."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.fleetpulse.dr.plugins.module_utils import incident_notify as n
from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_catalog import UTC

NOW = datetime.datetime(2026, 2, 6, 2, 3, 4, tzinfo=UTC)


def declare(**params):
    state = n.next_incident_state("declaration", params, None, NOW)
    return state, n.render("declaration", state, params, NOW)


def test_declaration_is_the_plans_template_line_by_line():
    msg = declare(scenario="recover-database", impact="API returns 500 errors", commander="Dana")[1]
    assert msg["text"].split("\n") == [
        "[INCIDENT] FleetPulse - P1",
        "Status: Investigating",
        "Impact: API returns 500 errors",
        "Start Time: 2026-02-06 02:03 UTC",
        "Incident Commander: Dana",
        "Next Update: 2026-02-06 02:33 UTC",  # P1: every 30 min
    ]
    assert msg["subject"] == "[INCIDENT] FleetPulse - P1: Database Corruption or Loss"


@pytest.mark.parametrize(("severity", "next_update"), [
    ("P1", "2026-02-06 02:33 UTC"), ("P2", "2026-02-06 03:03 UTC"), ("P3", "As resolved")])
def test_next_update_follows_the_severity_cadence(severity, next_update):
    msg = declare(severity=severity)[1]
    assert msg["fields"]["Next Update"] == next_update
    assert msg["header"] == f"[INCIDENT] FleetPulse - {severity}"


def test_defaults_fill_every_field():
    msg = declare()[1]
    assert msg["fields"]["Impact"] == "Full outage, data loss risk"  # P1's impact in the 4.1 matrix
    assert msg["fields"]["Incident Commander"] == "On-call engineer"


def test_update_inherits_the_incident_and_estimates_from_the_rto():
    state = declare(scenario="3.4")[0]  # MinIO: P2, RTO 2 h
    later = NOW + datetime.timedelta(minutes=20)
    params = {"summary": "Mirror restore running"}
    upd = n.next_incident_state("update", params, state, later)
    msg = n.render("update", upd, params, later)
    assert upd["severity"] == "P2"
    assert upd["started_at"] == state["started_at"]
    assert msg["text"].split("\n") == [
        "[UPDATE] FleetPulse - P2",
        "Status: Identified",
        "Summary: Mirror restore running",
        "ETA to Resolution: 2026-02-06 04:03 UTC (plan 3.4 RTO 2 h)",
        "Next Update: 2026-02-06 03:23 UTC",
    ]


def test_failure_uses_the_update_template_and_says_how_long_it_ran():
    state = declare(scenario="recover-database")[0]
    later = NOW + datetime.timedelta(minutes=12, seconds=3)
    params = {"summary": "Restore database: psql exited 3"}
    st = n.next_incident_state("failure", params, state, later)
    msg = n.render("failure", st, params, later)
    assert msg["header"] == "[UPDATE] FleetPulse - P1"
    assert msg["fields"]["Status"] == "Investigating"
    assert msg["fields"]["Summary"].startswith("Automated recovery FAILED after 12 minutes 3 seconds: "
                                               "Restore database: psql exited 3.")
    assert "runbook (plan 3.1)" in msg["fields"]["Summary"]
    assert msg["fields"]["ETA to Resolution"] == "Unknown"


def test_resolution_has_duration_root_cause_and_review_date():
    state = declare(impact="All tenants")[0]
    later = NOW + datetime.timedelta(hours=1, minutes=12, seconds=40)
    params = {"root_cause": "Disk full"}
    st = n.next_incident_state("resolution", params, state, later)
    msg = n.render("resolution", st, params, later)
    assert msg["text"].split("\n") == [
        "[RESOLVED] FleetPulse - P1",
        "Duration: 1 hour 12 minutes",
        "Root Cause: Disk full",
        "Impact: All tenants",
        "Follow-up: Post-incident review scheduled for 2026-02-08",  # within 48 hours
    ]
    assert st["status"] == "Resolved"
    assert st["resolved_at"] == "2026-02-06T03:15:44.000Z"


def test_environment_and_drill_are_visible_in_the_header():
    msg = declare(environment="staging", drill=True)[1]
    assert msg["header"] == "[DRILL] [INCIDENT] FleetPulse (staging) - P1"
    prod = declare(environment="production")[1]
    assert prod["header"] == "[INCIDENT] FleetPulse - P1"


def test_a_new_declaration_starts_a_new_incident():
    first = declare(severity="P3", commander="A")[0]
    st = n.next_incident_state("declaration", {}, first, NOW + datetime.timedelta(hours=1))
    assert st["severity"] == "P1"
    assert st["commander"] == ""
    assert st["started_at"] != first["started_at"]


def test_started_at_backdates_the_incident():
    state, msg = declare(started_at="2026-02-06T01:50:00Z")
    assert state["started_at"] == "2026-02-06T01:50:00.000Z"
    assert msg["fields"]["Start Time"] == "2026-02-06 01:50 UTC"


@pytest.mark.parametrize(("event", "params", "match"), [
    ("page", {}, "unknown event"),
    ("declaration", {"severity": "P4"}, "unknown severity"),
    ("update", {"status": "Fixed"}, "unknown status"),
])
def test_bad_inputs_are_refused_with_the_allowed_values(event, params, match):
    with pytest.raises(n.NotifyInputError, match=match):
        n.next_incident_state(event, params, None, NOW)


# --------------------------------------------------------------------------- routing


CHANNELS = [
    {"name": "slack", "type": "slack", "url": "https://hooks.slack.com/services/T0/B0/SECRET"},
    {"name": "mail", "type": "email", "to": ["oncall@example.test"]},
    {"name": "phone", "type": "webhook", "url": "https://pager.example.test/hook/SECRET"},
]


@pytest.mark.parametrize(("severity", "expected"), [
    ("P1", ["slack", "mail", "phone"]),  # Slack, Email, Phone
    ("P2", ["slack", "mail"]),           # Slack, Email
    ("P3", ["slack"]),                   # Slack
])
def test_default_routing_is_the_plans_severity_matrix(severity, expected):
    good, broken = n.normalise_channels(CHANNELS)
    selected, skipped = n.route(good, severity, "declaration")
    assert not broken
    assert [c["name"] for c in selected] == expected
    assert {s["name"] for s in skipped} == {"slack", "mail", "phone"} - set(expected)
    assert all(s["status"] == "skipped" and severity in s["reason"] for s in skipped)


def test_channels_can_narrow_severities_and_events():
    good = n.normalise_channels([
        {"name": "tenants", "type": "email", "to": "a@x.test, b@x.test", "severities": ["P1"],
         "events": ["resolution"]},
        {"name": "off", "type": "slack", "url": "http://127.0.0.1/x", "enabled": False},
    ])[0]
    assert good[0]["to"] == "a@x.test, b@x.test"
    assert [c["name"] for c in n.route(good, "P1", "resolution")[0]] == ["tenants"]
    assert n.route(good, "P1", "declaration")[0] == []
    reasons = {s["name"]: s["reason"] for s in n.route(good, "P1", "update")[1]}
    assert reasons == {"tenants": "not routed for update events", "off": "disabled"}


@pytest.mark.parametrize(("entry", "problem"), [
    ("not a mapping", "must be a mapping"),
    ({"type": "pager", "url": "http://x"}, "type must be one of"),
    ({"type": "slack"}, "url must be an http(s) URL"),
    ({"type": "webhook", "url": "file:///etc/passwd"}, "url must be an http(s) URL"),
    ({"type": "email"}, "to must list at least one address"),
    ({"type": "slack", "url": "http://x", "severities": ["P9"]}, "unknown severities"),
    ({"type": "slack", "url": "http://x", "events": ["page"]}, "unknown events"),
])
def test_broken_channels_are_reported_not_raised(entry, problem):
    good, broken = n.normalise_channels([entry, CHANNELS[0]])
    assert [c["name"] for c in good] == ["slack"]  # the others still work
    assert broken[0]["status"] == "failed"
    assert problem in broken[0]["error"]


def test_stakeholder_deadlines_follow_section_4_3():
    p1 = {s["role"]: s["due"] for s in n.stakeholder_deadlines("P1", "2026-02-06T02:00:00Z")}
    assert p1 == {"On-call Engineer": "immediately", "Tech Lead": "immediately",
                  "CTO": "2026-02-06 02:15 UTC", "Affected Tenants": "2026-02-06 03:00 UTC"}
    p2 = {s["role"]: s["due"] for s in n.stakeholder_deadlines("P2", "2026-02-06T02:00:00Z")}
    assert p2 == {"On-call Engineer": "immediately", "Tech Lead": "2026-02-06 02:15 UTC",
                  "Affected Tenants": "2026-02-06 04:00 UTC"}  # the CTO hears of P1 only
    assert [s["role"] for s in n.stakeholder_deadlines("P3", "2026-02-06T02:00:00Z")] == ["On-call Engineer"]


# --------------------------------------------------------------------------- payloads and delivery helpers


def test_payloads_carry_the_message_and_the_incident():
    state, msg = declare(scenario="dns-failover", impact="Site unreachable")
    slack = n.slack_payload(msg, {"channel": "#incidents"})
    assert slack["text"].split("\n", maxsplit=1)[0] == "*[INCIDENT] FleetPulse - P1*"
    assert slack["text"].split("\n")[1:] == msg["text"].split("\n")[1:]
    assert slack["channel"] == "#incidents"
    hook = n.webhook_payload("declaration", state, msg, NOW)
    assert hook["schema"] == "fleetpulse.dr/incident-notification/v1"
    assert hook["incident"]["section"] == "3.5"
    assert hook["fields"]["Impact"] == "Site unreachable"
    assert "events" not in hook["incident"]


def test_mails_of_one_incident_thread_under_the_declaration():
    state, msg = declare()
    first = n.email_message("declaration", state, msg, sender="dr@x.test", recipients=["a@x.test"], now=NOW)
    upd = n.email_message("update", state, msg, sender="dr@x.test", recipients=["a@x.test", "b@x.test"], now=NOW)
    assert first["Message-ID"] == f"<{state['id']}@fleetpulse.dr>"
    assert upd["In-Reply-To"] == first["Message-ID"]
    assert upd["Message-ID"] != first["Message-ID"]
    assert upd["To"] == "a@x.test, b@x.test"


def test_urls_are_reported_without_their_secret_path():
    assert n.redact_url("https://hooks.slack.com/services/T0/B0/XYZSECRET") == "https://hooks.slack.com/…"
    assert n.redact_url("http://127.0.0.1:8080/hook/abc?token=1") == "http://127.0.0.1:8080/…"


@pytest.mark.parametrize(("smtp", "error"), [
    ({}, "no SMTP host"),
    ({"host": "127.0.0.1", "security": "ssl"}, "must be one of"),
    ({"host": "127.0.0.1", "security": "none", "username": "u", "password": "p"}, "refusing to send SMTP credentials"),
])
def test_smtp_settings_are_checked_before_connecting(smtp, error):
    state, msg = declare()
    mail = n.email_message("declaration", state, msg, sender="a@x.test", recipients=["b@x.test"], now=NOW)
    res = n.send_email(smtp, mail, timeout=1)
    assert res["status"] == "failed"
    assert error in res["error"]


def test_transient_failures_are_retried_and_permanent_ones_are_not():
    calls = []

    def flaky():
        calls.append(1)
        return {"status": "failed", "transient": True, "error": "refused"} if len(calls) < 2 else {"status": "sent"}

    assert n._retrying(flaky, retries=1, delay=0) == {"status": "sent", "attempts": 2}
    calls.clear()
    res = n._retrying(lambda: calls.append(1) or {"status": "failed", "error": "HTTP 404"}, retries=3, delay=0)
    assert res == {"status": "failed", "error": "HTTP 404", "attempts": 1}
