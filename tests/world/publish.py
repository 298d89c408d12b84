# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Publish the FleetPulse replica images to the test world's registry (which plays ghcr.io).

    python3 tests/world/publish.py            # start the registry if needed, build, push what changed
    python3 tests/world/publish.py --list     # print what would be published

Test hosts then pull them as production pulls from ghcr.io and Docker Hub:

    registry.fleetpulse.test/your-org/fleetpulse/backend:{1.4.1,1.4.2,latest}   tests/images/replica-api
    registry.fleetpulse.test/your-org/fleetpulse/frontend:{1.4.1,1.4.2,latest}  tests/images/replica-web
    registry.fleetpulse.test/library/postgres:15                               tests/images/postgres
    registry.fleetpulse.test/library/redis:7                                   tests/images/replica-redis
    registry.fleetpulse.test/library/nginx:stable                              tests/images/replica-nginx
    registry.fleetpulse.test/minio/minio:latest  (SeaweedFS inside)            tests/images/replica-minio

Each application version is the same image with FLEETPULSE_VERSION set (a config-only
layer: pushing and pulling it costs nothing), so tests can deploy 1.4.1 and redeploy
1.4.2 and see the version change in /api/v1/health. Idempotent: an image is pushed
again only when it changed or the registry was restarted (state in
.world/<ns>/replica/published.json). The published names are recorded in world.json
under "replica" for Molecule scenarios (fp_world.replica).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import world

APP_VERSIONS = ["1.4.1", "1.4.2"]
LATEST = "1.4.2"
ORG_REPOSITORY = "your-org/fleetpulse"
APP_IMAGES = {"replica-api": "backend", "replica-web": "frontend"}
INFRA_IMAGES = {
    "postgres": "library/postgres:15",
    "replica-redis": "library/redis:7",
    "replica-nginx": "library/nginx:stable",
    "replica-minio": "minio/minio:latest",
}


def log(msg: str) -> None:
    print(f"[publish] {msg}", file=sys.stderr, flush=True)


def version_image(name: str, version: str) -> str:
    """A local image: tests/images/<name> with FLEETPULSE_VERSION=<version> (built when missing)."""
    base = world.image_ref(name)
    ref = f"{base}-v{version}"
    if not world.image_exists(ref):
        dockerfile = (f"FROM {base}\nENV FLEETPULSE_VERSION={version}\n"
                      f"LABEL org.opencontainers.image.version={version}\n")
        world.run(["docker", "build", "-q", "-t", ref, "-"], input=dockerfile.encode(), capture=True)
    return ref


def plan() -> dict[str, str]:
    """Registry repository:tag -> local image it is pushed from."""
    world.build_images([*APP_IMAGES, *INFRA_IMAGES])
    refs: dict[str, str] = {}
    for name, repo in APP_IMAGES.items():
        for version in APP_VERSIONS:
            refs[f"{ORG_REPOSITORY}/{repo}:{version}"] = version_image(name, version)
        refs[f"{ORG_REPOSITORY}/{repo}:latest"] = version_image(name, LATEST)
    for name, target in INFRA_IMAGES.items():
        refs[target] = world.image_ref(name)
    return refs


def image_id(ref: str) -> str:
    return world.docker("image", "inspect", "--format", "{{.Id}}", ref)


def publish(w: world.World) -> dict:
    """Push what changed; the caller holds the namespace lock (world.py's locking order: namespace, then images)."""
    started = time.monotonic()
    world.cmd_up(w, ["registry"])
    registry_id = world.docker("inspect", "--format", "{{.Id}}", w.container("registry"))
    state_file = w.service_dir("replica") / "published.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    if state.get("registry") != registry_id:
        state = {"registry": registry_id, "images": {}}
    with world.locked(world.IMAGES_LOCK):
        refs = plan()
    pushed = 0
    for target, source in refs.items():
        wanted = image_id(source)
        if state["images"].get(target) == wanted:
            continue
        log(f"pushing {target}")
        world.push_image(w, source, target)
        state["images"][target] = wanted
        state_file.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
        pushed += 1
    host = w.load()["services"]["registry"]["host"]
    info = {
        "registry": host,
        "repository": ORG_REPOSITORY,
        "versions": APP_VERSIONS,
        "latest": LATEST,
        "images": {
            "api": f"{host}/{ORG_REPOSITORY}/backend",
            "web": f"{host}/{ORG_REPOSITORY}/frontend",
            "postgres": f"{host}/{INFRA_IMAGES['postgres']}",
            "redis": f"{host}/{INFRA_IMAGES['replica-redis']}",
            "nginx": f"{host}/{INFRA_IMAGES['replica-nginx']}",
            "minio": f"{host}/{INFRA_IMAGES['replica-minio']}",
        },
    }
    data = w.load()
    data["replica"] = info
    w.save(data)
    log(f"{pushed} of {len(refs)} image(s) pushed to {host} in {time.monotonic() - started:.0f}s "
        f"({len(refs) - pushed} already there)")
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ns", default=os.environ.get("FP_TEST_NS", "fp"), help="namespace (env FP_TEST_NS)")
    parser.add_argument("--list", action="store_true", help="print the registry names and their local images")
    args = parser.parse_args(argv)
    world.load_services()
    state = Path(os.environ.get("FP_WORLD_DIR", world.REPO / ".world" / args.ns))
    state.mkdir(parents=True, exist_ok=True)
    w = world.World(ns=args.ns, state=state)
    if args.list:
        with world.locked(world.IMAGES_LOCK):
            refs = plan()
        for target, source in refs.items():
            print(f"{target:45} {source}")
        return 0
    with world.locked(state / ".lock"):
        info = publish(w)
    print(json.dumps(info, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
