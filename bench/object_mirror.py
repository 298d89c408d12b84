# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the object mirror (not a test): throughput of a first mirror, of an
incremental mirror with 1 % of the objects changed, of a mirror with nothing changed, of
the full verification and of a restore into an empty bucket.

    FP_TEST_NS=bench python3 bench/object_mirror.py                # 3000 objects, 50-300 KB
    FP_TEST_NS=bench python3 bench/object_mirror.py --objects 5000 --workers 16

Source and offsite are the test world's two real SeaweedFS servers (`s3store` and `s3`,
started if needed), on this machine: the numbers measure the mirror's own cost (hashing,
spooling, request overhead, parallelism) on this CPU, not a WAN link. The objects are
random bytes (photos do not compress either). Everything the run creates is deleted at
the end (both buckets); `--keep` leaves it for inspection. The results are printed as a
Markdown table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / ".collections"))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from ansible_collections.fleetpulse.dr.plugins.module_utils import object_mirror as om  # noqa: E402
from ansible_collections.fleetpulse.dr.plugins.module_utils.object_store import Endpoint  # noqa: E402


def world() -> dict:
    ns = os.environ.get("FP_TEST_NS", "fp")
    subprocess.run([sys.executable, str(REPO / "tests/world/world.py"), "up", "s3", "s3store"], check=True,
                   env={**os.environ, "FP_TEST_NS": ns}, capture_output=True)
    state = Path(os.environ.get("FP_WORLD_DIR", REPO / ".world" / ns))
    return json.loads((state / "world.json").read_text())["services"]


def endpoint(name: str, service: dict) -> Endpoint:
    return Endpoint(name, service["controller_endpoint"], "us-east-1", service["access_key"], service["secret_key"])


def raw_client(service: dict, workers: int):
    return boto3.client("s3", endpoint_url=service["controller_endpoint"], region_name="us-east-1",
                        aws_access_key_id=service["access_key"], aws_secret_access_key=service["secret_key"],
                        config=Config(s3={"addressing_style": "path"}, max_pool_connections=workers * 2))


def put_many(client, bucket: str, items: dict[str, int], workers: int, rng_seed: int) -> int:
    def put(item: tuple[str, int]) -> int:
        key, size = item
        body = random.Random(f"{rng_seed}:{key}").randbytes(size)  # noqa: S311 - test data, not security
        client.put_object(Bucket=bucket, Key=key, Body=body,
                          ContentType="image/jpeg")
        return size

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(put, items.items()))


def drop_bucket(client, bucket: str) -> None:
    with contextlib.suppress(Exception):
        keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                for o in page.get("Contents", [])]
        for start in range(0, len(keys), 1000):
            client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]],
                                                         "Quiet": True})
        client.delete_bucket(Bucket=bucket)


def row(name: str, seconds: float, objects: int, size: int) -> dict:
    return {"step": name, "seconds": round(seconds, 1), "objects": objects, "mb": round(size / 1e6, 1),
            "objects_per_s": round(objects / seconds, 1) if seconds else None,
            "mb_per_s": round(size / 1e6 / seconds, 1) if seconds else None}


def measure(args, *, store_ep: Endpoint, offsite_ep: Endpoint, store, bucket: str, layout: om.Layout,
            sizes: dict[str, int]) -> list[dict]:
    """Run the steps against the seeded bucket; each asserts that it did what it should."""
    rng = random.Random(7)  # noqa: S311 - picks objects to change, not security

    def job() -> om.Job:
        return om.Job(store=store_ep, offsite=offsite_ep, bucket=bucket, layout=layout, workers=args.workers)

    results = []
    opts = om.MirrorOptions(verify="none")
    t = time.monotonic()
    first = om.mirror(job(), opts)
    results.append(row("first mirror (everything new)", time.monotonic() - t, first["copied"]["objects"],
                       first["copied"]["bytes"]))

    t = time.monotonic()
    same = om.mirror(job(), opts)
    results.append(row("mirror, nothing changed", time.monotonic() - t, same["objects"], 0))

    changed = dict(rng.sample(sorted(sizes.items()), max(1, int(args.objects * args.changed_percent / 100))))
    put_many(store, bucket, changed, args.workers, 2)
    t = time.monotonic()
    incremental = om.mirror(job(), opts)
    results.append(row(f"incremental mirror ({args.changed_percent:g} % changed)", time.monotonic() - t,
                       incremental["copied"]["objects"], incremental["copied"]["bytes"]))
    assert incremental["copied"]["objects"] == len(changed), incremental["copied"]

    t = time.monotonic()
    check = om.verify(job(), "latest", checksums=True)
    results.append(row("full verification (SHA-256 of both sides)", time.monotonic() - t, check["copy"]["objects"],
                       check["read_bytes"]))
    assert check["equal"], check["counts"]

    t = time.monotonic()
    quick = om.verify(job(), "latest", checksums=False)
    results.append(row("quick verification (listings)", time.monotonic() - t, quick["copy"]["objects"], 0))

    drop_bucket(store, bucket)
    t = time.monotonic()
    restored = om.restore(job(), "latest")
    results.append(row("restore into an empty bucket (+ full verification)", time.monotonic() - t,
                       restored["copied"]["objects"], restored["copied"]["bytes"]))
    assert restored["verify"]["equal"], restored["verify"]["counts"]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=3000)
    parser.add_argument("--min-kb", type=int, default=50)
    parser.add_argument("--max-kb", type=int, default=300)
    parser.add_argument("--changed-percent", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="leave the buckets for inspection")
    args = parser.parse_args()

    services = world()
    store_ep, offsite_ep = endpoint("app's object", services["s3store"]), endpoint("offsite", services["s3"])
    store, offsite = raw_client(services["s3store"], args.workers), raw_client(services["s3"], args.workers)
    run_id = uuid.uuid4().hex[:8]
    bucket, offsite_bucket = f"bench-{run_id}", f"bench-offsite-{run_id}"
    store.create_bucket(Bucket=bucket)
    offsite.create_bucket(Bucket=offsite_bucket)
    layout = om.Layout.for_source(offsite_bucket, "fleetpulse/minio-mirror", bucket)
    rng = random.Random(42)  # noqa: S311 - object sizes, not security
    sizes = {f"tenants/t{n % 20}/vehicles/{n:06d}/photo.jpg": rng.randint(args.min_kb, args.max_kb) * 1024
             for n in range(args.objects)}
    load_before = os.getloadavg()
    try:
        print(f"[bench] seeding {args.objects} objects ...", file=sys.stderr)
        total = put_many(store, bucket, sizes, args.workers, 1)
        results = measure(args, store_ep=store_ep, offsite_ep=offsite_ep, store=store, bucket=bucket, layout=layout,
                          sizes=sizes)
    finally:
        if not args.keep:
            drop_bucket(store, bucket)
            drop_bucket(offsite, offsite_bucket)
    load_after = os.getloadavg()

    print(f"\n{args.objects} objects of {args.min_kb}-{args.max_kb} KB ({total / 1e6:.0f} MB), {args.workers} workers, "
          f"{os.cpu_count()} CPUs, load average {load_before[0]:.1f} before / {load_after[0]:.1f} after, "
          f"peak memory of the process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB\n")
    print("| Step | Seconds | Objects | MB moved or read | Objects/s | MB/s |")
    print("| ---- | ------: | ------: | ---------------: | --------: | ---: |")
    for r in results:
        print(f"| {r['step']} | {r['seconds']} | {r['objects']} | {r['mb']} | {r['objects_per_s']} | "
              f"{r['mb_per_s'] if r['mb'] else '-'} |")
    print(json.dumps({"objects": args.objects, "bytes": total, "workers": args.workers, "results": results}),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
