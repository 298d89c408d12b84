# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the backup program's pure parts: names, retention, metrics, settings, lock."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / ".collections"))

from ansible_collections.fleetpulse.dr.plugins.module_utils import dbbackup as dbb  # noqa: E402
from ansible_collections.fleetpulse.dr.plugins.module_utils import promfile as prom  # noqa: E402
from ansible_collections.fleetpulse.dr.plugins.module_utils import retention as ret  # noqa: E402

NOW = dt.datetime(2026, 2, 6, 2, 0, 0, tzinfo=dt.UTC)


def cand(days: float, kind: str = "daily", valid: bool = True, fmt: str = "custom") -> ret.Candidate:
    name = ret.make_name(NOW - dt.timedelta(days=days), kind, fmt)
    parsed = ret.parse_name(name)
    assert parsed is not None
    return ret.Candidate(parsed, valid)


def test_names_follow_the_plan_and_carry_the_type():
    assert ret.make_name(NOW, "daily", "plain.gz") == "car_rental_backup_20260206_020000.sql.gz"
    assert ret.make_name(NOW, "daily", "custom") == "car_rental_backup_20260206_020000.dump"
    assert ret.make_name(NOW, "pre-deploy", "custom") == "car_rental_backup_20260206_020000_pre-deploy.dump"
    parsed = ret.parse_name("car_rental_backup_20260206_020000_manual.sql.gz.gpg")
    assert parsed and (parsed.type, parsed.fmt, parsed.encrypted, parsed.stamp) == ("manual", "plain.gz", True, NOW)
    assert parsed.plain_name == "car_rental_backup_20260206_020000_manual.sql.gz"
    for other in ("car_rental_backup_20260206_020000.dump.manifest.json",
                  "car_rental_backup_20260206_020000.dump.partial", "car_rental_backup_notes.sql.gz",
                  "other_backup_20260206_020000.dump", "car_rental_backup_20261306_020000.dump"):
        assert ret.parse_name(other) is None, other


def test_retention_purges_by_type_and_age():
    c = [cand(0), cand(29), cand(31), cand(6, "pre-deploy"), cand(8, "pre-deploy"), cand(900, "manual")]
    purge, keep = ret.plan_purge(c, NOW, {"daily": 30, "pre-deploy": 7, "manual": 0}, keep_min=1)
    assert {x.backup.name for x in purge} == {c[2].backup.name, c[4].backup.name}
    assert len(keep) == 4


def test_retention_never_purges_the_newest_valid_backups():
    c = [cand(40), cand(50), cand(60), cand(45, valid=False)]
    purge, keep = ret.plan_purge(c, NOW, {"daily": 30}, keep_min=2)
    # The invalid one is not protected even though it is newer than the second valid one.
    assert {x.backup.name for x in keep} == {c[0].backup.name, c[1].backup.name}
    assert {x.backup.name for x in purge} == {c[2].backup.name, c[3].backup.name}


def test_retention_zero_days_keeps_forever():
    c = [cand(5000, "manual"), cand(0)]
    purge, _keep = ret.plan_purge(c, NOW, {"daily": 30, "manual": 0}, keep_min=0)
    assert purge == []


def test_metrics_render_in_the_text_format():
    text = prom.render([
        prom.Metric("fleetpulse_backup_table_rows", "Rows").add(5, database="fleetpulse", table='public."x"'),
        prom.Metric("fleetpulse_backup_size_bytes", "Size").add(1.5, database="fleetpulse"),
        prom.Metric("unused", "no samples"),
    ])
    assert text == textwrap.dedent("""\
        # HELP fleetpulse_backup_table_rows Rows
        # TYPE fleetpulse_backup_table_rows gauge
        fleetpulse_backup_table_rows{database="fleetpulse",table="public.\\"x\\""} 5
        # HELP fleetpulse_backup_size_bytes Size
        # TYPE fleetpulse_backup_size_bytes gauge
        fleetpulse_backup_size_bytes{database="fleetpulse"} 1.5
        """)


def test_metrics_file_is_replaced_atomically(tmp_path):
    path = tmp_path / "fleetpulse_backup_fleetpulse.prom"
    path.write_text("old\n")
    prom.write(str(path), [prom.Metric("m", "h").add(1)])
    assert path.read_text().endswith("m 1\n")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_connection_variables_win_over_database_url_and_env_file(tmp_path):
    env = tmp_path / ".env"
    env.write_text('# app\nDATABASE_URL="postgresql://app:p%40ss@postgres:5432/fleetpulse?schema=public"\n')
    db = dbb.DbSettings(name="", user="", env_file=str(env), pg_dump="host")
    params = dbb.connection(db)
    assert (params.user, params.password, params.host, params.database) == ("app", "p@ss", "postgres", "fleetpulse")
    db = dbb.DbSettings(name="other", user="admin", env_file=str(env), pg_dump="host", host="10.0.0.5")
    params = dbb.connection(db)
    assert (params.user, params.password, params.host, params.database) == ("admin", "p@ss", "10.0.0.5", "other")
    # Inside the container: the local socket, whatever the URL's host.
    params = dbb.connection(dbb.DbSettings(env_file=str(env), pg_dump="container"))
    assert params.host is None and params.port is None


def test_settings_refuse_unknown_keys_and_formats(tmp_path):
    cfg = tmp_path / "backup.json"
    cfg.write_text(json.dumps({"database": {}, "format": "directory"}))
    with pytest.raises(dbb.BackupError, match="format 'directory' is not supported"):
        dbb.load_settings(str(cfg))
    cfg.write_text(json.dumps({"database": {}, "retention": 3}))
    with pytest.raises(dbb.BackupError, match="unknown or missing setting"):
        dbb.load_settings(str(cfg))
    with pytest.raises(dbb.BackupError, match=r"not found: apply the fleetpulse\.dr\.db_backup role"):
        dbb.load_settings(str(tmp_path / "missing.json"))


def test_lock_is_exclusive_across_processes_and_names_its_holder(tmp_path):
    lock = tmp_path / "fleetpulse-db.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {str(REPO / '.collections')!r})
            from ansible_collections.fleetpulse.dr.plugins.module_utils.dbbackup import Lock
            with Lock({str(lock)!r}, 5, "restore test"):
                print("locked", flush=True)
                sys.stdin.readline()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(dbb.LockBusy, match=r"held by pid \d+ \(restore test\).*waited 0.5s"), \
                dbb.Lock(str(lock), 0.5, "second"):
            pass
    finally:
        holder.communicate("done\n", timeout=30)
    with dbb.Lock(str(lock), 0.5, "third"):  # free again once the holder is gone
        assert "third" in lock.read_text()


# The names, types and labels of docs/metrics.md (the contract with the monitoring role).
CONTRACT_BACKUP = {"fleetpulse_backup_last_success_timestamp_seconds", "fleetpulse_backup_last_run_timestamp_seconds",
                   "fleetpulse_backup_last_run_success", "fleetpulse_backup_duration_seconds",
                   "fleetpulse_backup_size_bytes", "fleetpulse_backup_table_rows", "fleetpulse_backup_files",
                   "fleetpulse_backup_oldest_timestamp_seconds", "fleetpulse_backup_filesystem_avail_bytes"}
CONTRACT_OFFSITE = {"fleetpulse_backup_offsite_last_success_timestamp_seconds",
                    "fleetpulse_backup_offsite_last_run_timestamp_seconds",
                    "fleetpulse_backup_offsite_last_run_success",
                    "fleetpulse_backup_offsite_files", "fleetpulse_backup_offsite_size_bytes"}


def test_metrics_follow_the_contract_before_any_success_and_after_one():
    from ansible_collections.fleetpulse.dr.plugins.module_utils.backup_cli import db_metrics  # noqa: PLC0415

    first_failure = {"last_run_success": 0, "last_run_timestamp": 1770343512.0, "last_run_duration": 3.2,
                     "offsite_enabled": True}
    metrics = db_metrics("fleetpulse", first_failure)
    text = prom.render(metrics)
    # Required metrics exist from the first run on, 0 when there never was a success.
    assert 'fleetpulse_backup_last_success_timestamp_seconds{database="fleetpulse"} 0' in text
    assert 'fleetpulse_backup_offsite_last_success_timestamp_seconds{database="fleetpulse"} 0' in text
    assert 'fleetpulse_backup_last_run_success{database="fleetpulse"} 0' in text
    success = {**first_failure, "last_run_success": 1, "last_success_timestamp": 1770343512.0, "last_size": 10,
               "last_rows": {"public.Booking": 5, "audit.Event": 2}, "local_count": 3,
               "oldest_timestamp": 1767751200.0, "filesystem_avail_bytes": 99, "offsite_last_run_success": 1,
               "offsite_last_success_timestamp": 1770343541.0, "offsite_last_run_timestamp": 1770343541.0,
               "offsite_count": 3, "offsite_newest_size": 10}
    metrics = db_metrics("fleetpulse", success)
    assert {m.name for m in metrics} == CONTRACT_BACKUP | CONTRACT_OFFSITE
    assert all(m.type == "gauge" for m in metrics)
    assert {frozenset(labels) for m in metrics for labels, _v in m.samples} == {
        frozenset({"database"}), frozenset({"database", "table"})}
    text = prom.render(metrics)
    assert 'fleetpulse_backup_table_rows{database="fleetpulse",table="Booking"} 5' in text
    assert 'fleetpulse_backup_table_rows{database="fleetpulse",table="audit.Event"} 2' in text
    assert {m.name for m in db_metrics("fleetpulse", {**success, "offsite_enabled": False})} == CONTRACT_BACKUP
