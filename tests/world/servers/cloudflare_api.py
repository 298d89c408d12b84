# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TEST DOUBLE of the Cloudflare v4 API: the subset fleetpulse.dr's cloudflare provider uses.

Cloudflare cannot run here, so this is the one stand-in of the test world (the README
says so). It follows the public API documentation for what it serves:

    GET    /client/v4/zones?name=&page=&per_page=
    POST   /client/v4/zones                              {"name": ...}      (test setup)
    GET    /client/v4/zones/{zone_id}
    GET    /client/v4/zones/{zone_id}/dns_records?type=&name=&page=&per_page=
    POST   /client/v4/zones/{zone_id}/dns_records        {"type", "name", "content", "ttl", "proxied"}
    GET    /client/v4/zones/{zone_id}/dns_records/{id}
    PATCH  /client/v4/zones/{zone_id}/dns_records/{id}   (partial)
    PUT    /client/v4/zones/{zone_id}/dns_records/{id}   (whole record)
    DELETE /client/v4/zones/{zone_id}/dns_records/{id}

Every request needs ``Authorization: Bearer <token>`` with a token from the config file
(missing header: HTTP 400 code 9106; unknown token: HTTP 403 code 10000 "Authentication
error"; a "read" token gets 403 code 10000 on writes). Envelopes are Cloudflare's
({"success", "errors", "messages", "result", "result_info"}); validation errors use its
codes (9005 bad content, 9021 bad TTL, 81058 identical record exists). Proxied records
are stored with TTL 1 (automatic), as Cloudflare does. State is in memory.

    cloudflare_api.py CONFIG_JSON CERT KEY      # serves HTTPS on port 443

CONFIG_JSON: {"tokens": {"<token>": "edit" | "read"}}.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import sys
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "/client/v4"
LOCK = threading.Lock()
ZONES: dict[str, dict[str, Any]] = {}
RECORDS: dict[str, dict[str, dict[str, Any]]] = {}  # zone id -> record id -> record
TOKENS: dict[str, str] = {}


class APIError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _page(items: list[dict[str, Any]], query: dict[str, list[str]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    page = max(int(query.get("page", ["1"])[0]), 1)
    per_page = min(max(int(query.get("per_page", ["100"])[0]), 5), 5000)
    chunk = items[(page - 1) * per_page: page * per_page]
    total_pages = max((len(items) + per_page - 1) // per_page, 1)
    return chunk, {"page": page, "per_page": per_page, "count": len(chunk), "total_count": len(items),
                   "total_pages": total_pages}


def _validate_record(zone: dict[str, Any], record: dict[str, Any]) -> None:
    rtype, content, name = record.get("type"), str(record.get("content", "")), str(record.get("name", ""))
    if rtype not in ("A", "AAAA"):
        raise APIError(400, 1004, f"DNS Validation Error: type {rtype} is not served by this test double")
    try:
        address = ipaddress.ip_address(content)
    except ValueError:
        address = None
    if address is None or (rtype == "A") != (address.version == 4):
        family = "IPv4" if rtype == "A" else "IPv6"
        raise APIError(400, 9005, f"Content for {rtype} record must be a valid {family} address.")
    if name != zone["name"] and not name.endswith("." + zone["name"]):
        raise APIError(400, 1004, f"DNS Validation Error: {name} is not in zone {zone['name']}")
    ttl = record.get("ttl", 1)
    if not isinstance(ttl, int) or not (ttl == 1 or 60 <= ttl <= 86400):
        raise APIError(400, 9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.")


def _normalise(zone: dict[str, Any], body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    record = dict(existing or {})
    record.update({k: body[k] for k in ("type", "name", "content", "ttl", "proxied") if k in body})
    name = str(record.get("name", "")).rstrip(".").lower()
    if name in ("@", ""):
        name = zone["name"]
    elif name != zone["name"] and not name.endswith("." + zone["name"]):
        name = f"{name}.{zone['name']}"  # Cloudflare accepts names relative to the zone
    record["name"] = name
    record.setdefault("ttl", 1)
    record["proxied"] = bool(record.get("proxied", False))
    _validate_record(zone, record)
    if record["proxied"]:
        record["ttl"] = 1
    if record["type"] == "AAAA":
        record["content"] = ipaddress.IPv6Address(record["content"]).compressed
    return record


def _identical(zone_id: str, record: dict[str, Any]) -> bool:
    return any(r["type"] == record["type"] and r["name"] == record["name"] and r["content"] == record["content"]
               and r["id"] != record.get("id") for r in RECORDS[zone_id].values())


class Handler(BaseHTTPRequestHandler):
    server_version = "cloudflare-api-test-double"

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _auth(self, write: bool) -> None:
        header = self.headers.get("Authorization", "")
        if not header:
            raise APIError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
        scheme, _sep, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            raise APIError(400, 6003, "Invalid request headers")
        scope = TOKENS.get(token)
        if scope is None or (write and scope != "edit"):
            raise APIError(403, 10000, "Authentication error")

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as exc:
            raise APIError(400, 6007, "Malformed JSON in request body") from exc
        if not isinstance(data, dict):
            raise APIError(400, 6007, "Malformed JSON in request body")
        return data

    def _handle(self, method: str) -> None:
        try:
            self._auth(write=method != "GET")
            parts = urlsplit(self.path)
            if not parts.path.startswith(PREFIX):
                raise APIError(404, 7000, "No route for that URI")
            segments = [s for s in parts.path[len(PREFIX):].split("/") if s]
            query = parse_qs(parts.query)
            with LOCK:
                status, payload = self._route(method, segments, query)
            self._reply(status, {"success": True, "errors": [], "messages": [], **payload})
        except APIError as exc:
            self._reply(exc.status, {"success": False, "errors": [{"code": exc.code, "message": exc.message}],
                                     "messages": [], "result": None})

    def _route(self, method: str, seg: list[str], query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if seg == ["zones"] and method == "GET":
            zones = [z for z in ZONES.values() if "name" not in query or z["name"] == query["name"][0].lower()]
            result, info = _page(zones, query)
            return 200, {"result": result, "result_info": info}
        if seg == ["zones"] and method == "POST":
            name = str(self._body().get("name", "")).rstrip(".").lower()
            if not name or any(z["name"] == name for z in ZONES.values()):
                raise APIError(400, 1061, f"{name} already exists" if name else "Invalid zone name")
            zone = {"id": uuid.uuid4().hex, "name": name, "status": "active", "paused": False, "type": "full",
                    "name_servers": ["ns1.test-double.invalid", "ns2.test-double.invalid"], "created_on": _now()}
            ZONES[zone["id"]] = zone
            RECORDS[zone["id"]] = {}
            return 200, {"result": zone}
        if not seg or seg[0] != "zones" or len(seg) < 2:
            raise APIError(404, 7000, "No route for that URI")
        zone = ZONES.get(seg[1])
        if zone is None:
            raise APIError(404, 7003, "Could not route to /zones/" + seg[1] + ", perhaps your object identifier is "
                                      "invalid?")
        if len(seg) == 2 and method == "GET":
            return 200, {"result": zone}
        if len(seg) >= 3 and seg[2] == "dns_records":
            return self._records(method, zone, seg[3] if len(seg) > 3 else None, query)
        raise APIError(404, 7000, "No route for that URI")

    def _records(self, method: str, zone: dict[str, Any], record_id: str | None,
                 query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        store = RECORDS[zone["id"]]
        if record_id is None and method == "GET":
            found = [r for r in store.values()
                     if ("type" not in query or r["type"] == query["type"][0])
                     and ("name" not in query or r["name"] == query["name"][0].rstrip(".").lower())]
            found.sort(key=lambda r: (r["type"], r["name"], r["content"]))
            result, info = _page(found, query)
            return 200, {"result": result, "result_info": info}
        if record_id is None and method == "POST":
            record = _normalise(zone, self._body(), None)
            if _identical(zone["id"], record):
                raise APIError(400, 81058, "An identical record already exists.")
            now = _now()
            record.update({"id": uuid.uuid4().hex, "zone_id": zone["id"], "zone_name": zone["name"],
                           "proxiable": True, "created_on": now, "modified_on": now, "meta": {}, "comment": None,
                           "tags": []})
            store[record["id"]] = record
            return 200, {"result": record}
        if record_id is None or record_id not in store:
            raise APIError(404, 81044, "Record does not exist.")
        if method == "GET":
            return 200, {"result": store[record_id]}
        if method in ("PATCH", "PUT"):
            body = self._body()
            base = store[record_id] if method == "PATCH" else {"id": record_id}
            record = _normalise(zone, body, base)
            if _identical(zone["id"], record):
                raise APIError(400, 81058, "An identical record already exists.")
            kept = ("id", "zone_id", "zone_name", "created_on", "proxiable", "meta", "comment", "tags")
            record.update({k: store[record_id][k] for k in kept})
            record["modified_on"] = _now()
            store[record_id] = record
            return 200, {"result": record}
        if method == "DELETE":
            del store[record_id]
            return 200, {"result": {"id": record_id}}
        raise APIError(405, 10405, f"Method {method} not allowed")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, format: str, *args: object) -> None:
        # Never log the Authorization header; the request line has no secret.
        sys.stderr.write(f"cloudflare-api: {format % args}\n")


def main() -> None:
    config, cert, key = sys.argv[1:4]
    with open(config, encoding="utf-8") as handle:
        TOKENS.update(json.load(handle)["tokens"])
    server = ThreadingHTTPServer(("0.0.0.0", 443), Handler)  # noqa: S104 - inside its container
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
