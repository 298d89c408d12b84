#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: offsite_archive
short_description: Archive a directory (a Docker volume) straight to offsite S3, verified, and extract it back
version_added: 0.1.0
description:
  - O(state=present) writes the directory O(src) as a tar stream to C(<offsite_prefix>/<name>-<UTC time>.tar)
    in the offsite bucket, without a local copy (multipart upload, 32 MiB of memory), reads it back, and only when
    the SHA-256 matches writes the sidecar C(.sha256) that marks it complete. Then keeps the newest O(keep)
    complete archives (plan 2.2, volume snapshot weekly, 4 weeks).
  - O(state=extracted) streams a complete archive (the newest, or O(archive)) into the B(empty) directory O(dest),
    checking its SHA-256 against the sidecar; on a mismatch O(dest) is emptied again and the module fails.
  - Used by the C(object_mirror) role to archive the object store's Docker volume (C(carrental_minio-data)) and to
    restore it into a new volume. Stop the service that writes to the directory first for a consistent archive.
author:
  - FleetPulse Platform Engineering (@fleetpulse)
extends_documentation_fragment:
  - fleetpulse.dr.object_mirror.offsite
attributes:
  check_mode:
    support: full
    description: Reports the archive that would be written or extracted, with sizes; changes nothing.
  diff_mode:
    support: none
    description: Archives are binary.
options:
  state:
    description: C(present) writes a new archive of O(src); C(extracted) restores one into O(dest).
    type: str
    choices: [present, extracted]
    default: present
  name:
    description: Archive name, the volume's name by convention (C(carrental_minio-data)).
    type: str
    required: true
  src:
    description: Directory to archive (the volume's mount point). Required with O(state=present).
    type: path
  dest:
    description: Empty directory to extract into (a new volume's mount point). Required with O(state=extracted).
    type: path
  archive:
    description:
      - With O(state=extracted), the archive to restore, by file name or UTC time (C(20260208T030000Z)).
      - C(latest) is the newest complete archive.
    type: str
    default: latest
  compression:
    description: C(none) (photos and documents do not compress) or C(gz).
    type: str
    choices: [none, gz]
    default: none
  keep:
    description: Complete archives to keep after writing a new one; older ones are deleted. C(0) keeps all.
    type: int
    default: 4
  storage_class:
    description: Storage class of new archives (plan 2.4 uses C(STANDARD_IA)).
    type: str
    default: ''
  metrics_file:
    description:
      - With O(state=present), write Prometheus textfile metrics here (last success time, size, duration), also
        when the run fails. Not written in check mode.
    type: path
  offsite_prefix:
    description: Key prefix of the archives in O(offsite_bucket).
    type: str
    default: fleetpulse/minio-volume
"""

EXAMPLES = r"""
- name: Archive the MinIO volume offsite (service stopped)
  fleetpulse.dr.offsite_archive:
    name: carrental_minio-data
    src: /var/lib/docker/volumes/carrental_minio-data/_data
    offsite_bucket: fleetpulse-offsite
    offsite_access_key: "{{ fleetpulse_offsite_s3_access_key }}"
    offsite_secret_key: "{{ fleetpulse_offsite_s3_secret_key }}"
    keep: 4

- name: Restore the newest archive into a new, empty volume
  fleetpulse.dr.offsite_archive:
    state: extracted
    name: carrental_minio-data
    dest: /var/lib/docker/volumes/carrental_minio-data/_data
    offsite_bucket: fleetpulse-offsite
"""

RETURN = r"""
archive:
  description: The archive written or extracted (C(key), C(name), C(size), C(sha256); C(files) and with
    O(state=present) C(source_bytes)).
  returned: success
  type: dict
  sample: {key: fleetpulse/minio-volume/carrental_minio-data-20260208T030000Z.tar, size: 2010000000, files: 14,
           sha256: 3f0c...}
archives:
  description: Complete archives offsite after the run, oldest first.
  returned: success
  type: list
  elements: str
pruned:
  description: Archives deleted by O(keep).
  returned: success
  type: list
  elements: str
summary:
  description: One line with the numbers.
  returned: success
  type: str
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fleetpulse.dr.plugins.module_utils import object_store as ostore
from ansible_collections.fleetpulse.dr.plugins.module_utils import offsite_archive as oa
from ansible_collections.fleetpulse.dr.plugins.module_utils import prom_textfile
from ansible_collections.fleetpulse.dr.plugins.module_utils.object_mirror_module import endpoint, offsite_spec


def archive_present(module: AnsibleModule, shelf: oa.Shelf) -> None:
    p = module.params
    if not os.path.isdir(p["src"]):
        module.fail_json(msg=f"src {p['src']} is not a directory (is the volume there?)")
    if module.check_mode:
        files, size = oa.directory_size(p["src"])
        module.exit_json(changed=True, archive={"files": files, "source_bytes": size},
                         summary=f"would archive {p['src']} ({files} files, {size} bytes) offsite")
    started = time.time()
    try:
        made = shelf.upload(p["name"], p["src"], compression=p["compression"], storage_class=p["storage_class"])
    except ostore.ObjectStoreError:
        write_metrics(module, started, 0, success=False)
        raise
    write_metrics(module, started, made["size"], success=True)
    pruned = shelf.prune(p["name"], p["keep"])
    complete = [a.name for a in shelf.archives(p["name"]) if a.sha256]
    module.exit_json(changed=True, archive=made, archives=complete, pruned=pruned,
                     summary=(f"archived {made['files']} files ({made['source_bytes']} bytes) as {made['name']} "
                              f"({made['size']} bytes, SHA-256 verified); {len(complete)} archives kept, "
                              f"{len(pruned)} pruned"))


def write_metrics(module: AnsibleModule, started: float, size: int, success: bool) -> None:
    path = module.params["metrics_file"]
    if not path:
        return
    try:
        prom_textfile.archive_metrics(path, module.params["name"], success=success, now=time.time(),
                                      duration=time.time() - started, size=size)
    except OSError as exc:
        module.warn(f"could not write {path}: {exc}")


def choose(module: AnsibleModule, shelf: oa.Shelf) -> tuple[oa.Archive, list[oa.Archive]]:
    p = module.params
    archives = [a for a in shelf.archives(p["name"]) if a.sha256]
    if not archives:
        module.fail_json(msg=f"no complete archive of {p['name']} in s3://{shelf.bucket}/{shelf.base}: check "
                             f"offsite_bucket, offsite_prefix and name")
    if p["archive"] in ("", "latest"):
        return archives[-1], archives
    matches = [a for a in archives if p["archive"] in (a.name, a.stamp)]
    if not matches:
        module.fail_json(msg=f"archive {p['archive']!r} not found; complete archives: "
                             f"{', '.join(a.name for a in archives)}")
    return matches[0], archives


def archive_extracted(module: AnsibleModule, shelf: oa.Shelf) -> None:
    p = module.params
    chosen, archives = choose(module, shelf)
    if os.path.isdir(p["dest"]) and os.listdir(p["dest"]):
        module.fail_json(msg=f"dest {p['dest']} is not empty: extract into a new (empty) volume only")
    names = [a.name for a in archives]
    if module.check_mode:
        module.exit_json(changed=True, archive=vars(chosen), archives=names, pruned=[],
                         summary=f"would extract {chosen.name} ({chosen.size} bytes) into {p['dest']}")
    done = shelf.extract(chosen, p["dest"])
    module.exit_json(changed=True, archive=done, archives=names, pruned=[],
                     summary=(f"extracted {done['name']} ({done['size']} bytes, {done['files']} files, SHA-256 "
                              f"verified) into {p['dest']}"))


def main() -> None:
    spec = offsite_spec()
    spec.update(
        state={"type": "str", "choices": ["present", "extracted"], "default": "present"},
        name={"type": "str", "required": True},
        src={"type": "path"},
        dest={"type": "path"},
        archive={"type": "str", "default": "latest"},
        compression={"type": "str", "choices": ["none", "gz"], "default": "none"},
        keep={"type": "int", "default": 4},
        storage_class={"type": "str", "default": ""},
        metrics_file={"type": "path"},
        offsite_prefix={"type": "str", "default": "fleetpulse/minio-volume"},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_if=[("state", "present", ["src"]), ("state", "extracted", ["dest"])])
    p = module.params
    if not ostore.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3 (Debian: python3-boto3)"),
                         exception=ostore.BOTO3_IMPORT_ERROR)
    if not oa.NAME_RE.match(p["name"]):
        module.fail_json(msg=f"name must be letters, digits, '.', '_' or '-', got {p['name']!r}")
    if p["keep"] < 0:
        module.fail_json(msg="keep must not be negative")
    off = endpoint(p, "offsite", "offsite")
    try:
        shelf = oa.Shelf(client=off.client(2), endpoint=off, bucket=p["offsite_bucket"], prefix=p["offsite_prefix"])
        if p["state"] == "present":
            archive_present(module, shelf)
        else:
            archive_extracted(module, shelf)
    except ostore.ObjectStoreError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
