#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: object_mirror_restore
short_description: Restore a bucket of the app's object store from an offsite mirror generation
version_added: 0.1.0
description:
  - Brings a bucket in the app's object store (MinIO in the plan, or any S3 API) back to a generation written by
    M(fleetpulse.dr.object_mirror) (plan 3.4), the newest by default, then verifies it.
  - Creates the bucket when it is missing (O(create_bucket)). Copies the objects that are missing, with their
    content type and user metadata. Objects in the store whose bytes differ from the generation are kept and
    reported unless O(overwrite) is set; objects the generation does not have are never deleted.
  - Every blob is checked against its SHA-256 before it is written to the store; a corrupt blob is not written
    and the run fails naming the key.
  - Ends with a verification like M(fleetpulse.dr.object_mirror_verify) (RV(verify)).
author:
  - FleetPulse Platform Engineering (@fleetpulse)
extends_documentation_fragment:
  - fleetpulse.dr.object_mirror
  - fleetpulse.dr.object_mirror.offsite
attributes:
  check_mode:
    support: full
    description: Reports whether the bucket would be created and which objects would be copied (counts, bytes, keys).
  diff_mode:
    support: none
    description: The result lists the keys instead.
options:
  generation:
    description: The generation to restore, like C(20260208T030000Z), or C(latest) for the newest.
    type: str
    default: latest
  overwrite:
    description:
      - Replace objects in the store whose bytes differ from the generation. Off by default, so that a restore
        never destroys data it did not put there; the differing keys are reported in RV(different_kept).
    type: bool
    default: false
  create_bucket:
    description: Create the bucket when it does not exist.
    type: bool
    default: true
  checksums:
    description:
      - Compare objects already in the store by SHA-256 (read them); off compares sizes only.
      - The final verification uses the same setting.
    type: bool
    default: true
  tmp_dir:
    description: Directory for spools of objects larger than 2 MiB. Unset means the system's.
    type: path
  log_file:
    description: Append progress lines here during the run.
    type: path
"""

EXAMPLES = r"""
- name: Restore the MinIO bucket from the newest offsite generation
  fleetpulse.dr.object_mirror_restore:
    bucket: fleetpulse
    store_endpoint_url: http://127.0.0.1:9000
    store_access_key: "{{ minio_access_key }}"
    store_secret_key: "{{ minio_secret_key }}"
    offsite_bucket: fleetpulse-offsite
    offsite_access_key: "{{ fleetpulse_offsite_s3_access_key }}"
    offsite_secret_key: "{{ fleetpulse_offsite_s3_secret_key }}"
  register: restored

- name: Restore the state of two weeks ago, replacing objects that differ
  fleetpulse.dr.object_mirror_restore:
    bucket: fleetpulse
    generation: 20260125T030000Z
    overwrite: true
    store_endpoint_url: http://127.0.0.1:9000
    offsite_bucket: fleetpulse-offsite
"""

RETURN = r"""
summary:
  description: One line with the numbers.
  returned: always
  type: str
  sample: >-
    fleetpulse: generation 20260208T030000Z, 2412 objects (1900000000 bytes); bucket created;
    restored 2412 objects (1900000000 bytes); verification equal
bucket:
  description: The bucket restored.
  returned: always
  type: str
generation:
  description: The generation restored.
  returned: success
  type: str
objects:
  description: Objects in the generation.
  returned: success
  type: int
bytes:
  description: Bytes in the generation.
  returned: success
  type: int
bucket_created:
  description: Whether the bucket was created.
  returned: success
  type: bool
copied:
  description: Objects and bytes written to the store.
  returned: success
  type: dict
  sample: {objects: 2412, bytes: 1900000000}
would_copy:
  description: In check mode, the objects, bytes and keys that would be written.
  returned: check mode
  type: dict
would_create_bucket:
  description: In check mode, whether the bucket would be created.
  returned: check mode
  type: bool
different_kept:
  description: Keys whose bytes in the store differ from the generation and were kept (O(overwrite=false)).
  returned: success
  type: list
  elements: str
extra_kept:
  description: Keys in the store that the generation does not have (never deleted).
  returned: success
  type: list
  elements: str
offsite_missing:
  description: Keys whose blob is missing offsite (not restored).
  returned: when any
  type: list
  elements: str
counts:
  description: Complete counts (C(to_copy), C(different), C(different_kept), C(extra_kept), C(offsite_missing)).
  returned: success
  type: dict
verify:
  description: The verification after the restore (see M(fleetpulse.dr.object_mirror_verify)); C(store_ok) is what a
    restore must reach.
  returned: success and not check mode
  type: dict
duration_seconds:
  description: Wall time of the run.
  returned: success
  type: float
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fleetpulse.dr.plugins.module_utils import object_mirror as om
from ansible_collections.fleetpulse.dr.plugins.module_utils import object_store as ostore
from ansible_collections.fleetpulse.dr.plugins.module_utils.object_mirror_module import common_spec, job, validate


def summary(result: dict) -> str:
    head = (f"{result['bucket']}: generation {result.get('generation')}, {result.get('objects', 0)} objects "
            f"({result.get('bytes', 0)} bytes)")
    if result.get("check_mode"):
        plan = result.get("would_copy") or {}
        return (f"{head}; would {'create the bucket and ' if result.get('would_create_bucket') else ''}copy "
                f"{plan.get('objects', 0)} objects ({plan.get('bytes', 0)} bytes); "
                f"{result['counts']['different_kept']} different kept, {result['counts']['extra_kept']} extra kept")
    verify = result.get("verify") or {}
    verdict = "verification equal" if verify.get("equal") else (
        f"verification: {', '.join(f'{v} {k}' for k, v in sorted((verify.get('counts') or {}).items()) if v)}")
    return (f"{head}; {'bucket created; ' if result.get('bucket_created') else ''}restored "
            f"{result['copied']['objects']} objects ({result['copied']['bytes']} bytes); {verdict}")


def main() -> None:
    spec = common_spec()
    spec.update(
        generation={"type": "str", "default": "latest"},
        overwrite={"type": "bool", "default": False},
        create_bucket={"type": "bool", "default": True},
        checksums={"type": "bool", "default": True},
        tmp_dir={"type": "path"},
        log_file={"type": "path"},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if not ostore.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3 (Debian: python3-boto3)"),
                         exception=ostore.BOTO3_IMPORT_ERROR)
    validate(module, p)
    if p["generation"] not in ("", "latest") and not om.GENERATION_RE.match(p["generation"]):
        module.fail_json(msg=f"generation must be 'latest' or a name like 20260208T030000Z, got {p['generation']!r}")
    try:
        run = job(p, p["log_file"])
        with om.host_lock(run.lock_name()):
            result = om.restore(run, p["generation"], overwrite=p["overwrite"], create=p["create_bucket"],
                                checksums=p["checksums"], check_mode=module.check_mode)
    except om.MirrorError as exc:
        result = exc.result
        result.pop("changed", None)
        module.fail_json(msg=str(exc), changed=bool((result.get("copied") or {}).get("objects")
                                                    or result.get("bucket_created")), **result)
    except ostore.ObjectStoreError as exc:
        module.fail_json(msg=str(exc), bucket=p["bucket"])
    verify = result.get("verify")
    result["summary"] = summary(result)
    if verify is not None and not verify["store_ok"]:
        result.pop("changed", None)
        counts = verify["counts"]
        module.fail_json(
            msg=(f"after the restore, bucket {p['bucket']} still differs from generation {result['generation']}: "
                 f"{counts['missing']} missing (e.g. {', '.join(verify['missing'][:5]) or '-'}), "
                 f"{counts['different']} different (e.g. {', '.join(verify['different'][:5]) or '-'}), "
                 f"{counts['errors']} unreadable; objects that differ are kept unless overwrite=true"),
            changed=bool(result["copied"]["objects"] or result["bucket_created"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
