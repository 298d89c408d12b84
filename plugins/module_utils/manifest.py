# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup manifest: a small JSON file written beside every backup.

The schema is documented in docs/manifest.md. This module is the only code that
reads or writes manifests, so the backup tooling (writer) and the verification
modules (readers) cannot drift apart. Standard library only: it runs on managed
hosts with nothing but Debian's python3.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
from typing import Any

from ansible_collections.fleetpulse.dr.plugins.module_utils import atomicfile

SCHEMA_VERSION = 1
KIND = "fleetpulse.dr/pg-backup-manifest"
MANIFEST_SUFFIX = ".manifest.json"
FORMATS = ("plain", "plain.gz", "custom", "directory")
HASH_CHUNK = 1024 * 1024
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "kind": str,
    "file": str,
    "format": str,
    "size": int,
    "sha256": str,
    "database": str,
    "server_version": str,
    "pg_dump_version": str,
    "started_at": str,
    "finished_at": str,
    "row_counts": dict,
}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "snapshot": str,
    "tenant_column": str,
    "tenant_row_counts": dict,
    "pg_dump_options": list,
    "host": str,
    "tool": str,
}


class ManifestError(Exception):
    """A manifest is missing, unreadable or does not follow the schema."""


def manifest_path_for(backup_path: str) -> str:
    """Where the manifest of ``backup_path`` lives: ``<backup>.manifest.json`` beside it."""
    return backup_path.rstrip("/") + MANIFEST_SUFFIX


def utc_now() -> str:
    return format_time(_dt.datetime.now(_dt.UTC))


def format_time(value: _dt.datetime) -> str:
    """ISO 8601 UTC with a ``Z`` suffix, second precision (``2026-02-06T02:00:07Z``)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: manifest times must be timezone-aware (UTC)")
    return value.astimezone(_dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> _dt.datetime:
    """Parse an ISO 8601 time with an explicit offset or ``Z``; naive times are rejected."""
    try:
        parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ManifestError(f"{value!r} is not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise ManifestError(f"{value!r} has no timezone; manifest times are UTC with a 'Z' suffix")
    return parsed.astimezone(_dt.UTC)


def table_key(table: str, schema: str = "public") -> str:
    """The manifest's key for a table: ``schema.table``, unquoted (``public.Tenant``).

    ``table`` may already be qualified (``audit.Event``); the first dot separates the schema.
    """
    return table if "." in table else f"{schema}.{table}"


def _check_counts(name: str, value: Any, errors: list[str]) -> None:
    for table, count in value.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            errors.append(f"{name}[{table!r}] must be a non-negative integer, got {count!r}")


def validate(data: Any) -> list[str]:  # noqa: PLR0912 - a flat list of format rules reads best as one function
    """Every way ``data`` departs from the schema, as readable sentences (empty when valid)."""
    if not isinstance(data, dict):
        return ["the manifest must be a JSON object"]
    errors: list[str] = []
    for key, typ in _REQUIRED.items():
        if key not in data:
            errors.append(f"missing required field {key!r}")
        elif not isinstance(data[key], typ) or (typ is int and isinstance(data[key], bool)):
            errors.append(f"field {key!r} must be of type {getattr(typ, '__name__', typ)}")
    for key, typ in _OPTIONAL.items():
        if key in data and data[key] is not None and not isinstance(data[key], typ):
            errors.append(f"field {key!r} must be of type {getattr(typ, '__name__', typ)}")
    if errors:
        return errors
    if data["schema_version"] != SCHEMA_VERSION:
        errors.append(f"schema_version {data['schema_version']} is not supported (this reader knows {SCHEMA_VERSION})")
    if data["kind"] != KIND:
        errors.append(f"kind must be {KIND!r}, got {data['kind']!r}")
    if data["format"] not in FORMATS:
        errors.append(f"format must be one of {', '.join(FORMATS)}, got {data['format']!r}")
    if data["size"] < 0:
        errors.append("size must not be negative")
    if not _SHA256_RE.match(data["sha256"]):
        errors.append("sha256 must be 64 lowercase hexadecimal characters")
    if "/" in data["file"] or not data["file"]:
        errors.append("file must be a bare file name (no directory)")
    for key in ("started_at", "finished_at"):
        try:
            parse_time(data[key])
        except ManifestError as exc:
            errors.append(f"{key}: {exc}")
    _check_counts("row_counts", data["row_counts"], errors)
    for table, per_tenant in (data.get("tenant_row_counts") or {}).items():
        if not isinstance(per_tenant, dict):
            errors.append(f"tenant_row_counts[{table!r}] must be an object of tenant id to count")
        else:
            _check_counts(f"tenant_row_counts[{table!r}]", per_tenant, errors)
    return errors


def loads(text: str, source: str = "manifest") -> dict[str, Any]:
    """Parse and validate manifest text; raise ManifestError naming ``source`` and every problem."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"{source} is not valid JSON ({exc})") from exc
    errors = validate(data)
    if errors:
        raise ManifestError(f"{source} does not follow manifest schema {SCHEMA_VERSION}: {'; '.join(errors)}")
    return data


def read(path: str) -> dict[str, Any]:
    """Read and validate the manifest at ``path``."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(4 * 1024 * 1024)
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror or exc}") from exc
    return loads(text, source=f"manifest {path}")


def build(
    *,
    file: str,
    fmt: str,
    size: int,
    sha256: str,
    database: str,
    server_version: str,
    pg_dump_version: str,
    started_at: str,
    finished_at: str,
    row_counts: dict[str, int],
    tenant_row_counts: dict[str, dict[str, int]] | None = None,
    tenant_column: str | None = None,
    snapshot: str | None = None,
    pg_dump_options: list[str] | None = None,
    host: str | None = None,
    tool: str | None = None,
) -> dict[str, Any]:
    """A manifest dictionary, validated; raises ManifestError when a field is wrong."""
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "file": os.path.basename(file.rstrip("/")),
        "format": fmt,
        "size": size,
        "sha256": sha256,
        "database": database,
        "server_version": server_version,
        "pg_dump_version": pg_dump_version,
        "started_at": started_at,
        "finished_at": finished_at,
        "row_counts": dict(sorted(row_counts.items())),
    }
    optional = {
        "tenant_column": tenant_column,
        "tenant_row_counts": (
            {t: dict(sorted(c.items())) if isinstance(c, dict) else c for t, c in sorted(tenant_row_counts.items())}
            if tenant_row_counts else None
        ),
        "snapshot": snapshot,
        "pg_dump_options": pg_dump_options,
        "host": host,
        "tool": tool,
    }
    data.update({k: v for k, v in optional.items() if v is not None})
    errors = validate(data)
    if errors:
        raise ManifestError("refusing to write an invalid manifest: " + "; ".join(errors))
    return data


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def write(path: str, data: dict[str, Any], mode: int = 0o640) -> None:
    """Write ``data`` (validated again) to ``path`` atomically: temp file, fsync, rename."""
    errors = validate(data)
    if errors:
        raise ManifestError("refusing to write an invalid manifest: " + "; ".join(errors))
    atomicfile.write_text(path, dumps(data), mode, prefix=".manifest-", suffix=".tmp")


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(HASH_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def directory_files(path: str) -> list[str]:
    """Relative paths of the regular files under ``path``, sorted bytewise (as ``LC_ALL=C sort``)."""
    found = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in files:
            full = os.path.join(root, name)
            if os.path.isfile(full) and not os.path.islink(full):
                found.append(os.path.relpath(full, path))
    return sorted(found, key=lambda p: p.encode("utf-8", "surrogateescape"))


def sha256_directory(path: str, file_digests: dict[str, str] | None = None) -> str:
    """The checksum of a directory-format dump, reproducible with standard tools::

        cd DIR && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum

    i.e. the sha256 of the ``sha256sum`` listing (``<hex>  <relative path>``) of every file,
    sorted by path. ``file_digests`` may carry digests already computed (relative path -> hex).
    """
    digests = dict(file_digests or {})
    listing = hashlib.sha256()
    for rel in directory_files(path):
        hexdigest = digests.get(rel) or sha256_file(os.path.join(path, rel))
        listing.update(f"{hexdigest}  {rel}\n".encode("utf-8", "surrogateescape"))
    return listing.hexdigest()
