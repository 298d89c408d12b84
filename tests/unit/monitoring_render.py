"""The monitoring role's configuration as the role renders it (for the monitoring tests).

`render()` runs tests/promtool/render.yml once per test session: the role's own `config`
entry point writes prometheus.yml, the rule files, alertmanager.yml, the compose file and
Grafana's files into a temporary directory (no Docker, no validation by the role: the
tests validate with promtool and amtool themselves).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROMTOOL_TESTS = REPO / "tests" / "promtool"


def tool(name: str) -> str:
    """Path of a command the tests need; a clear failure (not a skip) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: apt-get install prometheus prometheus-alertmanager (.ci/apt-packages.txt)")
    return path


@functools.cache
def render() -> Path:
    out = Path(tempfile.mkdtemp(prefix="fp-monitoring-render-"))
    atexit.register(shutil.rmtree, out, True)
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"), "ANSIBLE_NOCOLOR": "1"}
    res = subprocess.run(
        ["ansible-playbook", str(PROMTOOL_TESTS / "render.yml"), "-e", f"monitoring_test_out={out}"],
        cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        pytest.fail(f"rendering the monitoring role failed:\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}")
    return out


def run(argv: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, input=stdin, check=False)
