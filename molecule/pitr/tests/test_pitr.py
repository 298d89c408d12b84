"""Issue 12, point-in-time recovery, against real servers (tests/images/postgres with
pgBackRest 2.45, the world's SeaweedFS over HTTPS). converge ran playbooks/pitr.yml. The
tests run in file order: archiving state, the store outage, recovery to a time before a
mass DELETE, then the server killed under a continuous writer and recovery to latest.
Every wait polls a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import fp_polling

NS = os.environ.get("FP_TEST_NS", "fp")
STORE = f"{NS}-s3-tls"  # the world's container of the offsite store (controller's Docker)
METRICS = "/var/lib/node_exporter/textfile_collector/fleetpulse_wal_archive.prom"
CONF = "/etc/fleetpulse/pgbackrest/pgbackrest.conf"
QUEUE_MAX_SEGMENTS = 4  # db_pitr_archive_push_queue_max 64MB / 16 MB segments (molecule.yml)
# Measured numbers (RPO, outage) for docs/performance.md: in the world's state directory, which
# outlives the scenario's ephemeral one.
RESULTS = Path(os.environ.get("FP_WORLD_DIR") or Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / ".world" / NS) / \
    "pitr-results.json"


def wait_until(what: str, probe, timeout: float = 120, interval: float = 1.0):
    return fp_polling.wait_until(what, probe, timeout, interval)


def sql(host, query: str) -> str:
    return host.check_output("docker exec -u postgres postgres psql -qAtX -v ON_ERROR_STOP=1 -U fleetpulse "
                             f"-d fleetpulse -c {shlex.quote(query)}")


def metrics(host) -> dict[str, float]:
    """Rewrite the metrics file as the timer does, then read it."""
    host.check_output("/usr/local/sbin/fleetpulse-pitr metrics")
    values = {}
    for line in host.file(METRICS).content_string.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            values[key.split("{")[0].removeprefix("fleetpulse_wal_archive_")] = float(value)
    return values


def archived(host) -> tuple[str, float]:
    row = sql(host, "SELECT coalesce(last_archived_wal, ''), coalesce(extract(epoch FROM last_archived_time), 0) "
                    "FROM pg_stat_archiver").split("|")
    return row[0], float(row[1])


def switch_and_wait_archived(host, timeout: float = 90) -> str:
    """Write, close the current WAL segment and wait until the store has it."""
    segment = sql(host, "INSERT INTO pitr_probe DEFAULT VALUES; SELECT pg_walfile_name(pg_switch_wal())")

    def done() -> bool:
        wal = archived(host)[0]
        return len(wal) == 24 and wal >= segment  # not a .history or .partial file

    try:
        wait_until(f"segment {segment} archived", done, timeout)
    except AssertionError as exc:
        state = sql(host, "SELECT row_to_json(a) FROM pg_stat_archiver a")
        logs = host.run("docker logs --tail 15 postgres 2>&1").stdout
        raise AssertionError(f"{exc}\npg_stat_archiver: {state}\n{logs}") from None
    return segment


def metrics_when(host, condition) -> dict[str, float] | None:
    """The metrics when they meet the condition (for wait_until), else None."""
    values = metrics(host)
    return values if condition(values) else None


def store(*action: str) -> None:
    subprocess.run(["docker", *action, STORE], check=True, capture_output=True)


def recover(target: str, confirm: str = "local", expect_rc: int = 0) -> str:
    playbook = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "recover.yml"
    res = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook),
                          "-e", json.dumps({"db_pitr_recover_target": target, "db_restore_confirm": confirm,
                                            "recover_database_method": "pitr"})],
                         capture_output=True, text=True, timeout=1200, check=False)
    out = res.stdout + res.stderr
    assert (res.returncode == 0) == (expect_rc == 0), out[-4000:]
    return " ".join(out.split())


def save(**values) -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data.update(values)
    RESULTS.write_text(json.dumps(data, indent=2))


# --------------------------------------------------------------------------- archiving set up

def test_postgres_archives_with_pgbackrest_under_an_init(host):
    sql(host, "CREATE TABLE IF NOT EXISTS pitr_probe (id bigserial PRIMARY KEY, "
              "written_at timestamptz NOT NULL DEFAULT clock_timestamp())")
    settings = dict(line.split("|") for line in sql(
        host, "SELECT name, setting FROM pg_settings WHERE name IN "
              "('archive_mode', 'archive_command', 'archive_timeout')").splitlines())
    assert settings == {"archive_mode": "on", "archive_timeout": "30",
                        "archive_command": "pgbackrest --stanza=fleetpulse archive-push %p"}
    assert host.check_output("docker inspect --format '{{.HostConfig.Init}}' postgres") == "true"
    conf = host.file(CONF)
    assert (conf.user, conf.mode) == ("root", 0o640)  # the S3 secret and the cipher pass
    info = json.loads(host.check_output("/usr/local/sbin/fleetpulse-pitr pgbackrest --output=json info"))[0]
    assert info["status"]["code"] == 0, info["status"]
    assert [b["type"] for b in info["backup"]] == ["full"]
    assert info["cipher"] == "aes-256-cbc"


def test_a_quiet_database_ships_a_segment_within_archive_timeout(host):
    before = archived(host)[0]
    committed = float(sql(host, "INSERT INTO pitr_probe DEFAULT VALUES RETURNING extract(epoch FROM written_at)"))

    # No pg_switch_wal: archive_timeout (30 s) alone must close the segment.
    def shipped() -> tuple[str, float] | None:
        wal, at = archived(host)
        return (wal, at) if wal > before and at > committed else None
    segment, at = wait_until("a segment archived without a switch", shipped, timeout=75)
    save(quiet_commit_to_archive_seconds=round(at - committed, 1))
    assert at - committed <= 45, f"{segment} archived {at - committed:.1f}s after the commit"


def test_the_lag_metric_follows_the_contract(host):
    switch_and_wait_archived(host)
    values = wait_until("no segment waiting", lambda: metrics_when(host, lambda m: m["pending_segments"] == 0))
    assert values["lag_seconds"] == 0
    assert time.time() - values["last_success_timestamp_seconds"] < 120
    text = host.file(METRICS).content_string
    assert 'fleetpulse_wal_archive_lag_seconds{cluster="fleetpulse"}' in text
    assert host.file(METRICS).mode == 0o644


# --------------------------------------------------------------------------- store unreachable

def test_a_redeploy_through_app_stack_keeps_archiving(host):
    """app_stack names the override (fleetpulse_compose_extra_files): a recreated postgres keeps archiving."""
    before = host.check_output("docker inspect -f '{{.Id}}' postgres")
    playbook = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "redeploy.yml"
    res = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert host.check_output("docker inspect -f '{{.Id}}' postgres") != before  # really recreated
    mounts = json.loads(host.check_output("docker inspect -f '{{json .Mounts}}' postgres"))
    assert any(m["Destination"].startswith("/etc/pgbackrest") for m in mounts), mounts
    wait_until("postgres answers", lambda: host.run("docker exec -u postgres postgres pg_isready -q").rc == 0, 120)
    switch_and_wait_archived(host)


def test_an_unreachable_store_does_not_stop_postgres_and_the_queue_stays_bounded(host):
    switch_and_wait_archived(host)
    failures_before = metrics(host)["failures_total"]
    store("pause")
    samples, write_seconds = [], []
    try:
        # Fill the queue past its bound (4 segments) while the store hangs; every write must stay quick.
        for _round in range(QUEUE_MAX_SEGMENTS + 3):
            started = time.monotonic()
            sql(host, "INSERT INTO pitr_probe DEFAULT VALUES; SELECT pg_switch_wal()")
            write_seconds.append(time.monotonic() - started)
            samples.append(metrics(host))
        wait_until("the lag metric shows the outage",
                   lambda: samples.append(metrics(host)) or samples[-1]["lag_seconds"] >= 5, timeout=60)
        # pgBackRest drops the queue beyond its bound (and says so in PostgreSQL's log).
        wait_until("the queue dropped at its bound",
                   lambda: "dropped WAL file" in host.run("docker logs --since 5m postgres 2>&1").stdout, timeout=120)
        after_drop = metrics(host)
        failures = after_drop["failures_total"] - failures_before
    finally:
        store("unpause")
    # Back online: a new segment reaches the store and nothing waits any more.
    switch_and_wait_archived(host, timeout=120)
    caught_up = wait_until("caught up", lambda: metrics_when(
        host, lambda m: m["pending_segments"] == 0 and m["lag_seconds"] == 0))
    # The dropped WAL broke the chain: a new base backup restores full PITR coverage.
    host.check_output("/usr/local/sbin/fleetpulse-pitr backup full")
    peak = max(s["pending_segments"] for s in samples)
    save(outage_max_lag_seconds=max(s["lag_seconds"] for s in samples), outage_max_pending_segments=peak,
         outage_slowest_write_seconds=round(max(write_seconds), 2), outage_failures=failures)
    assert max(write_seconds) < 5, f"PostgreSQL hung on a write while the store was unreachable: {write_seconds}"
    assert peak > QUEUE_MAX_SEGMENTS  # the queue really went past its bound ...
    assert after_drop["pending_segments"] <= QUEUE_MAX_SEGMENTS  # ... and was cut back to it
    assert max(s["lag_seconds"] for s in samples) >= 5  # the metric showed the outage
    assert failures > 0
    assert caught_up["last_success_timestamp_seconds"] > samples[-1]["last_success_timestamp_seconds"]


# --------------------------------------------------------------------------- recovery to a time

def test_bad_recovery_inputs_fail_before_any_change(host):
    started = host.check_output("docker inspect --format '{{.State.StartedAt}}' postgres")
    out = recover("2026-11-25 21:14:00+00", confirm="production", expect_rc=2)
    assert "Confirm with -e db_restore_confirm=local" in out
    out = recover("2000-01-01 00:00:00Z", expect_rc=2)
    assert "is outside the recoverable range" in out
    out = recover("latest", expect_rc=2)
    assert "PostgreSQL (postgres) is running" in out
    assert host.check_output("docker inspect --format '{{.State.StartedAt}}' postgres") == started
    assert host.run("docker volume inspect carrental_postgres-data-pitr").rc != 0  # nothing restored aside


def test_recovery_to_just_before_a_mass_delete_brings_the_rows_back(host):
    bookings = int(sql(host, 'SELECT count(*) FROM "Booking"'))
    assert bookings > 0
    target = sql(host, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
    wait_until("the clock moved past the target",
               lambda: sql(host, f"SELECT clock_timestamp() > '{target}'::timestamptz + interval '10 ms'") == "t")
    sql(host, 'DELETE FROM "Booking"')
    assert sql(host, 'SELECT count(*) FROM "Booking"') == "0"
    switch_and_wait_archived(host)
    out = recover(target)
    assert "Recovered copy verified: Tenant=" in out and f"Booking={bookings}" in out
    assert sql(host, 'SELECT count(*) FROM "Booking"') == str(bookings)
    assert sql(host, "SELECT pg_is_in_recovery()") == "f"
    assert int(sql(host, "SELECT timeline_id FROM pg_control_checkpoint()")) >= 2
    # The data of before the recovery (without the bookings) stays aside until purged.
    aside = host.check_output("docker volume ls -q --filter label=fleetpulse.dr.pitr=aside").split()
    assert len(aside) == 1, aside
    mount = host.check_output(f"docker volume inspect --format '{{{{.Mountpoint}}}}' {aside[0]}")
    assert host.file(f"{mount}/PG_VERSION").content_string.strip() == "15"
    # Archiving goes on from the new timeline.
    switch_and_wait_archived(host)


# --------------------------------------------------------------------------- server lost, recovery to latest

def test_server_killed_and_volume_deleted_recovers_to_latest_within_60_seconds(host):
    host.check_output("rm -f /root/pitr-writes.log")
    # A writer commits a timestamped row every ~0.2 s and logs each commit's time.
    host.check_output(
        "nohup sh -c 'while r=$(docker exec -u postgres postgres psql -qAtX -U fleetpulse -d fleetpulse -c "
        "\"INSERT INTO pitr_probe DEFAULT VALUES RETURNING extract(epoch FROM written_at)\"); "
        "do echo $r >> /root/pitr-writes.log; sleep 0.2; done' >/dev/null 2>&1 &")
    wait_until("the writer wrote across an archive_timeout",
               lambda: len(host.run("cat /root/pitr-writes.log").stdout.split()) >= 2 and (
                   float(host.run("tail -1 /root/pitr-writes.log").stdout) - float(
                       host.run("head -1 /root/pitr-writes.log").stdout) >= 35), timeout=120)
    # The server dies: container killed, its volume and the pgBackRest configuration deleted.
    host.check_output("docker kill postgres && docker rm postgres && docker volume rm carrental_postgres-data "
                      "&& rm -rf /etc/fleetpulse/pgbackrest")
    newest_written = float(host.check_output("tail -1 /root/pitr-writes.log"))
    out = recover("latest")
    assert "Recovered copy verified" in out
    newest_recovered = float(sql(host, "SELECT extract(epoch FROM max(written_at)) FROM pitr_probe"))
    rpo = newest_written - newest_recovered
    save(rpo_seconds=round(rpo, 1), writes=len(host.check_output("cat /root/pitr-writes.log").split()))
    print(f"RPO: newest written {newest_written:.1f}, newest recovered {newest_recovered:.1f}: {rpo:.1f} s")
    assert 0 <= rpo <= 60
    assert sql(host, "SELECT pg_is_in_recovery()") == "f"
    assert int(sql(host, 'SELECT count(*) FROM "Booking"')) > 0
    switch_and_wait_archived(host)
