"""Run a real ansible-playbook from this checkout, for the notification and timeline tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    timeline_dir: Path

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.timeline_dir.glob("*.json"))]

    def reviews(self) -> list[str]:
        return [p.read_text() for p in sorted(self.timeline_dir.glob("*-review.md"))]


def write_inventory(path: Path, variables: dict[str, Any], groups: dict[str, list[str]] | None = None) -> Path:
    """localhost plus, per group, hosts that are this machine too (local connection)."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory: dict[str, Any] = {"all": {"hosts": {"localhost": local}, "vars": variables}}
    if groups:
        inventory["all"]["children"] = {name: {"hosts": {h: local for h in hosts}} for name, hosts in groups.items()}
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


def run_playbook(playbook: Path | str, inventory: Path, tmp_path: Path, *args: str, timeline: bool = True,
                 env: dict[str, str] | None = None, timeout: float = 300) -> Run:
    timeline_dir = tmp_path / "timeline"
    full_env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        # one line per result (YAML would wrap long strings and double single quotes)
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "FLEETPULSE_DR_TIMELINE_DIR": str(timeline_dir),
        **(env or {}),
    }
    if timeline:
        full_env["ANSIBLE_CALLBACKS_ENABLED"] = "fleetpulse.dr.dr_timeline"
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(inventory), str(playbook), *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr, timeline_dir)
