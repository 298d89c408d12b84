# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the replica's data generator: rows and objects per second at a chosen scale.

    FP_TEST_NS=bench python bench/replica_seed.py --scale medium [--no-objects] [--jobs 8]

Starts a throwaway PostgreSQL (tests/images/postgres) and object store
(tests/images/replica-minio) on a private network, applies the migrations, runs
`fleetpulse-replica seed` from the controller (the path benchmarks of other features
use), fingerprints the result, prints a Markdown table row for docs/performance.md and
removes everything. Check free space first: `large` needs about 8 GB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "world"))
sys.path.insert(0, str(REPO / "tests" / "images" / "replica-api" / "app"))

import world  # noqa: E402
from fleetpulse_replica import checksum, migrate, seed  # noqa: E402
from fleetpulse_replica.config import DEFAULT_MIGRATIONS, Database, Storage  # noqa: E402

NS = os.environ.get("FP_TEST_NS", "fp")
NAME = f"{NS}-bench-seed"
LABELS = ["--label", f"io.fleetpulse.test.ns={NS}", "--label", "io.fleetpulse.test.service=bench-seed"]


def docker(*args: str, check: bool = True) -> str:
    res = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout.strip()


def ip(container: str) -> str:
    return docker("inspect", "--format", f'{{{{ (index .NetworkSettings.Networks "{NAME}").IPAddress }}}}', container)


def wait(what: str, probe, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except Exception:  # noqa: S110 - not up yet
            pass
        time.sleep(0.5)
    raise SystemExit(f"{what} not ready after {timeout:.0f}s")


def cleanup() -> None:
    docker("rm", "-f", "-v", f"{NAME}-postgres", f"{NAME}-minio", check=False)
    docker("network", "rm", NAME, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="medium", choices=sorted(seed.SCALES))
    parser.add_argument("--no-objects", action="store_true")
    parser.add_argument("--jobs", type=int, default=8)
    args = parser.parse_args()
    with world.locked(world.IMAGES_LOCK):
        world.build_images(["postgres", "replica-minio"])
    cleanup()
    docker("network", "create", *LABELS, NAME)
    try:
        run = ["run", "-d", "--network", NAME, *LABELS]
        docker(*run, "--name", f"{NAME}-postgres", "-e", "POSTGRES_USER=fleetpulse", "-e", "POSTGRES_PASSWORD=bench",
               "-e", "POSTGRES_DB=fleetpulse", world.image_ref("postgres"))
        docker(*run, "--name", f"{NAME}-minio", "-e", "MINIO_ROOT_USER=bench", "-e", "MINIO_ROOT_PASSWORD=bench-secret",
               world.image_ref("replica-minio"))
        db = Database.from_url(f"postgresql://fleetpulse:bench@{ip(f'{NAME}-postgres')}:5432/fleetpulse?schema=public")
        storage = Storage(endpoint=f"http://{ip(f'{NAME}-minio')}:9000", access_key="bench",
                          secret_key="bench-secret", bucket="fleetpulse")  # noqa: S106 - a throwaway container
        wait("postgres", lambda: db.connect().close() is None)
        wait("object store", lambda: storage.client(timeout=2, retries=0).list_buckets() is not None)
        migrate.deploy(db, DEFAULT_MIGRATIONS, out=io.StringIO())
        summary = seed.seed(db, None if args.no_objects else storage, "1", seed.SCALES[args.scale],
                            jobs=args.jobs)
        started = time.monotonic()
        checksum.database(db)
        checksum_seconds = time.monotonic() - started
    finally:
        cleanup()
    rows = sum(summary["rows"].values())
    objects = summary["objects"] or {"uploaded": 0, "uploaded_bytes": 0}
    object_seconds = summary["seconds"] - summary["rows_seconds"]
    print(json.dumps(summary, indent=2, sort_keys=True), file=sys.stderr)
    print("| scale | rows | database | rows time | rows/s | objects | object bytes | objects time | MB/s | "
          "checksum time | machine |")
    print(f"| {args.scale} | {rows:,} | {summary['database_bytes'] / 2**20:,.0f} MB | "
          f"{summary['rows_seconds']:.1f} s | "
          f"{rows / max(summary['rows_seconds'], 0.1):,.0f} | {objects['uploaded']:,} | "
          f"{objects['uploaded_bytes'] / 2**20:,.0f} MB | {object_seconds:.1f} s | "
          f"{objects['uploaded_bytes'] / 2**20 / max(object_seconds, 0.1):.1f} | {checksum_seconds:.1f} s | "
          f"{os.cpu_count()} cores, {platform.machine()} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
