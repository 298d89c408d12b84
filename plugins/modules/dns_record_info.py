#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_record_info
short_description: Read A and AAAA record sets from RFC 2136, Route53 or Cloudflare
version_added: 0.1.0
description:
  - Returns the current addresses and TTL of the given names, read from the zone's own
    server or API (not through a caching resolver), with the same provider options as
    M(fleetpulse.dr.dns_record).
  - Proves the credentials on the way, so a playbook that reads first fails on a wrong key or
    token before it changes anything.
author:
  - FleetPulse Platform Engineering (@fleetpulse)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - fleetpulse.dr.dns_provider
options:
  records:
    description:
      - Names to read, each as in O(fleetpulse.dr.dns_record#module:record).
    type: list
    elements: str
    required: true
  types:
    description:
      - Record types to read for every name.
    type: list
    elements: str
    choices: [A, AAAA]
    default: [A, AAAA]
attributes:
  platform:
    platforms: posix
  check_mode:
    support: full
    details:
      - This module only reads.
  diff_mode:
    support: none
seealso:
  - module: fleetpulse.dr.dns_record
"""

EXAMPLES = r"""
- name: Where does the domain point now?
  fleetpulse.dr.dns_record_info:
    provider: cloudflare
    api_token: "{{ vault_cloudflare_token }}"
    zone: example.com
    records: [example.com, www]
  register: current

- name: Show the apex addresses
  ansible.builtin.debug:
    msg: "{{ current.records['example.com'].A.values }}"
"""

RETURN = r"""
records:
  description:
    - For every full name (no trailing dot), the record sets by type, each with
      C(exists), C(values) (sorted), C(ttl) (null when absent) and, for Cloudflare, C(proxied).
  returned: always
  type: dict
  sample:
    example.com:
      A: {exists: true, values: [198.51.100.10], ttl: 60}
      AAAA: {exists: false, values: [], ttl: null}
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetpulse.dr.plugins.module_utils.dns_common import (
    PROVIDER_ARGUMENT_SPEC,
    PROVIDER_REQUIRED_IF,
    PROVIDER_REQUIRED_TOGETHER,
    RECORD_TYPES,
    DNSProviderError,
    record_fqdn,
    rrset_dict,
)
from ansible_collections.fleetpulse.dr.plugins.module_utils.dns_providers import connect


def main() -> None:
    argument_spec: dict[str, Any] = {
        **PROVIDER_ARGUMENT_SPEC,
        "records": {"type": "list", "elements": "str", "required": True},
        "types": {"type": "list", "elements": "str", "default": list(RECORD_TYPES), "choices": list(RECORD_TYPES)},
    }
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=PROVIDER_REQUIRED_IF, required_together=PROVIDER_REQUIRED_TOGETHER)
    p = module.params
    if not p["records"]:
        module.fail_json(msg="records is empty: give at least one name to read")
    try:
        names = [record_fqdn(r, p["zone"]) for r in p["records"]]
    except DNSProviderError as exc:
        module.fail_json(msg=str(exc))

    provider = connect(module)
    records: dict[str, dict[str, Any]] = {}
    try:
        for fqdn in names:
            records[fqdn] = {rtype: rrset_dict(provider.read(fqdn, rtype)) for rtype in p["types"]}
    except DNSProviderError as exc:
        module.fail_json(msg=f"{p['provider']}: {exc}")
    module.exit_json(changed=False, records=records)


if __name__ == "__main__":
    main()
