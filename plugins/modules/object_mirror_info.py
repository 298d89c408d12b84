#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: object_mirror_info
short_description: List the offsite mirror generations of a bucket
version_added: 0.1.0
description:
  - Lists the generations that M(fleetpulse.dr.object_mirror) keeps offsite for a bucket, oldest first, with
    their time, object count and bytes, and the number and size of the blobs they share.
  - Use it to pick the generation for M(fleetpulse.dr.object_mirror_restore).
author:
  - FleetPulse Platform Engineering (@fleetpulse)
options:
  bucket:
    description: The bucket in the app's object store whose generations to list.
    type: str
    required: true
extends_documentation_fragment:
  - fleetpulse.dr.object_mirror.offsite
attributes:
  check_mode:
    support: full
    description: Read-only.
  diff_mode:
    support: none
    description: Read-only.
"""

EXAMPLES = r"""
- name: Which generations of the MinIO bucket are offsite?
  fleetpulse.dr.object_mirror_info:
    bucket: fleetpulse
    offsite_bucket: fleetpulse-offsite
    offsite_access_key: "{{ fleetpulse_offsite_s3_access_key }}"
    offsite_secret_key: "{{ fleetpulse_offsite_s3_secret_key }}"
  register: mirror_info

- name: Show them
  ansible.builtin.debug:
    msg: "{{ mirror_info.generations | map(attribute='generation') }}"
"""

RETURN = r"""
generations:
  description: Generations, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    generation:
      description: Name (the UTC start time of the run).
      type: str
      sample: 20260208T030000Z
    created:
      description: When its manifest was written.
      type: str
      sample: "2026-02-08T03:04:12Z"
    objects:
      description: Objects in the generation.
      type: int
    bytes:
      description: Bytes in the generation.
      type: int
    key:
      description: Key of its manifest offsite.
      type: str
    size:
      description: Size of the manifest.
      type: int
latest:
  description: The newest generation, or null when there is none.
  returned: always
  type: str
blobs:
  description: Distinct contents stored offsite for the bucket (C(objects), C(bytes)), what the mirror costs.
  returned: always
  type: dict
  sample: {objects: 2530, bytes: 2010000000}
offsite:
  description: Where the generations live.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fleetpulse.dr.plugins.module_utils import object_mirror as om
from ansible_collections.fleetpulse.dr.plugins.module_utils import object_store as ostore
from ansible_collections.fleetpulse.dr.plugins.module_utils.object_mirror_module import endpoint, offsite_spec


def main() -> None:
    module = AnsibleModule(argument_spec={"bucket": {"type": "str", "required": True}, **offsite_spec()},
                           supports_check_mode=True)
    p = module.params
    if not ostore.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3 (Debian: python3-boto3)"),
                         exception=ostore.BOTO3_IMPORT_ERROR)
    offsite = endpoint(p, "offsite", "offsite")
    layout = om.Layout.for_source(p["offsite_bucket"], p["offsite_prefix"], p["bucket"])
    try:
        off = om.Offsite(offsite, layout, offsite.client(4))
        gens = [vars(g) for g in off.generations(with_details=True)]
        blobs = off.blobs()
    except (om.MirrorError, ostore.ObjectStoreError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, generations=gens, latest=gens[-1]["generation"] if gens else None,
                     blobs={"objects": len(blobs), "bytes": sum(b.size for b in blobs.values())}, offsite=layout.url)


if __name__ == "__main__":
    main()
