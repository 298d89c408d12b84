"""Helpers shared by the base-server scenario's tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import fp_polling

REPO = Path(__file__).resolve().parents[3]
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
TEST_DIR = "/root/.fp-test"
SSH_OPTS = ("-F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
            "-o ConnectTimeout=5 -o IdentitiesOnly=yes")


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 30.0, interval: float = 0.5) -> None:
    """Poll ``probe`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    fp_polling.wait_until(what, probe, timeout, interval)


def run_playbook(playbook: str, *args: str, extra_vars: dict | None = None) -> subprocess.CompletedProcess:
    """Run a playbook of this scenario against the test host, with Molecule's inventory and config."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(EPHEMERAL / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(EPHEMERAL / "inventory"),
           str(REPO / "molecule" / "default" / playbook), *args]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=600)
