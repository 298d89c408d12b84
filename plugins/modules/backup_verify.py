#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_verify
short_description: Prove that a PostgreSQL backup can be restored before anyone relies on it
version_added: 0.1.0
description:
  - Reads a pg_dump backup once, from start to end, in constant memory, and reports each check separately.
  - "Formats: the plan's plain C(car_rental_backup_YYYYMMDD_HHMMSS.sql.gz) (and uncompressed C(.sql)),
    pg_dump custom archives (C(-Fc)) and directory archives (C(-Fd))."
  - "Checks: C(exists) (and is not empty); C(format); C(decompresses) (the whole gzip stream, or every compressed
    data member of an archive); C(complete) (plain dumps end with pg_dump's completion trailer and every COPY block
    is terminated; archives have a readable table of contents and every data member is present and complete);
    C(tables) (the expected tables are in the dump); C(database) (the dump's database, when known);
    C(manifest), C(checksum) and C(row_counts) (sha256, size and the rows of each table against the backup's
    manifest); C(age) (against O(max_age_hours), the RPO); C(size) (a sudden shrink against the previous backup)."
  - Gzip and archive structure are parsed here with the Python standard library, so the host needs neither
    C(pg_restore) nor C(gzip). Archives with lz4 or zstd compression are walked but not decompressed.
  - Verifies a backup object in S3-compatible storage the same way, by streaming it (O(s3_object)).
  - Fails with a message naming every failed check, the file and the fix; with O(fail_on_error=false) it
    reports the same results without failing, for picking the newest good backup among several.
  - Read-only; C(changed) is always false.
author:
  - FleetPulse Platform Engineering (@fleetpulse)
extends_documentation_fragment:
  - fleetpulse.dr.s3
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode runs every check.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
options:
  path:
    description:
      - The backup on the managed host, a file or (for the directory format) a directory.
      - Exactly one of O(path) and O(s3_object) is required.
    type: path
  format:
    description:
      - The format the backup must have; V(auto) accepts any of them.
      - V(plain.gz) is the plan's format (C(pg_dump ... | gzip)).
    type: str
    default: auto
    choices: [auto, plain, plain.gz, custom, directory]
  expected_tables:
    description:
      - Tables the dump must contain. Names are case-sensitive as in PostgreSQL (Prisma creates quoted
        CamelCase names); an unqualified name is in O(schema), C(other.Table) names another schema.
      - An empty list skips the check.
    type: list
    elements: str
    default: [Tenant, Booking, Vehicle, Customer]
  schema:
    description: Schema of unqualified names in O(expected_tables).
    type: str
    default: public
  expected_database:
    description:
      - The database the dump must come from (plan value C(fleetpulse)). Read from the archive header (custom and
        directory formats), a plain dump's C(\connect) line (C(--create)), or else the manifest.
    type: str
  manifest:
    description:
      - Location of the backup's manifest (a path, or a key in O(s3_bucket) for S3 objects).
      - Default is the backup's location with C(.manifest.json) appended, used when it exists.
      - See docs/manifest.md for the schema.
    type: str
  require_manifest:
    description: Fail the C(manifest) check when the backup has no manifest.
    type: bool
    default: false
  max_age_hours:
    description:
      - Maximum age of the backup in hours (the plan's RPO is 24 hours). V(0) skips the check.
      - The creation time comes from the manifest (C(finished_at)), else the file name
        (C(YYYYMMDD_HHMMSS), taken as UTC), else the modification time.
    type: float
    default: 24
  previous:
    description:
      - The previous backup to compare the size with (a path, or a key in O(s3_bucket)).
      - V(auto) picks the newest backup beside this one whose name has the same shape with an older
        C(YYYYMMDD_HHMMSS) timestamp (none for names without a timestamp); V(none) skips the check.
    type: str
    default: auto
  max_shrink_percent:
    description:
      - Fail the C(size) check when the backup is smaller than the previous one by more than this percentage.
        V(0) skips the check.
    type: float
    default: 20
  fail_on_error:
    description:
      - Fail the task when a check fails. With V(false) the results are returned with RV(verified=false).
    type: bool
    default: true
  depth:
    description:
      - V(full) decompresses and parses every byte (the checks above, on the file's own content).
      - "V(quick) hashes every byte but parses only the header (for archives, the whole table of contents), and
        only for a backup with a usable manifest naming it: when its sha256 and size equal the manifest's, the
        file is byte for byte the one the backup tooling checked in full before it wrote that manifest, so
        C(decompresses), C(complete), C(row_counts) and (plain dumps) C(tables) pass on that proof. A backup
        without a usable manifest gets the full check. One read at hashing speed, which also leaves the file in
        the page cache for a restore that follows."
      - Use V(quick) only with manifests written by tooling that verifies before writing (C(fleetpulse-backup)
        does, see docs/backup.md); S3 objects are always checked in full.
    type: str
    default: full
    choices: [full, quick]
notes:
  - "S3 objects are single files: plain, plain.gz and custom archives. A directory archive must be verified on disk
    (or packed by the backup tooling)."
  - "Plain dumps are parsed as pg_dump writes them: a line starting with C(COPY) and ending in C(FROM stdin;)
    outside any data starts a data block. A function body with such a line at the start of a line could make
    a complete dump look incomplete (never the reverse)."
  - The sha256 of a directory archive is the sha256 of the C(sha256sum) listing of its files sorted by path,
    reproducible with
    C(cd DIR && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum).
seealso:
  - module: fleetpulse.dr.db_record_counts
"""

EXAMPLES = r"""
- name: Verify last night's backup (the plan's format), with its manifest
  fleetpulse.dr.backup_verify:
    path: /opt/fleetpulse/backups/car_rental_backup_20260206_020000.sql.gz
    expected_database: fleetpulse
    require_manifest: true

- name: Verify a custom-format archive, any age, no size comparison
  fleetpulse.dr.backup_verify:
    path: /var/backups/fleetpulse.dump
    format: custom
    max_age_hours: 0
    previous: none

- name: Verify the offsite copy by streaming it from S3
  fleetpulse.dr.backup_verify:
    s3_bucket: "{{ fleetpulse_offsite_s3_bucket }}"
    s3_object: fleetpulse/db-backups/car_rental_backup_20260206_020000.sql.gz
    s3_endpoint_url: "{{ fleetpulse_offsite_s3_endpoint }}"
    s3_access_key: "{{ fleetpulse_offsite_s3_access_key }}"
    s3_secret_key: "{{ fleetpulse_offsite_s3_secret_key }}"

- name: Find the newest backup that passes every check
  fleetpulse.dr.backup_verify:
    path: "{{ item }}"
    fail_on_error: false
  loop: "{{ query('ansible.builtin.fileglob', '/opt/fleetpulse/backups/car_rental_backup_*.sql.gz') | sort | reverse }}"
  register: candidates

- name: Show the verdicts
  ansible.builtin.debug:
    msg: "{{ candidates.results | selectattr('verified') | map(attribute='location') | first }}"
"""

RETURN = r"""
verified:
  description: Whether every check passed or was skipped.
  returned: always
  type: bool
  sample: true
location:
  description: What was verified (a path, or C(s3://bucket/key)).
  returned: always
  type: str
  sample: /opt/fleetpulse/backups/car_rental_backup_20260206_020000.sql.gz
format:
  description: Detected format (C(plain), C(plain.gz), C(custom), C(directory) or C(unknown)).
  returned: always
  type: str
  sample: plain.gz
compression:
  description: Compression of the data (C(gzip), C(none), C(lz4), C(zstd)).
  returned: always
  type: str
  sample: gzip
size:
  description: Size in bytes (for a directory, of all its files).
  returned: always
  type: int
  sample: 52428800
sha256:
  description: sha256 of the stored bytes (for a directory, of its C(sha256sum) listing).
  returned: when the backup exists
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
created_at:
  description: When the backup was made (UTC).
  returned: always
  type: str
  sample: "2026-02-06T02:00:41Z"
created_at_source:
  description: Where RV(created_at) comes from (C(manifest), C(file name) or C(modification time)).
  returned: always
  type: str
  sample: manifest
age_seconds:
  description: Age of the backup in seconds at the time of the check.
  returned: always
  type: int
  sample: 3600
pg_dump_version:
  description: Version of the pg_dump that wrote the backup.
  returned: always
  type: str
  sample: 15.18 (Debian 15.18-0+deb12u1)
server_version:
  description: Version of the server the backup was taken from.
  returned: always
  type: str
  sample: 15.18 (Debian 15.18-0+deb12u1)
database:
  description: The dumped database when the dump names it (archive header or C(\connect)), else null.
  returned: always
  type: str
  sample: fleetpulse
tables:
  description: Tables in the dump, as C(schema.table).
  returned: always
  type: list
  elements: str
  sample: [public.Booking, public.Customer, public.Tenant, public.Vehicle]
row_counts:
  description: Rows of each table's data in the dump (from its COPY data), keyed C(schema.table).
  returned: always
  type: dict
  sample: {public.Tenant: 12, public.Booking: 48210}
decompressed_bytes:
  description: Bytes of SQL or table data after decompression.
  returned: always
  type: int
  sample: 251658240
checks:
  description:
    - Every check by name, with C(status) (C(passed), C(failed) or C(skipped)), a C(message), and a C(fix)
      when it failed.
  returned: always
  type: dict
  sample:
    complete: {status: failed, message: "... is incomplete: it ends inside the data of table public.Booking",
               fix: "pg_dump did not finish ..."}
failed_checks:
  description: Names of the failed checks.
  returned: always
  type: list
  elements: str
  sample: [complete]
manifest:
  description: The manifest that was used, or null.
  returned: always
  type: dict
previous:
  description: The previous backup the size was compared with (C(location), C(size)), or null.
  returned: always
  type: dict
notes:
  description: Remarks on checks that could only be partly done.
  returned: always
  type: list
  elements: str
depth:
  description: How deep the backup was read (C(full) or C(quick)); C(full) when O(depth=quick) found no usable manifest.
  returned: always
  type: str
  sample: quick
summary:
  description: One line with the numbers.
  returned: always
  type: str
  sample: "car_rental_backup_20260206_020000.sql.gz: 11 checks, 9 passed, 0 failed, 2 skipped; 50.0 MiB"
"""

import datetime
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fleetpulse.dr.plugins.module_utils import manifest as mf
from ansible_collections.fleetpulse.dr.plugins.module_utils import s3 as s3u
from ansible_collections.fleetpulse.dr.plugins.module_utils.dumpscan import (
    ScanResult,
    quick_scan_path,
    scan_path,
    scan_stream,
)
from ansible_collections.fleetpulse.dr.plugins.module_utils.verify import (
    Candidate,
    VerifyInput,
    evaluate,
    failure_message,
    pick_previous,
    sibling_pattern,
)


def argument_spec() -> dict:
    return {
        "path": {"type": "path"},
        "format": {"type": "str", "default": "auto", "choices": ["auto", "plain", "plain.gz", "custom", "directory"]},
        "expected_tables": {"type": "list", "elements": "str", "default": ["Tenant", "Booking", "Vehicle", "Customer"]},
        "schema": {"type": "str", "default": "public"},
        "expected_database": {"type": "str"},
        "manifest": {"type": "str"},
        "require_manifest": {"type": "bool", "default": False},
        "max_age_hours": {"type": "float", "default": 24},
        "previous": {"type": "str", "default": "auto"},
        "max_shrink_percent": {"type": "float", "default": 20},
        "fail_on_error": {"type": "bool", "default": True},
        "depth": {"type": "str", "default": "full", "choices": ["full", "quick"]},
        "s3_bucket": {"type": "str"},
        "s3_object": {"type": "str"},
        "s3_endpoint_url": {"type": "str"},
        "s3_region": {"type": "str", "default": "us-east-1"},
        "s3_access_key": {"type": "str", "no_log": True},
        "s3_secret_key": {"type": "str", "no_log": True},
    }


def _local_size(path: str) -> int:
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(path, rel)) for rel in mf.directory_files(path))
    return os.path.getsize(path)


def _local_previous(path: str, mtime: float | None) -> list[Candidate]:
    import glob  # noqa: PLC0415 - only for the auto lookup

    name = os.path.basename(path.rstrip("/"))
    pattern = sibling_pattern(name)
    directory = os.path.dirname(os.path.abspath(path))
    if pattern is None:
        return []  # without a timestamp in the name, "previous" is ambiguous: give it explicitly
    found = []
    for item in glob.glob(os.path.join(directory, pattern)):
        if os.path.abspath(item) == os.path.abspath(path) or item.endswith(mf.MANIFEST_SUFFIX):
            continue
        try:
            found.append(Candidate(item, _local_size(item), os.path.getmtime(item)))
        except OSError:
            continue
    return found


def _load_local_manifest(module: AnsibleModule, inp: VerifyInput, manifest_path: str) -> None:
    if os.path.exists(manifest_path):
        try:
            inp.manifest = mf.read(manifest_path)
        except mf.ManifestError as exc:
            inp.manifest_error = str(exc)
    elif module.params["manifest"]:
        inp.manifest_error = f"{manifest_path} does not exist"


def _find_local_previous(module: AnsibleModule, inp: VerifyInput, path: str) -> None:
    prev_opt = module.params["previous"]
    if prev_opt == "auto":
        inp.previous = pick_previous(os.path.basename(path.rstrip("/")), inp.mtime, _local_previous(path, inp.mtime))
    elif prev_opt and prev_opt != "none":
        if os.path.exists(prev_opt):
            inp.previous = Candidate(prev_opt, _local_size(prev_opt), os.path.getmtime(prev_opt))
        else:
            inp.previous_error = f"the previous backup {prev_opt} does not exist: fix 'previous' or use 'auto'"


def verify_local(module: AnsibleModule, inp: VerifyInput) -> tuple[ScanResult | None, str | None]:
    path = module.params["path"]
    inp.exists = os.path.exists(path)
    manifest_path = module.params["manifest"] or mf.manifest_path_for(path)
    inp.manifest_location = manifest_path
    if not inp.exists:
        return None, manifest_path
    try:
        inp.mtime = os.path.getmtime(path)
        inp.size_on_disk = _local_size(path)
        if inp.size_on_disk == 0:
            return None, manifest_path
        _load_local_manifest(module, inp, manifest_path)
        if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "toc.dat")):
            result = ScanResult(format="unknown", size=inp.size_on_disk,
                                format_error="a directory without toc.dat, so not a pg_dump directory archive")
        elif module.params["depth"] == "quick" and inp.manifest is not None \
                and inp.manifest.get("file") == os.path.basename(path.rstrip("/")):
            result = quick_scan_path(path)
        else:
            result, _digests = scan_path(path)
    except OSError as exc:
        module.fail_json(msg=f"cannot read {exc.filename or path}: {exc.strerror}", location=path)
    _find_local_previous(module, inp, path)
    return result, manifest_path


def verify_s3(module: AnsibleModule, inp: VerifyInput) -> tuple[ScanResult | None, str | None]:
    if not s3u.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=s3u.BOTO3_IMPORT_ERROR)
    p = module.params
    bucket, key = p["s3_bucket"], p["s3_object"]
    cli = s3u.client(p["s3_endpoint_url"], p["s3_region"], p["s3_access_key"], p["s3_secret_key"])
    manifest_key = p["manifest"] or mf.manifest_path_for(key)
    inp.manifest_location = f"s3://{bucket}/{manifest_key}"
    try:
        meta = s3u.head(cli, bucket, key)
        if meta is None:
            inp.exists = False
            return None, inp.manifest_location
        inp.exists, inp.size_on_disk, inp.mtime = True, meta.size, meta.mtime
        if meta.size == 0:
            return None, inp.manifest_location
        result = scan_stream(s3u.stream(cli, bucket, key), name=os.path.basename(key))
        text = s3u.read_text(cli, bucket, manifest_key)
        if text is not None:
            try:
                inp.manifest = mf.loads(text, source=f"manifest {inp.manifest_location}")
            except mf.ManifestError as exc:
                inp.manifest_error = str(exc)
        elif p["manifest"]:
            inp.manifest_error = f"{inp.manifest_location} does not exist"
        prev_opt = p["previous"]
        if prev_opt == "auto":
            prefix = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
            cands = [Candidate(f"s3://{bucket}/{o.key}", o.size, o.mtime) for o in s3u.list_prefix(cli, bucket, prefix)
                     if "/" not in o.key[len(prefix):] and o.key != key]
            pattern = sibling_pattern(os.path.basename(key))
            if pattern:
                import fnmatch  # noqa: PLC0415

                cands = [c for c in cands if fnmatch.fnmatchcase(os.path.basename(c.location), pattern)]
            inp.previous = pick_previous(os.path.basename(key), inp.mtime, cands)
        elif prev_opt and prev_opt != "none":
            pmeta = s3u.head(cli, bucket, prev_opt)
            if pmeta is None:
                inp.previous_error = f"the previous backup s3://{bucket}/{prev_opt} does not exist"
            else:
                inp.previous = Candidate(f"s3://{bucket}/{prev_opt}", pmeta.size, pmeta.mtime)
    except s3u.S3Error as exc:
        module.fail_json(msg=str(exc), location=f"s3://{bucket}/{key}")
    return result, inp.manifest_location


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_one_of=[("path", "s3_object")],
        mutually_exclusive=[("path", "s3_object")],
        required_together=[("s3_bucket", "s3_object")],
        supports_check_mode=True,
    )
    p = module.params
    if p["max_age_hours"] < 0 or p["max_shrink_percent"] < 0:
        module.fail_json(msg="max_age_hours and max_shrink_percent must not be negative")
    location = p["path"] if p["path"] else f"s3://{p['s3_bucket']}/{p['s3_object']}"
    name = os.path.basename(location.rstrip("/"))
    inp = VerifyInput(
        location=location, name=name, exists=False, size_on_disk=0, mtime=None, result=None,
        expected_format=p["format"],
        expected_tables=[t if "." in t else f"{p['schema']}.{t}" for t in p["expected_tables"]],
        expected_database=p["expected_database"],
        require_manifest=p["require_manifest"],
        max_age_hours=p["max_age_hours"],
        max_shrink_percent=p["max_shrink_percent"],
        now=datetime.datetime.now(datetime.UTC),
    )
    result, _manifest_location = verify_s3(module, inp) if p["s3_object"] else verify_local(module, inp)
    inp.result = result
    checks, facts = evaluate(inp)
    output = build_output(inp, checks, facts)
    if output["failed_checks"] and p["fail_on_error"]:
        module.fail_json(msg=failure_message(location, checks), **output)
    module.exit_json(**output)


def build_output(inp: VerifyInput, checks: dict, facts: dict) -> dict:
    res = inp.result or ScanResult(size=inp.size_on_disk)
    location, name = inp.location, inp.name
    failed = [n for n, c in checks.items() if c.status == "failed"]
    counts = {s: sum(1 for c in checks.values() if c.status == s) for s in ("passed", "failed", "skipped")}
    summary = (f"{name}: {len(checks)} checks, {counts['passed']} passed, {counts['failed']} failed, "
               f"{counts['skipped']} skipped; {res.size} bytes, {len(res.tables)} tables, "
               f"{sum(res.row_counts.values())} rows")
    output = {
        "changed": False,
        "verified": not failed,
        "location": location,
        "format": res.format,
        "compression": res.compression,
        "size": res.size,
        "sha256": res.sha256 or None,
        "pg_dump_version": res.pg_dump_version,
        "server_version": res.server_version,
        "database": res.database,
        "tables": res.tables,
        "row_counts": res.row_counts,
        "decompressed_bytes": res.decompressed_bytes,
        "checks": {n: c.as_dict(n) for n, c in checks.items()},
        "failed_checks": failed,
        "manifest": inp.manifest,
        "previous": {"location": inp.previous.location, "size": inp.previous.size} if inp.previous else None,
        "notes": res.notes,
        "depth": res.depth,
        "summary": summary,
        **facts,
    }
    return output


if __name__ == "__main__":
    main()
