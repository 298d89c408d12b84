"""State after side_effect: the store recovered twice, byte for byte; metrics and timers in place."""

from __future__ import annotations

import json

import pytest

TEST_DIR = "/root/object-mirror-test"
METRICS = "/var/lib/node_exporter/textfile_collector/fleetpulse_object_mirror_fleetpulse.prom"


def load(host, name: str) -> dict:
    return json.loads(host.file(f"{TEST_DIR}/{name}").content_string)


def metrics(host, path: str) -> dict[str, float]:
    values = {}
    for line in host.file(path).content_string.splitlines():
        if line and not line.startswith("#"):
            values[line.split("{", 1)[0]] = float(line.rsplit(" ", 1)[1])
    return values


def test_mirror_was_taken_of_a_real_bucket(host):
    mirrored = load(host, "mirrored.json")
    assert mirrored["objects"] > 100  # the replica's photos, contracts and signatures, plus 5 added
    assert any(key.startswith("tenants/scenario/documents/added-") for key in mirrored["sha256"])


@pytest.mark.parametrize("recovery", ["recovered-from-mirror.json", "recovered-from-volume.json"])
def test_recovered_bucket_equals_the_mirrored_one_by_checksum(host, recovery):
    mirrored, recovered = load(host, "mirrored.json"), load(host, recovery)
    assert recovered["objects"] == mirrored["objects"] and recovered["bytes"] == mirrored["bytes"]
    assert recovered["sha256"] == mirrored["sha256"]


def test_scheduled_run_succeeded_and_metrics_show_it(host):
    values = metrics(host, METRICS)
    assert values["fleetpulse_object_mirror_last_run_success"] == 1
    assert values["fleetpulse_object_mirror_objects"] == load(host, "mirrored.json")["objects"]
    assert values["fleetpulse_object_mirror_verify_differences"] == 0
    assert values["fleetpulse_object_mirror_last_success_timestamp_seconds"] == \
        values["fleetpulse_object_mirror_last_run_timestamp_seconds"]
    journal = host.check_output("journalctl -u fleetpulse-object-mirror.service --no-pager -o cat")
    assert "nothing changed since generation" in journal and "verification equal" in journal


def test_volume_archive_succeeded_and_restarted_the_store(host):
    """side_effect archived the volume with the role's entry point, which runs the scheduled command."""
    values = metrics(host, "/var/lib/node_exporter/textfile_collector/fleetpulse_object_volume_archive.prom")
    assert values["fleetpulse_object_volume_archive_last_run_success"] == 1
    assert values["fleetpulse_object_volume_archive_bytes"] > 100_000
    assert values["fleetpulse_object_volume_archive_last_success_timestamp_seconds"] == \
        values["fleetpulse_object_volume_archive_last_run_timestamp_seconds"]


@pytest.mark.parametrize("timer", ["fleetpulse-object-mirror.timer", "fleetpulse-minio-volume-archive.timer"])
def test_weekly_timers_are_enabled(host, timer):
    unit = host.service(timer)
    assert unit.is_enabled and unit.is_running
    calendar = host.check_output(f"systemctl show -p TimersCalendar --value {timer}")
    assert "Sun" in calendar


def test_settings_with_secrets_are_root_only(host):
    config = host.file("/etc/fleetpulse/object-mirror.json")
    assert config.user == "root" and config.mode == 0o600
    settings = json.loads(config.content_string)
    assert settings["offsite"]["bucket"] == "object-mirror-scenario"
    assert settings["store"]["secret_key"]  # read from the stack's .env
