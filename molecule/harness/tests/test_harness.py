"""The harness gives a systemd host on the world network with a working inner engine."""


def test_systemd_is_pid1(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_registry_reachable_by_name(host):
    out = host.run("curl -sk -o /dev/null -w '%{http_code}' https://registry.fleetpulse.test/v2/")
    assert out.stdout == "401"


def test_inner_docker_runs(host):
    assert host.service("docker").is_running
    info = host.check_output("docker info --format '{{.Driver}}'")
    assert info == "overlay2"
