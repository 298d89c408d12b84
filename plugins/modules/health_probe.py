#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: health_probe
short_description: Ask servers for a health URL, each as if DNS already pointed at it
version_added: 0.1.0
description:
  - Sends C(GET) to O(url) but connects to each of O(addresses) instead of what the URL's host
    resolves to, with the URL's host name for TLS (SNI, certificate check) and the C(Host)
    header, like C(curl --resolve). That is how a standby or a rebuilt server is checked before
    DNS points at it, and how the primary is checked regardless of where DNS points now.
  - The servers are asked at the same time. A server is healthy when it answers one of
    O(status_codes) within O(timeout) on any of O(attempts) tries (O(delay) seconds apart;
    stops at the first healthy answer).
  - Never fails because a server is unhealthy; the result says so. It fails only on bad parameters.
author:
  - FleetPulse Platform Engineering (@fleetpulse)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  url:
    description:
      - The health URL, with the public host name, for example V(https://example.com/api/v1/health).
    type: str
    required: true
  addresses:
    description:
      - IP addresses (or names) of the servers to ask. Left out, the URL's host is resolved as usual.
    type: list
    elements: str
    default: []
  status_codes:
    description:
      - HTTP status codes that mean healthy.
    type: list
    elements: int
    default: [200]
  timeout:
    description:
      - Seconds to wait for one answer.
    type: float
    default: 5
  attempts:
    description:
      - How many times to ask before calling the server unhealthy.
    type: int
    default: 1
  delay:
    description:
      - Seconds between attempts.
    type: float
    default: 2
  validate_certs:
    description:
      - Verify the server's certificate against the URL's host name. Leave it on, since a server with
        a wrong certificate is not healthy for the users.
    type: bool
    default: true
  ca_path:
    description:
      - CA bundle to verify the certificate with, instead of the system's.
    type: path
attributes:
  platform:
    platforms: posix
  check_mode:
    support: full
    details:
      - This module only sends a GET request.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Are the primary and the standby healthy, each at its own address with the public name?
  fleetpulse.dr.health_probe:
    url: https://example.com/api/v1/health
    addresses: [198.51.100.10, 198.51.100.20]
    attempts: 3
    delay: 5
  register: health

- name: Refuse an unhealthy standby
  ansible.builtin.assert:
    that: health.servers[1].healthy
    fail_msg: "standby unhealthy: {{ health.servers[1].reason }}"
"""

RETURN = r"""
healthy:
  description: Whether every server asked is healthy.
  returned: always
  type: bool
  sample: false
url:
  description: The URL asked.
  returned: always
  type: str
  sample: https://example.com/api/v1/health
servers:
  description: One entry per address, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    address:
      description: The address connected to (null when the URL's host was resolved as usual).
      type: str
    healthy:
      description: Whether an attempt got one of O(status_codes).
      type: bool
    status:
      description: HTTP status of the last answer (null when there was none).
      type: int
    reason:
      description: What happened on the last attempt, in words.
      type: str
    attempts:
      description: Attempts made.
      type: int
    elapsed:
      description: Seconds the last attempt took.
      type: float
    body:
      description: First 500 characters of the last answer's body.
      type: str
  sample:
    - {address: 198.51.100.10, healthy: false, status: 503, reason: "HTTP 503 in 0.020 s", attempts: 3,
       elapsed: 0.02, body: '{"status":"error"}'}
    - {address: 198.51.100.20, healthy: true, status: 200, reason: "HTTP 200 in 0.031 s", attempts: 1,
       elapsed: 0.031, body: '{"status":"ok"}'}
"""

import http.client
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a chosen address while TLS (SNI, hostname check) uses the URL's host name."""

    def __init__(self, address: str, port: int, server_hostname: str, context: ssl.SSLContext,
                 timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=context)
        self._pinned_context = context
        self._server_hostname = server_hostname

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._pinned_context.wrap_socket(sock, server_hostname=self._server_hostname)


def probe_once(p: dict[str, Any], address: str | None) -> dict[str, Any]:
    parts = urlsplit(p["url"])
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = address or host
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    started = time.monotonic()
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=p["ca_path"])
        if not p["validate_certs"]:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        conn = PinnedHTTPSConnection(target, port, host, context, p["timeout"])
    else:
        conn = http.client.HTTPConnection(target, port, timeout=p["timeout"])
    result: dict[str, Any] = {"status": None, "body": "", "healthy": False}
    try:
        conn.request("GET", path, headers={"Host": host_header, "User-Agent": "fleetpulse.dr health_probe",
                                           "Accept": "application/json"})
        response = conn.getresponse()
        body = response.read(4096).decode("utf-8", errors="replace")
        elapsed = time.monotonic() - started
        result.update(status=response.status, body=body[:500], healthy=response.status in p["status_codes"],
                      reason=f"HTTP {response.status} in {elapsed:.3f} s")
    except ssl.SSLCertVerificationError as exc:
        result["reason"] = f"TLS certificate not valid for {host}: {exc.verify_message}"
    except ssl.SSLError as exc:
        result["reason"] = f"TLS error: {exc}"
    except TimeoutError:
        result["reason"] = f"no answer within {p['timeout']:g} s"
    except ConnectionRefusedError:
        result["reason"] = f"connection refused on port {port}"
    except OSError as exc:
        result["reason"] = f"cannot connect: {exc}"
    except http.client.HTTPException as exc:
        result["reason"] = f"bad HTTP answer: {exc!r}"
    finally:
        conn.close()
    result["elapsed"] = round(time.monotonic() - started, 3)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "addresses": {"type": "list", "elements": "str", "default": []},
            "status_codes": {"type": "list", "elements": "int", "default": [200]},
            "timeout": {"type": "float", "default": 5},
            "attempts": {"type": "int", "default": 1},
            "delay": {"type": "float", "default": 2},
            "validate_certs": {"type": "bool", "default": True},
            "ca_path": {"type": "path"},
        },
        supports_check_mode=True,
    )
    p = module.params
    parts = urlsplit(p["url"])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        module.fail_json(msg=f"url must be an http:// or https:// URL with a host name, not '{p['url']}'")
    if p["attempts"] < 1:
        module.fail_json(msg="attempts must be at least 1")
    addresses: list[str | None] = list(p["addresses"]) or [None]
    with ThreadPoolExecutor(max_workers=min(len(addresses), 16)) as pool:
        servers = list(pool.map(lambda address: probe(p, address), addresses))
    module.exit_json(changed=False, url=p["url"], healthy=all(s["healthy"] for s in servers), servers=servers)


def probe(p: dict[str, Any], address: str | None) -> dict[str, Any]:
    """Up to ``attempts`` tries, stopping at the first healthy answer."""
    result: dict[str, Any] = {}
    attempt = 0
    for attempt in range(1, p["attempts"] + 1):
        result = probe_once(p, address)
        if result["healthy"]:
            break
        if attempt < p["attempts"]:
            time.sleep(p["delay"])
    return {"address": address, "attempts": attempt, **result}


if __name__ == "__main__":
    main()
