"""A real HTTP receiver standing in for Slack's response_url, a signed-request sender, and a
running bridge, shared by the bridge tests."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fleetpulse_dr.bridge import Bridge, BridgeConfig, BridgeServer
from fleetpulse_dr.scenarios import Project
from fleetpulse_dr.security import slack_signature

SECRET = "test-signing-secret-0123456789abcdef"
ONCALL, OTHER, STRANGER = "U0ONCALL", "U0OTHER", "U0STRANGER"
OPS, RANDOM = "C0OPS", "C0RANDOM"


class Receiver(ThreadingHTTPServer):
    """Records every JSON message POSTed to it, like Slack's response_url would show them."""

    daemon_threads = True

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.cond:
                    receiver.messages.append({"path": self.path, **json.loads(body)})
                    receiver.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 120) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no such message within {timeout}s; got {self.messages}")
                self.cond.wait(left)
            return list(self.messages)


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def final_posted(messages: list[dict[str, Any]]) -> bool:
    """The bridge's last message of a job: its summary (or why it could not run)."""
    return any(m["text"].startswith((":white_check_mark:", ":x:")) for m in messages)


class ShiftedClock:
    """Real time plus an offset the test can move (to expire a code without waiting)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Slack:
    """Sends slash commands to the bridge the way Slack does (form body, v0 signature)."""

    url: str
    response_url: str
    clock: ShiftedClock
    sent: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def body(self, text: str, user: str = ONCALL, channel: str = OPS, response_url: str | None = None) -> bytes:
        return urllib.parse.urlencode({
            "token": "unused", "team_id": "T0FLEET", "channel_id": channel, "channel_name": "ops",
            "user_id": user, "user_name": user.lower(), "command": "/dr", "text": text,
            "response_url": response_url or self.response_url + "hook", "trigger_id": "1.2.3"}).encode()

    def headers(self, body: bytes, secret: str = SECRET, ts: int | None = None) -> dict[str, str]:
        stamp = str(int(self.clock()) if ts is None else ts)
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": slack_signature(secret, stamp, body),
                "Content-Type": "application/x-www-form-urlencoded"}

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(self.url, data=body, method="POST", headers=headers)  # noqa: S310 (local)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def command(self, text: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        body = self.body(text, **kwargs)
        headers = self.headers(body)
        self.sent.append((headers, body))
        return self.post(body, headers)


def bridge_config(tmp_path: Path, receiver_url: str, inventory: Path, **extra: Any) -> BridgeConfig:
    raw = {
        "listen": "127.0.0.1:0",
        "allowed_users": [ONCALL, OTHER],
        "allowed_channels": [OPS],
        "environments": {"test": {"inventory": str(inventory), "awx_inventory": "FleetPulse test"}},
        "audit_log": str(tmp_path / "audit.jsonl"),
        "artifacts_dir": str(tmp_path / "artifacts"),
        "response_url_prefixes": [receiver_url],
        "progress_interval_seconds": 0,
        **extra,
    }
    (tmp_path / "secret").write_text(SECRET + "\n")
    raw["signing_secret_file"] = str(tmp_path / "secret")
    return BridgeConfig.from_dict(raw, base=tmp_path)


@contextmanager
def running_bridge(project: Path, config: BridgeConfig, receiver: Receiver) -> Iterator[tuple[Bridge, Slack]]:
    clock = ShiftedClock()
    bridge = Bridge(Project.load(project), config, clock=clock)
    with serving(BridgeServer(bridge, quiet=True)) as server:
        try:
            yield bridge, Slack(url=server.url, response_url=receiver.url, clock=clock)
        finally:
            idle = bridge.wait_idle(120)
        assert idle, "a job was still running at the end of the test"
