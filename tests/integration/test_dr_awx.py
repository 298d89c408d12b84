"""AWX: job templates and surveys generated from the registry, and the bridge launching them.

No AWX can run here (it needs Kubernetes or a container registry), so the launch test talks
to a small stand-in of the AWX REST API (api/v2) that implements the calls the bridge makes
and records them: a TEST DOUBLE, the only one of these tests.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dr_bridge_helpers import Receiver, bridge_config, final_posted, running_bridge, serving
from dr_testhosts import REPO, make_project

pytestmark = pytest.mark.integration
TOKEN = "awx-token-for-tests"


def export(project: Path, out: Path) -> dict[str, Any]:
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    res = subprocess.run([str(ansible_playbook), str(REPO / "awx" / "configure.yml"),
                          "-e", f"dr_awx_export_path={out}", "-e", f"dr_awx_project_dir={project}",
                          "-e", '{"dr_awx_environments": ["test", "production"]}'],
                         capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(out.read_text())


def test_job_templates_and_surveys_come_from_the_registry(tmp_path: Path) -> None:
    data = export(make_project(tmp_path / "project", tmp_path / "marker"), tmp_path / "awx.json")
    templates = {t["name"]: t for t in data["job_templates"]}
    assert sorted(templates) == ["FleetPulse DR - danger", "FleetPulse DR - status"]  # unlisted.yml: not offered
    danger = templates["FleetPulse DR - danger"]
    assert danger["playbook"] == "playbooks/danger.yml" and danger["destructive"] is True
    questions = {q["variable"]: q for q in danger["survey_spec"]["spec"]}
    assert questions["danger_level"]["type"] == "multiplechoice"
    assert questions["danger_level"]["choices"] == ["low", "high"]
    confirm = questions["danger_confirm"]
    assert confirm["required"] is True and confirm["type"] == "text" and confirm["min"] == 1
    assert "(test, production)" in confirm["question_name"]
    status = {q["variable"]: q for q in templates["FleetPulse DR - status"]["survey_spec"]["spec"]}
    assert status["status_rpo_hours"] == {"question_name": "status_rpo_hours", "variable": "status_rpo_hours",
                                          "question_description": status["status_rpo_hours"]["question_description"],
                                          "type": "integer", "required": False, "default": 24}
    assert status["status_fail_on_problem"]["choices"] == ["true", "false"]
    assert status["status_fail_on_problem"]["default"] == "false"


def test_real_registry_exports_one_template_per_available_scenario(tmp_path: Path) -> None:
    data = export(REPO, tmp_path / "awx.json")
    available = sorted(p.stem for p in (REPO / "playbooks").glob("*.yml"))
    assert sorted(t["scenario"] for t in data["job_templates"]) == available
    for t in data["job_templates"]:
        required = [q["variable"] for q in t["survey_spec"]["spec"] if q["required"]]
        assert bool(required) == t["destructive"], t["name"]


class FakeAwx(ThreadingHTTPServer):
    """TEST DOUBLE of the AWX API: job template and inventory lookup by name, launch, job status, job events."""

    daemon_threads = True

    def __init__(self) -> None:
        self.launches: list[dict[str, Any]] = []
        self.polls = 0
        self.auth: set[str] = set()
        awx = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def reply(self, payload: Any, status: int = 200) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                awx.auth.add(self.headers.get("Authorization", ""))
                url = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/api/v2/job_templates/":
                    found = [{"id": 7}] if query.get("name") == "FleetPulse DR - danger" else []
                    self.reply({"count": len(found), "results": found})
                elif url.path == "/api/v2/inventories/":
                    self.reply({"results": [{"id": 3}] if query.get("name") == "FleetPulse test" else []})
                elif url.path == "/api/v2/jobs/42/":
                    awx.polls += 1
                    status = "running" if awx.polls < 3 else "successful"
                    self.reply({"id": 42, "status": status, "elapsed": 12.5, "started": "2026-01-01T02:00:00Z"})
                elif url.path == "/api/v2/jobs/42/job_events/" and query == {
                        "event": "runner_on_ok", "task__icontains": "summary", "order_by": "-counter"}:
                    self.reply({"results": [{"event_data": {"res": {"msg": ["restored 4 tables", "took 12s"]}}}]})
                elif url.path == "/api/v2/jobs/42/job_events/" and query.get("event") == "playbook_on_stats":
                    self.reply({"results": [{"event_data": {"ok": {"db1": 9}, "changed": {"db1": 3}, "failures": {},
                                                            "dark": {}, "skipped": {}, "rescued": {}, "ignored": {}}}]})
                else:
                    self.reply({"detail": "not found"}, 404)

            def do_POST(self) -> None:
                awx.auth.add(self.headers.get("Authorization", ""))
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                if self.path == "/api/v2/job_templates/7/launch/":
                    awx.launches.append(body)
                    self.reply({"job": 42, "status": "pending"}, 201)
                else:
                    self.reply({"detail": "not found"}, 404)

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving(Receiver()) as server:
        yield server


def test_bridge_launches_the_awx_job_template_after_confirmation(tmp_path: Path, receiver: Receiver) -> None:
    marker = tmp_path / "marker"
    project = make_project(tmp_path / "project", marker)
    (tmp_path / "awx-token").write_text(TOKEN)
    with serving(FakeAwx()) as awx:
        config = bridge_config(tmp_path, receiver.url, project / "inventories/local/hosts.yml", awx={
            "url": f"http://127.0.0.1:{awx.server_address[1]}", "token_file": str(tmp_path / "awx-token"),
            "poll_interval_seconds": 0.05})
        with running_bridge(project, config, receiver) as (bridge, slack):
            _status, reply = slack.command("danger env=test danger_level=low")
            code = re.search(r"/dr confirm (\d{4}-\d{4})", reply["text"]).group(1)
            assert awx.launches == []
            _status, reply = slack.command(f"confirm {code}")
            assert reply["text"] == ":rocket: Starting *danger* on *test* via AWX; progress follows here."
            msgs = receiver.wait_for(final_posted, timeout=30)
    assert awx.launches == [{"extra_vars": {"danger_level": "low", "danger_confirm": "test"}, "inventory": 3}]
    assert awx.auth == {f"Bearer {TOKEN}"}
    texts = [m["text"] for m in msgs]
    assert "AWX job 42 launched from template 'FleetPulse DR - danger'" in texts
    final = texts[-1]
    assert "danger SUCCEEDED in 12.5s" in final and "restored 4 tables" in final
    assert "Recap: 1 host(s): ok=9 changed=3 failed=0 unreachable=0" in final
    assert not marker.exists()  # nothing ran locally
    done = bridge.audit.records()[-1]
    assert (done["action"], done["result"], done["job"]) == ("finished", "succeeded", "awx-job-42")
