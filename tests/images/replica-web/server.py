"""The FleetPulse web frontend, replica: static pages on :3000 (published as .../frontend:<tag>)."""

import os
import signal
import sys
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

ROOT = "/srv/www"
VERSION = os.environ.get("FLEETPULSE_VERSION", "1.4.2")


class Handler(SimpleHTTPRequestHandler):
    server_version = "fleetpulse-replica-web"

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/version":
            data = f'{{"version": "{VERSION}"}}\n'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        super().do_GET()


def main() -> None:
    port = int(os.environ.get("PORT", "3000"))
    httpd = ThreadingHTTPServer(("0.0.0.0", port), partial(Handler, directory=ROOT))  # noqa: S104
    httpd.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 ignores SIGTERM otherwise
    print(f"FleetPulse replica web {VERSION} listening on :{port}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
