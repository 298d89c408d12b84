#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: object_mirror
short_description: Mirror an S3 bucket offsite as verified, deduplicated generations
version_added: 0.1.0
description:
  - Copies the new and changed objects of a bucket in the app's object store (MinIO in the plan, or any S3 API)
    to an offsite S3 store, and records the bucket's state as a new B(generation) when anything changed
    (plan 2.2, weekly bucket mirror, 4 weeks).
  - B(Incremental.) An object is read only when it is new, when its size or its ETag on the store differ from
    what the previous generation recorded, or when its copy offsite is missing. What is read is hashed
    (SHA-256) and uploaded only when no copy of that content exists offsite yet, so renamed or duplicated
    files are not uploaded twice and the comparison is exact across stores whatever their ETags mean.
  - B(Generations.) Each distinct content is stored once offsite under C(blobs/sha256/), each generation is a
    manifest (key, SHA-256, size, content type, user metadata). Generations beyond the newest
    O(keep_generations) that are older than O(keep_days) are removed, then blobs no kept generation references.
    A deletion or corruption upstream only reaches the newest generation.
  - B(Safe.) The store is listed completely before anything is written. A listing error (unreachable store,
    wrong credentials, missing bucket) stops the run; so does an empty bucket, or one that lost more than
    O(max_removed_percent) of its objects, when the previous generation had objects. Nothing offsite is
    changed in these cases.
  - B(Verified.) With O(verify=full) the run ends by comparing the store with the generation (object count,
    bytes, the SHA-256 of every object in the store and of every blob offsite; differences come back by key).
  - Runs where both stores are reachable, best on the app server (the store on localhost, one transfer to the
    offsite store). Streams with bounded memory (2 MiB per worker; larger objects spool to O(tmp_dir)).
author:
  - FleetPulse Platform Engineering (@fleetpulse)
extends_documentation_fragment:
  - fleetpulse.dr.object_mirror
  - fleetpulse.dr.object_mirror.offsite
attributes:
  check_mode:
    support: full
    description: Lists both stores and reports what would be read and uploaded (counts, bytes, keys); writes
      nothing.
  diff_mode:
    support: none
    description: The result lists added and removed keys instead.
options:
  keep_generations:
    description: Always keep at least this many newest generations (plan 2.2, 4 weeks of weekly mirrors).
    type: int
    default: 4
  keep_days:
    description:
      - Never remove a generation younger than this many days, even beyond O(keep_generations), so that extra
        runs during an incident cannot push the older good generations out.
    type: int
    default: 28
  allow_empty_source:
    description:
      - Accept an empty bucket although the previous generation had objects (the bucket was emptied on purpose).
    type: bool
    default: false
  max_removed_percent:
    description:
      - Stop when more than this share of the previous generation's objects is gone from the bucket. C(100) turns
        the check off (an empty bucket is still refused unless O(allow_empty_source)).
    type: float
    default: 25
  rehash:
    description: Read and hash every object, not only new and changed ones (finds silent corruption in the store).
    type: bool
    default: false
  replace_blobs:
    description:
      - SHA-256 names of offsite blobs to upload again from the store, for example the C(verify.corrupt_blobs)
        of an earlier run. Only content that the store still has can be replaced.
    type: list
    elements: str
    default: []
  storage_class:
    description: Storage class of new blobs offsite (plan 2.4 uses C(STANDARD_IA)). Empty or C(STANDARD) sets none.
    type: str
    default: ''
  verify:
    description:
      - C(full) compares the store with the generation by SHA-256 of every object and of every blob offsite.
      - C(quick) compares sizes, plain-MD5 ETags and the presence and size of every blob.
      - C(none) skips the comparison.
    type: str
    choices: [full, quick, none]
    default: full
  repair:
    description:
      - When the verification finds blobs offsite that are corrupt or missing, upload them again from the store
        (when it still has their content) and verify again. RV(repair) names the damaged keys.
      - Needs O(verify=full) to find corrupt blobs (O(verify=quick) finds missing and truncated ones).
    type: bool
    default: true
  tmp_dir:
    description: Directory for spools of objects larger than 2 MiB (one per worker). Unset means the system's.
    type: path
  metrics_file:
    description:
      - Write Prometheus textfile metrics here (last success time, objects, bytes, copied, duration, generations,
        verification differences), also when the run fails. Not written in check mode.
    type: path
  log_file:
    description: Append progress lines here during the run (C(tail -f) it to follow a long mirror).
    type: path
"""

EXAMPLES = r"""
- name: Mirror the MinIO bucket offsite and verify it
  fleetpulse.dr.object_mirror:
    bucket: fleetpulse
    store_endpoint_url: http://127.0.0.1:9000
    store_access_key: "{{ minio_access_key }}"
    store_secret_key: "{{ minio_secret_key }}"
    offsite_bucket: fleetpulse-offsite
    offsite_prefix: fleetpulse/minio-mirror
    offsite_access_key: "{{ fleetpulse_offsite_s3_access_key }}"
    offsite_secret_key: "{{ fleetpulse_offsite_s3_secret_key }}"
    storage_class: STANDARD_IA
    metrics_file: /var/lib/node_exporter/textfile_collector/fleetpulse_object_mirror_fleetpulse.prom
  register: mirror

- name: Show what moved
  ansible.builtin.debug:
    msg: "{{ mirror.summary }}"

- name: What would a mirror copy now?
  fleetpulse.dr.object_mirror:
    bucket: fleetpulse
    store_endpoint_url: http://127.0.0.1:9000
    offsite_bucket: fleetpulse-offsite
  check_mode: true
  register: plan
"""

RETURN = r"""
summary:
  description: One line with the numbers.
  returned: always
  type: str
  sample: >-
    fleetpulse: 2412 objects (1.9 GB); read 26, uploaded 24 (21.3 MB), 2 already offsite;
    generation 20260208T030000Z (new); 4 kept; verification equal
bucket:
  description: The bucket mirrored.
  returned: always
  type: str
offsite:
  description: Where its generations live (C(s3://offsite_bucket/prefix/bucket/)).
  returned: always
  type: str
generation:
  description: The generation that now matches the bucket (new, or the previous one when nothing changed).
  returned: success
  type: str
  sample: 20260208T030000Z
new_generation:
  description: Whether this run wrote a new generation.
  returned: always
  type: bool
previous_generation:
  description: The newest readable generation before this run, or null.
  returned: always
  type: str
objects:
  description: Objects in the bucket.
  returned: success
  type: int
bytes:
  description: Bytes in the bucket.
  returned: success
  type: int
read:
  description: Objects and bytes read from the store (new or changed).
  returned: always
  type: dict
  sample: {objects: 26, bytes: 22334455}
copied:
  description: Objects and bytes uploaded offsite (content not offsite before).
  returned: always
  type: dict
  sample: {objects: 24, bytes: 21300000}
deduplicated:
  description: Objects read whose content was already offsite.
  returned: always
  type: int
unchanged:
  description: Objects whose size and ETag match the previous generation (not read).
  returned: success
  type: int
counts:
  description: Complete counts of C(added) and C(removed) keys against the previous generation, and C(to_read).
  returned: success
  type: dict
added:
  description: Keys new since the previous generation (at most O(report_limit)).
  returned: success
  type: list
  elements: str
removed:
  description: Keys gone since the previous generation (at most O(report_limit)); older generations keep them.
  returned: success
  type: list
  elements: str
vanished:
  description: Keys deleted from the store while the run was reading them.
  returned: always
  type: list
  elements: str
would_copy:
  description: In check mode, the objects, bytes and keys that would be read (upper bound of what is uploaded).
  returned: check mode
  type: dict
generations:
  description: Generations kept offsite after the run, oldest first.
  returned: success
  type: list
  elements: str
pruned_generations:
  description: Generations removed by retention.
  returned: always
  type: list
  elements: str
deleted_blobs:
  description: Objects and bytes of blobs removed because no kept generation references them.
  returned: always
  type: dict
replaced_blobs:
  description: Blobs uploaded again (O(replace_blobs)).
  returned: always
  type: list
  elements: str
verify:
  description:
    - The comparison of the store with the generation (null with O(verify=none)).
    - C(missing), C(extra), C(different), C(corrupt), C(offsite_missing), C(changed_since_generation) list keys;
      C(counts) counts them all; C(corrupt_blobs) names the damaged blobs; C(equal), C(copy_ok) and C(store_ok)
      sum it up (C(copy_ok) is what a mirror must reach).
  returned: success
  type: dict
repair:
  description:
    - What O(repair) did, when the first verification found damage offsite. C(corrupt) and C(offsite_missing) list
      the damaged keys, C(replaced_blobs) the blobs uploaded again, C(copied) their objects and bytes.
  returned: when a repair was needed
  type: dict
  sample: {corrupt: [tenants/t1/vehicles/12/photo.jpg], offsite_missing: [], replaced_blobs: [3f0c...],
           copied: {objects: 1, bytes: 180333}}
duration_seconds:
  description: Wall time of the run.
  returned: success
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fleetpulse.dr.plugins.module_utils import object_mirror as om
from ansible_collections.fleetpulse.dr.plugins.module_utils import object_store as ostore
from ansible_collections.fleetpulse.dr.plugins.module_utils import prom_textfile
from ansible_collections.fleetpulse.dr.plugins.module_utils.object_mirror_module import common_spec, job, validate


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def summary(result: dict) -> str:
    if result.get("check_mode"):
        plan = result.get("would_copy") or {}
        return (f"{result['bucket']}: {result.get('objects', 0)} objects ({human(result.get('bytes', 0))}); would read "
                f"{plan.get('objects', 0)} new or changed ({human(plan.get('bytes', 0))}); "
                f"{result.get('counts', {}).get('removed', 0)} removed since {result.get('previous_generation')}")
    verify = result.get("verify")
    if verify is None:
        verdict = "not verified"
    elif verify["equal"]:
        verdict = "verification equal"
    else:
        verdict = f"verification: {', '.join(f'{v} {k}' for k, v in sorted(verify['counts'].items()) if v)}"
    repaired = result.get("repair")
    if repaired:
        verdict += (f"; repaired {len(repaired['replaced_blobs'])} damaged blob(s) offsite "
                    f"({', '.join((repaired['corrupt'] + repaired['offsite_missing'])[:5])})")
    return (f"{result['bucket']}: {result.get('objects', 0)} objects ({human(result.get('bytes', 0))}); read "
            f"{result['read']['objects']}, uploaded {result['copied']['objects']} ({human(result['copied']['bytes'])}),"
            f" {result['deduplicated']} already offsite; generation {result.get('generation')} "
            f"({'new' if result['new_generation'] else 'unchanged'}); {len(result.get('generations') or [])} kept; "
            f"{verdict}")


def main() -> None:
    spec = common_spec()
    spec.update(
        keep_generations={"type": "int", "default": 4},
        keep_days={"type": "int", "default": 28},
        allow_empty_source={"type": "bool", "default": False},
        max_removed_percent={"type": "float", "default": 25.0},
        rehash={"type": "bool", "default": False},
        replace_blobs={"type": "list", "elements": "str", "default": []},
        storage_class={"type": "str", "default": ""},
        verify={"type": "str", "choices": ["full", "quick", "none"], "default": "full"},
        repair={"type": "bool", "default": True},
        tmp_dir={"type": "path"},
        metrics_file={"type": "path"},
        log_file={"type": "path"},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if not ostore.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3 (Debian: python3-boto3)"),
                         exception=ostore.BOTO3_IMPORT_ERROR)
    validate(module, p)
    if p["keep_generations"] < 1:
        module.fail_json(msg="keep_generations must be at least 1")
    if p["keep_days"] < 0 or not 0 <= p["max_removed_percent"] <= 100:
        module.fail_json(msg="keep_days must not be negative and max_removed_percent must be within 0..100")
    bad = [b for b in p["replace_blobs"] if not om.SHA256_RE.match(b)]
    if bad:
        module.fail_json(msg=f"replace_blobs must be SHA-256 hex names, got {bad[:3]}")
    opts = om.MirrorOptions(
        keep_generations=p["keep_generations"], keep_days=p["keep_days"],
        allow_empty_source=p["allow_empty_source"], max_removed_percent=p["max_removed_percent"],
        rehash=p["rehash"], replace_blobs=tuple(p["replace_blobs"]), storage_class=p["storage_class"],
        verify=p["verify"], repair=p["repair"], check_mode=module.check_mode,
    )
    started = time.time()
    result: dict = {}
    error = None
    try:
        run = job(p, p["log_file"])
        with om.host_lock(run.lock_name()):
            result = om.mirror(run, opts)
    except om.MirrorError as exc:
        result, error = exc.result, str(exc)
    except ostore.ObjectStoreError as exc:
        error = str(exc)
    verify = result.get("verify")
    if error is None and verify is not None and not verify["copy_ok"]:
        counts = verify["counts"]
        error = (f"the offsite copy of {p['bucket']} does not match the store: {counts['corrupt']} corrupt "
                 f"(e.g. {', '.join(verify['corrupt'][:5]) or '-'}), {counts['offsite_missing']} missing offsite, "
                 f"{counts['errors']} unreadable, {counts['different']} different, {counts['extra']} not copied; "
                 f"run the mirror again with replace_blobs set to verify.corrupt_blobs to repair what the store "
                 f"still has")
    if p["metrics_file"] and not module.check_mode:
        try:
            prom_textfile.mirror_metrics(p["metrics_file"], p["bucket"], success=error is None, now=time.time(),
                                         duration=time.time() - started, result=result)
        except OSError as exc:
            module.warn(f"could not write {p['metrics_file']}: {exc}")
    for warning in result.pop("warnings", []):
        module.warn(warning)
    result.setdefault("bucket", p["bucket"])
    if error is not None:
        result.pop("changed", None)
        module.fail_json(msg=error, changed=bool(result.get("new_generation") or result.get("copied", {}).get(
            "objects")), **result)
    result["summary"] = summary(result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
