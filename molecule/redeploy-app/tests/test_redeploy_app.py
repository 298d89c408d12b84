"""Plan 3.3 on the replica: the redeploy healed the stack, kept the data, and refuses bad input safely.

prepare.yml deployed the replica (latest), generated data, saved its fingerprint, then
replaced the api image by a broken one and deleted the web container; converge.yml ran
playbooks/redeploy-app.yml. The last tests run the playbook again with a bad registry
password and with a missing tag, and check that nothing of the running stack moved.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

API = "registry.fleetpulse.test/your-org/fleetpulse/backend"
WEB = "registry.fleetpulse.test/your-org/fleetpulse/frontend"
SERVICES = ["api", "minio", "nginx", "postgres", "redis", "web"]
PROJECT = ["docker", "compose", "--project-directory", "/opt/fleetpulse", "-p", "carrental"]


def _host_ip() -> str:
    name = f"{os.environ.get('FP_TEST_NS', 'fp')}-{os.environ['MOLECULE_SCENARIO_NAME']}-fleetpulse1"
    network = f"{os.environ.get('FP_TEST_NS', 'fp')}-world"
    fmt = '{{ (index .NetworkSettings.Networks "' + network + '").IPAddress }}'
    return subprocess.check_output(["docker", "inspect", "--format", fmt, name], text=True).strip()


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - a test host on the test network
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _snapshot(host) -> dict:
    """What must not move when a redeploy is refused: containers, their images and starts, .env, local tags."""
    ids = host.check_output("docker ps -aq --filter label=com.docker.compose.project=carrental").split()
    containers = host.check_output(
        "docker inspect --format '{{.Name}} {{.Id}} {{.Image}} {{.State.Status}} {{.State.StartedAt}} "
        "{{.RestartCount}}' " + " ".join(ids))
    images = host.check_output(f"docker image inspect --format '{{{{.Id}}}}' {API}:latest {WEB}:latest")
    env = hashlib.sha256(host.file("/opt/fleetpulse/.env").content).hexdigest()
    return {"containers": sorted(containers.splitlines()), "images": images.split(), "env": env}


def _redeploy(*extra: str) -> tuple[int, str]:
    """Run the scenario's converge playbook (replica values + playbooks/redeploy-app.yml) again.

    Returns the exit code and the output with whitespace collapsed (the callback wraps long messages).
    """
    playbook = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml"
    res = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook), *extra],
                         capture_output=True, text=True, timeout=900, check=False)
    return res.returncode, " ".join((res.stdout + res.stderr).split())


def test_health_through_nginx_is_ok_with_the_registry_version():
    status, body = _get(f"http://{_host_ip()}/api/v1/health")
    assert status == 200, body
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "up", "redis": "up", "storage": "up"}
    assert body["version"] == "1.4.2"  # latest in the registry


def test_web_is_served_through_nginx():
    with urllib.request.urlopen(f"http://{_host_ip()}/", timeout=10) as resp:
        assert resp.status == 200
        assert b"FleetPulse" in resp.read()


def test_every_service_runs_healthy(host):
    lines = host.check_output(" ".join(PROJECT) + " ps --all --format json").splitlines()
    state = {c["Service"]: (c["State"], c["Health"]) for c in map(json.loads, lines)}
    assert state == {s: ("running", "healthy") for s in SERVICES}


def test_api_and_web_run_the_registry_images_not_the_corrupted_one(host):
    for container, ref in (("api", API), ("web", WEB)):
        running = host.check_output(f"docker inspect --format '{{{{.Image}}}}' {container}")
        image = json.loads(host.check_output(f"docker image inspect {ref}:latest"))[0]
        assert running == image["Id"], f"{container} does not run {ref}:latest"
        assert any(d.startswith(ref + "@sha256:") for d in image["RepoDigests"]), image["RepoDigests"]
        assert "io.fleetpulse.test.corrupted" not in (image["Config"]["Labels"] or {})


def test_the_project_was_deployed_from_its_git_repository_at_the_tag(host):
    tag = host.check_output("git -C /srv/git/fleetpulse.git rev-parse v1.4.2^{commit}")
    assert host.check_output("git -C /opt/fleetpulse rev-parse HEAD") == tag
    assert host.check_output("git -C /opt/fleetpulse status --porcelain --untracked-files=no") == ""
    env = host.file("/opt/fleetpulse/.env")
    assert (env.user, env.mode) == ("deploy", 0o600)


def test_standing_the_replica_up_again_changes_nothing():
    """app_stack (git source, .env, nginx.conf, login, up, migrations, health) and the seed are idempotent."""
    playbook = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "molecule" / "resources" / "replica.yml"
    res = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook),
                          "-e", "replica_seed_scale=small", "-e", "replica_source=git"],
                         capture_output=True, text=True, timeout=900, check=False)
    assert res.returncode == 0, res.stdout[-3000:]
    recap = [line for line in res.stdout.splitlines() if " changed=" in line and ("ok=" in line)]
    assert recap and all(" changed=0 " in line for line in recap), recap


def test_data_is_untouched(host):
    before = json.loads(host.file("/root/redeploy-app-test-checksum.json").content_string)
    after = json.loads(host.check_output("docker exec api fleetpulse-replica checksum"))
    assert before["tables"]["Booking"]["rows"] == 5000  # the small scale was really generated
    assert before["objects"]["count"] > 0
    assert after == before


@pytest.fixture(scope="module")
def snapshot_before(host) -> dict:
    return _snapshot(host)


def test_bad_registry_password_is_refused_and_the_stack_keeps_running(host, snapshot_before):
    rc, out = _redeploy("-e", "app_stack_registry_password=not-the-token")
    assert rc != 0, out
    assert "Login to registry registry.fleetpulse.test as fleetpulse-ci failed" in out
    assert "401 Unauthorized" in out
    assert "not-the-token" not in out
    assert "Nothing was changed" in out
    assert _snapshot(host) == snapshot_before
    status, body = _get(f"http://{_host_ip()}/api/v1/health")
    assert (status, body["status"]) == (200, "ok")


def test_a_redeploy_without_confirmation_is_refused(host, snapshot_before):
    rc, out = _redeploy("-e", "app_redeploy_confirm=production")
    assert rc != 0, out
    assert "Confirm with -e app_redeploy_confirm=local" in out
    assert _snapshot(host) == snapshot_before


def test_missing_tag_is_refused_and_the_stack_keeps_running(host, snapshot_before):
    rc, out = _redeploy("-e", "redeploy_app_tag=9.9.9")
    assert rc != 0, out
    assert f"{API}:9.9.9, {WEB}:9.9.9 not found in the registry" in out
    assert "the running stack is unchanged" in out
    assert _snapshot(host) == snapshot_before
    assert "API_IMAGE=" + API + ":latest" in host.file("/opt/fleetpulse/.env").content_string
    status, body = _get(f"http://{_host_ip()}/api/v1/health")
    assert (status, body["status"]) == (200, "ok")
