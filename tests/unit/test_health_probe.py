"""health_probe against a real HTTP server on loopback: pinned address, public name in Host."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.fleetpulse.dr.plugins.modules.health_probe import probe

SEEN_HOSTS: list[str] = []


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        SEEN_HOSTS.append(self.headers.get("Host", ""))
        status = 200 if self.path == "/api/v1/health" else 503
        body = b'{"status": "ok"}' if status == 200 else b'{"status": "error"}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def params(url: str, **extra) -> dict:
    return {"url": url, "status_codes": [200], "timeout": 2.0, "attempts": 1, "delay": 0.0,
            "validate_certs": True, "ca_path": None, **extra}


def test_healthy_server_is_asked_at_its_address_with_the_public_name(server):
    SEEN_HOSTS.clear()
    result = probe(params(f"http://app.example.test:{server}/api/v1/health"), "127.0.0.1")
    assert result["healthy"] is True
    assert result["status"] == 200
    assert result["attempts"] == 1
    assert [f"app.example.test:{server}"] == SEEN_HOSTS


def test_unhealthy_status_is_retried_then_reported(server):
    result = probe(params(f"http://app.example.test:{server}/broken", attempts=3), "127.0.0.1")
    assert result["healthy"] is False
    assert result["attempts"] == 3
    assert result["reason"].startswith("HTTP 503 in ")
    assert '"error"' in result["body"]


def test_refused_connection_is_unhealthy_with_a_reason(server):
    result = probe(params("http://app.example.test:9/api/v1/health"), "127.0.0.1")
    assert result["healthy"] is False
    assert result["status"] is None
    assert result["reason"] == "connection refused on port 9"
