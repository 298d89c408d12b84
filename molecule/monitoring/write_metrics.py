"""Write FleetPulse textfile metrics as the DR tooling does (docs/metrics.md), for the tests.

    python3 write_metrics.py DIR healthy           every writer's file, recent and successful (not the DR
                                                   tests': the role publishes those from the DR test log)
    python3 write_metrics.py DIR backup-age HOURS  the backup (and its offsite copy) finished HOURS ago
    python3 write_metrics.py DIR cert-days DAYS    the certificate expires in DAYS days

Files are written whole to a dot-file in DIR and renamed, as the contract requires.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

NOW = int(time.time())
DAY = 86400


def write(directory: str, name: str, metrics: list[tuple[str, str, str, dict, float]]) -> None:
    lines, seen = [], set()
    for metric, kind, help_text, labels, value in metrics:
        if metric not in seen:
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
            seen.add(metric)
        label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        lines.append(f"{metric}{{{label_text}}} {value}")
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, os.path.join(directory, name))


def backup(directory: str, age_hours: float) -> None:
    done = NOW - int(age_hours * 3600)
    db = {"database": "fleetpulse"}
    write(directory, "fleetpulse_backup_fleetpulse.prom", [
        ("fleetpulse_backup_last_success_timestamp_seconds", "gauge", "When the last verified backup finished.", db,
         done),
        ("fleetpulse_backup_last_run_timestamp_seconds", "gauge", "When the last backup run finished.", db, done),
        ("fleetpulse_backup_last_run_success", "gauge", "1 if the last backup run produced a verified backup.", db, 1),
        ("fleetpulse_backup_duration_seconds", "gauge", "Duration of the last backup run.", db, 41.5),
        ("fleetpulse_backup_size_bytes", "gauge", "Size of the last verified backup file.", db, 1843200),
        *[("fleetpulse_backup_table_rows", "gauge", "Rows per table in the last verified backup.",
           {**db, "table": table}, rows) for table, rows in
          (("Booking", 5200), ("Customer", 910), ("Tenant", 3), ("Vehicle", 120))],
        ("fleetpulse_backup_filesystem_avail_bytes", "gauge", "Free bytes where backups are written.", db,
         10 * 2**30),
    ])
    # The offsite copy confirmed a minute after the backup.
    write(directory, "fleetpulse_backup_offsite_fleetpulse.prom", [
        ("fleetpulse_backup_offsite_last_success_timestamp_seconds", "gauge",
         "When the newest local backup was last confirmed offsite.", db, done + 60),
        ("fleetpulse_backup_offsite_last_run_timestamp_seconds", "gauge", "When the last offsite run finished.",
         db, done + 60),
        ("fleetpulse_backup_offsite_last_run_success", "gauge", "1 if the last offsite run succeeded.", db, 1),
    ])


def certificate(directory: str, days: float) -> None:
    write(directory, "fleetpulse_certificates.prom", [
        ("fleetpulse_certificate_expiry_timestamp_seconds", "gauge", "When the certificate nginx serves expires.",
         {"domain": "fleetpulse.test"}, NOW + int(days * DAY)),
    ])


def healthy(directory: str) -> None:
    backup(directory, 1)
    certificate(directory, 60)
    bucket = {"bucket": "fleetpulse"}
    write(directory, "fleetpulse_object_mirror_fleetpulse.prom", [
        ("fleetpulse_object_mirror_last_success_timestamp_seconds", "gauge", "Last verified mirror.", bucket,
         NOW - 2 * DAY),
        ("fleetpulse_object_mirror_last_run_timestamp_seconds", "gauge", "Last mirror run.", bucket, NOW - 2 * DAY),
        ("fleetpulse_object_mirror_last_run_success", "gauge", "1 when the last mirror run succeeded.", bucket, 1),
        ("fleetpulse_object_mirror_duration_seconds", "gauge", "Duration of the last mirror run.", bucket, 12.5),
        ("fleetpulse_object_mirror_verify_differences", "gauge", "Differences at the last verification.", bucket, 0),
    ])
    write(directory, "fleetpulse_wal_archive.prom", [
        ("fleetpulse_wal_archive_lag_seconds", "gauge", "Age of the oldest WAL segment waiting.",
         {"cluster": "fleetpulse"}, 0),
        ("fleetpulse_wal_archive_last_success_timestamp_seconds", "gauge", "Last archived WAL segment.",
         {"cluster": "fleetpulse"}, NOW - 30),
    ])
    # The DR test metrics come from the role itself (entry point dr_tests, from the DR test log).


def main(argv: list[str]) -> int:
    directory, action, *args = argv
    if action == "healthy":
        healthy(directory)
    elif action == "backup-age":
        backup(directory, float(args[0]))
    elif action == "cert-days":
        certificate(directory, float(args[0]))
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
