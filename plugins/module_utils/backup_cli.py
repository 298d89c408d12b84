# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``fleetpulse-backup``: the one backup program that the timer, the deploy hook and Ansible run.

    fleetpulse-backup [-c CONFIG] db [--type daily|pre-deploy|manual] [--format custom|plain.gz]
                                     [--no-offsite] [--lock-timeout SECONDS] [--json]
    fleetpulse-backup [-c CONFIG] offsite [--json]     upload/verify what the store lacks, purge there
    fleetpulse-backup [-c CONFIG] config [--json]      configuration backup (plan 2.3)
    fleetpulse-backup [-c CONFIG] list [--json]        local backups with their manifests

Exit status: 0 success; 1 failure (nothing new kept); 2 bad configuration or usage;
3 the local backup succeeded but its offsite copy failed; 75 another backup or restore
holds the lock. Progress goes to stderr (the journal under systemd), one line per step;
the last line is ``fleetpulse-backup: OK ...`` or ``fleetpulse-backup: FAILED ...`` with the
cause and the fix. ``--json`` prints the result as JSON on stdout (for Ansible).
Every run writes the Prometheus textfile ``fleetpulse_backup_<database>.prom`` (db) or
``fleetpulse_config_backup.prom`` (config), success or failure.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import signal
import sys
import time
from typing import Any

from ansible_collections.fleetpulse.dr.plugins.module_utils import configbackup as cb
from ansible_collections.fleetpulse.dr.plugins.module_utils import dbbackup as dbb
from ansible_collections.fleetpulse.dr.plugins.module_utils import manifest as mf
from ansible_collections.fleetpulse.dr.plugins.module_utils import offsite as off
from ansible_collections.fleetpulse.dr.plugins.module_utils import promfile as prom

DEFAULT_CONFIG = "/etc/fleetpulse/backup.json"
EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_OFFSITE, EXIT_LOCKED = 0, 1, 2, 3, 75
PROG = "fleetpulse-backup"


class Terminated(dbb.BackupError):
    """SIGTERM/SIGINT (systemctl stop, timeout): clean up like any failure."""


def _on_signal(signum: int, _frame: object) -> None:
    raise Terminated(f"stopped by signal {signal.Signals(signum).name}; the partial file was removed and nothing "
                     "was deleted")


def log(message: str, error: bool = False) -> None:
    # Under systemd, "<3>" makes the line an error in the journal (journalctl -p err).
    level = ("<3>" if error else "<6>") if os.environ.get("JOURNAL_STREAM") else ""
    sys.stderr.write(f"{level}{PROG}: {message}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- state and metrics

def _state_path(settings: dbb.Settings, name: str) -> str:
    return os.path.join(settings.state_dir, f"{name}.json")


def load_state(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def save_state(path: str, data: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def table_label(key: str) -> str:
    """``public.Booking`` -> ``Booking`` (docs/metrics.md); tables of other schemas stay qualified."""
    return key.split(".", 1)[1] if key.startswith("public.") else key


def db_metrics(database: str, state: dict[str, Any]) -> list[prom.Metric]:
    """The backup metrics of docs/metrics.md (the contract with the monitoring role), from the state
    that this and earlier runs left: exactly those names, types and labels."""
    lab = {"database": database}

    def gauge(name: str, text: str, value: float, **labels: str) -> prom.Metric:
        return prom.Metric(name, text).add(value, **lab, **labels)

    metrics = [
        gauge("fleetpulse_backup_last_success_timestamp_seconds",
              "When the last verified backup finished (Unix seconds).", state.get("last_success_timestamp", 0)),
        gauge("fleetpulse_backup_last_run_timestamp_seconds", "When the last backup run finished (Unix seconds).",
              state["last_run_timestamp"]),
        gauge("fleetpulse_backup_last_run_success", "1 if the last backup run produced a verified backup, else 0.",
              state["last_run_success"]),
        gauge("fleetpulse_backup_duration_seconds", "Duration of the last backup run.", state["last_run_duration"]),
        gauge("fleetpulse_backup_size_bytes", "Size of the last verified backup file.", state.get("last_size", 0)),
    ]
    rows = prom.Metric("fleetpulse_backup_table_rows", "Rows per table in the last verified backup.")
    for table, count in sorted((state.get("last_rows") or {}).items()):
        rows.add(count, table=table_label(table), **lab)
    metrics.append(rows)
    if state.get("local_count") is not None:
        metrics.append(gauge("fleetpulse_backup_files", "Backup files kept after the retention purge.",
                             state["local_count"]))
    if state.get("oldest_timestamp"):
        metrics.append(gauge("fleetpulse_backup_oldest_timestamp_seconds",
                             "When the oldest kept backup was taken (Unix seconds).", state["oldest_timestamp"]))
    if state.get("filesystem_avail_bytes") is not None:
        metrics.append(gauge("fleetpulse_backup_filesystem_avail_bytes", "Free bytes where backups are written.",
                             state["filesystem_avail_bytes"]))
    if state.get("offsite_enabled"):
        metrics += [
            gauge("fleetpulse_backup_offsite_last_success_timestamp_seconds",
                  "When the newest local backup was last confirmed offsite (Unix seconds).",
                  state.get("offsite_last_success_timestamp", 0)),
            gauge("fleetpulse_backup_offsite_last_run_timestamp_seconds",
                  "When the last offsite run finished (Unix seconds).", state.get("offsite_last_run_timestamp", 0)),
            gauge("fleetpulse_backup_offsite_last_run_success", "1 if the last offsite run succeeded, else 0.",
                  state.get("offsite_last_run_success", 0)),
        ]
        if state.get("offsite_count") is not None:
            metrics.append(gauge("fleetpulse_backup_offsite_files", "Backup files in the offsite store.",
                                 state["offsite_count"]))
        if state.get("offsite_newest_size") is not None:
            metrics.append(gauge("fleetpulse_backup_offsite_size_bytes",
                                 "Size of the newest backup in the offsite store.", state["offsite_newest_size"]))
    return metrics


def record_db_run(settings: dbb.Settings, res: dbb.RunResult, started: float, ended: float) -> str:
    path = _state_path(settings, f"db-{res.database}")
    state = load_state(path)
    state.update(last_run_success=int(res.ok), last_run_timestamp=round(ended, 3),
                 last_run_duration=round(ended - started, 3), last_run_type=res.backup_type,
                 last_error=res.error, offsite_enabled=res.offsite_enabled or state.get("offsite_enabled", False))
    if res.filesystem_avail_bytes is not None:
        state["filesystem_avail_bytes"] = res.filesystem_avail_bytes
    if res.ok:
        state.update(last_success_timestamp=mf.parse_time(res.finished_at).timestamp(), last_size=res.size,
                     last_rows=res.row_counts, last_file=res.file, last_dump_seconds=res.dump_seconds,
                     local_count=res.local_count, oldest_timestamp=res.oldest_timestamp)
    if res.offsite_ok is not None:
        state["offsite_last_run_success"] = int(res.offsite_ok)
        state["offsite_last_run_timestamp"] = round(ended, 3)
        if res.offsite_ok:
            state["offsite_last_success_timestamp"] = round(ended, 3)
            state["offsite_count"] = res.offsite.get("count")
            state["offsite_newest_size"] = res.offsite.get("newest_size")
    save_state(path, state)
    metrics_file = os.path.join(settings.metrics_dir, f"fleetpulse_backup_{res.database}.prom")
    os.makedirs(settings.metrics_dir, mode=0o755, exist_ok=True)
    prom.write(metrics_file, db_metrics(res.database, state))
    return metrics_file


def record_config_run(settings: dbb.Settings, ok: bool, result: dict[str, Any], started: float,
                      ended: float) -> str:
    path = _state_path(settings, "config")
    state = load_state(path)
    state.update(last_run_success=int(ok), last_run_timestamp=round(ended, 3),
                 last_run_duration=round(ended - started, 3))
    if ok:
        state.update(last_success_timestamp=round(ended, 3), last_size=result["size"], last_files=result["files"])
    save_state(path, state)
    metrics = [
        prom.Metric("fleetpulse_config_backup_last_run_success",
                    "1 if the last configuration backup was uploaded and verified, else 0")
        .add(state["last_run_success"]),
        prom.Metric("fleetpulse_config_backup_last_run_timestamp_seconds",
                    "Unix time when the last configuration backup run ended").add(state["last_run_timestamp"]),
        prom.Metric("fleetpulse_config_backup_duration_seconds",
                    "Duration of the last configuration backup run").add(state["last_run_duration"]),
    ]
    if state.get("last_success_timestamp"):
        metrics += [
            prom.Metric("fleetpulse_config_backup_last_success_timestamp_seconds",
                        "Unix time of the last verified configuration backup").add(state["last_success_timestamp"]),
            prom.Metric("fleetpulse_config_backup_size_bytes",
                        "Size of the last configuration backup (encrypted)").add(state["last_size"]),
            prom.Metric("fleetpulse_config_backup_files", "Files in the last configuration backup")
            .add(state["last_files"]),
        ]
    metrics_file = os.path.join(settings.metrics_dir, "fleetpulse_config_backup.prom")
    os.makedirs(settings.metrics_dir, mode=0o755, exist_ok=True)
    prom.write(metrics_file, metrics)
    return metrics_file


# --------------------------------------------------------------------------- commands

def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def cmd_db(settings: dbb.Settings, args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    if args.lock_timeout is not None:
        settings.lock_timeout = args.lock_timeout
    res = dbb.RunResult(database=dbb.connection(settings.db).database or settings.db.name)
    started = time.time()
    code = EXIT_OK
    try:
        dbb.run_backup(settings, res, backup_type=args.type, fmt=args.format, offsite_enabled=not args.no_offsite,
                       log=log)
    except dbb.OffsiteFailed as exc:
        res.error = str(exc)
        code = EXIT_OFFSITE
    except dbb.LockBusy as exc:
        res.ok, res.error, code = False, str(exc), EXIT_LOCKED
    except dbb.BackupError as exc:
        res.ok, res.error, code = False, str(exc), EXIT_FAILED
    ended = time.time()
    res.duration_seconds = round(ended - started, 3)
    try:
        out = res.as_dict()
        out["metrics_file"] = record_db_run(settings, res, started, ended)
    except OSError as exc:
        log(f"could not write the metrics file in {settings.metrics_dir}: {exc}", error=True)
        out = res.as_dict()
        code = code or EXIT_FAILED
    if code == EXIT_OK:
        offsite = ""
        if res.offsite_enabled:
            ups = res.offsite.get("uploads", [])
            offsite = f", offsite: {len(ups)} uploaded and verified, {res.offsite.get('count')} in store"
        log(f"OK {res.backup_type} backup {res.path} ({res.format}, {_human(res.size)}, {res.total_rows} rows in "
            f"{len(res.row_counts)} tables, {res.duration_seconds:.1f}s){offsite}; removed {len(res.removed_local)} "
            "expired")
    else:
        log(f"FAILED {res.backup_type} backup of database {res.database}: {res.error}", error=True)
    return code, out


def cmd_offsite(settings: dbb.Settings, _args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    if settings.offsite is None:
        raise dbb.BackupError("offsite copies are not configured (db_backup_offsite_enabled)")
    with dbb.Lock(settings.lock_path, settings.lock_timeout, "fleetpulse-backup offsite"):
        try:
            result = dbb.offsite_sync(settings, _dt.datetime.now(_dt.UTC), log)
        except off.OffsiteError as exc:
            log(f"FAILED offsite copy: {exc}", error=True)
            return EXIT_OFFSITE, {"ok": False, "error": str(exc)}
    log(f"OK offsite: {len(result['uploads'])} uploaded and verified, {len(result['removed'])} expired removed, "
        f"{result['count']} in store")
    return EXIT_OK, {"ok": True, **result}


def cmd_config(settings: dbb.Settings, _args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    raw = dict(settings.config_backup)
    raw.pop("enabled", None)
    cfg = cb.ConfigSettings(**raw)
    if not cfg.local_dir:
        cfg.local_dir = os.path.join(settings.backup_dir, "config")
    started = time.time()
    try:
        result = cb.run_config_backup(cfg, settings.offsite, log)
        ok, code = True, EXIT_OK
    except (cb.ConfigBackupError, off.OffsiteError, OSError) as exc:
        result, ok, code = {"ok": False, "error": str(exc)}, False, EXIT_FAILED
    ended = time.time()
    result["metrics_file"] = record_config_run(settings, ok, result, started, ended)
    if ok:
        log(f"OK configuration backup {result['file']} ({result['files']} files, {_human(result['size'])}), "
            f"offsite s3://{settings.offsite.bucket}/{result['key']} verified")  # type: ignore[union-attr]
    else:
        log(f"FAILED configuration backup: {result['error']}", error=True)
    return code, result


def cmd_list(settings: dbb.Settings, _args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    items = []
    for b in dbb.local_backups(settings):
        items.append({"file": b.name.name, "path": b.path, "type": b.name.type, "format": b.name.fmt,
                      "size": b.size, "valid": b.valid, "created_at": mf.format_time(b.name.stamp),
                      "sha256": (b.manifest or {}).get("sha256")})
        sys.stderr.write(f"{b.name.name:60} {b.name.type:10} {_human(b.size):>10} "
                         f"{'ok' if b.valid else 'NO VALID MANIFEST'}\n")
    return EXIT_OK, {"ok": True, "backups": items}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="FleetPulse database and configuration backups "
                                "(fleetpulse.dr.db_backup)")
    p.add_argument("-c", "--config", default=os.environ.get("FLEETPULSE_BACKUP_CONFIG", DEFAULT_CONFIG),
                   help=f"configuration file (default {DEFAULT_CONFIG})")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    sub = p.add_subparsers(dest="command", required=True)
    db = sub.add_parser("db", help="back up the database, verify it, apply retention, copy it offsite")
    db.add_argument("--type", choices=["daily", "pre-deploy", "manual"], default="manual",
                    help="daily (timer, 30 days), pre-deploy (7 days), manual (kept until deleted)")
    db.add_argument("--format", choices=["custom", "plain.gz"], default=None,
                    help="custom (pg_dump -Fc, parallel restore) or plain.gz (the plan's .sql.gz)")
    db.add_argument("--no-offsite", action="store_true", help="skip the offsite copy this time")
    db.add_argument("--lock-timeout", type=float, default=None, help="seconds to wait for the lock")
    sub.add_parser("offsite", help="upload and verify local backups the offsite store lacks; purge expired copies")
    sub.add_parser("config", help="back up the configuration (.env, compose, nginx, monitoring, letsencrypt)")
    sub.add_parser("list", help="list local backups")
    for name in ("db", "offsite", "config", "list"):  # --json after the command too
        sub.choices[name].add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                                       help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    os.umask(0o027)
    try:
        settings = dbb.load_settings(args.config)
    except dbb.BackupError as exc:
        log(f"FAILED: {exc}", error=True)
        return EXIT_CONFIG
    commands = {"db": cmd_db, "offsite": cmd_offsite, "config": cmd_config, "list": cmd_list}
    try:
        code, out = commands[args.command](settings, args)
    except dbb.LockBusy as exc:
        log(f"FAILED: {exc}", error=True)
        code, out = EXIT_LOCKED, {"ok": False, "error": str(exc)}
    except (dbb.BackupError, off.OffsiteError, OSError) as exc:
        log(f"FAILED: {exc}", error=True)
        code, out = EXIT_FAILED, {"ok": False, "error": str(exc)}
    out["rc"] = code
    if args.json:
        sys.stdout.write(json.dumps(out, indent=2, sort_keys=True) + "\n")
    return code
