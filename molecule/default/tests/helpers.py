"""Helpers shared by the base-server scenario's tests."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
TEST_DIR = "/root/.fp-test"
SSH_OPTS = ("-F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
            "-o ConnectTimeout=5 -o IdentitiesOnly=yes")


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 30.0, interval: float = 0.5) -> None:
    """Poll ``probe`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(interval)
    pytest.fail(f"{what}: not true after {timeout:.0f}s")
