#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_record
short_description: Set or remove an A or AAAA record set, the same way on RFC 2136, Route53 and Cloudflare
version_added: 0.1.0
description:
  - Makes all records of one name and type (an RRset) hold exactly the given addresses and TTL,
    or removes them, through one of three providers chosen by O(provider).
  - Reads the record first and changes nothing when it is already right (C(changed=false)).
    In check mode it reports the planned change, with a diff in zone-file form under C(--diff).
  - The credentials are proven before any change; a wrong TSIG key or API token fails with a
    message naming it.
  - V(rfc2136) updates carry a prerequisite that the record is still what was read, so a
    concurrent change is refused by the server instead of being overwritten.
author:
  - FleetPulse Platform Engineering (@fleetpulse)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - fleetpulse.dr.dns_provider
options:
  record:
    description:
      - The name, inside O(zone). V(@) or the zone itself for the apex, a label relative to the
        zone (V(www)), or a full name (V(www.example.com)).
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
      - The addresses the record set must hold (order and duplicates do not matter).
      - Left out with O(state=present), the current addresses are kept and only O(ttl) (or O(proxied)) changes;
        the record must exist then.
    type: list
    elements: str
  ttl:
    description:
      - TTL in seconds. Left out, an existing record keeps its TTL and a new one gets 300.
      - V(cloudflare) stores proxied records with TTL 1 (automatic) whatever is given.
    type: int
  proxied:
    description:
      - V(cloudflare) only. Serve the name through Cloudflare's proxy. Left out, an existing record keeps its setting.
    type: bool
  state:
    description:
      - V(present) makes the record set exactly O(values); V(absent) deletes all records of O(type) at O(record).
    type: str
    choices: [present, absent]
    default: present
attributes:
  platform:
    platforms: posix
  check_mode:
    support: full
  diff_mode:
    support: full
seealso:
  - module: fleetpulse.dr.dns_record_info
  - module: fleetpulse.dr.dns_propagation
  - module: community.general.nsupdate
  - module: amazon.aws.route53
"""

EXAMPLES = r"""
- name: Point the domain at the standby (RFC 2136 with TSIG)
  fleetpulse.dr.dns_record:
    provider: rfc2136
    server: 192.0.2.53
    key_name: fleetpulse-dns-update
    key_secret: "{{ vault_dns_tsig_secret }}"
    zone: example.com
    record: "@"
    type: A
    values: [198.51.100.20]
    ttl: 60

- name: Lower the TTL ahead of a failover, keeping the addresses (Route53)
  fleetpulse.dr.dns_record:
    provider: route53
    aws_access_key_id: "{{ vault_route53_access_key }}"
    aws_secret_access_key: "{{ vault_route53_secret_key }}"
    zone: example.com
    record: www
    type: A
    ttl: 60

- name: Remove the AAAA records (Cloudflare)
  fleetpulse.dr.dns_record:
    provider: cloudflare
    api_token: "{{ vault_cloudflare_token }}"
    zone: example.com
    record: example.com
    type: AAAA
    state: absent
"""

RETURN = r"""
record:
  description: The full name of the record set, without the trailing dot.
  returned: always
  type: str
  sample: www.example.com
type:
  description: Record type.
  returned: always
  type: str
  sample: A
before:
  description: The record set before the task.
  returned: always
  type: dict
  contains:
    exists:
      description: Whether any record of this name and type existed.
      type: bool
    values:
      description: Addresses, sorted.
      type: list
      elements: str
    ttl:
      description: TTL in seconds (null when absent).
      type: int
    proxied:
      description: Cloudflare proxy flag (Cloudflare only).
      type: bool
  sample: {exists: true, values: [198.51.100.10], ttl: 3600}
after:
  description: The record set after the task (in check mode, what it would be).
  returned: always
  type: dict
  sample: {exists: true, values: [198.51.100.20], ttl: 60}
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetpulse.dr.plugins.module_utils.dns_common import (
    PROVIDER_ARGUMENT_SPEC,
    PROVIDER_REQUIRED_IF,
    PROVIDER_REQUIRED_TOGETHER,
    RECORD_TYPES,
    DNSProviderError,
    desired_rrset,
    format_rrset,
    record_fqdn,
    rrset_dict,
)
from ansible_collections.fleetpulse.dr.plugins.module_utils.dns_providers import connect

DEFAULT_TTL = 300


def main() -> None:
    argument_spec: dict[str, Any] = {
        **PROVIDER_ARGUMENT_SPEC,
        "record": {"type": "str", "required": True},
        "type": {"type": "str", "default": "A", "choices": list(RECORD_TYPES)},
        "values": {"type": "list", "elements": "str"},
        "ttl": {"type": "int"},
        "proxied": {"type": "bool"},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    }
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=PROVIDER_REQUIRED_IF, required_together=PROVIDER_REQUIRED_TOGETHER)
    p = module.params
    rtype = p["type"]
    if p["ttl"] is not None and p["ttl"] < 1:
        module.fail_json(msg=f"ttl must be a positive number of seconds, not {p['ttl']}")
    if p["proxied"] is not None and p["provider"] != "cloudflare":
        module.fail_json(msg="proxied is a Cloudflare setting; leave it out for provider " + p["provider"])
    try:
        fqdn = record_fqdn(p["record"], p["zone"])
    except DNSProviderError as exc:
        module.fail_json(msg=str(exc))

    provider = connect(module)
    try:
        before = provider.read(fqdn, rtype)
        wanted = provider.effective(desired_rrset(rtype, before, values=p["values"], ttl=p["ttl"],
                                                  proxied=p["proxied"], state=p["state"], default_ttl=DEFAULT_TTL))
        changed = before != wanted
        after = wanted
        if changed and not module.check_mode:
            provider.write(fqdn, rtype, before, wanted)
            after = provider.read(fqdn, rtype)
            if after != wanted:
                module.fail_json(msg=f"{p['provider']}: {fqdn} {rtype} was written but reads back as "
                                     f"{rrset_dict(after)} instead of {rrset_dict(wanted)}; check the zone",
                                 before=rrset_dict(before), after=rrset_dict(after), changed=True)
    except DNSProviderError as exc:
        module.fail_json(msg=f"{p['provider']}: {exc}")

    result: dict[str, Any] = {
        "changed": changed,
        "record": fqdn,
        "type": rtype,
        "before": rrset_dict(before),
        "after": rrset_dict(after),
    }
    if module._diff:
        result["diff"] = {
            "before": format_rrset(fqdn, rtype, before),
            "after": format_rrset(fqdn, rtype, after),
            "before_header": f"{fqdn} {rtype} ({p['provider']})",
            "after_header": f"{fqdn} {rtype} ({p['provider']})",
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
