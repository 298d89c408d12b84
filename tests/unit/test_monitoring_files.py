"""The metrics contract (docs/metrics.md), the Grafana dashboard and provisioning, and the compose file.

Grafana itself is not run by the tests (it is not available offline): its files are checked
structurally here, and every dashboard query is parsed by promtool. Known gap, listed in
the README.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from monitoring_render import REPO, render, run, tool

CONTRACT = REPO / "docs" / "metrics.md"
DASHBOARD = REPO / "roles" / "monitoring" / "files" / "grafana" / "dashboards" / "fleetpulse-recovery-readiness.json"
# node_exporter's and Prometheus' own series the rules may read besides the contract's.
NOT_IN_CONTRACT = {"node_textfile_mtime_seconds", "node_textfile_scrape_error", "up", "ALERTS"}
METRIC_RE = re.compile(r"\b((?:fleetpulse|node)_[a-z0-9_]+|up|ALERTS)\b(?!\s*\()")


def contract() -> dict[str, dict]:
    """Metric name -> {type, labels} from the tables of docs/metrics.md."""
    rows = {}
    for line in CONTRACT.read_text().splitlines():
        m = re.match(r"^\| `(fleetpulse_[a-z0-9_]+)` \| (\w+) \| ([a-z, ]+) \| .+ \| .+ \|$", line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)} listed twice"
            rows[m.group(1)] = {"type": m.group(2), "labels": {x.strip() for x in m.group(3).split(",")}}
    return rows


def examples() -> list[str]:
    return re.findall(r"```text\n(.*?)```", CONTRACT.read_text(), re.S)


def test_contract_is_idiomatic():
    rows = contract()
    assert len(rows) >= 35
    for name, row in rows.items():
        assert row["type"] in ("gauge", "counter"), name
        assert name.endswith("_total") == (row["type"] == "counter"), f"{name}: only counters end in _total"
        assert not row["labels"] & {"instance", "job"}, f"{name}: Prometheus sets instance and job"
        if "timestamp" in name:
            assert name.endswith("_timestamp_seconds"), name


@pytest.mark.parametrize("index", range(6))
def test_contract_examples_are_valid_and_follow_the_tables(index):
    """Every example file passes `promtool check metrics` and uses the names, types and labels of the tables."""
    text = examples()[index]
    res = run([tool("promtool"), "check", "metrics"], REPO, stdin=text)
    assert res.returncode == 0 and not res.stdout.strip() and not res.stderr.strip(), res.stdout + res.stderr
    rows = contract()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        assert rows[name]["type"] == kind, name
    for name, labels in re.findall(r"^(fleetpulse_[a-z0-9_]+)\{([^}]*)\} ", text, re.M):
        assert {kv.split("=")[0] for kv in labels.split(",")} == rows[name]["labels"], name


def test_there_are_six_example_files():
    assert len(examples()) == 6  # backup, offsite, object mirror, WAL, certificates, DR tests


def metrics_used(expr: str) -> set[str]:
    """Metric names in a PromQL expression (label values in quotes are not names)."""
    return set(METRIC_RE.findall(re.sub(r'"[^"]*"', '""', expr)))


def test_rules_read_only_contract_metrics():
    rules = yaml.safe_load((render() / "prometheus" / "rules" / "fleetpulse.rules.yml").read_text())
    used: set[str] = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            used |= metrics_used(rule["expr"])
    unknown = used - set(contract()) - NOT_IN_CONTRACT
    assert unknown == set(), f"rules read metrics docs/metrics.md does not define: {unknown}"
    # every required metric of the backup contract is watched by some rule
    assert {"fleetpulse_backup_last_success_timestamp_seconds", "fleetpulse_backup_last_run_success",
            "fleetpulse_backup_offsite_last_success_timestamp_seconds", "fleetpulse_wal_archive_lag_seconds",
            "fleetpulse_object_mirror_last_success_timestamp_seconds",
            "fleetpulse_certificate_expiry_timestamp_seconds",
            "fleetpulse_dr_test_last_success_timestamp_seconds"} <= used


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def test_dashboard_structure():
    dash = dashboard()
    assert dash["uid"] == "fleetpulse-recovery-readiness"
    assert dash["title"] and isinstance(dash["schemaVersion"], int)
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for p in dash["panels"]:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, p["title"]
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not area & cells, f"panel {p['title']!r} overlaps another"
        cells |= area
    variables = {v["name"] for v in dash["templating"]["list"]}
    for p in panels():
        assert p["type"] in ("stat", "timeseries", "table"), p["title"]
        assert p["datasource"] == {"type": "prometheus", "uid": "fleetpulse-prometheus"}, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"] == p["datasource"]
            assert set(re.findall(r"\$(\w+)", t["expr"])) <= variables, p["title"]


def test_dashboard_shows_backup_age_size_duration_and_row_counts_over_time():
    over_time = " ".join(t["expr"] for p in panels() if p["type"] == "timeseries" for t in p["targets"])
    for metric in ("fleetpulse_backup_last_success_timestamp_seconds", "fleetpulse_backup_size_bytes",
                   "fleetpulse_backup_duration_seconds", "fleetpulse_backup_table_rows"):
        assert metric in over_time


def test_dashboard_queries_parse_and_read_contract_metrics(tmp_path):
    """Every query is valid PromQL (promtool parses it as a recording rule) and reads known metrics only."""
    dash = dashboard()
    exprs = [t["expr"] for p in panels() for t in p["targets"]]
    exprs += [v["query"]["query"].split("(", 1)[1].rsplit(",", 1)[0] for v in dash["templating"]["list"]]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": re.sub(r"\$\w+", ".*", e)} for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    res = run([tool("promtool"), "check", "rules", str(path)], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    unknown = set().union(*(metrics_used(e) for e in exprs)) - set(contract()) - NOT_IN_CONTRACT
    assert unknown == set(), f"dashboard reads metrics docs/metrics.md does not define: {unknown}"


def compose() -> dict:
    return yaml.safe_load((render() / "docker-compose.monitoring.yml").read_text())


def test_grafana_provisioning_matches_the_dashboard_and_the_compose_file():
    out = render() / "grafana"
    datasources = yaml.safe_load((out / "provisioning" / "datasources" / "fleetpulse.yml").read_text())
    providers = yaml.safe_load((out / "provisioning" / "dashboards" / "fleetpulse.yml").read_text())
    assert datasources["apiVersion"] == 1 and providers["apiVersion"] == 1
    [ds] = datasources["datasources"]
    assert (ds["uid"], ds["type"], ds["access"]) == ("fleetpulse-prometheus", "prometheus", "proxy")
    services = compose()["services"]
    assert ds["url"] == "http://prometheus:9090" and "prometheus" in services
    [provider] = providers["providers"]
    assert provider["type"] == "file" and provider["allowUiUpdates"] is False
    mounts = dict(v.split(":")[1::-1] for v in services["grafana"]["volumes"] if v.startswith("./"))
    assert mounts[provider["options"]["path"]] == "./grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    assert json.loads((out / "dashboards" / DASHBOARD.name).read_text()) == dashboard()
    env = (render() / "grafana.env").read_text()
    assert "GF_SECURITY_ADMIN_PASSWORD='render-only-password'" in env  # single quotes: no $ interpolation
    assert oct((render() / "grafana.env").stat().st_mode & 0o777) == "0o600"


def test_compose_file_is_valid_and_wires_the_textfile_directory():
    project = render()
    res = run(["docker", "compose", "--project-directory", str(project), "--file",
               str(project / "docker-compose.monitoring.yml"), "config", "--quiet"], project)
    assert res.returncode == 0, res.stdout + res.stderr
    spec = compose()
    assert spec["name"] == "carrental-monitoring"
    assert set(spec["services"]) == {"prometheus", "alertmanager", "node-exporter", "grafana"}
    node = spec["services"]["node-exporter"]
    assert f"{project}/textfile:/textfile:ro" in node["volumes"]
    assert "--collector.textfile.directory=/textfile" in node["command"]
    ports = [p for s in spec["services"].values() for p in s.get("ports", [])]
    assert ports == ["127.0.0.1:9090:9090", "127.0.0.1:9093:9093", "127.0.0.1:3001:3000"]
    assert "--web.enable-lifecycle" in spec["services"]["prometheus"]["command"]
