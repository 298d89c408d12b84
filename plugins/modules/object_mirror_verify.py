#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: object_mirror_verify
short_description: Compare a bucket of the app's object store with its offsite mirror, object by object
version_added: 0.1.0
description:
  - Compares a bucket in the app's object store with a generation written by M(fleetpulse.dr.object_mirror)
    by object count, total bytes, and for every object its SHA-256 in the store and the SHA-256 of its copy offsite.
  - Reports differences by key. RV(missing) are in the generation and not in the store, RV(extra) in the store and
    not in the generation, RV(different) in both with other bytes, RV(corrupt) keys whose offsite copy no longer
    has the bytes it was stored with, RV(offsite_missing) keys whose offsite copy is gone.
    RV(changed_since_generation) are extra or different keys written in the store after the generation was
    taken (expected on a live store, not a fault).
  - Read-only; C(changed) is always false. Fails when the expectation set by O(expect) does not hold.
author:
  - FleetPulse Platform Engineering (@fleetpulse)
extends_documentation_fragment:
  - fleetpulse.dr.object_mirror
  - fleetpulse.dr.object_mirror.offsite
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode verifies the same way.
  diff_mode:
    support: none
    description: Nothing changes.
options:
  generation:
    description: The generation to compare with, like C(20260208T030000Z), or C(latest) for the newest.
    type: str
    default: latest
  checksums:
    description:
      - Read every object in the store and every blob offsite and compare SHA-256 (exact, reads all the bytes
        on both sides).
      - Off compares sizes, plain-MD5 ETags and the presence and size of every blob (listings only).
    type: bool
    default: true
  expect:
    description:
      - What must hold for the module to succeed.
      - C(copy) (after a mirror) every object the store held when the generation was taken is intact offsite.
      - C(store) (after a restore) every object of the generation is in the store with the same bytes.
      - C(equal) both, and nothing extra in the store.
      - C(nothing) only reports.
    type: str
    choices: [copy, store, equal, nothing]
    default: copy
"""

EXAMPLES = r"""
- name: Prove the offsite mirror of the MinIO bucket, object by object
  fleetpulse.dr.object_mirror_verify:
    bucket: fleetpulse
    store_endpoint_url: http://127.0.0.1:9000
    store_access_key: "{{ minio_access_key }}"
    store_secret_key: "{{ minio_secret_key }}"
    offsite_bucket: fleetpulse-offsite
    offsite_access_key: "{{ fleetpulse_offsite_s3_access_key }}"
    offsite_secret_key: "{{ fleetpulse_offsite_s3_secret_key }}"
    expect: equal
  register: check

- name: Report only, comparing listings (no bytes read)
  fleetpulse.dr.object_mirror_verify:
    bucket: fleetpulse
    store_endpoint_url: http://127.0.0.1:9000
    offsite_bucket: fleetpulse-offsite
    checksums: false
    expect: nothing
"""

RETURN = r"""
summary:
  description: One line with the numbers.
  returned: always
  type: str
  sample: >-
    fleetpulse vs generation 20260208T030000Z: store 2412 objects (1900000000 bytes),
    copy 2412 objects (1900000000 bytes); equal
generation:
  description: The generation compared with.
  returned: success
  type: str
store:
  description: Objects and bytes in the store's bucket.
  returned: success
  type: dict
  sample: {objects: 2412, bytes: 1900000000}
copy:
  description: Objects and bytes in the generation.
  returned: success
  type: dict
store_bucket_exists:
  description: Whether the bucket exists in the store (when not, every object is missing).
  returned: success
  type: bool
missing:
  description: Keys in the generation, not in the store (at most O(report_limit)).
  returned: success
  type: list
  elements: str
extra:
  description: Keys in the store, not in the generation.
  returned: success
  type: list
  elements: str
different:
  description: Keys in both with different size or SHA-256.
  returned: success
  type: list
  elements: str
changed_since_generation:
  description: Extra or different keys last modified in the store after the generation started.
  returned: success
  type: list
  elements: str
corrupt:
  description: Keys whose offsite copy does not have its recorded size or SHA-256.
  returned: success
  type: list
  elements: str
corrupt_blobs:
  description: SHA-256 names of the corrupt blobs (give them to O(fleetpulse.dr.object_mirror#module:replace_blobs)).
  returned: success
  type: list
  elements: str
offsite_missing:
  description: Keys whose offsite copy is missing.
  returned: success
  type: list
  elements: str
errors:
  description: Objects that could not be read, with the reason.
  returned: success
  type: list
  elements: str
counts:
  description: Complete counts of every list above.
  returned: success
  type: dict
  sample: {missing: 0, extra: 0, different: 0, changed_since_generation: 0, corrupt: 1, offsite_missing: 0, errors: 0}
equal:
  description: Store and copy hold exactly the same objects with the same bytes.
  returned: success
  type: bool
copy_ok:
  description: Every object the store held when the generation was taken is intact offsite.
  returned: success
  type: bool
store_ok:
  description: Every object of the generation is in the store with the same bytes.
  returned: success
  type: bool
read_bytes:
  description: Bytes read to compute checksums (both sides).
  returned: success
  type: int
duration_seconds:
  description: Wall time of the comparison.
  returned: success
  type: float
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fleetpulse.dr.plugins.module_utils import object_mirror as om
from ansible_collections.fleetpulse.dr.plugins.module_utils import object_store as ostore
from ansible_collections.fleetpulse.dr.plugins.module_utils.object_mirror_module import common_spec, job, validate

EXPECT = {"copy": "copy_ok", "store": "store_ok", "equal": "equal"}


def summary(bucket: str, r: dict) -> str:
    counts = ", ".join(f"{v} {k}" for k, v in sorted(r["counts"].items()) if v) or "no difference"
    return (f"{bucket} vs generation {r['generation']}: store {r['store']['objects']} objects "
            f"({r['store']['bytes']} bytes), copy {r['copy']['objects']} objects ({r['copy']['bytes']} bytes); "
            f"{'equal' if r['equal'] else counts}{'' if r['checksums'] else ' (sizes and ETags only)'}")


def main() -> None:
    spec = common_spec()
    spec.update(
        generation={"type": "str", "default": "latest"},
        checksums={"type": "bool", "default": True},
        expect={"type": "str", "choices": ["copy", "store", "equal", "nothing"], "default": "copy"},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if not ostore.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3 (Debian: python3-boto3)"),
                         exception=ostore.BOTO3_IMPORT_ERROR)
    validate(module, p)
    try:
        result = om.verify(job(p), p["generation"], checksums=p["checksums"])
    except (om.MirrorError, ostore.ObjectStoreError) as exc:
        module.fail_json(msg=str(exc), bucket=p["bucket"])
    result["summary"] = summary(p["bucket"], result)
    result["changed"] = False
    flag = EXPECT.get(p["expect"])
    if flag and not result[flag]:
        counts = result["counts"]
        details = "; ".join(f"{name} {counts[name]} (e.g. {', '.join(result[name][:5])})"
                            for name in ("missing", "extra", "different", "corrupt", "offsite_missing", "errors")
                            if counts[name])
        module.fail_json(msg=f"{p['bucket']} does not match generation {result['generation']} "
                             f"(expect={p['expect']}): {details}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
