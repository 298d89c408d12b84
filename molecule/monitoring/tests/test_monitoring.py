"""The monitoring project on a real Prometheus, Alertmanager and node_exporter.

The metrics are written in the host's textfile directory as the DR tooling writes them
(molecule/monitoring/write_metrics.py, docs/metrics.md); Prometheus scrapes and evaluates every second here
(test-only settings), so each check polls for a few seconds with a deadline.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import fp_polling

PROMETHEUS = "http://127.0.0.1:9090"
ALERTMANAGER = "http://127.0.0.1:9093"
METRICS_DIR = "/var/lib/node_exporter/textfile_collector"
REPO = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
NS = os.environ.get("FP_TEST_NS") or "fp"
WORLD = json.loads((Path(os.environ.get("FP_WORLD_DIR") or REPO / ".world" / NS) / "world.json").read_text())
WEBHOOK_LOG = Path(WORLD["services"]["webhook"]["log"])


def api(host, url: str):
    return json.loads(host.check_output(f"curl -fsS --max-time 5 '{url}'"))


def poll(what: str, probe, timeout: float = 45.0):
    """probe() until it returns something true; fail naming `what` and the last value after `timeout` s."""
    return fp_polling.wait_until(what, probe, timeout, 0.5)


def active_alerts(host) -> list[dict]:
    """Alerts Prometheus has active now (pending or firing)."""
    return api(host, f"{PROMETHEUS}/api/v1/alerts")["data"]["alerts"]


def firing(host) -> list[dict]:
    return [a for a in active_alerts(host) if a["state"] == "firing"]


def write_metrics(host, *args: str) -> None:
    host.check_output(f"python3 /usr/local/lib/fp-test-metrics.py {METRICS_DIR} {' '.join(args)}")


def webhook_requests(since: int = 0) -> list[dict]:
    lines = WEBHOOK_LOG.read_text().splitlines()[since:]
    return [json.loads(line) for line in lines]


def webhook_count() -> int:
    return len(WEBHOOK_LOG.read_text().splitlines())


def notifications(since: int, path: str, alertname: str, status: str) -> list[dict]:
    return [r for r in webhook_requests(since) if r["path"] == path and r["body"]["status"] == status
            and any(a["labels"]["alertname"] == alertname for a in r["body"]["alerts"])]


def test_the_project_runs_the_three_services(host):
    out = host.check_output("docker compose -p carrental-monitoring ps --format '{{.Service}} {{.State}} {{.Image}}'")
    services = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    assert sorted(services) == ["alertmanager", "node-exporter", "prometheus"]
    assert [state for state, _image in services.values()] == ["running"] * 3
    assert all(image.startswith("registry.fleetpulse.test/prom/") for _state, image in services.values())


def test_prometheus_loaded_every_rule_and_reads_the_textfile_metrics(host):
    groups = api(host, f"{PROMETHEUS}/api/v1/rules")["data"]["groups"]
    assert sorted(g["name"] for g in groups) == [
        "fleetpulse-backup", "fleetpulse-certificates", "fleetpulse-dr-tests", "fleetpulse-monitoring",
        "fleetpulse-object-mirror", "fleetpulse-offsite", "fleetpulse-wal-archive"]
    assert sum(len(g["rules"]) for g in groups) == 27
    result = api(host, f"{PROMETHEUS}/api/v1/query?query=fleetpulse_backup_last_run_success")["data"]["result"]
    assert [(r["metric"]["instance"], r["metric"]["database"], r["value"][1]) for r in result] == [
        ("host1", "fleetpulse", "1")]


def last_evaluations(host) -> list[float]:
    """When each rule group was last evaluated (Unix seconds)."""
    times = []
    for group in api(host, f"{PROMETHEUS}/api/v1/rules")["data"]["groups"]:
        m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$", group["lastEvaluation"])
        assert m, group["lastEvaluation"]
        whole = datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC).timestamp()
        times.append(whole + float(m.group(2) or 0))
    return times


def test_the_dr_test_log_is_published_as_metrics(host):
    """The role turned the controller's DR test log (prepare.yml) into the DR test metrics."""
    log = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "dr-test-log.jsonl"
    expected = {r["test"]: datetime.fromisoformat(r["finished_at"].replace(".000Z", "+00:00")).timestamp()
                for r in map(json.loads, log.read_text().splitlines())}
    result = api(host, f"{PROMETHEUS}/api/v1/query?query=fleetpulse_dr_test_last_success_timestamp_seconds")
    published = {r["metric"]["test"]: float(r["value"][1]) for r in result["data"]["result"]}
    assert published == expected
    assert len(published) == 4


def test_healthy_metrics_fire_nothing(host):
    """Every writer's metrics present and recent: no alert, not even pending (all joins match)."""
    write_metrics(host, "healthy")
    poll("no alert active with healthy metrics", lambda: active_alerts(host) == [] or None)
    # ... and it stays that way over the next evaluations of every group.
    now = float(api(host, f"{PROMETHEUS}/api/v1/query?query=time()")["data"]["result"][0])
    poll("every rule group evaluated 3 s later", lambda: min(last_evaluations(host)) > now + 3)
    assert active_alerts(host) == []


def test_a_stale_backup_fires_backup_too_old_routed_as_p2(host):
    since = webhook_count()
    write_metrics(host, "backup-age", "27")
    alerts = poll("BackupTooOld firing",
                  lambda: [a for a in firing(host) if a["labels"]["alertname"] == "BackupTooOld"])
    assert [a["labels"]["alertname"] for a in firing(host)] == ["BackupTooOld"]  # nothing else
    labels = alerts[0]["labels"]
    assert (labels["database"], labels["instance"], labels["severity"]) == ("fleetpulse", "host1", "P2")
    assert float(alerts[0]["value"]) > 27 * 3600 - 60
    # Alertmanager has it, with the environment label, for the P2 receiver ...
    am = poll("BackupTooOld in Alertmanager", lambda: api(
        host, f'{ALERTMANAGER}/api/v2/alerts?filter=alertname%3D%22BackupTooOld%22'))
    assert [r["name"] for r in am[0]["receivers"]] == ["fleetpulse-P2"]
    assert am[0]["labels"]["environment"] == "local"
    # ... and the P2 channel (ops) is notified; the P1 channel (pager) is not.
    poll("firing notification on the P2 webhook", lambda: notifications(since, "/ops", "BackupTooOld", "firing"))
    assert notifications(since, "/pager", "BackupTooOld", "firing") == []


def test_a_fresh_backup_clears_it(host):
    since = webhook_count()
    write_metrics(host, "backup-age", "0.01")
    poll("BackupTooOld gone",
         lambda: not any(a["labels"]["alertname"] == "BackupTooOld" for a in active_alerts(host)))
    assert active_alerts(host) == []
    poll("resolved notification on the P2 webhook", lambda: notifications(since, "/ops", "BackupTooOld", "resolved"))


def test_an_expiring_certificate_pages_p1_only(host):
    since = webhook_count()
    write_metrics(host, "cert-days", "1")
    poll("CertificateExpiringCritical firing",
         lambda: [a for a in firing(host) if a["labels"]["alertname"] == "CertificateExpiringCritical"])
    page = poll("notification on the P1 webhook",
                lambda: notifications(since, "/pager", "CertificateExpiringCritical", "firing"))
    assert page[0]["authorization"] == "Bearer molecule-pager-token"
    assert page[0]["body"]["commonLabels"]["severity"] == "P1"
    assert notifications(since, "/ops", "CertificateExpiringCritical", "firing") == []
    write_metrics(host, "cert-days", "60")
    poll("certificate alert gone", lambda: active_alerts(host) == [] or None)
