"""Plan 3.2 with point-in-time recovery: the bare server rebuilt by playbooks/rebuild-server.yml
holds what only the WAL archive could bring, and archives again into the same stanza.

prepare.yml stood up the old server (the replica with data, a certificate, a logical backup,
a configuration backup and an object mirror offsite, then WAL archiving with pgBackRest to the
world's SeaweedFS over HTTPS and a first base backup), created a probe table and wrote a
timestamped row every second for 45 s, all AFTER the newest dump and the base backup, and
killed the server with its disks. Neither the dump nor the base backup holds the probe table:
on the rebuilt server it can only come from the archived WAL. converge rebuilt the bare
platform with the inventory's fleetpulse_db_recovery_method: pitr; idempotence ran it again.
Every wait polls a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import fp_polling

NS = os.environ.get("FP_TEST_NS", "fp")
REPO = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
WORLD_DIR = Path(os.environ.get("FP_WORLD_DIR") or REPO / ".world" / NS)
WRITER = json.loads((WORLD_DIR / "rebuild" / "pitr-writer.json").read_text())
STATE = "/var/lib/fleetpulse-rebuild/state.json"
COMPOSE = ("docker compose --project-directory /opt/fleetpulse -p carrental -f /opt/fleetpulse/docker-compose.prod.yml "
           "-f /opt/fleetpulse/docker-compose.pitr.yml")
RPO_SECONDS = 60  # issue 12: the newest recovered row at most 60 s older than the newest written


def wait_until(what: str, probe, timeout: float = 120, interval: float = 1.0):
    return fp_polling.wait_until(what, probe, timeout, interval)


def sql(host, query: str) -> str:
    return host.check_output("docker exec -u postgres postgres psql -qAtX -v ON_ERROR_STOP=1 -U fleetpulse "
                             f"-d fleetpulse -c {shlex.quote(query)}")


def state_of_the_server(host) -> str:
    return host.check_output("docker inspect --format '{{.Name}} {{.State.StartedAt}}' $(docker ps -aq) | sort; "
                             f"cat {STATE}; ls /etc/fleetpulse/pgbackrest")


def pgbackrest_info(host) -> dict:
    return json.loads(host.check_output("/usr/local/sbin/fleetpulse-pitr pgbackrest --output=json info"))[0]


def test_rows_only_the_wal_archive_held_are_back_within_the_rpo(host):
    """The probe rows were written after the dump and the base backup: only replayed WAL brings them.

    Every row committed in a segment the store had confirmed before the kill must be back (a replay
    that stops early fails here), and the newest recovered row is at most 60 s older than the newest
    written one (the data-loss window, measured).
    """
    written = [(float(epoch), segment) for epoch, segment in WRITER["rows"]]
    last_archived = WRITER["last_archived_wal"][:24]
    in_archive = [epoch for epoch, segment in written if segment <= last_archived]
    row = sql(host, "SELECT count(*), coalesce(extract(epoch FROM min(written_at)), 0), "
                    "coalesce(extract(epoch FROM max(written_at)), 0) FROM rebuild_pitr_probe").split("|")
    recovered, oldest, newest = int(row[0]), float(row[1]), float(row[2])
    dump_finished = datetime.strptime(WRITER["dump"]["finished_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC).timestamp()
    assert in_archive, f"no row reached the archive before the kill (last archived {last_archived}): nothing to prove"
    assert oldest > dump_finished, (oldest, dump_finished)
    assert abs(oldest - written[0][0]) < 0.01, "the first rows written are missing"
    assert recovered >= len(in_archive), f"{recovered} rows back, {len(in_archive)} were in archived segments"
    assert newest >= in_archive[-1] - 0.01, (newest, in_archive[-1])
    assert recovered <= len(written)
    window = written[-1][0] - newest
    # The measured data-loss window (for the report): the newest written row against the newest recovered one.
    print(f"data-loss window {window:.1f} s: {recovered} of {len(written)} rows written after the dump recovered "
          f"({len(in_archive)} in segments archived up to {last_archived})")
    (WORLD_DIR / "rebuild" / "pitr-results.json").write_text(json.dumps(
        {"data_loss_window_seconds": round(window, 1), "rows_written": len(written), "rows_recovered": recovered,
         "rows_in_archived_segments": len(in_archive)}, indent=2) + "\n")
    assert 0 <= window <= RPO_SECONDS, window


def test_the_rebuild_recorded_a_point_in_time_recovery_and_restored_nothing_again(host):
    state = json.loads(host.file(STATE).content_string)
    assert state["database"]["method"] == "pitr", state
    # The first run's swap kept what the (new, empty) data volume held aside; a second recovery over
    # the live cluster (the idempotence run) would have kept a second volume.
    aside = host.check_output("docker volume ls -q --filter label=fleetpulse.dr.pitr=aside").split()
    assert len(aside) == 1, aside
    # Recovered and promoted: a new timeline after the old server's.
    assert int(sql(host, "SELECT timeline_id FROM pg_control_checkpoint()")) >= 2
    assert sql(host, "SELECT pg_is_in_recovery()") == "f"


def test_postgres_runs_under_the_pitr_override(host):
    labels = json.loads(host.check_output("docker inspect --format '{{json .Config.Labels}}' postgres"))
    assert labels["com.docker.compose.project.config_files"].split(",")[-1].endswith("/docker-compose.pitr.yml"), labels
    assert host.check_output("docker inspect --format '{{.HostConfig.Init}}' postgres") == "true"
    mounts = json.loads(host.check_output("docker inspect --format '{{json .Mounts}}' postgres"))
    assert any(m["Destination"] == "/etc/pgbackrest" for m in mounts), mounts


def test_the_new_server_archives_into_the_same_stanza(host):
    """A segment switched now on the rebuilt server reaches the repository; pgbackrest check passes."""
    before = pgbackrest_info(host)
    assert before["status"]["code"] == 0, before["status"]
    # A table of its own: the probe rows stay those of the old server (the tests can run again).
    segment = sql(host, "CREATE TABLE IF NOT EXISTS rebuild_pitr_after (at timestamptz DEFAULT now()); "
                        "INSERT INTO rebuild_pitr_after DEFAULT VALUES; SELECT pg_walfile_name(pg_switch_wal())")
    assert int(segment[:8], 16) >= 2, f"{segment} is not on a timeline after the old server's"

    def archived_in_repository() -> str | None:
        newest = max((a.get("max") or "" for a in pgbackrest_info(host).get("archive", [])), default="")
        return newest if newest[:8] == segment[:8] and newest >= segment else None

    wait_until(f"segment {segment} in the repository", archived_in_repository, timeout=90, interval=2)
    host.check_output("/usr/local/sbin/fleetpulse-pitr pgbackrest check")
    # The rebuild took a full backup on the new timeline (recovery) and kept the old server's.
    assert len(pgbackrest_info(host)["backup"]) >= 2


def test_base_backups_and_the_lag_metric_are_scheduled(host):
    for timer in ("fleetpulse-pitr-backup.timer", "fleetpulse-pitr-metrics.timer", "fleetpulse-backup.timer"):
        unit = host.service(timer)
        assert unit.is_enabled, timer
        assert unit.is_running, timer
    host.check_output("/usr/local/sbin/fleetpulse-pitr metrics")
    prom = host.file("/var/lib/node_exporter/textfile_collector/fleetpulse_wal_archive.prom").content_string
    lag = [line for line in prom.splitlines() if line.startswith("fleetpulse_wal_archive_lag_seconds")]
    assert lag, prom
    assert float(lag[0].rsplit(" ", 1)[1]) < RPO_SECONDS, lag


def test_the_whole_stack_is_healthy(host):
    services = [json.loads(line) for line in host.check_output(f"{COMPOSE} ps --format json").splitlines()]
    by_name = {s["Service"]: s for s in services}
    assert {"postgres", "redis", "minio", "api", "web", "nginx"} <= set(by_name)
    for name, service in by_name.items():
        assert service["State"] == "running", name
        assert service.get("Health", "") in ("", "healthy"), (name, service.get("Health"))
    health = json.loads(host.check_output("docker exec api curl -fsS http://localhost:3000/api/v1/health"))
    assert health["status"] == "ok", health


def test_the_preflight_refuses_pitr_without_its_settings_before_the_server_is_contacted(host):
    before = state_of_the_server(host)
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false")
    run = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         str(REPO / "playbooks" / "rebuild-server.yml"),
         "-e", "rebuild_server_confirm=local", "-e", "rebuild_server_db_method=pitr",
         "-e", "db_pitr_s3_endpoint=http://s3-tls.fleetpulse.test:8443", "-e", "db_pitr_s3_access_key=",
         "-e", '{"fleetpulse_compose_extra_files": []}'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO, timeout=600, check=False)
    out = " ".join(run.stdout.split())  # the callback wraps long messages
    assert run.returncode == 2, out[-3000:]
    assert "PREFLIGHT FAILED: 3 problem(s)" in out, out[-3000:]
    assert "pgBackRest speaks only HTTPS to S3" in out
    assert "set db_pitr_s3_access_key and db_pitr_s3_secret_key" in out
    assert ("does not name docker-compose.pitr.yml: add `fleetpulse_compose_extra_files: [docker-compose.pitr.yml]`"
            in out)
    assert "Connect | Try the inventory's user" not in out
    assert state_of_the_server(host) == before
