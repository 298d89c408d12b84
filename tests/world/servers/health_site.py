# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A FleetPulse front door for failover tests: HTTPS with /api/v1/health whose verdict tests switch.

    health_site.py NAME CERT KEY STATE_FILE

Serves on port 443. GET /api/v1/health answers 200 {"status": "ok", "server": NAME} while
STATE_FILE contains "healthy", and 503 {"status": "error", ...} otherwise (the file is read
on every request, so a test flips the verdict by writing it). Any other path answers
"served by NAME", so a client can tell which server DNS sent it to. Standard library only:
it runs in the world image's system Python.
"""

from __future__ import annotations

import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def make_handler(name: str, state_file: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "fleetpulse-health-site"

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/api/v1/health":
                try:
                    state = state_file.read_text().strip()
                except OSError:
                    state = "missing state file"
                healthy = state == "healthy"
                body = {"status": "ok" if healthy else "error", "server": name}
                if not healthy:
                    body["detail"] = f"state: {state}"
                self._send(200 if healthy else 503, json.dumps(body).encode(), "application/json")
            else:
                self._send(200, f"served by {name}\n".encode(), "text/plain")

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"{name}: {format % args}\n")

    return Handler


def main() -> None:
    name, cert, key, state = sys.argv[1:5]
    server = ThreadingHTTPServer(("0.0.0.0", 443), make_handler(name, Path(state)))  # noqa: S104 - container
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
