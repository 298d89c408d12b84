"""Bad settings stop the monitoring role with a message naming the fix, before it writes anything."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from monitoring_render import PROMTOOL_TESTS, REPO

GOOD_CHANNEL = {"name": "ops", "type": "slack", "url": "https://hooks.slack.test/x"}


@pytest.mark.parametrize(("extra", "message"), [
    ({"monitoring_alertmanager_channels": [{"name": "pager", "type": "webhook", "url": "https://pager.test/",
                                            "headers": {"X-Api-Key": "secret"}}]},
     "the only header a webhook may have is `Authorization: Bearer <token>`"),
    ({"monitoring_alertmanager_channels": [{"name": "mail", "type": "email", "to": ["a@b.test"]}],
      "monitoring_alertmanager_smtp_host": ""},
     "email needs `to` and monitoring_alertmanager_smtp_host"),
    ({"monitoring_alertmanager_channels": [], "monitoring_environment": "production"},
     "production needs at least one enabled notification channel"),
    ({"monitoring_certificate_warning_days": 2}, "monitoring_certificate_warning_days above"),
    # the argument spec catches it first
    ({"monitoring_alert_groups": ["backup", "backups"]}, "value of monitoring_alert_groups must be one or more of"),
    ({"monitoring_grafana_admin_password": "short"}, "set monitoring_grafana_admin_password (at least 8"),
])
def test_bad_settings_fail_before_any_change(tmp_path, extra, message):
    settings = {"monitoring_alertmanager_channels": [GOOD_CHANNEL], **extra}
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"), "ANSIBLE_NOCOLOR": "1"}
    res = subprocess.run(
        ["ansible-playbook", str(PROMTOOL_TESTS / "render.yml"), "-e", f"monitoring_test_out={tmp_path}",
         "-e", json.dumps(settings)],
        cwd=REPO, env=env, capture_output=True, text=True, check=False)
    output = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0
    assert message in output, output[-3000:]
    assert "secret" not in output  # channels are never logged
    assert list(tmp_path.iterdir()) == []  # nothing written
