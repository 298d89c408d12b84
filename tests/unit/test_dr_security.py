"""Signatures, replays, one-time codes and the audit log of the chat bridge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fleetpulse_dr.security import (
    AuditLog,
    Confirmations,
    Refused,
    Rejected,
    SignatureVerifier,
    slack_signature,
    verify_chain,
)

# The worked example of Slack's "Verifying requests from Slack" documentation.
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TS = "1531420618"
SLACK_BODY = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
              b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
              b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F"
              b"96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
SLACK_SIG = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_signature_matches_slacks_documented_example() -> None:
    assert slack_signature(SLACK_SECRET, SLACK_TS, SLACK_BODY) == SLACK_SIG
    SignatureVerifier(SLACK_SECRET, clock=Clock(float(SLACK_TS) + 10)).verify(SLACK_TS, SLACK_SIG, SLACK_BODY)


@pytest.mark.parametrize(("ts", "sig", "body", "now", "message"), [
    (None, SLACK_SIG, SLACK_BODY, 0, "unsigned"),
    (SLACK_TS, None, SLACK_BODY, 0, "unsigned"),
    ("soon", SLACK_SIG, SLACK_BODY, 0, "malformed"),
    (SLACK_TS, SLACK_SIG, SLACK_BODY, 301, "stale"),
    (SLACK_TS, SLACK_SIG, SLACK_BODY, -301, "stale"),
    (SLACK_TS, SLACK_SIG.replace("a2", "b2", 1), SLACK_BODY, 0, "bad signature"),
    (SLACK_TS, SLACK_SIG, SLACK_BODY + b"&text=%2Fdr+recover-database", 0, "bad signature"),
    (str(int(SLACK_TS) + 1), SLACK_SIG, SLACK_BODY, 0, "bad signature"),
])
def test_bad_requests_are_rejected(ts: str | None, sig: str | None, body: bytes, now: float, message: str) -> None:
    verifier = SignatureVerifier(SLACK_SECRET, clock=Clock(float(SLACK_TS) + now))
    with pytest.raises(Rejected, match=message):
        verifier.verify(ts, sig, body)


def test_replay_is_rejected_inside_the_window_and_stale_after_it() -> None:
    clock = Clock(float(SLACK_TS))
    verifier = SignatureVerifier(SLACK_SECRET, clock=clock)
    verifier.verify(SLACK_TS, SLACK_SIG, SLACK_BODY)
    clock.now += 299
    with pytest.raises(Rejected, match="replayed"):
        verifier.verify(SLACK_TS, SLACK_SIG, SLACK_BODY)
    clock.now += 10
    with pytest.raises(Rejected, match="stale"):
        verifier.verify(SLACK_TS, SLACK_SIG, SLACK_BODY)


def issue(confirmations: Confirmations, user: str = "U1"):
    return confirmations.issue(user_id=user, channel_id="C1", scenario="recover-database", environment="staging",
                               params={}, limit=None, check=False)


def test_code_is_single_use_and_bound_to_its_user() -> None:
    confirmations = Confirmations(ttl=300, clock=Clock(1000))
    pending = issue(confirmations)
    assert len(pending.code) == 9
    with pytest.raises(Refused, match="another user"):
        confirmations.redeem(pending.code, "U2")
    got = confirmations.redeem(pending.code, "U1")
    assert (got.scenario, got.environment, got.user_id) == ("recover-database", "staging", "U1")
    with pytest.raises(Refused, match="already used"):
        confirmations.redeem(pending.code, "U1")


def test_code_expires() -> None:
    clock = Clock(1000)
    confirmations = Confirmations(ttl=300, clock=clock)
    pending = issue(confirmations)
    clock.now += 301
    with pytest.raises(Refused, match="expired"):
        confirmations.redeem(pending.code, "U1")
    with pytest.raises(Refused, match="unknown code"):  # an expired code is gone for good
        confirmations.redeem(pending.code, "U1")


def test_guessing_cancels_the_users_codes() -> None:
    confirmations = Confirmations(ttl=300, clock=Clock(1000), max_failures=3)
    pending = issue(confirmations)
    for _attempt in range(2):
        with pytest.raises(Refused, match="unknown code"):
            confirmations.redeem("0000-0000" if pending.code != "0000-0000" else "1111-1111", "U1")
    with pytest.raises(Refused, match="cancelled"):
        confirmations.redeem("9999-9999" if pending.code != "9999-9999" else "8888-8888", "U1")
    with pytest.raises(Refused, match="unknown code"):
        confirmations.redeem(pending.code, "U1")


def test_audit_log_is_append_only_and_chained(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append("request", user_id="U1", scenario="status")
    log.append("finished", user_id="U1", scenario="status", result="succeeded")
    AuditLog(path).append("request", user_id="U2", scenario="backup")  # a restarted bridge continues the chain
    assert verify_chain(path) == 3
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["action"] for r in records] == ["request", "finished", "request"]
    assert records[1]["result"] == "succeeded" and records[2]["user_id"] == "U2"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")  # someone removes a line
    with pytest.raises(ValueError, match="line 2 does not follow"):
        verify_chain(path)
