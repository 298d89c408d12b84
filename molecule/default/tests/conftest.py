"""Shared fixtures for the base-server scenario's testinfra tests."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import EPHEMERAL, REPO, TEST_DIR


@pytest.fixture(scope="session")
def world() -> dict:
    ns = os.environ.get("FP_TEST_NS", "fp")
    state = Path(os.environ.get("FP_WORLD_DIR", REPO / ".world" / ns))
    return json.loads((state / "world.json").read_text())


@pytest.fixture(scope="session")
def deploy_pubkey() -> str:
    return (EPHEMERAL / "deploy_key.pub").read_text().strip()


@pytest.fixture(scope="module")
def host_key_path(host) -> Iterator[str]:
    """The deploy user's private key, copied into the test host for SSH logins to itself."""
    key = base64.b64encode((EPHEMERAL / "deploy_key").read_bytes()).decode()
    path = f"{TEST_DIR}/deploy_key"
    host.check_output(f"install -d -m 0700 {TEST_DIR} && echo {key} | base64 -d > {path} && chmod 0600 {path}")
    yield path
    host.run(f"rm -f {path}")


@pytest.fixture(scope="module")
def host_ip(host, world) -> str:
    """The host's address on the world network (not the inner engine's docker0)."""
    route = host.check_output(f"ip -4 -o route get {world['gateway']}").split()
    return route[route.index("src") + 1]
