"""Unit tests of the DNS record model shared by the three providers (no servers needed)."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.fleetpulse.dr.plugins.module_utils.dns_cloudflare import (
    CloudflareProvider,
)
from ansible_collections.fleetpulse.dr.plugins.module_utils.dns_common import (
    DNSProviderError,
    ProviderParams,
    RRSet,
    desired_rrset,
    format_rrset,
    normalize_values,
    record_fqdn,
    rrset_dict,
)


@pytest.mark.parametrize(("record", "expected"), [
    ("@", "example.com"),
    ("example.com", "example.com"),
    ("Example.COM.", "example.com"),
    ("www", "www.example.com"),
    ("www.example.com", "www.example.com"),
    ("a.b", "a.b.example.com"),
])
def test_record_names_resolve_inside_the_zone(record, expected):
    assert record_fqdn(record, "example.com.") == expected


def test_absolute_name_outside_the_zone_is_refused():
    with pytest.raises(DNSProviderError, match=r"not inside zone 'example\.com'"):
        record_fqdn("www.example.org.", "example.com")


def test_values_are_validated_normalised_sorted_and_deduplicated():
    assert normalize_values("A", ["10.0.0.2", " 10.0.0.10", "10.0.0.2"]) == ("10.0.0.2", "10.0.0.10")
    assert normalize_values("AAAA", ["2001:DB8:0:0::1"]) == ("2001:db8::1",)
    with pytest.raises(DNSProviderError, match="'2001:db8::1' is not an IPv4 address"):
        normalize_values("A", ["2001:db8::1"])
    with pytest.raises(DNSProviderError, match="not an IPv6 address"):
        normalize_values("AAAA", ["192.0.2.1"])


def test_desired_rrset_keeps_what_is_not_given():
    before = RRSet(values=("192.0.2.1",), ttl=3600)
    # TTL only (prepare): addresses kept.
    assert desired_rrset("A", before, values=None, ttl=60, proxied=None, state="present",
                         default_ttl=300) == RRSet(values=("192.0.2.1",), ttl=60)
    # Addresses only: TTL kept.
    assert desired_rrset("A", before, values=["192.0.2.2"], ttl=None, proxied=None, state="present",
                         default_ttl=300) == RRSet(values=("192.0.2.2",), ttl=3600)
    # New record without TTL: the default.
    assert desired_rrset("A", None, values=["192.0.2.2"], ttl=None, proxied=None, state="present",
                         default_ttl=300).ttl == 300
    assert desired_rrset("A", before, values=None, ttl=None, proxied=None, state="absent", default_ttl=300) is None


def test_desired_rrset_refuses_impossible_requests():
    with pytest.raises(DNSProviderError, match="does not exist; give values"):
        desired_rrset("A", None, values=None, ttl=60, proxied=None, state="present", default_ttl=300)
    with pytest.raises(DNSProviderError, match="use state=absent"):
        desired_rrset("A", None, values=[], ttl=60, proxied=None, state="present", default_ttl=300)


def test_diff_lines_are_zone_file_lines():
    rrset = RRSet(values=("192.0.2.1", "192.0.2.2"), ttl=60)
    assert format_rrset("example.com", "A", rrset) == ("example.com. 60 IN A 192.0.2.1\n"
                                                       "example.com. 60 IN A 192.0.2.2\n")
    assert format_rrset("example.com", "A", None) == ""
    assert rrset_dict(None) == {"exists": False, "values": [], "ttl": None}


class RecordingCloudflare(CloudflareProvider):
    """Cloudflare provider whose HTTP requests are recorded instead of sent (ordering only)."""

    def __init__(self, existing: list[dict[str, Any]]) -> None:
        options = {"api_url": "https://api.invalid", "zone_id": "z1", "api_token": "t"}
        super().__init__(ProviderParams(zone="example.com", options=options))
        self.calls: list[tuple[str, str, dict | None]] = []
        self._records[("example.com", "A")] = existing

    def _request(self, method, path, body=None):
        self.calls.append((method, path, body))
        return {"success": True, "result": {}}


def test_cloudflare_creates_new_addresses_before_deleting_old_ones():
    provider = RecordingCloudflare([{"id": "old", "content": "192.0.2.1", "ttl": 300, "proxied": False}])
    provider.write("example.com", "A", RRSet(("192.0.2.1",), 300, False), RRSet(("192.0.2.2",), 60, False))
    assert [(method, path) for method, path, _body in provider.calls] == [
        ("POST", "/zones/z1/dns_records"), ("DELETE", "/zones/z1/dns_records/old")]
    assert provider.calls[0][2] == {"type": "A", "name": "example.com", "content": "192.0.2.2", "ttl": 60,
                                    "proxied": False}


def test_cloudflare_only_patches_a_kept_address_whose_ttl_changes():
    provider = RecordingCloudflare([{"id": "keep", "content": "192.0.2.1", "ttl": 300, "proxied": False}])
    provider.write("example.com", "A", RRSet(("192.0.2.1",), 300, False), RRSet(("192.0.2.1",), 60, False))
    assert provider.calls == [("PATCH", "/zones/z1/dns_records/keep", {"ttl": 60, "proxied": False})]


def test_cloudflare_proxied_records_are_stored_with_automatic_ttl():
    provider = RecordingCloudflare([])
    assert provider.effective(RRSet(("192.0.2.1",), 60, True)) == RRSet(("192.0.2.1",), 1, True)
    assert provider.effective(RRSet(("192.0.2.1",), 60, None)) == RRSet(("192.0.2.1",), 60, False)
