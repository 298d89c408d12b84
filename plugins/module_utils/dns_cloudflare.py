# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cloudflare through its v4 REST API with an API token (standard library only).

Cloudflare keeps one object per value, not RRsets: an RRset change creates the new
values first, then updates TTL/proxy flags, and deletes the old values last, so the
name never resolves to nothing in between. Proxied records ("orange cloud") always
have TTL 1 (automatic) there.

API subset used (and served by the test double in tests/world/servers/cloudflare_api.py):
GET /zones?name=, GET /zones/{id}, GET /zones/{id}/dns_records?type=&name=,
POST /zones/{id}/dns_records, PATCH and DELETE /zones/{id}/dns_records/{record id}.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode

from ansible.module_utils.urls import open_url

from ansible_collections.fleetpulse.dr.plugins.module_utils.dns_common import (
    DNSProvider,
    DNSProviderError,
    ProviderParams,
    RRSet,
    normalize_name,
    normalize_values,
)

AUTO_TTL = 1


class CloudflareProvider(DNSProvider):
    name = "cloudflare"

    def __init__(self, params: ProviderParams) -> None:
        super().__init__(params)
        self.api_url = str(params.get("api_url")).rstrip("/")
        self.token = params.get("api_token")
        self.zone_id: str | None = params.get("zone_id")
        self._records: dict[tuple[str, str], list[dict[str, Any]]] = {}

    # ------------------------------------------------------------------ transport
    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.api_url + path
        what = path.split("?", maxsplit=1)[0]
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        try:
            response = open_url(url, method=method, headers=headers, data=json.dumps(body) if body else None,
                                timeout=self.params.timeout, ca_path=self.params.get("ca_path"),
                                validate_certs=self.params.get("validate_certs", True), http_agent="fleetpulse.dr")
            payload = json.loads(response.read() or b"{}")
        except HTTPError as exc:
            payload = _json_or_empty(exc)
            errors = _errors(payload) or f"HTTP {exc.code} {exc.reason}"
            if exc.code in (400, 401, 403) and _is_auth_error(payload, exc.code):
                raise DNSProviderError(
                    f"Cloudflare rejected the API token ({errors}) on {method} {what}: check the token and that "
                    f"it has Zone:DNS:Edit permission on zone '{self.zone}'; nothing was changed") from exc
            raise DNSProviderError(f"Cloudflare API {method} {what} failed: {errors}") from exc
        except URLError as exc:
            raise DNSProviderError(f"cannot reach the Cloudflare API at {self.api_url}: {exc.reason}") from exc
        except (OSError, ValueError) as exc:
            raise DNSProviderError(f"Cloudflare API {method} {what} failed: {exc}") from exc
        if not payload.get("success", False):
            raise DNSProviderError(f"Cloudflare API {method} {what} failed: {_errors(payload)}")
        return payload

    def _zone(self) -> str:
        if not self.zone_id:
            self.check_access()
        return str(self.zone_id)

    # ------------------------------------------------------------------ provider API
    def check_access(self) -> None:
        if self.zone_id:
            zone = self._request("GET", f"/zones/{self.zone_id}")["result"]
            if normalize_name(zone.get("name", "")) != self.zone:
                raise DNSProviderError(f"Cloudflare zone {self.zone_id} is '{zone.get('name')}', not "
                                       f"'{self.zone}': fix zone_id or zone")
            return
        zones = self._request("GET", "/zones?" + urlencode({"name": self.zone}))["result"]
        matches = [z for z in zones if normalize_name(z.get("name", "")) == self.zone]
        if not matches:
            raise DNSProviderError(f"no Cloudflare zone named '{self.zone}' is visible to this API token: "
                                   "check the zone name and the token's zone resources")
        if len(matches) > 1:
            raise DNSProviderError(f"several Cloudflare zones are named '{self.zone}': give zone_id")
        self.zone_id = matches[0]["id"]

    def _list(self, fqdn: str, rtype: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        page = 1
        while True:
            query = urlencode({"type": rtype, "name": fqdn, "per_page": 100, "page": page})
            payload = self._request("GET", f"/zones/{self._zone()}/dns_records?{query}")
            records += [r for r in payload["result"]
                        if normalize_name(r.get("name", "")) == fqdn and r.get("type") == rtype]
            info = payload.get("result_info") or {}
            if page >= int(info.get("total_pages") or 1):
                break
            page += 1
        self._records[(fqdn, rtype)] = records
        return records

    def read(self, fqdn: str, rtype: str) -> RRSet | None:
        records = self._list(fqdn, rtype)
        if not records:
            return None
        values = normalize_values(rtype, [r["content"] for r in records])
        ttls = {int(r.get("ttl", AUTO_TTL)) for r in records}
        proxies = {bool(r.get("proxied", False)) for r in records}
        # Records of one name and type that disagree on TTL or proxying are reported as mixed,
        # which never equals a wanted state, so the next write makes them uniform.
        return RRSet(values=values, ttl=int(records[0].get("ttl", AUTO_TTL)),
                     proxied=bool(records[0].get("proxied", False)), mixed=len(ttls) > 1 or len(proxies) > 1)

    def effective(self, rrset: RRSet | None) -> RRSet | None:
        if rrset is None:
            return None
        proxied = bool(rrset.proxied)
        return RRSet(values=rrset.values, ttl=AUTO_TTL if proxied else rrset.ttl, proxied=proxied)

    def write(self, fqdn: str, rtype: str, before: RRSet | None, after: RRSet | None) -> None:
        existing = self._records.get((fqdn, rtype))
        if existing is None:
            existing = self._list(fqdn, rtype)
        base = f"/zones/{self._zone()}/dns_records"
        wanted = set(after.values) if after else set()
        by_value = {normalize_values(rtype, [r["content"]])[0]: r for r in existing}
        if after is not None:
            for value in after.values:
                record = by_value.get(value)
                body = {"ttl": after.ttl, "proxied": bool(after.proxied)}
                if record is None:
                    self._request("POST", base, {"type": rtype, "name": fqdn, "content": value, **body})
                elif (int(record.get("ttl", AUTO_TTL)), bool(record.get("proxied"))) != (after.ttl, body["proxied"]):
                    self._request("PATCH", f"{base}/{record['id']}", body)
        for value, record in by_value.items():
            if value not in wanted:
                self._request("DELETE", f"{base}/{record['id']}")
        self._records.pop((fqdn, rtype), None)


def _json_or_empty(exc: HTTPError) -> dict[str, Any]:
    try:
        data = json.loads(exc.read() or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _errors(payload: dict[str, Any]) -> str:
    errors = payload.get("errors") or []
    return "; ".join(f"code {e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict))


def _is_auth_error(payload: dict[str, Any], status: int) -> bool:
    # 10000 Authentication error, 9109 Invalid access token, 6003/6111 invalid Authorization header.
    codes = {e.get("code") for e in payload.get("errors") or [] if isinstance(e, dict)}
    return status in (401, 403) or bool(codes & {10000, 9109, 9106, 6003, 6111})
