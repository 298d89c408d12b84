# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The database backup run of ``fleetpulse-backup db`` (plan 2.1, 2.4).

One run, under the shared lock (``/run/lock/fleetpulse-db.lock``, also taken by restores):

1. settings and free space checked, stale ``*.partial`` files of crashed runs removed;
2. connection from the variables and/or DATABASE_URL; pg_dump and server versions compared
   (a pg_dump older than the server is refused);
3. a REPEATABLE READ snapshot is exported, the rows of every table are counted in it,
   and ``pg_dump --snapshot`` dumps exactly that state to ``<name>.partial``, hashed
   (and gzipped, for the plan's format) as it streams; any failing process fails the run;
4. the partial file is verified (the backup_verify checks: format, decompresses,
   complete, checksum, rows per table against the counts) and fsynced, the manifest is
   written, and only then is the file renamed to its final name;
5. retention purges expired backups (never the newest ``keep_min`` valid ones), then
   the offsite copy uploads what the store lacks, reads it back to verify, and purges
   expired copies there.

A failure at any step leaves no file with a final name and deletes nothing.
Standard library only, plus boto3 and gpg for offsite copies.
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import hashlib
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.fleetpulse.dr.plugins.module_utils import manifest as mf
from ansible_collections.fleetpulse.dr.plugins.module_utils import offsite as off
from ansible_collections.fleetpulse.dr.plugins.module_utils import retention as ret
from ansible_collections.fleetpulse.dr.plugins.module_utils.dumpscan import scan_path
from ansible_collections.fleetpulse.dr.plugins.module_utils.pg import (
    ConnParams,
    PgError,
    PsqlRunner,
    compose_container,
    parse_database_url,
)
from ansible_collections.fleetpulse.dr.plugins.module_utils.snapshot import SnapshotSession
from ansible_collections.fleetpulse.dr.plugins.module_utils.verify import VerifyInput, evaluate, failure_message

VERSION = "0.1.0"
TOOL = f"fleetpulse.dr fleetpulse-backup {VERSION}"
PLAN_OPTIONS = ["--clean", "--if-exists", "--no-owner", "--no-acl"]
CHUNK = 1024 * 1024
PARTIAL = ".partial"
DB_AREA = "db-backups"


class BackupError(Exception):
    """The run failed; the message names the cause and the fix (one line)."""


class LockBusy(BackupError):
    """Another backup or restore holds the lock."""


class OffsiteFailed(BackupError):
    """The local backup succeeded but its offsite copy did not."""


# --------------------------------------------------------------------------- settings

@dataclass
class DbSettings:
    name: str = "fleetpulse"
    user: str = "fleetpulse"
    password: str = field(default="", repr=False)
    host: str = ""
    port: int = 0
    database_url: str = field(default="", repr=False)
    env_file: str = ""
    pg_dump: str = "container"  # container | host
    container: str = ""
    compose_project_dir: str = "/opt/fleetpulse"
    compose_files: list[str] = field(default_factory=lambda: ["docker-compose.prod.yml"])
    compose_project: str = "carrental"
    compose_service: str = "postgres"


@dataclass
class Settings:
    db: DbSettings
    backup_dir: str = "/opt/fleetpulse/backups"
    format: str = "custom"
    compress_level: int = 6
    name_prefix: str = ret.PREFIX
    tables: list[str] = field(default_factory=list)
    per_tenant: bool = True
    tenant_column: str = "tenantId"
    retention_days: dict[str, int] = field(default_factory=lambda: {"daily": 30, "pre-deploy": 7, "manual": 0})
    keep_min: int = 3
    min_free_factor: float = 1.2
    file_mode: int = 0o640
    lock_path: str = "/run/lock/fleetpulse-db.lock"
    lock_timeout: float = 600
    metrics_dir: str = "/var/lib/node_exporter/textfile_collector"
    state_dir: str = "/var/lib/fleetpulse-backup"
    offsite: off.OffsiteSettings | None = None
    config_backup: dict[str, Any] = field(default_factory=dict)


def _mode(value: Any) -> int:
    return int(value, 8) if isinstance(value, str) else int(value)


def load_settings(path: str) -> Settings:
    """Read the JSON configuration written by the db_backup role (0600, root)."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except FileNotFoundError:
        raise BackupError(f"configuration {path} not found: apply the fleetpulse.dr.db_backup role "
                          "(or pass --config)") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"configuration {path} is unreadable: {exc}") from None
    try:
        db = DbSettings(**raw.get("database", {}))
        offsite_raw = raw.get("offsite") or {}
        offsite = off.OffsiteSettings(**{k: v for k, v in offsite_raw.items() if k != "enabled"}) \
            if offsite_raw.get("enabled") else None
        settings = Settings(
            db=db, offsite=offsite,
            **{k: v for k, v in raw.items() if k not in ("database", "offsite", "file_mode")},
            file_mode=_mode(raw.get("file_mode", "0640")),
        )
    except TypeError as exc:
        raise BackupError(f"configuration {path} has an unknown or missing setting ({exc}): re-apply the "
                          "db_backup role of the same collection version") from None
    if settings.format not in ret.EXTENSIONS:
        raise BackupError(f"format {settings.format!r} is not supported: use custom or plain.gz")
    if db.pg_dump not in ("container", "host"):
        raise BackupError(f"database.pg_dump must be container or host, got {db.pg_dump!r}")
    return settings


# --------------------------------------------------------------------------- lock

class Lock:
    """An exclusive flock on a file shared with the restore tooling; waits up to ``timeout`` seconds."""

    def __init__(self, path: str, timeout: float, purpose: str) -> None:
        self.path = path
        self.timeout = timeout
        self.purpose = purpose
        self.fd: int | None = None

    def __enter__(self) -> Lock:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(self.timeout, 0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise LockBusy(f"another backup or restore is running (lock {self.path} held by {holder}); "
                                   f"waited {self.timeout:g}s: let it finish, or check it is not hung "
                                   "(systemctl status fleetpulse-backup.service)") from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({self.purpose}) since {mf.utc_now()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


# --------------------------------------------------------------------------- connection

def read_env_file(path: str) -> dict[str, str]:
    """KEY=VALUE lines of a docker compose .env file (quotes stripped, comments ignored)."""
    values: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            text = line.strip()
            if not text or text.startswith("#") or "=" not in text:
                continue
            key, _eq, value = text.partition("=")
            key = key.strip().removeprefix("export ").strip()
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key] = value
    return values


def connection(db: DbSettings) -> ConnParams:
    """Variables win over DATABASE_URL (settings), which wins over DATABASE_URL in the app's .env."""
    params = ConnParams()
    url = db.database_url
    if not url and db.env_file and os.path.exists(db.env_file):
        url = read_env_file(db.env_file).get("DATABASE_URL", "")
    if url:
        try:
            params = parse_database_url(url)
        except PgError as exc:
            raise BackupError(f"DATABASE_URL: {exc}") from None
    for attr, value in (("database", db.name), ("user", db.user), ("password", db.password), ("host", db.host),
                        ("port", db.port)):
        if value:
            setattr(params, attr, value)
    if db.pg_dump == "container":
        # Inside the stack's own postgres container: its local socket (the official image trusts it).
        params.host, params.port = None, None
    if not params.database or not params.user:
        raise BackupError("no database name or user: set db_backup_db_name/db_backup_db_user "
                          "(fleetpulse_db_name/fleetpulse_db_user) or DATABASE_URL")
    return params


class Target:
    """Where psql and pg_dump run: inside the postgres container (default) or on the host."""

    def __init__(self, settings: Settings) -> None:
        db = settings.db
        self.params = connection(db)
        self.container: str | None = None
        if db.pg_dump == "container":
            if db.container:
                self.container = db.container
            else:
                try:
                    self.container = compose_container(db.compose_project_dir, db.compose_service,
                                                       db.compose_files, db.compose_project or None)
                except PgError as exc:
                    raise BackupError(f"the database is not reachable: {exc}") from None
        self.runner = PsqlRunner(self.params, container=self.container, timeout=120)

    def where(self) -> str:
        return f"container {self.container}" if self.container else \
            f"{self.params.host or 'local socket'}:{self.params.port or 5432}"

    def tool_argv(self, tool: str, args: list[str]) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ)
        libpq = self.params.libpq_env()
        if not self.container:
            env.update(libpq)
            return [tool, *args], env
        cmd = ["docker", "exec"]
        for key in ("PGPASSWORD", "PGOPTIONS", "PGCONNECT_TIMEOUT", "PGSSLMODE", "PGAPPNAME"):
            if key in libpq:
                env[key] = libpq[key]
                cmd += ["-e", key]  # the value comes from this process's environment, never the command line
        cmd.append(self.container)
        conn = []
        if self.params.user:
            conn += ["-U", self.params.user]
        return [*cmd, tool, *conn, *args], env


def major_of(version: str) -> int:
    m = re.match(r"\s*(\d+)", version)
    if not m:
        raise BackupError(f"cannot read a PostgreSQL version from {version!r}")
    return int(m.group(1))


def check_versions(target: Target) -> tuple[str, str]:
    """(server_version, pg_dump_version); refuses a pg_dump older than the server."""
    try:
        server = target.runner.scalar("SELECT current_setting('server_version')") or ""
    except PgError as exc:
        raise BackupError(f"the database is not reachable: {exc}") from None
    cmd, env = target.tool_argv("pg_dump", [])
    cmd = [*cmd[: len(cmd) - (2 if target.container and target.params.user else 0)], "--version"]
    try:
        res = subprocess.run(cmd, capture_output=True, env=env, timeout=60, check=False)
    except FileNotFoundError:
        raise BackupError(f"{cmd[0]} is not installed: install postgresql-client (pg_dump on the host) or use "
                          "db_backup_pg_dump: container") from None
    if res.returncode != 0:
        raise BackupError(f"pg_dump --version failed in {target.where()}: "
                          f"{' '.join(res.stderr.decode(errors='replace').split())[-300:]}")
    dump_version = res.stdout.decode().strip().split("pg_dump (PostgreSQL) ")[-1].strip()
    if major_of(dump_version) < major_of(server):
        raise BackupError(f"pg_dump {dump_version} in {target.where()} is older than the server "
                          f"(PostgreSQL {server}) and cannot dump it reliably: run pg_dump inside the stack's "
                          f"postgres container (db_backup_pg_dump: container, the default) or install "
                          f"postgresql-client-{major_of(server)} on the host")
    return server, dump_version


# --------------------------------------------------------------------------- the dump

ALL_TABLES_SQL = """
SELECT coalesce(json_agg(json_build_array(n.nspname, c.relname) ORDER BY n.nspname, c.relname), '[]'::json)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
"""


def dump_options(fmt: str) -> list[str]:
    # --clean/--if-exists only shape plain SQL; archives get them from pg_restore (--clean --if-exists).
    return PLAN_OPTIONS if fmt == "plain.gz" else ["-Fc", "--no-owner", "--no-acl"]


@dataclass
class DumpResult:
    size: int
    sha256: str
    seconds: float


def _fail_write(exc: OSError, partial: str) -> BackupError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return BackupError(f"the backup directory is full ({os.path.dirname(partial)}: {exc.strerror}); the "
                           "partial file was removed and no backup was deleted: free space or lower "
                           "db_backup_retention_days, then run the backup again")
    return BackupError(f"writing {partial} failed: {exc.strerror or exc}")


def run_dump(target: Target, snapshot_id: str, *, fmt: str, level: int, partial: str,
             file_mode: int) -> DumpResult:
    """pg_dump --snapshot to ``partial``, gzipped in-process for plain.gz, hashed while written.

    Every process's exit status is checked: a pg_dump that dies mid-stream fails the run
    even though the bytes before its death were written fine.
    """
    args = [f"--snapshot={snapshot_id}", *dump_options(fmt)]
    if fmt == "custom":
        args += ["-Z", str(level)]
    args += ["-d", target.params.database or ""]
    cmd, env = target.tool_argv("pg_dump", args)
    started = time.monotonic()
    with tempfile.TemporaryFile() as errlog:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errlog, env=env)
        size, digest = _stream_to(proc, partial, fmt=fmt, level=level, file_mode=file_mode)
        rc = proc.wait()
        errlog.seek(0)
        err = errlog.read().decode(errors="replace")
    if rc != 0:
        raise BackupError(f"pg_dump failed (exit {rc}) in {target.where()}: {' '.join(err.split())[-400:]}")
    return DumpResult(size, digest, time.monotonic() - started)


def _stream_to(proc: subprocess.Popen, partial: str, *, fmt: str, level: int, file_mode: int) -> tuple[int, str]:
    """Copy the dump from ``proc``'s stdout into ``partial`` (gzipped for plain.gz), hashing what is written."""
    digest = hashlib.sha256()
    size = 0
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.fchmod(fd, file_mode)
        with os.fdopen(fd, "wb") as out:
            compressor = zlib.compressobj(level, zlib.DEFLATED, 31) if fmt == "plain.gz" else None

            def emit(data: bytes) -> None:
                nonlocal size
                if data:
                    out.write(data)
                    digest.update(data)
                    size += len(data)

            # (zlib's gzip header carries no file name or time, like `gzip -n`: same dump, same bytes)
            for block in iter(lambda: proc.stdout.read(CHUNK), b""):  # type: ignore[union-attr]
                emit(compressor.compress(block) if compressor else block)
            if compressor:
                emit(compressor.flush())
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        proc.kill()
        proc.wait()
        raise _fail_write(exc, partial) from None
    finally:
        if proc.stdout:
            proc.stdout.close()
    return size, digest.hexdigest()


# --------------------------------------------------------------------------- local files

@dataclass
class LocalBackup:
    path: str
    name: ret.BackupName
    size: int
    manifest: dict[str, Any] | None

    @property
    def valid(self) -> bool:
        return self.manifest is not None and self.manifest.get("size") == self.size \
            and self.manifest.get("file") == self.name.name


def local_backups(settings: Settings) -> list[LocalBackup]:
    found = []
    for entry in os.scandir(settings.backup_dir):
        parsed = ret.parse_name(entry.name, settings.name_prefix)
        if parsed is None or parsed.encrypted or not entry.is_file(follow_symlinks=False):
            continue
        try:
            man = mf.read(mf.manifest_path_for(entry.path))
        except mf.ManifestError:
            man = None
        found.append(LocalBackup(entry.path, parsed, entry.stat().st_size, man))
    return sorted(found, key=lambda b: (b.name.stamp, b.name.name))


def remove_leftovers(settings: Settings) -> list[str]:
    """Files a crashed run left behind (under the lock, so no run is writing them now)."""
    removed = []
    for entry in os.scandir(settings.backup_dir):
        if not entry.is_file(follow_symlinks=False):
            continue
        name = entry.name
        stale = name.endswith(PARTIAL) and name.startswith(settings.name_prefix)
        stale = stale or (name.startswith(".manifest-") and name.endswith(".tmp"))
        if name.endswith(mf.MANIFEST_SUFFIX) and ret.parse_name(name[:-len(mf.MANIFEST_SUFFIX)],
                                                                settings.name_prefix):
            stale = not os.path.exists(entry.path[:-len(mf.MANIFEST_SUFFIX)])  # a manifest whose rename never came
        if stale:
            os.unlink(entry.path)
            removed.append(name)
    return removed


def check_space(settings: Settings, previous: LocalBackup | None) -> int:
    """Free bytes of the backup filesystem; fails before dumping when the last backup would not fit again."""
    stat = os.statvfs(settings.backup_dir)
    avail = stat.f_bavail * stat.f_frsize
    if previous is not None and settings.min_free_factor > 0:
        need = int(previous.size * settings.min_free_factor)
        if avail < need:
            raise BackupError(f"not enough space in {settings.backup_dir}: {avail} bytes free, the last backup "
                              f"({previous.name.name}) took {previous.size} and {settings.min_free_factor:g}x that "
                              "is required; nothing was written or deleted: free space or lower "
                              "db_backup_retention_days")
    return avail


def verify_partial(partial: str, final_name: str, manifest: dict[str, Any], database: str) -> None:
    result, _digests = scan_path(partial)
    st = os.stat(partial)
    inp = VerifyInput(location=partial, name=final_name, exists=True, size_on_disk=st.st_size, mtime=st.st_mtime,
                      result=result, expected_format=manifest["format"], expected_tables=[],
                      expected_database=database, manifest=manifest, manifest_location="(this run's manifest)",
                      require_manifest=True, max_age_hours=0, previous=None, max_shrink_percent=0)
    checks, _facts = evaluate(inp)
    if any(c.status == "failed" for c in checks.values()):
        raise BackupError("the new backup failed verification and was removed: "
                          + failure_message(final_name, checks))
    for name in ("complete", "checksum", "row_counts"):
        if checks[name].status != "passed":
            raise BackupError(f"the new backup could not be verified ({name}: {checks[name].message}); it was "
                              "removed")


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def purge_local(settings: Settings, now: _dt.datetime, log: Any) -> list[str]:
    backups = local_backups(settings)
    cands = [ret.Candidate(b.name, b.valid) for b in backups]
    purge, _keep = ret.plan_purge(cands, now, settings.retention_days, settings.keep_min)
    removed = []
    for cand in purge:
        path = os.path.join(settings.backup_dir, cand.backup.name)
        for victim in (mf.manifest_path_for(path), path):
            if os.path.exists(victim):
                os.unlink(victim)
        removed.append(cand.backup.name)
        log(f"retention: removed {cand.backup.name} ({cand.backup.type}, from {cand.backup.stamp:%Y-%m-%d})")
    return removed


# --------------------------------------------------------------------------- offsite

def offsite_sync(settings: Settings, now: _dt.datetime, log: Any) -> dict[str, Any]:
    """Upload every valid local backup the store lacks (newest first), verify each, then purge expired copies."""
    cfg = settings.offsite
    if cfg is None:
        raise BackupError("offsite copies are not configured (db_backup_offsite_enabled)")
    store = off.Store(cfg)
    store.check()
    prefix = cfg.key(DB_AREA, "")
    prefix = prefix + "/" if prefix and not prefix.endswith("/") else prefix
    remote = {o.key: o for o in store.list(prefix)}
    local = [b for b in local_backups(settings) if b.valid]
    uploads: list[dict[str, Any]] = []
    damaged: list[str] = []
    gpg = off.Gpg(cfg.encryption_key) if cfg.encrypted else None
    try:
        for backup in sorted(local, key=lambda b: b.name.stamp, reverse=True):
            data_key = cfg.key(DB_AREA, backup.name.name + (".gpg" if gpg else ""))
            man_key = cfg.key(DB_AREA, backup.name.name + mf.MANIFEST_SUFFIX)
            if data_key in remote and man_key in remote:
                continue
            manifest = backup.manifest or {}
            days = int(settings.retention_days.get(backup.name.type, 0) or 0)
            if days and now - backup.name.stamp > _dt.timedelta(days=days):
                continue  # would be purged offsite at once
            started = time.monotonic()
            log(f"offsite: uploading {backup.name.name} ({backup.size} bytes"
                f"{', encrypted with gpg' if gpg else ''}) to s3://{cfg.bucket}/{data_key}")
            up = off.upload_file(store, backup.path, data_key, manifest["sha256"], gpg)
            back = off.read_back(store, data_key, gpg)
            if back.stored_size == up.stored_size and back.stored_sha256 == up.stored_sha256 \
                    and (back.plain_size != manifest["size"] or back.plain_sha256 != manifest["sha256"]):
                # The store returned exactly what was sent, so the local file itself no longer holds
                # the bytes its manifest describes: never ship it, and do not let it block the others.
                store.delete([data_key])
                damaged.append(backup.name.name)
                log(f"offsite: NOT copied: {backup.name.name} no longer matches its manifest (sha256 "
                    f"{back.plain_sha256[:16]}..., the manifest says {manifest['sha256'][:16]}...): "
                    "the local file is damaged")
                continue
            if back.stored_size != up.stored_size or back.stored_sha256 != up.stored_sha256 \
                    or back.plain_size != manifest["size"] or back.plain_sha256 != manifest["sha256"]:
                raise BackupError(f"the offsite copy s3://{cfg.bucket}/{data_key} does not match: read back "
                                  f"{back.plain_size} bytes sha256 {back.plain_sha256[:16]}..., the manifest says "
                                  f"{manifest['size']} bytes sha256 {manifest['sha256'][:16]}...; it is kept "
                                  "locally and will be uploaded again by the next run")
            # The manifest goes last: its presence marks a complete, verified copy.
            store.put_bytes(man_key, mf.dumps(manifest).encode())
            uploads.append({"file": backup.name.name, "key": data_key, "manifest_key": man_key,
                            "stored_size": up.stored_size, "stored_sha256": up.stored_sha256,
                            "sha256": back.plain_sha256, "encrypted": up.encrypted, "verified": True,
                            "seconds": round(time.monotonic() - started, 3)})
            log(f"offsite: verified s3://{cfg.bucket}/{data_key} by reading it back: {back.stored_size} bytes, "
                f"sha256 {back.plain_sha256} matches the manifest")
            remote[data_key] = off.RemoteObject(data_key, up.stored_size)
            remote[man_key] = off.RemoteObject(man_key, 0)
    finally:
        if gpg:
            gpg.close()
    removed = purge_offsite(settings, store, prefix=prefix, keys=list(remote), now=now, log=log)
    kept = sorted((p for p in (ret.parse_name(k.rsplit("/", 1)[-1], settings.name_prefix)
                               for k in set(remote) - set(removed)) if p), key=lambda p: (p.stamp, p.name))
    newest = remote[prefix + kept[-1].name].size if kept else None
    if damaged:
        names = ", ".join(damaged)
        raise BackupError(f"local backup(s) {names} in {settings.backup_dir} no longer match their manifests "
                          f"(damaged on disk) and were not copied offsite; {len(uploads)} other backup(s) were. "
                          "Check the disk, then move the damaged file(s) and their .manifest.json away")
    return {"uploads": uploads, "removed": removed, "count": len(kept), "newest_size": newest}


def purge_offsite(settings: Settings, store: off.Store, *, prefix: str, keys: list[str], now: _dt.datetime,
                  log: Any) -> list[str]:
    cfg = settings.offsite
    if cfg is None:
        raise BackupError("offsite copies are not configured (db_backup_offsite_enabled)")
    names = {k[len(prefix):] for k in keys if k.startswith(prefix) and "/" not in k[len(prefix):]}
    cands = []
    for name in names:
        parsed = ret.parse_name(name, settings.name_prefix)
        if parsed is None:
            continue
        cands.append(ret.Candidate(parsed, parsed.plain_name + mf.MANIFEST_SUFFIX in names))
    purge, _keep = ret.plan_purge(cands, now, settings.retention_days, settings.keep_min)
    victims: list[str] = []
    for cand in purge:
        victims.append(prefix + cand.backup.name)
        manifest_name = cand.backup.plain_name + mf.MANIFEST_SUFFIX
        others = [c for c in cands if c.backup.plain_name == cand.backup.plain_name and c not in purge]
        if manifest_name in names and not others:
            victims.append(prefix + manifest_name)
        log(f"offsite retention: removing s3://{cfg.bucket}/{prefix}{cand.backup.name}")
    if victims:
        store.delete(victims)
    return [v for v in victims if not v.endswith(mf.MANIFEST_SUFFIX)]


# --------------------------------------------------------------------------- the run

@dataclass
class RunResult:
    ok: bool = False
    backup_type: str = "manual"
    database: str = ""
    path: str = ""
    file: str = ""
    format: str = ""
    size: int = 0
    sha256: str = ""
    row_counts: dict[str, int] = field(default_factory=dict)
    total_rows: int = 0
    server_version: str = ""
    pg_dump_version: str = ""
    snapshot: str = ""
    started_at: str = ""
    finished_at: str = ""
    duration_seconds: float = 0.0
    dump_seconds: float = 0.0
    lock_wait_seconds: float = 0.0
    filesystem_avail_bytes: int | None = None
    removed_local: list[str] = field(default_factory=list)
    removed_stale: list[str] = field(default_factory=list)
    local_count: int = 0
    oldest_timestamp: float | None = None
    offsite_enabled: bool = False
    offsite_ok: bool | None = None
    offsite: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    offsite_error: str = ""
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _dump_and_keep(settings: Settings, target: Target, result: RunResult, log: Any) -> dict[str, Any]:
    """Snapshot, counts, dump to a partial file, manifest, verification, rename. Returns the manifest."""
    fmt = result.format
    now = _dt.datetime.now(_dt.UTC)
    name = ret.make_name(now, result.backup_type, fmt, settings.name_prefix)
    final = os.path.join(settings.backup_dir, name)
    if os.path.exists(final):
        raise BackupError(f"{final} already exists (two backups in the same second?): try again")
    partial = final + PARTIAL
    result.started_at = mf.format_time(now)
    try:
        with SnapshotSession(target.runner) as snap:
            if settings.tables:
                pairs = [tuple(t.split(".", 1)) if "." in t else ("public", t) for t in settings.tables]
            else:
                pairs = [tuple(pair) for pair in snap.json(ALL_TABLES_SQL)]
            counts = snap.counts(pairs, per_tenant=settings.per_tenant, tenant_column=settings.tenant_column)
            dump = run_dump(target, snap.snapshot_id, fmt=fmt, level=settings.compress_level, partial=partial,
                            file_mode=settings.file_mode)
            result.snapshot = snap.snapshot_id
        result.dump_seconds = round(dump.seconds, 3)
        data = mf.build(file=name, fmt=fmt, size=dump.size, sha256=dump.sha256, database=counts.database,
                        server_version=counts.server_version, pg_dump_version=result.pg_dump_version,
                        started_at=result.started_at, finished_at=mf.utc_now(),
                        row_counts={k: int(v or 0) for k, v in counts.totals.items()},
                        tenant_row_counts=counts.per_tenant or None,
                        tenant_column=settings.tenant_column if counts.per_tenant else None,
                        snapshot=result.snapshot, pg_dump_options=dump_options(fmt),
                        host=socket.gethostname(), tool=TOOL)
        data["backup_type"] = result.backup_type
        if result.offsite_enabled and settings.offsite and settings.offsite.encrypted:
            data["offsite_encryption"] = off.ENCRYPTION_GPG
        verify_partial(partial, name, data, counts.database)
        manifest_path = mf.manifest_path_for(final)
        mf.write(manifest_path, data, mode=settings.file_mode)
        try:
            os.rename(partial, final)
        except OSError:
            os.unlink(manifest_path)
            raise
        fsync_dir(settings.backup_dir)
    except PgError as exc:
        raise BackupError(f"the database is not reachable: {exc}") from None
    except OSError as exc:  # the manifest, the rename: same rule as the dump itself
        raise _fail_write(exc, partial) from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    result.ok = True
    result.path, result.file, result.size, result.sha256 = final, name, dump.size, dump.sha256
    result.row_counts, result.total_rows = data["row_counts"], sum(data["row_counts"].values())
    result.finished_at = data["finished_at"]
    log(f"backup {final}: {dump.size} bytes, sha256 {dump.sha256}, {len(data['row_counts'])} tables, "
        f"{result.total_rows} rows (counted in snapshot {result.snapshot}), verified")
    return data


def _retention(settings: Settings, previous: LocalBackup | None, result: RunResult, log: Any) -> None:
    """Purge expired backups, unless the new backup shrank suspiciously (then keep everything, warn)."""
    now = mf.parse_time(result.started_at)
    if previous is not None and previous.name.fmt == result.format and previous.size > 0 \
            and result.size < previous.size * 0.5:
        result.warnings.append(f"the new backup is {100 - 100 * result.size // previous.size}% smaller than "
                               f"{previous.name.name}: retention skipped this time, check the database")
        log("WARNING: " + result.warnings[-1])
    else:
        result.removed_local = purge_local(settings, now, log)
    kept = [b for b in local_backups(settings) if b.valid]
    result.local_count = len(kept)
    result.oldest_timestamp = kept[0].name.stamp.timestamp() if kept else None
    result.filesystem_avail_bytes = check_space(settings, None)


def run_backup(settings: Settings, result: RunResult, *, backup_type: str, fmt: str | None,
               offsite_enabled: bool, log: Any) -> RunResult:
    """One backup run (see the module docstring). Fills ``result``; raises BackupError on failure."""
    result.backup_type, result.format = backup_type, fmt or settings.format
    result.offsite_enabled = bool(offsite_enabled and settings.offsite)
    t0 = time.monotonic()
    if not os.path.isdir(settings.backup_dir):
        raise BackupError(f"the backup directory {settings.backup_dir} does not exist: apply the db_backup role")
    with Lock(settings.lock_path, settings.lock_timeout, f"fleetpulse-backup db --type {backup_type}"):
        result.lock_wait_seconds = round(time.monotonic() - t0, 3)
        result.removed_stale = remove_leftovers(settings)
        existing = [b for b in local_backups(settings) if b.valid]
        same_format = [b for b in existing if b.name.fmt == result.format]
        previous = same_format[-1] if same_format else (existing[-1] if existing else None)
        result.filesystem_avail_bytes = check_space(settings, previous)
        target = Target(settings)
        result.server_version, result.pg_dump_version = check_versions(target)
        log(f"dumping database {target.params.database} with pg_dump {result.pg_dump_version} in {target.where()} "
            f"(server {result.server_version}), format {result.format}")
        _dump_and_keep(settings, target, result, log)
        _retention(settings, previous, result, log)
        if result.offsite_enabled:
            try:
                result.offsite = offsite_sync(settings, mf.parse_time(result.started_at), log)
                result.offsite_ok = True
            except (off.OffsiteError, BackupError) as exc:
                result.offsite_ok = False
                result.offsite_error = str(exc)
                raise OffsiteFailed(f"offsite copy failed, the local backup {result.file} is kept: {exc}") from None
    return result
