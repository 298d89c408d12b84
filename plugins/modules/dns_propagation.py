#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_propagation
short_description: Wait until every authoritative nameserver of a zone answers the expected addresses
version_added: 0.1.0
description:
  - Finds the zone's authoritative nameservers (its NS set, or the ones given), then asks each of
    them directly (non-recursive, every address of every nameserver) for the record until all
    answer exactly the expected addresses (and TTL, when given), or the timeout passes.
  - Reports how long each nameserver took and the total propagation time. Fails on timeout with
    the nameservers that still answer something else, and what they answer.
  - This is what a DNS change has to reach before resolvers can see it; resolvers that cached the
    old answer keep it until its TTL runs out.
author:
  - FleetPulse Platform Engineering (@fleetpulse)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  record:
    description:
      - Full name of the record (V(example.com), V(www.example.com)).
    type: str
    required: true
  type:
    description:
      - Record type.
    type: str
    choices: [A, AAAA]
    default: A
  values:
    description:
      - The addresses every nameserver must answer, in any order. An empty list means the name
        must have no record of O(type) (NXDOMAIN or no data).
    type: list
    elements: str
    required: true
  ttl:
    description:
      - When given, the answers must also carry this TTL (authoritative servers answer the configured TTL).
    type: int
  zone:
    description:
      - The zone whose NS set is checked. Left out, it is found from O(record) by SOA lookups.
    type: str
  nameservers:
    description:
      - Check these nameservers (names or addresses) instead of the zone's NS set.
    type: list
    elements: str
    default: []
  resolvers:
    description:
      - Addresses of the DNS servers used to look up the zone, its NS set and the nameservers'
        addresses. Left out, the system resolver (C(/etc/resolv.conf)) is used.
    type: list
    elements: str
    default: []
  port:
    description:
      - UDP/TCP port for all queries (nameservers and resolvers).
    type: int
    default: 53
  ipv6:
    description:
      - Also query the nameservers' IPv6 addresses (needs IPv6 connectivity from here).
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait in total for all nameservers to agree.
    type: int
    default: 300
  interval:
    description:
      - Seconds between rounds of queries to the nameservers that do not agree yet.
    type: float
    default: 2
  query_timeout:
    description:
      - Seconds to wait for one answer from one nameserver.
    type: float
    default: 3
  fail_on_timeout:
    description:
      - Fail when the timeout passes before all nameservers agree. With V(false), return
        C(propagated=false) instead.
    type: bool
    default: true
attributes:
  platform:
    platforms: posix
  check_mode:
    support: full
    details:
      - This module only queries DNS servers.
  diff_mode:
    support: none
requirements:
  - dnspython
seealso:
  - module: fleetpulse.dr.dns_record
"""

EXAMPLES = r"""
- name: Wait until every authoritative server of example.com answers the standby address
  fleetpulse.dr.dns_propagation:
    record: example.com
    type: A
    values: [198.51.100.20]
    timeout: 300
  register: propagation

- name: Report
  ansible.builtin.debug:
    msg: "propagated to {{ propagation.nameservers | length }} nameservers in {{ propagation.elapsed }} s"

- name: Wait until no nameserver answers an AAAA record any more
  fleetpulse.dr.dns_propagation:
    record: example.com
    type: AAAA
    values: []
"""

RETURN = r"""
propagated:
  description: Whether every nameserver answered the expected data before the timeout.
  returned: always
  type: bool
  sample: true
elapsed:
  description: Seconds from the start until all agreed (or until the timeout).
  returned: always
  type: float
  sample: 1.42
zone:
  description: The zone whose nameservers were checked.
  returned: always
  type: str
  sample: example.com
expected:
  description: The addresses expected, normalised and sorted.
  returned: always
  type: list
  elements: str
  sample: [198.51.100.20]
nameservers:
  description: One entry per nameserver address.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The nameserver's name (or the address, when given as one).
      type: str
    address:
      description: The address queried.
      type: str
    ok:
      description: Whether its last answer was the expected data.
      type: bool
    answer:
      description: Its last answer, e.g. C(198.51.100.20 ttl 60), C(NXDOMAIN), C(no data), C(timeout).
      type: str
    seconds:
      description: Seconds after the start when it first answered the expected data (null if never).
      type: float
  sample:
    - {name: ns1.example.com, address: 192.0.2.53, ok: true, answer: "198.51.100.20 ttl 60", seconds: 0.01}
pending:
  description: Nameservers (C(name address)) that did not agree before the timeout.
  returned: always
  type: list
  elements: str
  sample: []
"""

import ipaddress
import time
import traceback
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fleetpulse.dr.plugins.module_utils.dns_common import (
    DNSProviderError,
    normalize_name,
    normalize_values,
)

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdatatype
    import dns.resolver
except ImportError:
    HAS_DNSPYTHON = False
    DNSPYTHON_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_DNSPYTHON = True
    DNSPYTHON_IMPORT_ERROR = None


class Checker:
    def __init__(self, module: AnsibleModule) -> None:
        p = module.params
        self.module = module
        self.record = normalize_name(p["record"])
        self.rtype = p["type"]
        self.port = p["port"]
        self.query_timeout = p["query_timeout"]
        self.ttl = p["ttl"]
        self.resolver = dns.resolver.Resolver(configure=not p["resolvers"])
        if p["resolvers"]:
            self.resolver.nameservers = p["resolvers"]
        self.resolver.port = self.port
        self.resolver.lifetime = max(self.query_timeout * 2, 5)

    def addresses(self, host: str, ipv6: bool) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        found: list[str] = []
        for rtype in ("A", "AAAA") if ipv6 else ("A",):
            try:
                found += [rr.to_text() for rr in self.resolver.resolve(host, rtype)]
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            except dns.exception.DNSException as exc:
                raise DNSProviderError(f"cannot look up the address of nameserver {host}: {exc}") from exc
        if not found:
            raise DNSProviderError(f"nameserver {host} has no address; fix its A record or give nameservers")
        return found

    def zone_nameservers(self, zone: str) -> list[str]:
        try:
            return sorted(normalize_name(rr.target.to_text()) for rr in self.resolver.resolve(zone, "NS"))
        except dns.exception.DNSException as exc:
            raise DNSProviderError(f"cannot look up the NS set of zone {zone}: {exc}; "
                                   "give resolvers that can answer for it, or nameservers") from exc

    def find_zone(self) -> str:
        try:
            return normalize_name(dns.resolver.zone_for_name(self.record, resolver=self.resolver).to_text())
        except dns.exception.DNSException as exc:
            raise DNSProviderError(f"cannot find the zone of {self.record}: {exc}; give zone") from exc

    def ask(self, address: str) -> tuple[tuple[str, ...] | None, int | None, str]:
        """Values and TTL the nameserver answers (None on no usable answer), and a description."""
        query = dns.message.make_query(self.record, self.rtype)
        query.flags &= ~dns.flags.RD
        try:
            response = dns.query.udp(query, address, port=self.port, timeout=self.query_timeout)
            if response.flags & dns.flags.TC:
                response = dns.query.tcp(query, address, port=self.port, timeout=self.query_timeout)
        except dns.exception.Timeout:
            return None, None, f"no answer within {self.query_timeout:g}s"
        except (OSError, dns.exception.DNSException) as exc:
            return None, None, f"error: {exc}"
        return self.read_answer(response)

    def read_answer(self, response) -> tuple[tuple[str, ...] | None, int | None, str]:
        rcode = dns.rcode.to_text(response.rcode())
        if not response.flags & dns.flags.AA:
            return None, None, f"{rcode} without the authoritative flag (lame: the server does not serve the zone)"
        if rcode not in ("NOERROR", "NXDOMAIN"):
            return None, None, rcode
        name, wanted = dns.name.from_text(self.record), dns.rdatatype.from_text(self.rtype)
        for rrset in response.answer:
            if rrset.name == name and rrset.rdtype == wanted:
                values = normalize_values(self.rtype, [rr.to_text() for rr in rrset])
                return values, int(rrset.ttl), f"{' '.join(values)} ttl {rrset.ttl}"
        return (), None, "NXDOMAIN" if rcode == "NXDOMAIN" else "no data"


def run(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    started = time.monotonic()
    expected = normalize_values(p["type"], p["values"])
    checker = Checker(module)
    zone = normalize_name(p["zone"]) if p["zone"] else checker.find_zone()
    names = p["nameservers"] or checker.zone_nameservers(zone)
    targets = [{"name": normalize_name(ns), "address": addr, "ok": False, "answer": "not asked yet", "seconds": None}
               for ns in names for addr in checker.addresses(ns, p["ipv6"])]
    deadline = started + p["timeout"]
    while True:
        for target in (t for t in targets if not t["ok"]):
            values, ttl, answer = checker.ask(target["address"])
            target["answer"] = answer
            if values == expected and (p["ttl"] is None or ttl == p["ttl"] or not expected):
                target["ok"] = True
                target["seconds"] = round(time.monotonic() - started, 3)
        pending = [t for t in targets if not t["ok"]]
        if not pending or time.monotonic() + p["interval"] > deadline:
            break
        time.sleep(p["interval"])
    return {
        "changed": False,
        "propagated": not pending,
        "elapsed": round(time.monotonic() - started, 3),
        "zone": zone,
        "expected": list(expected),
        "nameservers": targets,
        "pending": [f"{t['name']} {t['address']}" for t in pending],
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "record": {"type": "str", "required": True},
            "type": {"type": "str", "default": "A", "choices": ["A", "AAAA"]},
            "values": {"type": "list", "elements": "str", "required": True},
            "ttl": {"type": "int"},
            "zone": {"type": "str"},
            "nameservers": {"type": "list", "elements": "str", "default": []},
            "resolvers": {"type": "list", "elements": "str", "default": []},
            "port": {"type": "int", "default": 53},
            "ipv6": {"type": "bool", "default": False},
            "timeout": {"type": "int", "default": 300},
            "interval": {"type": "float", "default": 2},
            "query_timeout": {"type": "float", "default": 3},
            "fail_on_timeout": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    if not HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib("dnspython"), exception=DNSPYTHON_IMPORT_ERROR)
    try:
        result = run(module)
    except DNSProviderError as exc:
        module.fail_json(msg=str(exc))
    if not result["propagated"] and module.params["fail_on_timeout"]:
        stale = "; ".join(f"{t['name']} ({t['address']}) answers {t['answer']}"
                          for t in result["nameservers"] if not t["ok"])
        want = " ".join(result["expected"]) or "no record"
        module.fail_json(msg=f"after {result['elapsed']:g}s, {len(result['pending'])} of {len(result['nameservers'])} "
                             f"authoritative nameservers of {result['zone']} do not answer {want} for "
                             f"{module.params['record']} {module.params['type']}: {stale}. The change is made at the "
                             "provider; check that these servers receive it (zone transfer, NOTIFY) "
                             "or raise the timeout", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
