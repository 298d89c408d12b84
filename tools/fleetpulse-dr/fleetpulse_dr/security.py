"""What keeps the chat bridge safe: Slack request signatures with replay protection,
one-time confirmation codes for destructive scenarios, and the append-only audit log."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Clock = Callable[[], float]


class Rejected(Exception):
    """A request that is not provably from Slack, or is a replay: answered 401, never acted on."""


class Refused(Exception):
    """A well-formed request that is not allowed or not valid: answered with the reason."""


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature: HMAC-SHA256 over ``v0:{timestamp}:{body}`` with the signing secret."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SignatureVerifier:
    """Checks X-Slack-Signature and X-Slack-Request-Timestamp; refuses stale and replayed requests.

    A request is fresh when its timestamp is within ``max_skew`` seconds of now. Within that
    window every accepted signature is remembered, so the very same request sent twice is
    refused the second time; outside it, the timestamp check refuses it.
    """

    def __init__(self, secret: str, max_skew: float = 300, clock: Clock = time.time) -> None:
        if not secret:
            raise ValueError("the Slack signing secret is empty")
        self._secret = secret
        self.max_skew = max_skew
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def verify(self, timestamp: str | None, signature: str | None, body: bytes) -> None:
        if not timestamp or not signature:
            raise Rejected("unsigned request (no X-Slack-Signature / X-Slack-Request-Timestamp)")
        try:
            ts = int(timestamp)
        except ValueError:
            raise Rejected("malformed X-Slack-Request-Timestamp") from None
        now = self.clock()
        if abs(now - ts) > self.max_skew:
            raise Rejected(f"stale request: timestamp is {int(now - ts)}s away from now (limit {int(self.max_skew)}s)")
        expected = slack_signature(self._secret, timestamp, body)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise Rejected("bad signature")
        with self._lock:
            for sig, expiry in list(self._seen.items()):
                if expiry < now:
                    del self._seen[sig]
            if signature in self._seen:
                raise Rejected("replayed request (signature already seen)")
            self._seen[signature] = ts + self.max_skew + 1


@dataclass
class Pending:
    """A destructive run waiting for its one-time code."""

    code: str
    user_id: str
    channel_id: str
    scenario: str
    environment: str
    params: dict[str, Any]
    limit: str | None
    check: bool
    expires: float
    response_url: str = field(repr=False, default="")


class Confirmations:
    """One-time codes: random, bound to user + scenario + arguments, expiring, single use.

    A code is consumed by its first correct use. A user who sends ``max_failures`` wrong
    codes in a row loses every code waiting for them (they must ask again).
    """

    def __init__(self, ttl: float = 300, clock: Clock = time.time, max_failures: int = 5) -> None:
        self.ttl = ttl
        self.clock = clock
        self.max_failures = max_failures
        self._pending: dict[str, Pending] = {}
        self._used: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def issue(self, **binding: Any) -> Pending:
        code = f"{secrets.randbelow(10**4):04d}-{secrets.randbelow(10**4):04d}"
        with self._lock:
            while code in self._pending or code in self._used:
                code = f"{secrets.randbelow(10**4):04d}-{secrets.randbelow(10**4):04d}"
            pending = Pending(code=code, expires=self.clock() + self.ttl, **binding)
            self._pending[code] = pending
            return pending

    def _fail(self, user_id: str, reason: str) -> Refused:
        count = self._failures.get(user_id, 0) + 1
        self._failures[user_id] = count
        if count >= self.max_failures:
            for code in [c for c, p in self._pending.items() if p.user_id == user_id]:
                del self._pending[code]
            self._failures[user_id] = 0
            reason += f"; {count} wrong codes in a row: your waiting confirmations are cancelled, ask again"
        return Refused(reason)

    def redeem(self, code: str, user_id: str) -> Pending:
        now = self.clock()
        with self._lock:
            if code in self._used:
                raise self._fail(user_id, f"code {code} was already used: nothing was run")
            pending = self._pending.get(code)
            if pending is None:
                raise self._fail(user_id, f"unknown code {code}: nothing was run")
            if pending.user_id != user_id:
                raise self._fail(user_id, f"code {code} was issued to another user: nothing was run")
            if now > pending.expires:
                del self._pending[code]
                raise self._fail(user_id, f"code {code} expired {int(now - pending.expires)}s ago: ask again")
            del self._pending[code]
            self._used[code] = now
            self._failures[user_id] = 0
            for used, at in list(self._used.items()):
                if at < now - 86400:
                    del self._used[used]
            return pending


class AuditLog:
    """Append-only JSON lines: who asked for what, when, and how it ended.

    Each record carries ``prev``, the SHA-256 of the line before it, so a removed or edited
    line breaks the chain (``verify_chain``). The file is only ever opened for appending.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._prev = self._last_hash()

    def _last_hash(self) -> str:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return "0" * 64
        with self.path.open("rb") as fh:
            lines = fh.read().splitlines()
        return hashlib.sha256(lines[-1]).hexdigest() if lines else "0" * 64

    def append(self, action: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "action": action,
                      **fields, "prev": self._prev}
            line = json.dumps(record, sort_keys=True, default=str).encode()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line + b"\n")
            finally:
                os.close(fd)
            self._prev = hashlib.sha256(line).hexdigest()
            return record

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def verify_chain(path: Path | str) -> int:
    """Check the hash chain of an audit log; returns the number of records, raises ValueError on a break."""
    prev = "0" * 64
    count = 0
    for number, line in enumerate(Path(path).read_bytes().splitlines(), start=1):
        record = json.loads(line)
        if record.get("prev") != prev:
            raise ValueError(f"audit log {path}: line {number} does not follow line {number - 1}")
        prev = hashlib.sha256(line).hexdigest()
        count += 1
    return count
