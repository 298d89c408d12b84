"""An HTTP receiver that records every request: the outside end of webhook notifications.

Plays the generic webhook channels (a paging / phone-call provider, a chat relay): each
POST to any path is answered 200 and appended as one JSON line (path, Authorization
header, JSON body) to .world/<ns>/webhook/requests.jsonl, which tests read. Plain HTTP on
webhook.fleetpulse.test:8080.
"""

from __future__ import annotations

import http.client

from world import Service, World, register

HOST = "webhook.fleetpulse.test"
PORT = 8080
SERVER = '''\
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = "/world/webhook/requests.jsonl"
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"webhook receiver\\n")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = body
        record = {"path": self.path, "authorization": self.headers.get("Authorization"), "body": parsed}
        with lock, open(LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
'''


def prepare(world: World) -> None:
    out = world.service_dir("webhook")
    (out / "server.py").write_text(SERVER)
    log = out / "requests.jsonl"
    log.write_text("")
    log.chmod(0o666)


def ready(world: World) -> bool:
    conn = http.client.HTTPConnection(world.ip("webhook"), PORT, timeout=3)
    conn.request("GET", "/")
    return conn.getresponse().status == 200


def info(world: World) -> dict:
    return {
        "url": f"http://{HOST}:{PORT}",
        # Containers inside test hosts do not resolve world names: use the address.
        "ip_url": f"http://{world.ip('webhook')}:{PORT}",
        "log": str(world.service_dir("webhook") / "requests.jsonl"),
    }


register(Service(
    name="webhook",
    image="world",
    command=["python3", "/world/webhook/server.py", str(PORT)],
    aliases=[HOST],
    doc="HTTP receiver recording every request (plays webhook notification channels)",
    prepare=prepare, ready=ready, info=info,
))
