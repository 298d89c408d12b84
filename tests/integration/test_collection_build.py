"""`ansible-galaxy collection build` makes a tarball that installs and exposes every role
and module by its FQCN, without the repository's development files.

The expected roles and modules are read from roles/ and plugins/modules/ in this checkout,
so a new role or module is covered without editing this test. `ansible-doc -t role -l`
lists only roles with meta/argument_specs.yml, which every role must have.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.integration

# Development-only paths (galaxy.yml build_ignore) that must never ship.
DEV_ONLY = (".ci/", ".config/", ".collections/", ".world/", ".venv/", ".cache/", ".git/", ".github/",
            ".ruff_cache/", ".pytest_cache/", "molecule/", "tests/", "scripts/", "bench/")


def repo_files() -> list[str]:
    """Files git tracks or would track (what a fresh clone has)."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    return [f for f in out.splitlines() if (REPO / f).is_file()]


def expected_roles() -> set[str]:
    return {p.name for p in (REPO / "roles").iterdir() if (p / "tasks").is_dir() or (p / "meta").is_dir()}


def expected_modules() -> set[str]:
    modules = REPO / "plugins" / "modules"
    return {p.stem for p in modules.glob("*.py") if p.name != "__init__.py"} if modules.is_dir() else set()


@pytest.fixture(scope="module")
def isolated_env(tmp_path_factory) -> dict[str, str]:
    """No ansible.cfg of this checkout, no .collections symlink: only what a user would have."""
    home = tmp_path_factory.mktemp("ansible-home")
    cfg = home / "ansible.cfg"
    cfg.write_text("[defaults]\n")
    # Drop every ANSIBLE_* setting of the caller (scripts/test.sh points ANSIBLE_COLLECTIONS_PATH at this
    # checkout, which would make `collection install` report "already installed" and install nothing).
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    return {**env, "ANSIBLE_CONFIG": str(cfg), "HOME": str(home), "ANSIBLE_NOCOLOR": "1"}


@pytest.fixture(scope="module")
def tarball(tmp_path_factory, isolated_env) -> Path:
    out = tmp_path_factory.mktemp("build")
    subprocess.run([BIN / "ansible-galaxy", "collection", "build", "--output-path", str(out), str(REPO)],
                   cwd=out, env=isolated_env, capture_output=True, text=True, check=True)
    built = sorted(out.glob("fleetpulse-dr-*.tar.gz"))
    assert len(built) == 1, built
    return built[0]


@pytest.fixture(scope="module")
def installed_env(tarball, tmp_path_factory, isolated_env) -> dict[str, str]:
    dest = tmp_path_factory.mktemp("collections")
    subprocess.run([BIN / "ansible-galaxy", "collection", "install", "--no-deps", "-p", str(dest), str(tarball)],
                   cwd=dest, env=isolated_env, capture_output=True, text=True, check=True)
    assert (dest / "ansible_collections" / "fleetpulse" / "dr" / "MANIFEST.json").is_file()
    # The temporary path first, then the collections of the `ansible` package (community.docker, ...).
    package_collections = Path(metadata.distribution("ansible").locate_file("ansible_collections")).parent
    assert (package_collections / "ansible_collections" / "community" / "docker").is_dir()
    return {**isolated_env, "ANSIBLE_COLLECTIONS_PATH": f"{dest}:{package_collections}",
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false"}


def ansible_doc(env: dict[str, str], *args: str) -> dict:
    res = subprocess.run([BIN / "ansible-doc", *args, "--json"], env=env, cwd=env["HOME"], capture_output=True,
                         text=True, check=False)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout or "{}")


def test_tarball_ships_no_development_files(tarball):
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    leaked = sorted(n for n in names if any(n.startswith(p) or n == p.rstrip("/") for p in DEV_ONLY))
    assert leaked == []


def test_tarball_ships_every_role_and_plugin_file(tarball):
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    wanted = [f for f in repo_files() if f.startswith(("roles/", "plugins/", "meta/")) or f == "README.md"]
    assert wanted, "nothing to ship?"
    assert sorted(set(wanted) - names) == []
    assert "MANIFEST.json" in names


def test_installed_roles_are_found_by_fqcn(installed_env):
    listed = ansible_doc(installed_env, "-t", "role", "-l", "fleetpulse.dr")
    assert set(listed) == {f"fleetpulse.dr.{role}" for role in expected_roles()}
    # Every role documents its main entry point (meta/argument_specs.yml shipped).
    assert all("main" in info["entry_points"] for info in listed.values())


def test_installed_modules_are_found_by_fqcn(installed_env):
    listed = ansible_doc(installed_env, "-t", "module", "-l", "fleetpulse.dr")
    assert set(listed) == {f"fleetpulse.dr.{module}" for module in expected_modules()}


def test_installed_collection_is_the_one_resolved(installed_env):
    """The FQCN resolves to the installed copy, not to this checkout."""
    out = subprocess.run([BIN / "ansible-galaxy", "collection", "list", "fleetpulse.dr", "--format", "json"],
                         env=installed_env, cwd=installed_env["HOME"], capture_output=True, text=True, check=True)
    paths = list(json.loads(out.stdout))
    assert len(paths) == 1
    assert not paths[0].startswith(str(REPO)), paths
