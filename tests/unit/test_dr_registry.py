"""The scenario registry (meta/scenarios.yml): in sync with playbooks/, and strict about its format."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from fleetpulse_dr.scenarios import ParamError, Project, RegistryError

REPO = Path(__file__).resolve().parents[2]


def test_every_playbook_is_registered() -> None:
    """A playbook that lands under playbooks/ needs its entry (name, destructive, confirm_var)."""
    project = Project.load(REPO)
    unregistered = sorted(s.playbook for s in project.scenarios.values() if not s.registered)
    assert unregistered == [], f"add these to meta/scenarios.yml: {unregistered}"


def test_status_is_registered_and_available() -> None:
    status = Project.load(REPO).get("status")
    assert status.available and status.registered and not status.destructive
    assert [p.name for p in status.params] == ["status_rpo_hours", "status_fail_on_problem"]


def _referenced(var: str) -> bool:
    pattern = re.compile(rf"\b{re.escape(var)}\b")
    files = [*REPO.glob("playbooks/**/*.yml"), *REPO.glob("roles/**/*.yml")]
    return any(pattern.search(f.read_text(errors="replace")) for f in files)


def test_confirmation_and_params_are_used_by_the_playbooks() -> None:
    """The registry cannot promise a confirmation the playbook does not check, nor a parameter it ignores."""
    project = Project.load(REPO)
    missing = []
    for s in project.scenarios.values():
        if not (s.registered and s.available):
            continue
        names = ([s.confirm_var] if s.confirm_var else []) + [p.name for p in s.params]
        missing += [f"{s.name}: {n}" for n in names if not _referenced(n)]
    assert missing == [], f"variables in meta/scenarios.yml that no playbook or role reads: {missing}"


def test_every_destructive_scenario_names_its_confirmation() -> None:
    project = Project.load(REPO)
    for s in project.scenarios.values():
        if s.registered:
            assert s.destructive == (s.confirm_var is not None), s.name


def write_project(tmp_path: Path, scenarios: list[dict], playbooks: tuple[str, ...] = ()) -> Path:
    (tmp_path / "meta").mkdir()
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "meta" / "scenarios.yml").write_text(yaml.safe_dump({"scenarios": scenarios}))
    for name in playbooks:
        (tmp_path / "playbooks" / name).write_text("---\n- name: x\n  hosts: localhost\n  tasks: []\n")
    return tmp_path


OK = {"name": "ok", "playbook": "playbooks/ok.yml", "destructive": False}


@pytest.mark.parametrize(("entry", "message"), [
    ({"name": "Bad Name", "playbook": "playbooks/x.yml", "destructive": False}, "lower-case"),
    ({"name": "x", "playbook": "/etc/x.yml", "destructive": False}, "under playbooks/"),
    ({"name": "x", "playbook": "playbooks/../x.yml", "destructive": False}, "under playbooks/"),
    ({"name": "x", "playbook": "playbooks/x.yml", "destructive": "yes"}, "true or false"),
    ({"name": "x", "playbook": "playbooks/x.yml", "destructive": True}, "confirm_var must name"),
    ({"name": "x", "playbook": "playbooks/x.yml", "destructive": False, "confirm_var": "x_confirm"},
     "only makes sense"),
    ({"name": "x", "playbook": "playbooks/x.yml", "destructive": False, "typo": 1}, "unknown key"),
    ({"name": "x", "playbook": "playbooks/x.yml", "destructive": False, "params": [{"name": "a", "type": "float"}]},
     "type must be"),
    ({"name": "x", "playbook": "playbooks/x.yml", "destructive": False, "params": [{"name": "a", "type": "choice"}]},
     "needs choices"),
    ({"name": "x", "playbook": "playbooks/x.yml", "destructive": True, "confirm_var": "x_confirm",
      "params": [{"name": "x_confirm"}]}, "cannot be a param"),
    (OK, "listed twice"),
])
def test_malformed_registry_is_refused(tmp_path: Path, entry: dict, message: str) -> None:
    root = write_project(tmp_path, [OK, entry])
    with pytest.raises(RegistryError, match=message):
        Project.load(root)


def test_unregistered_playbook_is_listed_as_destructive_and_missing_one_as_unavailable(tmp_path: Path) -> None:
    root = write_project(tmp_path, [OK, {"name": "later", "playbook": "playbooks/later.yml", "destructive": False}],
                         playbooks=("ok.yml", "new-thing.yml"))
    project = Project.load(root)
    assert project.get("ok").available
    assert not project.get("later").available
    new = project.get("new-thing")
    assert not new.registered and new.destructive and new.playbook == "playbooks/new-thing.yml"
    with pytest.raises(RegistryError, match="unknown scenario 'nope'"):
        project.get("nope")


def test_params_are_typed_and_nothing_else_passes(tmp_path: Path) -> None:
    root = write_project(tmp_path, [{**OK, "params": [
        {"name": "ok_hours", "type": "int"}, {"name": "ok_fail", "type": "bool"},
        {"name": "ok_mode", "type": "choice", "choices": ["fast", "full"]},
        {"name": "ok_target", "required": True}]}], playbooks=("ok.yml",))
    s = Project.load(root).get("ok")
    assert s.convert_params({"ok_hours": "12", "ok_fail": "yes", "ok_mode": "full", "ok_target": "db1"}) == {
        "ok_hours": 12, "ok_fail": True, "ok_mode": "full", "ok_target": "db1"}
    for bad, message in [({"ok_hours": "soon", "ok_target": "a"}, "whole number"),
                         ({"ok_fail": "maybe", "ok_target": "a"}, "true or false"),
                         ({"ok_mode": "slow", "ok_target": "a"}, "one of fast, full"),
                         ({"ok_hours": "1"}, "needs ok_target"),
                         ({"ok_target": "a", "ansible_become_password": "x"}, "takes no parameter")]:
        with pytest.raises(ParamError, match=message):
            s.convert_params(bad)


def test_no_playbook_or_role_can_prompt() -> None:
    """Runs from AWX, ansible-runner and chat have no keyboard: vars_prompt or a pause with a prompt would hang."""
    offenders = []
    for path in [*REPO.glob("playbooks/**/*.yml"), *REPO.glob("roles/**/*.yml")]:
        text = path.read_text(errors="replace")
        if re.search(r"^\s*vars_prompt\s*:", text, re.M) or re.search(
                r"^\s*(ansible\.builtin\.)?pause\s*:\s*(\n\s+\w+:.*)*\n\s+prompt\s*:", text, re.M):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == [], f"these prompt for input: {offenders}"
