#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_fetch
short_description: Download a database backup from the offsite store, proven against its manifest
version_added: 0.1.0
description:
  - Lists the offsite copies that the backup program (C(fleetpulse-backup), role C(fleetpulse.dr.db_backup))
    uploaded to C(<prefix>/db-backups/), picks the newest complete one or the one named, and downloads it into
    O(dest) with its manifest. A copy is complete when its manifest sits beside it (the program uploads the
    manifest last, after reading the copy back).
  - Encrypted copies (C(.gpg)) are decrypted on the way with the passphrase (gpg symmetric, AES-256, the
    passphrase handed over through a pipe, never on a command line).
  - The plaintext is hashed while it is written to a C(.partial) file; only when its size and sha256 equal the
    manifest's is it renamed to its final name. A copy that does not match is deleted.
  - When the newest (or named) copy is bad, the next-newest copies are tried, up to O(max_candidates), so that
    the error can name the next-newest copy that is proven good (it is then downloaded and ready to restore).
    Only with O(allow_older=true) does the module return that older copy as its result.
  - A copy whose manifest names another database than O(expected_database) is refused without being downloaded.
  - A copy that does not decrypt with O(encryption_key) stops the search at once (the key is wrong for all of
    them).
  - A backup already in O(dest) with the manifest's size and sha256 is not downloaded again (C(changed=false)).
author:
  - FleetPulse Platform Engineering (@fleetpulse)
attributes:
  check_mode:
    support: full
    description: Lists the store and reports which copy would be downloaded; downloads nothing.
  diff_mode:
    support: none
    description: Nothing to diff.
  platform:
    support: full
    platforms: posix
    description: Runs on the managed host; needs boto3 there (and gpg for encrypted copies).
options:
  bucket:
    description: The offsite bucket (C(fleetpulse_offsite_s3_bucket)).
    type: str
    required: true
  prefix:
    description: Key prefix; backups are C(<prefix>/db-backups/<file>) (C(fleetpulse_offsite_s3_prefix)).
    type: str
    default: fleetpulse
  endpoint:
    description: S3 endpoint URL; empty means AWS S3.
    type: str
    default: ""
  region:
    description: S3 region.
    type: str
    default: us-east-1
  access_key:
    description: Access key id (vault).
    type: str
    default: ""
  secret_key:
    description: Secret access key (vault).
    type: str
    default: ""
  encryption_key:
    description: Passphrase of gpg-encrypted copies (vault; C(db_backup_offsite_encryption_key)).
    type: str
    default: ""
  name:
    description:
      - The backup to fetch, by file name (C(car_rental_backup_20260206_020000.dump)); the C(.gpg) suffix of an
        encrypted copy may be left out. Empty fetches the newest complete copy.
    type: str
    default: ""
  name_prefix:
    description: Backups are the keys named C(<name_prefix>YYYYMMDD_HHMMSS...).
    type: str
    default: car_rental_backup_
  dest:
    description: Directory on the managed host to download into (created when missing, mode 0750).
    type: path
    required: true
  max_candidates:
    description:
      - How many copies to try, newest first (or the named one first), until one matches its manifest.
        V(1) tries only the newest (or named) copy.
    type: int
    default: 1
  allow_older:
    description:
      - When the newest (or named) copy is bad, return the next-newest good copy instead of failing.
      - The data-loss window then grows; without it the module fails naming that copy.
    type: bool
    default: false
  expected_database:
    description: Refuse copies whose manifest names another database (empty accepts any).
    type: str
    default: ""
  connect_timeout:
    description: Seconds to wait for the S3 endpoint.
    type: int
    default: 10
notes:
  - Needs boto3 on the managed host (Debian C(python3-boto3)) and C(gpg) for encrypted copies.
  - Set C(AWS_CA_BUNDLE) in the task's environment for an endpoint with a private CA.
seealso:
  - module: fleetpulse.dr.backup_verify
"""

EXAMPLES = r"""
- name: Fetch the newest offsite backup
  fleetpulse.dr.backup_fetch:
    bucket: "{{ fleetpulse_offsite_s3_bucket }}"
    prefix: "{{ fleetpulse_offsite_s3_prefix }}"
    endpoint: "{{ fleetpulse_offsite_s3_endpoint }}"
    access_key: "{{ fleetpulse_offsite_s3_access_key }}"
    secret_key: "{{ fleetpulse_offsite_s3_secret_key }}"
    encryption_key: "{{ db_backup_offsite_encryption_key }}"
    dest: /opt/fleetpulse/backups
  register: fetched

- name: Fetch a given backup
  fleetpulse.dr.backup_fetch:
    bucket: fleetpulse-offsite
    name: car_rental_backup_20260206_020000.dump
    dest: /opt/fleetpulse/backups
"""

RETURN = r"""
path:
  description: The downloaded (or already present) backup on the managed host; null in check mode when absent.
  returned: success
  type: str
  sample: /opt/fleetpulse/backups/car_rental_backup_20260206_020000.dump
name:
  description: The backup's file name (without C(.gpg)).
  returned: success
  type: str
key:
  description: The object key of the copy.
  returned: success
  type: str
  sample: fleetpulse/db-backups/car_rental_backup_20260206_020000.dump.gpg
encrypted:
  description: Whether the copy was gpg-encrypted.
  returned: success
  type: bool
manifest:
  description: The copy's manifest (docs/manifest.md).
  returned: success
  type: dict
downloaded:
  description: Whether bytes were downloaded (false when a matching file was already there, or in check mode).
  returned: success
  type: bool
bytes:
  description: Bytes downloaded (stored, encrypted size).
  returned: success
  type: int
seconds:
  description: Duration of the download.
  returned: success
  type: float
candidates:
  description: The complete copies offsite, newest first (C(name), C(key), C(taken_at), C(encrypted)).
  returned: always
  type: list
  elements: dict
rejected:
  description: Copies tried that did not match their manifest, with the reason.
  returned: always
  type: list
  elements: dict
fallback:
  description: >-
    On failure because the newest (or named) copy was bad: the next-newest good copy, already downloaded
    (C(name), C(path), C(taken_at)); null when none was found.
  returned: failure
  type: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fleetpulse.dr.plugins.module_utils import manifest as mf
from ansible_collections.fleetpulse.dr.plugins.module_utils import offsite as off
from ansible_collections.fleetpulse.dr.plugins.module_utils import retention as ret

AREA = "db-backups"
# The wording of module_utils/offsite.read_back when gpg cannot decrypt a copy with the key.
DECRYPT_FAILURE = "does not decrypt with the configured key"


def list_candidates(store: off.Store, settings: off.OffsiteSettings, name_prefix: str) -> list[dict]:
    prefix = settings.key(AREA, "") + "/"
    keys = {o.key[len(prefix):]: o for o in store.list(prefix) if "/" not in o.key[len(prefix):]}
    found = []
    for rel, obj in keys.items():
        parsed = ret.parse_name(rel, name_prefix)
        if parsed is None or parsed.plain_name + mf.MANIFEST_SUFFIX not in keys:
            continue
        found.append({"name": parsed.plain_name, "key": obj.key, "size": obj.size, "encrypted": parsed.encrypted,
                      "manifest_key": prefix + parsed.plain_name + mf.MANIFEST_SUFFIX,
                      "taken_at": parsed.stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), "_stamp": parsed.stamp})
    found.sort(key=lambda c: (c["_stamp"], c["name"]), reverse=True)
    for cand in found:
        del cand["_stamp"]
    return found


def matches(path: str, manifest: dict) -> bool:
    return os.path.isfile(path) and os.path.getsize(path) == manifest["size"] and \
        mf.sha256_file(path) == manifest["sha256"]


def download(store: off.Store, cand: dict, manifest: dict, dest_path: str, gpg: off.Gpg | None) -> int:
    """Download (and decrypt) into a partial file; keep it only when it equals the manifest. Returns bytes read."""
    partial = dest_path + ".partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        with os.fdopen(fd, "wb") as out:
            back = off.read_back(store, cand["key"], gpg, consume=out.write)
            out.flush()
            os.fsync(out.fileno())
        if back.plain_size != manifest["size"] or back.plain_sha256 != manifest["sha256"]:
            raise off.OffsiteError(f"s3://{store.settings.bucket}/{cand['key']} does not match its manifest: "
                                   f"{back.plain_size} bytes, sha256 {back.plain_sha256[:16]}..., the manifest says "
                                   f"{manifest['size']} bytes, sha256 {manifest['sha256'][:16]}...")
        os.rename(partial, dest_path)
        return back.stored_size
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "bucket": {"type": "str", "required": True},
            "prefix": {"type": "str", "default": "fleetpulse"},
            "endpoint": {"type": "str", "default": ""},
            "region": {"type": "str", "default": "us-east-1"},
            "access_key": {"type": "str", "default": "", "no_log": True},
            "secret_key": {"type": "str", "default": "", "no_log": True},
            "encryption_key": {"type": "str", "default": "", "no_log": True},
            "name": {"type": "str", "default": ""},
            "name_prefix": {"type": "str", "default": ret.PREFIX},
            "dest": {"type": "path", "required": True},
            "max_candidates": {"type": "int", "default": 1},
            "allow_older": {"type": "bool", "default": False},
            "expected_database": {"type": "str", "default": ""},
            "connect_timeout": {"type": "int", "default": 10},
        },
        supports_check_mode=True,
    )
    if not off.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3 (Debian: python3-boto3)"), exception=off.BOTO3_IMPORT_ERROR)
    p = module.params
    settings = off.OffsiteSettings(bucket=p["bucket"], prefix=p["prefix"], endpoint=p["endpoint"],
                                   region=p["region"], access_key=p["access_key"], secret_key=p["secret_key"],
                                   encryption_key=p["encryption_key"], connect_timeout=p["connect_timeout"])
    where = f"s3://{p['bucket']}/{settings.key(AREA, '')}/"
    try:
        store = off.Store(settings)
        candidates = list_candidates(store, settings, p["name_prefix"])
    except off.OffsiteError as exc:
        module.fail_json(msg=str(exc), candidates=[], rejected=[])
    public = [{k: c[k] for k in ("name", "key", "taken_at", "encrypted", "size")} for c in candidates]
    if not candidates:
        module.fail_json(msg=f"no complete backup in {where} (a copy is complete when its manifest sits beside it): "
                             "check fleetpulse_offsite_s3_bucket/_prefix, or whether offsite copies ran "
                             "(fleetpulse-backup offsite)", candidates=[], rejected=[])
    order = candidates
    if p["name"]:
        wanted = p["name"].removesuffix(".gpg")
        named = [c for c in candidates if c["name"] == wanted]
        if not named:
            module.fail_json(msg=f"{wanted} is not a complete backup in {where}; the newest there: "
                                 f"{', '.join(c['name'] for c in candidates[:5])}", candidates=public, rejected=[])
        order = named + [c for c in candidates if c["name"] != wanted]
    order = order[:max(p["max_candidates"], 1)]
    rejected: list[dict] = []
    holder: dict = {"gpg": None}  # one gpg helper for every copy tried, closed at the end
    found: dict | None = None
    try:
        for cand in order:
            found = fetch_one(module, store, cand, public=public, rejected=rejected, holder=holder)
            if found is not None:
                break
    except off.OffsiteError as exc:
        module.fail_json(msg=str(exc), candidates=public, rejected=rejected)
    finally:
        if holder["gpg"] is not None:
            holder["gpg"].close()
    if found is not None and (not rejected or p["allow_older"]):
        module.exit_json(**found)
    first = order[0]["name"]
    reasons = "; ".join(f"{r['name']}: {r['reason']}" for r in rejected)
    if found is not None:
        module.fail_json(msg=f"the offsite copy {first} is bad ({reasons}). The next-newest good copy is "
                             f"{found['name']} (taken {found['manifest']['finished_at']}; its data-loss window is "
                             f"larger), proven against its manifest and already downloaded to "
                             f"{found['path'] or p['dest']}: restore it with -e db_restore_backup={found['name']} "
                             "(or let the role fall back by itself with -e db_restore_allow_older=true)",
                         candidates=public, rejected=rejected,
                         fallback={"name": found["name"], "path": found["path"],
                                   "taken_at": found["manifest"]["finished_at"]})
    tried = {r["name"] for r in rejected}
    others = [c["name"] for c in candidates if c["name"] not in tried][:5]
    module.fail_json(msg=f"no offsite copy in {where} could be fetched and proven: {reasons}"
                         + (f". Copies not tried, newest first: {', '.join(others)} (name one with "
                            "db_restore_backup, or try more with db_restore_max_candidates)" if others else ""),
                     candidates=public, rejected=rejected, fallback=None)


def fetch_one(module: AnsibleModule, store: off.Store, cand: dict, *, public: list[dict], rejected: list[dict],
              holder: dict) -> dict | None:
    """Fetch and prove one copy: its result for exit_json, or None when rejected (recorded in ``rejected``)."""
    p = module.params
    dest_path = os.path.join(p["dest"], cand["name"])
    try:
        manifest = mf.loads(store.get_bytes(cand["manifest_key"]).decode("utf-8", "replace"),
                            source=f"manifest s3://{p['bucket']}/{cand['manifest_key']}")
        if manifest["file"] != cand["name"]:
            raise off.OffsiteError(f"its manifest describes {manifest['file']!r}")
        if p["expected_database"] and manifest.get("database") != p["expected_database"]:
            raise off.OffsiteError(f"it is a backup of database {manifest.get('database')!r}, not "
                                   f"{p['expected_database']!r} (wrong bucket or prefix?)")
    except (off.OffsiteError, mf.ManifestError) as exc:
        rejected.append({"name": cand["name"], "reason": str(exc)})
        return None
    result = {"name": cand["name"], "key": cand["key"], "encrypted": cand["encrypted"], "manifest": manifest,
              "candidates": public, "rejected": rejected, "bytes": 0, "seconds": 0.0}
    if matches(dest_path, manifest):
        if not module.check_mode and not os.path.exists(mf.manifest_path_for(dest_path)):
            mf.write(mf.manifest_path_for(dest_path), manifest)
        return {**result, "changed": False, "path": dest_path, "downloaded": False}
    if module.check_mode:
        return {**result, "changed": True, "path": None, "downloaded": False,
                "msg": f"would download s3://{p['bucket']}/{cand['key']} into {dest_path}"}
    os.makedirs(p["dest"], mode=0o750, exist_ok=True)
    stat = os.statvfs(p["dest"])
    if stat.f_bavail * stat.f_frsize < manifest["size"] * 1.05:
        module.fail_json(msg=f"not enough space in {p['dest']} for {cand['name']} ({manifest['size']} bytes): "
                             "free space or set db_restore_download_dir", candidates=public, rejected=rejected)
    if cand["encrypted"] and holder["gpg"] is None:
        holder["gpg"] = off.Gpg(p["encryption_key"])
    started = time.monotonic()
    try:
        got = download(store, cand, manifest, dest_path, holder["gpg"] if cand["encrypted"] else None)
    except off.OffsiteError as exc:
        if DECRYPT_FAILURE in str(exc):
            # The same key opens every copy: trying the others would only download them in vain.
            module.fail_json(msg=f"{exc}. No copy was kept.", candidates=public,
                             rejected=[*rejected, {"name": cand["name"], "reason": str(exc)}], fallback=None)
        rejected.append({"name": cand["name"], "reason": str(exc)})
        return None
    mf.write(mf.manifest_path_for(dest_path), manifest)
    return {**result, "changed": True, "path": dest_path, "downloaded": True, "bytes": got,
            "seconds": round(time.monotonic() - started, 3)}


if __name__ == "__main__":
    main()
