"""`fleetpulse-dr run` executes real scenarios through ansible-runner and reports their summary."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dr_testhosts
import pytest
from dr_testhosts import REPO, DrHosts, make_project

pytestmark = pytest.mark.integration
dr_hosts = dr_testhosts.dr_hosts
Cli = tuple[list[str], dict[str, str]]  # the installed script, and the environment to run it in


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The real `fleetpulse-dr` console script, installed from tools/fleetpulse-dr/pyproject.toml."""
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("src") / "fleetpulse-dr"  # a copy: pip builds in the source tree
    shutil.copytree(REPO / "tools" / "fleetpulse-dr", source, ignore=shutil.ignore_patterns("__pycache__"))
    res = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--target", str(target), str(source)],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    script = target / "bin" / "fleetpulse-dr"
    assert script.is_file()
    # the script's imports come from the installed copy, not from the source tree
    return [str(script)], {**os.environ, "PYTHONPATH": str(target)}


def dr(cli: Cli, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([*cli[0], *args], capture_output=True, text=True, cwd=cwd, env=cli[1], timeout=300,
                          check=False)


def test_status_on_real_hosts_reports_phases_and_summary(cli: Cli, dr_hosts: DrHosts, tmp_path: Path) -> None:
    res = dr(cli, "run", "status", "-i", str(dr_hosts.inventory), "--artifacts", str(tmp_path))
    out = res.stdout
    assert res.returncode == 0, out + res.stderr
    assert "== phase 1: Report the state of the FleetPulse app servers (read-only)" in out
    assert re.search(r"== phase 1 Report the state .*: problems on ghost \(13 task\(s\)", out)
    assert "status SUCCEEDED" in out
    assert "FleetPulse status: 3 host(s), 2 reachable, 1 unreachable" in out
    assert re.search(r"host1: no stack; newest backup 30\.\d h old \(OVER RPO 24 h\), 1 backup\(s\)", out)
    assert re.search(r"host2: stack 2/3 services running; newest backup 2\.\d h old \(within RPO 24 h\), "
                     r"2 backup\(s\), backup disk [\d.]+ GiB free", out)
    assert "  problem: 1 of 3 services not running (worker exited)" in out
    assert "ghost: UNREACHABLE" in out
    assert "Totals: services running 2/3 on 1 stack(s); backups within RPO on 1/3 host(s); problems 4" in out
    assert "Recap: 3 host(s): ok=23 changed=0 failed=0 unreachable=0" in out
    # the artifacts: ansible-runner's own files and our record
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("status-")
    record = json.loads((runs[0] / "fleetpulse-dr.json").read_text())
    assert record["ok"] is True and record["status"] == "successful" and record["rc"] == 0
    assert record["totals"]["changed"] == 0 and record["failures"] == []
    assert record["summary"][0] == "FleetPulse status: 3 host(s), 2 reachable, 1 unreachable"
    assert (runs[0] / "rc").read_text().strip() == "0"
    assert "Summary" in (runs[0] / "stdout").read_text()


def test_check_mode_changes_nothing_and_a_failed_run_exits_nonzero(cli: Cli, dr_hosts: DrHosts,
                                                                   tmp_path: Path) -> None:
    """One run for both (each status run costs seconds): check mode, and status_fail_on_problem failing it."""
    res = dr(cli, "run", "status", "--check", "-q", "-e", "status_fail_on_problem=true",
             "-i", str(dr_hosts.inventory), "--artifacts", str(tmp_path))
    out = res.stdout
    assert res.returncode == 2, out + res.stderr
    assert "status in check mode FAILED (failed, rc=2)" in out
    # check mode sees the same: every probe is read-only and runs in check mode too
    assert "Totals: services running 2/3 on 1 stack(s); backups within RPO on 1/3 host(s); problems 4" in out
    assert "    Look for the compose file" not in out  # -q: phases only
    assert re.search(r"Failures:\n  host1: Fail when a problem was found .*: 4 problem\(s\): no compose file", out)
    assert "ghost: unreachable" not in out.split("Failures:")[1].split("Recap:")[0]  # ignored by the play
    assert re.search(r"Recap: 3 host\(s\): ok=\d+ changed=0 failed=1 unreachable=0", out)
    record = json.loads(next(tmp_path.glob("status-*/fleetpulse-dr.json")).read_text())
    assert record["check"] is True and record["ok"] is False and record["rc"] == 2


def test_destructive_scenario_needs_confirmation(cli: Cli, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    project = make_project(tmp_path / "project", marker)
    base = ["--project", str(project), "run", "danger", "--env", "local", "--artifacts", str(tmp_path / "a")]
    res = dr(cli, *base)
    assert res.returncode == 64
    assert "danger is destructive" in res.stderr and "danger_confirm" in res.stderr
    res = dr(cli, *base, "--confirm", "production")
    assert res.returncode == 64 and "does not name the target environment local" in res.stderr
    assert not marker.exists()
    # the playbook checks the value too: "local" is what we confirm, the stand-in wants "test"
    res = dr(cli, *base, "--confirm", "local")
    assert res.returncode == 2 and "set danger_confirm=test" in res.stdout and not marker.exists()
    res = dr(cli, "--project", str(project), "run", "danger", "-i", str(project / "inventories/local/hosts.yml"),
             "--confirm", "test", "-e", "danger_level=high", "--artifacts", str(tmp_path / "a"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert marker.read_text() == "test high"
    assert "danger done: level high" in res.stdout


def test_list_and_unknown_scenarios(cli: Cli, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", tmp_path / "marker")
    res = dr(cli, "--project", str(project), "list")
    assert res.returncode == 0
    assert re.search(r"^danger +Test stand-in +\[DESTRUCTIVE, confirm with danger_confirm=ENV\]$", res.stdout, re.M)
    assert re.search(r"^unlisted +\(not in meta/scenarios.yml", res.stdout, re.M)
    assert "3 of 3 scenario(s) available" in res.stdout
    listed = json.loads(dr(cli, "--project", str(project), "list", "--json").stdout)
    assert {s["name"]: s["destructive"] for s in listed} == {"status": False, "danger": True, "unlisted": True}
    res = dr(cli, "--project", str(project), "run", "nope")
    assert res.returncode == 64 and "unknown scenario 'nope'" in res.stderr
    res = dr(cli, "run", "backup")  # registered in the real registry, playbook not landed yet
    if not (REPO / "playbooks" / "backup.yml").exists():
        assert res.returncode == 64 and "not in this checkout" in res.stderr
