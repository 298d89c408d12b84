# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every DNS provider of fleetpulse.dr shares: the record model and the options.

A provider (RFC 2136, Route53, Cloudflare) only knows how to read and write one
RRset (all records of one name and type). Everything else -- names, value
normalisation, comparing, diffs, error wording -- lives here, so the three behave
the same and the modules never need to know which one they talk to.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

PROVIDERS = ("rfc2136", "route53", "cloudflare")
RECORD_TYPES = ("A", "AAAA")
TSIG_ALGORITHMS = ("hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512")

# Connection options of every provider; documented in the fleetpulse.dr.dns_provider doc fragment.
PROVIDER_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "provider": {"type": "str", "required": True, "choices": list(PROVIDERS)},
    "zone": {"type": "str", "required": True},
    "timeout": {"type": "int", "default": 10},
    # rfc2136
    "server": {"type": "str"},
    "port": {"type": "int", "default": 53},
    "key_name": {"type": "str"},
    "key_secret": {"type": "str", "no_log": True},
    "key_algorithm": {"type": "str", "default": "hmac-sha256", "choices": list(TSIG_ALGORITHMS)},
    # route53
    "aws_access_key_id": {"type": "str"},
    "aws_secret_access_key": {"type": "str", "no_log": True},
    "aws_session_token": {"type": "str", "no_log": True},
    "aws_region": {"type": "str", "default": "us-east-1"},
    "aws_endpoint_url": {"type": "str"},
    "hosted_zone_id": {"type": "str"},
    # cloudflare
    "api_token": {"type": "str", "no_log": True},
    "api_url": {"type": "str", "default": "https://api.cloudflare.com/client/v4"},
    "zone_id": {"type": "str"},
    # HTTPS APIs (route53, cloudflare)
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
}

PROVIDER_REQUIRED_IF = [
    ("provider", "rfc2136", ["server"]),
    ("provider", "cloudflare", ["api_token"]),
]
PROVIDER_REQUIRED_TOGETHER = [
    ["key_name", "key_secret"],
    ["aws_access_key_id", "aws_secret_access_key"],
]


class DNSProviderError(Exception):
    """A provider refused or failed; the message names the problem and the fix."""


class MissingLibraryError(DNSProviderError):
    """A Python library the provider needs is not installed on the controller."""

    def __init__(self, library: str, error: str | None) -> None:
        super().__init__(library)
        self.library = library
        self.error = error


@dataclass(frozen=True)
class RRSet:
    """All records of one name and type: sorted, normalised values and one TTL.

    ``proxied`` is Cloudflare's orange cloud (None where the provider has no such thing);
    ``mixed`` marks Cloudflare records of one name and type whose TTLs or proxy flags differ.
    """

    values: tuple[str, ...]
    ttl: int
    proxied: bool | None = None
    mixed: bool = False

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"exists": True, "values": list(self.values), "ttl": self.ttl}
        if self.proxied is not None:
            data["proxied"] = self.proxied
        if self.mixed:
            data["mixed"] = True
        return data


ABSENT: dict[str, Any] = {"exists": False, "values": [], "ttl": None}


def rrset_dict(rrset: RRSet | None) -> dict[str, Any]:
    return rrset.as_dict() if rrset else dict(ABSENT)


def normalize_name(name: str) -> str:
    """Lower case, no trailing dot: ``WWW.Example.COM.`` -> ``www.example.com``."""
    return name.strip().rstrip(".").lower()


def record_fqdn(record: str, zone: str) -> str:
    """The record's full name: ``@``, the zone, a name inside it, or a label relative to it.

    Raises DNSProviderError when the name is outside the zone.
    """
    zone = normalize_name(zone)
    name = normalize_name(record)
    if name in ("@", ""):
        return zone
    absolute = record.strip().endswith(".") or name == zone or name.endswith("." + zone)
    fqdn = name if absolute else f"{name}.{zone}"
    if fqdn != zone and not fqdn.endswith("." + zone):
        raise DNSProviderError(f"record '{record}' is not inside zone '{zone}': give a name in the zone")
    return fqdn


def normalize_values(rtype: str, values: list[str]) -> tuple[str, ...]:
    """Validate addresses and put them in canonical form, sorted, without duplicates."""
    out = set()
    for value in values:
        text = str(value).strip()
        try:
            if rtype == "A":
                out.add(str(ipaddress.IPv4Address(text)))
            elif rtype == "AAAA":
                out.add(ipaddress.IPv6Address(text).compressed)
            else:
                raise DNSProviderError(f"record type {rtype} is not supported (only {', '.join(RECORD_TYPES)})")
        except ValueError as exc:
            family = "IPv4" if rtype == "A" else "IPv6"
            raise DNSProviderError(
                f"'{text}' is not an {family} address, so it cannot be a value of a {rtype} record") from exc
    return tuple(sorted(out, key=ipaddress.ip_address))


def format_rrset(fqdn: str, rtype: str, rrset: RRSet | None) -> str:
    """Zone-file lines for a diff, e.g. ``fleetpulse.test. 60 IN A 192.0.2.10``."""
    if not rrset:
        return ""
    suffix = "" if rrset.proxied is None else f"  ; proxied={str(rrset.proxied).lower()}"
    return "".join(f"{fqdn}. {rrset.ttl} IN {rtype} {value}{suffix}\n" for value in rrset.values)


@dataclass
class ProviderParams:
    """The connection options a module received (see PROVIDER_ARGUMENT_SPEC)."""

    zone: str
    timeout: int = 10
    options: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        value = self.options.get(name)
        return default if value is None else value


class DNSProvider:
    """Reads and writes one RRset at a time. Subclasses implement the three methods."""

    name = "base"

    def __init__(self, params: ProviderParams) -> None:
        self.params = params
        self.zone = normalize_name(params.zone)

    def check_access(self) -> None:
        """Prove the zone exists and the credentials are accepted, before anything changes."""
        raise NotImplementedError

    def read(self, fqdn: str, rtype: str) -> RRSet | None:
        raise NotImplementedError

    def write(self, fqdn: str, rtype: str, before: RRSet | None, after: RRSet | None) -> None:
        """Make the RRset ``after`` (None: delete it), given that it is ``before`` now."""
        raise NotImplementedError

    def effective(self, rrset: RRSet | None) -> RRSet | None:
        """The RRset as the provider will store it (Cloudflare forces TTL 1 on proxied records)."""
        return rrset


def desired_rrset(rtype: str, before: RRSet | None, *, values: list[str] | None, ttl: int | None,
                  proxied: bool | None, state: str, default_ttl: int) -> RRSet | None:
    """What the RRset must become. Values or TTL left out keep what the record has now."""
    if state == "absent":
        return None
    if values is None:
        if before is None:
            raise DNSProviderError("the record does not exist; give values to create it")
        wanted_values = before.values
    else:
        wanted_values = normalize_values(rtype, values)
        if not wanted_values:
            raise DNSProviderError("values is empty; use state=absent to delete the record")
    if ttl is None:
        ttl = before.ttl if before else default_ttl
    if proxied is None and before is not None:
        proxied = before.proxied
    return RRSet(values=wanted_values, ttl=ttl, proxied=proxied)


def provider_params(module_params: dict[str, Any]) -> ProviderParams:
    options = {k: module_params.get(k) for k in PROVIDER_ARGUMENT_SPEC if k not in ("zone", "timeout")}
    return ProviderParams(zone=module_params["zone"], timeout=module_params["timeout"], options=options)
