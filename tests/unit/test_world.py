"""Unit tests of the test world's image logic (tests/world/world.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

WORLD_PY = Path(__file__).resolve().parents[1] / "world" / "world.py"


@pytest.fixture
def world(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("world_under_test", WORLD_PY)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "IMAGES_DIR", tmp_path)
    monkeypatch.setattr(module, "LOCAL_CA_DIR", tmp_path / "no-cas")
    return module


def make_image(root: Path, name: str, dockerfile: str, **files: str) -> Path:
    d = root / name
    d.mkdir()
    (d / "Dockerfile").write_text(dockerfile)
    for fname, content in files.items():
        (d / fname).write_text(content)
    return d


def test_parents_are_read_from_from_lines(world, tmp_path):
    make_image(tmp_path, "base", "FROM fleetpulse-test/debian12-bare:latest\n")
    make_image(tmp_path, "app", "FROM fleetpulse-test/base:latest AS build\nFROM debian:12\n")
    assert world._parents("base") == ["debian12-bare"]
    assert world._parents("app") == ["base"]  # images not built here are not dependencies


def test_hash_follows_content_and_parents(world, tmp_path):
    base = make_image(tmp_path, "base", "FROM fleetpulse-test/debian12-bare:latest\n")
    make_image(tmp_path, "app", "FROM fleetpulse-test/base:latest\n", entry="one")
    app_before, base_before = world.image_hash("app"), world.image_hash("base")
    assert world.image_hash("app") == app_before  # deterministic

    (tmp_path / "app" / "entry").write_text("two")
    app_changed = world.image_hash("app")
    assert app_changed != app_before
    assert world.image_hash("base") == base_before  # a child's change leaves the parent alone

    (base / "Dockerfile").write_text("FROM fleetpulse-test/debian12-bare:latest\nRUN true\n")
    assert world.image_hash("base") != base_before
    assert world.image_hash("app") != app_changed  # a parent's change rebuilds the child


def test_ref_is_content_addressed(world, tmp_path):
    make_image(tmp_path, "base", "FROM fleetpulse-test/debian12-bare:latest\n")
    ref = world.image_ref("fleetpulse-test/base:latest")
    assert ref == f"fleetpulse-test/base:{world.image_hash('base')}"


def test_cycles_and_unknown_images_fail_clearly(world, tmp_path):
    make_image(tmp_path, "a", "FROM fleetpulse-test/b:latest\n")
    make_image(tmp_path, "b", "FROM fleetpulse-test/a:latest\n")
    with pytest.raises(SystemExit, match="cycle"):
        world.image_hash("a")
    with pytest.raises(SystemExit, match="no such image: nope"):
        world.image_hash("nope")


def test_world_secret_is_stable_and_private(world, tmp_path):
    w = world.World(ns="t", state=tmp_path / "state")
    first = w.secret("token")
    assert w.secret("token") == first
    assert len(first) == 24
    assert (tmp_path / "state" / "secrets" / "token").stat().st_mode & 0o077 == 0
