"""fleetpulse.dr.docker on the converged host: a working engine, Compose v2, a trusted registry."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid

import pytest
from helpers import TEST_DIR, run_playbook

IMAGE = "fp-test/busybox:local"
COMPOSE_BINARY = os.environ.get("FP_COMPOSE_BINARY", "/usr/local/lib/docker/cli-plugins/docker-compose")


def engine_starts(host) -> int:
    """How many times systemd started docker.service since the host booted."""
    log = host.check_output("journalctl -u docker.service -o cat --no-pager")
    return len(re.findall(r"^Starting (docker\.service|Docker Application Container Engine)", log, re.M))


def test_engine_not_restarted_by_converge_or_idempotence(host):
    """Installed with daemon.json already in place, so started once; the second run changed nothing."""
    assert host.service("docker").is_running
    assert host.service("docker").is_enabled
    assert engine_starts(host) == 1


def test_daemon_json_and_running_log_driver(host):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon == {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}
    assert host.check_output("docker info --format '{{.LoggingDriver}}'") == "json-file"


def test_compose_v2_plugin_is_the_controllers_binary(host):
    expected = subprocess.run([COMPOSE_BINARY, "version", "--short"], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert host.check_output("docker compose version --short") == expected
    assert expected.lstrip("v").startswith("2.")


def test_deploy_user_can_use_the_engine(host):
    out = host.run("runuser -u deploy -- docker version --format '{{.Server.Version}}'")
    assert out.rc == 0, out.stderr
    assert out.stdout.strip()


@pytest.fixture(scope="module")
def local_image(host) -> str:
    """A tiny image made inside the host: busybox-static imported as a one-binary rootfs."""
    host.check_output("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends busybox-static")
    host.check_output(f"rm -rf {TEST_DIR}/rootfs && mkdir -p {TEST_DIR}/rootfs/bin {TEST_DIR}/rootfs/tmp"
                      f" && cp /bin/busybox {TEST_DIR}/rootfs/bin/busybox && ln -s busybox {TEST_DIR}/rootfs/bin/sh"
                      f" && tar -C {TEST_DIR}/rootfs -c . | docker import - {IMAGE}")
    return IMAGE


def test_docker_run_of_a_local_image(host, local_image):
    assert host.check_output(f"docker run --rm {local_image} /bin/busybox echo hello-from-inner-engine") == \
        "hello-from-inner-engine"


def test_new_containers_get_log_rotation(host, local_image):
    name = f"fp-logs-{uuid.uuid4().hex[:8]}"
    host.check_output(f"docker create --name {name} {local_image} /bin/busybox true")
    try:
        fmt = "'{{json .HostConfig.LogConfig}}'"
        log_config = json.loads(host.check_output(f"docker inspect --format {fmt} {name}"))
    finally:
        host.run(f"docker rm -f {name}")
    assert log_config == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}


def test_compose_runs_a_project(host, local_image):
    project = f"{TEST_DIR}/compose"
    compose = (f"services:\n  app:\n    image: {local_image}\n"
               "    command: [/bin/busybox, echo, compose-says-hello]\n")
    host.check_output(f"mkdir -p {project} && printf '%s' '{compose}' > {project}/compose.yml")
    out = host.run(f"cd {project} && docker compose -p fptest run --rm app")
    host.run(f"cd {project} && docker compose -p fptest down --remove-orphans")
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "compose-says-hello"


def test_registry_ca_trusted_for_push_and_pull(host, local_image, world):
    registry = world["services"]["registry"]
    ca = host.file(f"/etc/docker/certs.d/{registry['host']}/ca.crt")
    with open(world["ca_cert"], encoding="utf-8") as handle:
        assert ca.content_string.strip() == handle.read().strip()
    ref = f"{registry['host']}/fp-verify/busybox:{uuid.uuid4().hex[:8]}"
    login = host.run(f"printf '%s' '{registry['password']}' | docker login -u {registry['username']}"
                     f" --password-stdin {registry['host']}")
    assert login.rc == 0, login.stderr
    try:
        host.check_output(f"docker tag {local_image} {ref} && docker push {ref} && docker rmi {ref}")
        assert host.check_output(f"docker pull -q {ref}") == ref
        assert host.check_output(f"docker run --rm {ref} /bin/busybox echo pulled") == "pulled"
    finally:
        host.run(f"docker rmi {ref}; docker logout {registry['host']}")


def test_changed_daemon_json_restarts_the_engine_once(host):
    """The positive side of the handler: a changed daemon.json restarts docker (runs last)."""
    before = engine_starts(host)
    run = run_playbook("apply_docker.yml", "--tags", "docker_config", extra_vars={"docker_log_max_file": 4})
    assert run.returncode == 0, run.stdout[-3000:]
    assert engine_starts(host) == before + 1
    assert json.loads(host.file("/etc/docker/daemon.json").content_string)["log-opts"]["max-file"] == "4"
    assert host.service("docker").is_running
