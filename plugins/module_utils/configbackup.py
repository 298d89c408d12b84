# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Configuration backups (plan 2.3): the app's .env, compose files, nginx and monitoring
configuration and /etc/letsencrypt, archived, encrypted and copied offsite, verified.

Layout (docs/backup.md, what the rebuild tooling reads)::

    local:   <backup_dir>/config/fleetpulse_config_YYYYMMDD_HHMMSS.tar.gz.gpg (+ .manifest.json)
    offsite: <prefix>/config-backups/<host>/fleetpulse_config_YYYYMMDD_HHMMSS.tar.gz.gpg (+ .manifest.json)

The archive holds absolute paths without the leading slash (``opt/fleetpulse/.env``,
``etc/letsencrypt/live/...``), so ``gpg -d FILE | tar -xzpf - -C /`` puts every file
back where it was. It is always encrypted (the .env holds every secret of the stack).
The manifest (JSON, not encrypted, no secrets) lists every file with its size, mode and
sha256. Verification reads the offsite object back, decrypts it and checks every member
against the manifest.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import socket
import stat
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.fleetpulse.dr.plugins.module_utils import manifest as mf
from ansible_collections.fleetpulse.dr.plugins.module_utils import offsite as off
from ansible_collections.fleetpulse.dr.plugins.module_utils import retention as ret

KIND = "fleetpulse.dr/config-backup-manifest"
SCHEMA_VERSION = 1
AREA = "config-backups"
PREFIX = "fleetpulse_config_"
SUFFIX = ".tar.gz.gpg"
NAME_RE = re.compile(r"^fleetpulse_config_(\d{8})_(\d{6})\.tar\.gz\.gpg$")


class ConfigBackupError(Exception):
    """The configuration backup failed; the message names the cause and the fix."""


@dataclass
class ConfigSettings:
    paths: list[str] = field(default_factory=list)
    optional_paths: list[str] = field(default_factory=list)
    local_dir: str = ""
    retention_days: int = 90
    keep_min: int = 5
    encryption_key: str = field(default="", repr=False)
    host: str = ""


def parse_name(name: str) -> ret.BackupName | None:
    m = NAME_RE.match(name)
    if not m:
        return None
    stamp = _dt.datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S").replace(tzinfo=_dt.UTC)
    return ret.BackupName(name, stamp, "config", "tar.gz", True)


def _sha256(path: str) -> str:
    return mf.sha256_file(path)


def collect(cfg: ConfigSettings) -> tuple[list[str], list[str]]:
    """The roots to archive and the optional ones that are absent; a missing required path fails."""
    missing = [p for p in cfg.paths if not os.path.lexists(p)]
    if missing:
        raise ConfigBackupError(f"configuration to back up is missing: {', '.join(missing)}: fix "
                                "db_backup_config_paths (or move them to db_backup_config_optional_paths)")
    roots = list(cfg.paths) + [p for p in cfg.optional_paths if os.path.lexists(p)]
    absent = [p for p in cfg.optional_paths if not os.path.lexists(p)]
    return roots, absent


def build_archive(roots: list[str], out_path: str) -> list[dict[str, Any]]:
    """tar.gz of ``roots`` (recursively, symlinks as links); returns the file list for the manifest."""
    entries: list[dict[str, Any]] = []

    def record(path: str, info: tarfile.TarInfo) -> None:
        item: dict[str, Any] = {"path": info.name, "mode": f"{stat.S_IMODE(info.mode):04o}"}
        if info.issym():
            item.update(type="symlink", target=info.linkname)
        elif info.isdir():
            item.update(type="directory")
        else:
            item.update(type="file", size=info.size, sha256=_sha256(path))
        entries.append(item)

    with tarfile.open(out_path, "w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
        for root in roots:
            walk = [root]
            if os.path.isdir(root) and not os.path.islink(root):
                walk = [root]
                for base, dirs, files in os.walk(root):
                    dirs.sort()
                    walk += [os.path.join(base, d) for d in dirs] + [os.path.join(base, f) for f in sorted(files)]
            for path in walk:
                info = tar.gettarinfo(path, arcname=os.path.abspath(path).lstrip("/"))
                if info is None or not (info.isfile() or info.isdir() or info.issym()):
                    continue  # sockets, fifos: not configuration
                record(path, info)
                if info.isfile():
                    with open(path, "rb") as handle:
                        tar.addfile(info, handle)
                else:
                    tar.addfile(info)
    return entries


def check_archive(path: str, files: list[dict[str, Any]]) -> None:
    """Every member of the (decrypted) archive is there with the manifest's sha256, and nothing else."""
    want = {f["path"]: f for f in files}
    seen = set()
    with tarfile.open(path, "r:gz") as tar:
        for info in tar:
            item = want.get(info.name)
            if item is None:
                raise ConfigBackupError(f"the archive holds {info.name}, which its manifest does not list")
            seen.add(info.name)
            if item["type"] == "file":
                handle = tar.extractfile(info)
                digest = hashlib.sha256()
                while block := handle.read(1024 * 1024):  # type: ignore[union-attr]
                    digest.update(block)
                if digest.hexdigest() != item["sha256"]:
                    raise ConfigBackupError(f"{info.name} in the archive differs from the manifest (sha256)")
    lost = set(want) - seen
    if lost:
        raise ConfigBackupError(f"the archive lacks {len(lost)} file(s) of its manifest, e.g. {sorted(lost)[0]}")


def _encrypt(gpg: off.Gpg, archive: str, partial: str) -> None:
    with open(archive, "rb") as source:
        proc = gpg.start("encrypt", source)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            while block := proc.stdout.read(1024 * 1024):  # type: ignore[union-attr]
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.wait() != 0:
            raise ConfigBackupError(f"gpg could not encrypt the archive: {' '.join(err.split())[-300:]}")


def _write_manifest(path: str, manifest: dict[str, Any]) -> str:
    text = json.dumps(manifest, indent=2) + "\n"
    tmp = path + ".partial"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return text


def run_config_backup(cfg: ConfigSettings, offsite: off.OffsiteSettings | None, log: Any) -> dict[str, Any]:
    """Archive, encrypt, keep locally, upload, read back and check every file, then purge expired copies."""
    if offsite is None:
        raise ConfigBackupError("configuration backups go to the offsite store, which is not configured: set "
                                "fleetpulse_offsite_s3_bucket and its credentials (db_backup_offsite_enabled)")
    if not cfg.encryption_key:
        raise ConfigBackupError("configuration backups hold the .env secrets and are always encrypted: set "
                                "db_backup_config_encryption_key (vault)")
    started = time.monotonic()
    now = _dt.datetime.now(_dt.UTC)
    host = cfg.host or socket.gethostname()
    name = f"{PREFIX}{now:%Y%m%d_%H%M%S}{SUFFIX}"
    os.makedirs(cfg.local_dir, mode=0o700, exist_ok=True)
    final = os.path.join(cfg.local_dir, name)
    partial = final + ".partial"
    data_key = offsite.key(AREA, f"{host}/{name}")
    roots, absent = collect(cfg)
    store = off.Store(offsite)
    store.check()
    with tempfile.TemporaryDirectory(prefix=".config-", dir=cfg.local_dir) as tmpdir, \
            off.Gpg(cfg.encryption_key) as gpg:
        try:
            archive = os.path.join(tmpdir, "archive.tar.gz")
            files = build_archive(roots, archive)
            _encrypt(gpg, archive, partial)
            enc_sha, enc_size = _sha256(partial), os.path.getsize(partial)
            log(f"config: uploading {name} ({len(files)} entries from {', '.join(roots)}; {enc_size} bytes "
                f"encrypted) to s3://{offsite.bucket}/{data_key}")
            up = off.upload_file(store, partial, data_key, enc_sha, None)
            readback = os.path.join(tmpdir, "readback.tar.gz")
            with open(readback, "wb") as sink:
                back = off.read_back(store, data_key, gpg, consume=sink.write)
            if up.stored_sha256 != enc_sha or back.stored_sha256 != enc_sha or back.stored_size != enc_size \
                    or back.plain_sha256 != _sha256(archive):
                raise ConfigBackupError(f"the offsite copy s3://{offsite.bucket}/{data_key} does not match what "
                                        "was written: run the configuration backup again")
            check_archive(readback, files)
            manifest = {
                "schema_version": SCHEMA_VERSION, "kind": KIND, "file": name, "size": enc_size, "sha256": enc_sha,
                "encryption": off.ENCRYPTION_GPG,
                "archive": {"format": "tar.gz", "size": os.path.getsize(archive), "sha256": back.plain_sha256},
                "created_at": mf.format_time(now), "finished_at": mf.utc_now(), "host": host, "roots": roots,
                "missing_optional": absent, "files": files,
                "restore": "gpg --batch --pinentry-mode loopback --passphrase-file KEYFILE -d FILE "
                           "| tar -xzpf - -C /",
            }
            text = _write_manifest(final + mf.MANIFEST_SUFFIX, manifest)
            os.replace(partial, final)
            store.put_bytes(data_key + mf.MANIFEST_SUFFIX, text.encode())
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    log(f"config: verified s3://{offsite.bucket}/{data_key}: read back, decrypted, {len(files)} entries match "
        "the manifest")
    removed = purge(cfg, store, offsite, host=host, now=now, log=log)
    return {"ok": True, "file": final, "key": data_key, "manifest_key": data_key + mf.MANIFEST_SUFFIX,
            "size": enc_size, "sha256": enc_sha, "entries": len(files),
            "files": sum(1 for f in files if f["type"] == "file"), "roots": roots, "missing_optional": absent,
            "verified": True, "removed": removed, "finished_at": manifest["finished_at"],
            "duration_seconds": round(time.monotonic() - started, 3)}


def purge(cfg: ConfigSettings, store: off.Store, offsite: off.OffsiteSettings, *, host: str, now: _dt.datetime,
          log: Any) -> list[str]:
    removed: list[str] = []
    days = {"config": cfg.retention_days}
    local = [ret.Candidate(p, os.path.exists(os.path.join(cfg.local_dir, p.name + mf.MANIFEST_SUFFIX)))
             for p in (parse_name(n) for n in os.listdir(cfg.local_dir)) if p]
    for cand in ret.plan_purge(local, now, days, cfg.keep_min)[0]:
        for victim in (cand.backup.name + mf.MANIFEST_SUFFIX, cand.backup.name):
            path = os.path.join(cfg.local_dir, victim)
            if os.path.exists(path):
                os.unlink(path)
        removed.append(cand.backup.name)
        log(f"config retention: removed {cand.backup.name}")
    prefix = offsite.key(AREA, host) + "/"
    names = {o.key[len(prefix):] for o in store.list(prefix)}
    remote = [ret.Candidate(p, p.name + mf.MANIFEST_SUFFIX in names) for p in (parse_name(n) for n in names) if p]
    victims = []
    for cand in ret.plan_purge(remote, now, days, cfg.keep_min)[0]:
        victims += [prefix + cand.backup.name, prefix + cand.backup.name + mf.MANIFEST_SUFFIX]
        log(f"config retention: removing s3://{offsite.bucket}/{prefix}{cand.backup.name}")
    if victims:
        store.delete(victims)
    return removed + [v for v in victims if not v.endswith(mf.MANIFEST_SUFFIX)]
