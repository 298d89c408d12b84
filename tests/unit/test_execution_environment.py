"""The execution environment definition renders a build context (a full build needs a registry)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BUILDER = [sys.executable, "-m", "ansible_builder"]


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", line.strip())
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_create_renders_the_build_context(tmp_path: Path) -> None:
    ctx = tmp_path / "context"
    res = subprocess.run([*BUILDER, "create", "-f", str(REPO / "execution-environment.yml"), "-c", str(ctx),
                          "--output-filename", "Containerfile"], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    containerfile = (ctx / "Containerfile").read_text()
    ee = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    base = ee["images"]["base_image"]["name"]
    assert f'ARG EE_BASE_IMAGE="{base}"' in containerfile
    core = pins(REPO / "requirements.txt")["ansible-core"]
    assert f"ansible-core=={core}" in containerfile and "ansible-runner==" in containerfile
    # the controller's pinned requirements and bindep go in as they are, and get installed
    assert (ctx / "_build" / "requirements.txt").read_text() == (REPO / "requirements.txt").read_text()
    assert (ctx / "_build" / "bindep.txt").read_text() == (REPO / "bindep.txt").read_text()
    assert "introspect --user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile
    assert "install-from-bindep" in containerfile
    assert "ansible-galaxy collection list community.docker" in containerfile


def test_collection_declares_its_dependencies_for_other_ees() -> None:
    """ansible-builder reads meta/execution-environment.yml of the installed collection."""
    res = subprocess.run([*BUILDER, "introspect", "--sanitize", str(REPO / ".collections")],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    data = yaml.safe_load(res.stdout.split("\n", 1)[1])
    python = {line.split("  #")[0] for line in data["python"] if "fleetpulse.dr" in line}
    system = {line.split("  #")[0] for line in data["system"] if "fleetpulse.dr" in line}
    assert "psycopg[binary]==" + pins(REPO / "requirements.txt")["psycopg[binary]"] in python
    assert "openssh-client [platform:dpkg]" in system


def test_ee_requirements_match_the_controller_pins() -> None:
    ee, controller = pins(REPO / "meta" / "ee-requirements.txt"), pins(REPO / "requirements.txt")
    assert ee and all(controller.get(name) == version for name, version in ee.items()), (ee, controller)
