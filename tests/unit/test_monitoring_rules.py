"""The monitoring role's alert rules and Alertmanager routing, tested with promtool and amtool.

The rules are rendered by the role itself (monitoring_render.py) with its defaults; the rule
unit tests (tests/promtool/*.test.yml) feed series to each alert and check that it fires
on what should fire it, with the labels and annotations on-call sees, and stays silent
otherwise.
"""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from monitoring_render import PROMTOOL_TESTS, render, run, tool

TEST_FILES = sorted(PROMTOOL_TESTS.glob("*.test.yml"))


@pytest.fixture(scope="module")
def prometheus_dir() -> Path:
    """The rendered prometheus/ directory, with the test files and each rule group alone in by-group/.

    Each test file loads only its group (the same rules as deployed, split from
    rules/fleetpulse.rules.yml): promtool evaluates every loaded rule at every step, and the
    tests cover hours to a year.
    """
    out = render() / "prometheus"
    by_group = out / "by-group"
    by_group.mkdir(exist_ok=True)
    for group in groups(out):
        name = group["name"].removeprefix("fleetpulse-").replace("-", "_")
        (by_group / f"{name}.rules.yml").write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False))
    for test_file in TEST_FILES:
        shutil.copy(test_file, out / test_file.name)
    return out


def groups(prometheus_dir: Path) -> list[dict]:
    return yaml.safe_load((prometheus_dir / "rules" / "fleetpulse.rules.yml").read_text())["groups"]


def alerts(prometheus_dir: Path) -> dict[str, list[dict]]:
    """Alert name -> its rules (one name can have several rules, e.g. one per DR test)."""
    found: dict[str, list[dict]] = defaultdict(list)
    for group in groups(prometheus_dir):
        for rule in group["rules"]:
            if "alert" in rule:
                found[rule["alert"]].append(rule)
    return found


def test_prometheus_config_and_the_rules_are_valid(prometheus_dir):
    res = run([tool("promtool"), "check", "config", "prometheus.yml"], prometheus_dir)
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(p.name for p in (prometheus_dir / "rules").glob("*.yml")) == ["fleetpulse.rules.yml"]
    assert "SUCCESS: 1 rule files found" in res.stdout
    assert "SUCCESS: 27 rules found" in res.stdout
    assert [g["name"] for g in groups(prometheus_dir)] == [
        "fleetpulse-backup", "fleetpulse-offsite", "fleetpulse-object-mirror", "fleetpulse-wal-archive",
        "fleetpulse-certificates", "fleetpulse-dr-tests", "fleetpulse-monitoring"]


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_promtool_rule_unit_tests(prometheus_dir, test_file):
    res = run([tool("promtool"), "test", "rules", test_file.name], prometheus_dir)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


def test_every_alert_is_tested_firing_and_silent(prometheus_dir):
    """Both directions for every alert: at least one case where it fires and one where it must not."""
    fires: set[str] = set()
    silent: set[str] = set()
    for test_file in TEST_FILES:
        for case in yaml.safe_load(test_file.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    defined = set(alerts(prometheus_dir))
    # one test file per rule group, loading that group
    assert {p.name.removesuffix(".test.yml") for p in TEST_FILES} == {
        g["name"].removeprefix("fleetpulse-").replace("-", "_") for g in groups(prometheus_dir)}
    for test_file in TEST_FILES:
        group = test_file.name.removesuffix(".test.yml")
        assert yaml.safe_load(test_file.read_text())["rule_files"] == [f"by-group/{group}.rules.yml"]
    assert defined - fires == set(), "alerts never shown firing"
    assert defined - silent == set(), "alerts never shown silent"
    assert (fires | silent) - defined == set(), "tests of alerts that do not exist"


def test_every_alert_has_a_plan_severity_a_component_and_a_runbook(prometheus_dir):
    for name, rules in alerts(prometheus_dir).items():
        for rule in rules:
            assert rule["labels"]["severity"] in ("P1", "P2", "P3"), name
            assert rule["labels"]["component"], name
            assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}, name
            assert rule["annotations"]["runbook_url"].endswith("docs/monitoring.md#" + name.lower()), name


def test_dr_test_cadence_follows_plan_5_1(prometheus_dir):
    days = {}
    for rule in alerts(prometheus_dir)["DRTestOverdue"]:
        test = rule["expr"].split('test="')[1].split('"')[0]
        days[test] = int(rule["labels"]["cadence_days"])
        assert f"> {days[test] * 86400}" in rule["expr"]
    # monthly, quarterly, semi-annually, annually: the longest month, quarter, half and year
    assert days == {"database_restore": 31, "server_rebuild": 92, "dns_failover": 183, "communication_drill": 366}


@pytest.fixture(scope="module")
def alertmanager_config() -> Path:
    return render() / "alertmanager" / "alertmanager.yml"


def test_alertmanager_config_is_valid(alertmanager_config):
    res = run([tool("amtool"), "check-config", str(alertmanager_config)], alertmanager_config.parent)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "3 receivers" in res.stdout


@pytest.mark.parametrize(("labels", "receiver"), [
    (["severity=P1", "alertname=CertificateExpiringCritical"], "fleetpulse-P1"),
    (["severity=P2", "alertname=BackupTooOld"], "fleetpulse-P2"),
    (["severity=P3", "alertname=DRTestOverdue"], "fleetpulse-P3"),
    # An alert of an extra rule file without (or with an unknown) severity is never dropped.
    (["alertname=Custom"], "fleetpulse-P2"),
    (["severity=critical", "alertname=Custom"], "fleetpulse-P2"),
])
def test_alertmanager_routes_by_severity(alertmanager_config, labels, receiver):
    res = run([tool("amtool"), "config", "routes", "test", "--config.file", str(alertmanager_config), *labels],
              alertmanager_config.parent)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == receiver


def test_channels_follow_plan_4_1(alertmanager_config):
    """P1: Slack, email and phone (the webhook); P2: Slack and email; P3: Slack. Disabled channels are left out."""
    config = yaml.safe_load(alertmanager_config.read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    kinds = {name: sorted(k for k in r if k.endswith("_configs")) for name, r in receivers.items()}
    assert kinds == {
        "fleetpulse-P1": ["email_configs", "slack_configs", "webhook_configs"],
        "fleetpulse-P2": ["email_configs", "slack_configs"],
        "fleetpulse-P3": ["slack_configs"],
    }
    phone = receivers["fleetpulse-P1"]["webhook_configs"]
    assert [w["url"] for w in phone] == ["https://pager.fleetpulse.test/alert"]  # not the disabled one
    assert phone[0]["http_config"]["authorization"] == {"type": "Bearer", "credentials": "render-only-token"}
    assert all(c["send_resolved"] for r in receivers.values() for k in kinds[r["name"]] for c in r[k])
    timing = {r["receiver"]: (r["group_wait"], r["repeat_interval"]) for r in config["route"]["routes"]}
    # Plan 4.1: P1 immediately and every 30 min, P2 within 15 min and hourly, P3 within the hour.
    assert timing == {"fleetpulse-P1": ("10s", "30m"), "fleetpulse-P2": ("1m", "1h"), "fleetpulse-P3": ("5m", "24h")}


def test_alertmanager_config_is_readable_by_the_container_user_only(alertmanager_config):
    mode = alertmanager_config.stat()
    assert oct(mode.st_mode & 0o777) == "0o600"
    assert mode.st_uid == 65534


def test_every_alert_is_documented_with_a_runbook_section(prometheus_dir):
    """runbook_url points at docs/monitoring.md#<alert>: the section and the table row must exist."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "monitoring.md").read_text()
    sections = set(re.findall(r"^#### (\w+)$", docs, re.M))
    rows = set(re.findall(r"^\| (\w+) \| \w+ \| P[123] \|", docs, re.M))
    assert sections == set(alerts(prometheus_dir))
    assert rows == set(alerts(prometheus_dir))
    for name, rules in alerts(prometheus_dir).items():
        assert re.search(rf"^\| {name} \| \w+ \| {rules[0]['labels']['severity']} \|", docs, re.M), name
