"""Each role's defaults, argument specs and docs/roles/<role>.md agree, and the
playbook examples in the docs are valid playbooks that resolve the collection's roles."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "tasks" / "main.yml").is_file())
DOCUMENTED = [r for r in ROLES if (REPO / "docs" / "roles" / f"{r}.md").is_file()]


def load(path: Path):
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_in_the_argument_spec_and_back(role):
    defaults = set(load(REPO / "roles" / role / "defaults" / "main.yml"))
    specs = load(REPO / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
    options = set(specs["main"]["options"])
    assert defaults - options == set(), "defaults missing from meta/argument_specs.yml"
    assert {o for o in options if not specs["main"]["options"][o].get("required")} - defaults == set(), \
        "argument specs without a default in defaults/main.yml"
    assert all(name.startswith(f"{role}_") for name in defaults), "role variables carry the role's prefix"


@pytest.mark.parametrize("role", DOCUMENTED)
def test_every_variable_is_documented(role):
    doc = (REPO / "docs" / "roles" / f"{role}.md").read_text()
    defaults = load(REPO / "roles" / role / "defaults" / "main.yml")
    assert sorted(v for v in defaults if f"`{v}`" not in doc) == []


def yaml_blocks(role: str) -> list[str]:
    doc = (REPO / "docs" / "roles" / f"{role}.md").read_text()
    return re.findall(r"```yaml\n(.*?)```", doc, re.S)


@pytest.mark.parametrize("role", DOCUMENTED)
def test_playbook_examples_pass_syntax_check(role, tmp_path):
    playbooks = [b for b in yaml_blocks(role) if isinstance(yaml.safe_load(b), list)]
    assert playbooks, f"docs/roles/{role}.md has no playbook example"
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"), "ANSIBLE_NOCOLOR": "1"}
    for index, block in enumerate(playbooks):
        path = tmp_path / f"example{index}.yml"
        path.write_text(block)
        res = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check",
                              "-i", "localhost,", str(path)], env=env, capture_output=True, text=True, check=False)
        assert res.returncode == 0, f"example {index} of docs/roles/{role}.md:\n{block}\n{res.stderr}"
