"""For each role documented in docs/roles/<role>.md: its defaults, argument specs and that
page agree, and the page's playbook examples are valid playbooks that resolve the roles."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCUMENTED = sorted(p.stem for p in (REPO / "docs" / "roles").glob("*.md") if (REPO / "roles" / p.stem).is_dir())


def load(path: Path):
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("role", DOCUMENTED)
def test_every_default_is_in_the_argument_spec(role):
    defaults = load(REPO / "roles" / role / "defaults" / "main.yml")
    options = load(REPO / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(set(defaults) - set(options)) == [], "defaults missing from meta/argument_specs.yml"
    assert sorted(n for n in defaults if not n.startswith(f"{role}_")) == [], "role variables carry the role's prefix"
    # The spec states the same default as defaults/main.yml.
    assert sorted(n for n in defaults if options[n].get("default") != defaults[n]) == []


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
