"""The object mirror modules and the scheduled command against two real S3 servers.

The test world's `s3store` (SeaweedFS playing the app's MinIO) is the source, its `s3`
(SeaweedFS with access-key auth playing the offsite store) the destination. Every test
runs the real modules through `ansible localhost -m fleetpulse.dr.<module>` and looks at
both stores with boto3 to check what really happened. Each test has its own buckets
and offsite prefix, so the tests are independent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NS = os.environ.get("FP_TEST_NS", "fp")
STATE = Path(os.environ.get("FP_WORLD_DIR", REPO / ".world" / NS))
CLI = REPO / "roles" / "object_mirror" / "files" / "object_mirror_cli.py"
OFFSITE_BUCKET = "fleetpulse-offsite-tests"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def world() -> dict:
    """Start (or find) the two S3 servers of the test world."""
    subprocess.run([sys.executable, str(REPO / "tests/world/world.py"), "up", "s3", "s3store"], check=True,
                   env={**os.environ, "FP_TEST_NS": NS})
    return json.loads((STATE / "world.json").read_text())["services"]


def client(service: dict):
    return boto3.client("s3", endpoint_url=service["controller_endpoint"], region_name="us-east-1",
                        aws_access_key_id=service["access_key"], aws_secret_access_key=service["secret_key"],
                        config=Config(s3={"addressing_style": "path"}))


class Setup:
    """One test's source bucket and offsite prefix, with helpers to run the modules."""

    def __init__(self, world: dict, tmp_path: Path) -> None:
        self.world = world
        self.tmp = tmp_path
        self.store = client(world["s3store"])
        self.offsite = client(world["s3"])
        self.bucket = f"app-{uuid.uuid4().hex[:10]}"
        self.prefix = f"tests/{uuid.uuid4().hex[:10]}"
        self.store.create_bucket(Bucket=self.bucket)
        with contextlib.suppress(self.offsite.exceptions.BucketAlreadyOwnedByYou):
            self.offsite.create_bucket(Bucket=OFFSITE_BUCKET)

    # ---- the modules, run for real by Ansible
    def args(self, **extra) -> dict:
        s, o = self.world["s3store"], self.world["s3"]
        return {
            "bucket": self.bucket,
            "store_endpoint_url": s["controller_endpoint"], "store_access_key": s["access_key"],
            "store_secret_key": s["secret_key"],
            "offsite_endpoint_url": o["controller_endpoint"], "offsite_access_key": o["access_key"],
            "offsite_secret_key": o["secret_key"], "offsite_bucket": OFFSITE_BUCKET, "offsite_prefix": self.prefix,
            **extra,
        }

    def run(self, module: str, check: bool = False, **args) -> dict:
        env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
               "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
               "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0", "ANSIBLE_LOCALHOST_WARNING": "0"}
        cmd = ["ansible", "localhost", "-i", "localhost,", "-c", "local", "-e",
               f"ansible_python_interpreter={sys.executable}", "-m", f"fleetpulse.dr.{module}",
               "-a", json.dumps(args)]
        if check:
            cmd.append("--check")
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, cwd=REPO)
        try:
            out = json.loads(res.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"no JSON from ansible (rc {res.returncode}):\n{res.stdout}\n{res.stderr}") from None
        return out["plays"][0]["tasks"][0]["hosts"]["localhost"]

    def mirror(self, check: bool = False, **extra) -> dict:
        return self.run("object_mirror", check=check, **self.args(**extra))

    # ---- the stores, seen directly
    def put(self, key: str, data: bytes, **kw) -> None:
        self.store.put_object(Bucket=self.bucket, Key=key, Body=data, **kw)

    def offsite_listing(self) -> dict[str, tuple[int, str]]:
        found = {}
        pages = self.offsite.get_paginator("list_objects_v2").paginate(Bucket=OFFSITE_BUCKET, Prefix=self.prefix + "/")
        for page in pages:
            for item in page.get("Contents", []):
                found[item["Key"]] = (item["Size"], item["ETag"])
        return found

    def store_fingerprint(self) -> dict[str, str]:
        out = {}
        for page in self.store.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                body = self.store.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                out[item["Key"]] = hashlib.sha256(body).hexdigest()
        return out

    def blob_key(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        return f"{self.prefix}/{self.bucket}/blobs/sha256/{sha[:2]}/{sha}"

    def empty_store(self, drop_bucket: bool = False) -> None:
        for key in self.store_fingerprint():
            self.store.delete_object(Bucket=self.bucket, Key=key)
        if drop_bucket:
            self.store.delete_bucket(Bucket=self.bucket)

    def cleanup(self) -> None:
        """Delete the test's bucket and offsite prefix (SeaweedFS gives every bucket volumes of its own)."""
        places = ((self.store, self.bucket, ""), (self.offsite, OFFSITE_BUCKET, self.prefix + "/"))
        for s3, bucket, prefix in places:
            with contextlib.suppress(s3.exceptions.NoSuchBucket):
                pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                keys = [{"Key": o["Key"]} for page in pages for o in page.get("Contents", [])]
                for start in range(0, len(keys), 1000):
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": keys[start:start + 1000]})
        with contextlib.suppress(self.store.exceptions.NoSuchBucket):
            self.store.delete_bucket(Bucket=self.bucket)


@pytest.fixture
def setup(world, tmp_path):
    s = Setup(world, tmp_path)
    yield s
    s.cleanup()


def photo(n: int, size: int = 40_000) -> bytes:
    """Deterministic photo-sized bytes."""
    seed = hashlib.sha256(f"photo-{n}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def seed_objects(s: Setup, count: int = 20) -> dict[str, bytes]:
    objects = {f"tenants/t1/vehicles/{n:03d}/photo.jpg": photo(n, 20_000 + 997 * n) for n in range(count)}
    for key, data in objects.items():
        s.put(key, data, ContentType="image/jpeg", Metadata={"tenant": "t1"})
    return objects


# --------------------------------------------------------------------------- mirror


def test_first_mirror_copies_every_object_and_verifies_equal(setup):
    objects = seed_objects(setup)
    big = photo(999, 3 * 1024 * 1024)  # above the 2 MiB in-memory spool: goes through a temporary file
    setup.put("documents/contract-1.pdf", big, ContentType="application/pdf")

    r = setup.mirror()

    assert r["changed"] and r["new_generation"]
    total = sum(map(len, objects.values())) + len(big)
    assert r["copied"] == {"objects": 21, "bytes": total}
    assert (r["objects"], r["bytes"]) == (21, total)
    assert r["verify"]["equal"] and r["verify"]["checksums"]
    assert r["verify"]["read_bytes"] == 2 * total  # every byte hashed on both sides
    # Offsite: one blob per content, named by its SHA-256, and one manifest.
    listing = setup.offsite_listing()
    assert setup.blob_key(big) in listing
    assert listing[setup.blob_key(big)][0] == len(big)
    manifests = [k for k in listing if "/generations/" in k]
    assert manifests == [f"{setup.prefix}/{setup.bucket}/generations/{r['generation']}.json.gz"]


def test_second_mirror_without_changes_changes_nothing(setup):
    seed_objects(setup, 5)
    first = setup.mirror()
    before = setup.offsite_listing()

    again = setup.mirror()

    assert not again["changed"] and not again["new_generation"]
    assert again["generation"] == first["generation"]
    assert again["read"] == {"objects": 0, "bytes": 0} and again["copied"] == {"objects": 0, "bytes": 0}
    assert setup.offsite_listing() == before


def test_incremental_mirror_moves_only_new_and_changed_objects(setup):
    objects = seed_objects(setup, 20)
    first = setup.mirror()
    # 3 changed (one keeps its size: only the ETag/SHA-256 tells), 5 added, 2 deleted.
    keys = sorted(objects)
    changed = {keys[0]: photo(100, 12_345), keys[1]: photo(101, 54_321),
               keys[2]: bytes(reversed(objects[keys[2]]))}
    assert len(changed[keys[2]]) == len(objects[keys[2]])
    added = {f"tenants/t2/documents/{n}.pdf": photo(200 + n, 30_000 + n) for n in range(5)}
    for key, data in {**changed, **added}.items():
        setup.put(key, data)
    for key in keys[-2:]:
        setup.store.delete_object(Bucket=setup.bucket, Key=key)

    r = setup.mirror()

    moved = {**changed, **added}
    assert r["new_generation"] and r["previous_generation"] == first["generation"]
    assert r["read"] == {"objects": 8, "bytes": sum(map(len, moved.values()))}
    assert r["copied"] == {"objects": 8, "bytes": sum(map(len, moved.values()))}
    assert r["unchanged"] == 15
    assert r["counts"] == {"added": 5, "removed": 2, "to_read": 8}
    assert sorted(r["removed"]) == keys[-2:]
    assert r["verify"]["equal"]
    assert r["generations"] == [first["generation"], r["generation"]]


def test_identical_content_under_a_new_key_is_not_uploaded_twice(setup):
    data = photo(7, 80_000)
    setup.put("a/photo.jpg", data)
    setup.mirror()
    setup.put("b/copy-of-photo.jpg", data)

    r = setup.mirror()

    assert r["read"]["objects"] == 1 and r["deduplicated"] == 1
    assert r["copied"] == {"objects": 0, "bytes": 0}
    assert r["new_generation"]  # the bucket changed: a new key


def test_check_mode_lists_what_would_be_copied_and_changes_nothing(setup):
    seed_objects(setup, 4)
    setup.mirror()
    setup.put("new/one.jpg", photo(1, 1000))
    setup.put("new/two.jpg", photo(2, 2000))
    before = setup.offsite_listing()

    r = setup.mirror(check=True)

    assert r["changed"] and r["check_mode"]
    assert r["would_copy"]["objects"] == 2 and r["would_copy"]["bytes"] == 3000
    assert sorted(r["would_copy"]["keys"]) == ["new/one.jpg", "new/two.jpg"]
    assert setup.offsite_listing() == before


# --------------------------------------------------------------------------- safety


def test_empty_source_stops_the_mirror_and_deletes_nothing_offsite(setup):
    seed_objects(setup, 6)
    setup.mirror()
    before = setup.offsite_listing()
    setup.empty_store()

    r = setup.mirror(keep_generations=1, keep_days=0)

    assert r["failed"]
    assert f"bucket '{setup.bucket}'" in r["msg"] and "is empty but generation" in r["msg"]
    assert "Nothing was changed offsite" in r["msg"]
    assert setup.offsite_listing() == before


def test_missing_source_bucket_stops_the_mirror(setup):
    seed_objects(setup, 3)
    setup.mirror()
    before = setup.offsite_listing()
    setup.empty_store(drop_bucket=True)

    r = setup.mirror()

    assert r["failed"] and "the bucket does not exist" in r["msg"]
    assert setup.offsite_listing() == before


@pytest.mark.parametrize(("override", "message"), [
    ({"store_endpoint_url": "http://127.0.0.1:9"}, "is unreachable"),
    ({"store_secret_key": "not-the-secret"}, "access denied"),
])
def test_unreachable_or_refusing_source_stops_the_mirror(setup, override, message):
    seed_objects(setup, 3)
    setup.mirror()
    before = setup.offsite_listing()

    r = setup.mirror(keep_generations=1, keep_days=0, **override)

    assert r["failed"] and message in r["msg"], r["msg"]
    assert setup.offsite_listing() == before


def test_mass_deletion_upstream_stops_the_mirror(setup):
    objects = seed_objects(setup, 10)
    setup.mirror()
    before = setup.offsite_listing()
    for key in sorted(objects)[:4]:
        setup.store.delete_object(Bucket=setup.bucket, Key=key)

    r = setup.mirror()  # 40 % gone, more than the default 25 %

    assert r["failed"] and "max_removed_percent=25" in r["msg"] and "4 of the 10 objects" in r["msg"]
    assert setup.offsite_listing() == before
    assert setup.mirror(max_removed_percent=50)["new_generation"]


# --------------------------------------------------------------------------- verify


def test_corrupted_object_offsite_is_reported_by_key_and_repaired(setup):
    objects = seed_objects(setup, 5)
    setup.mirror()
    victim = sorted(objects)[2]
    data = objects[victim]
    # Flip one byte of the offsite copy, same size: only the checksum can tell.
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF
    setup.offsite.put_object(Bucket=OFFSITE_BUCKET, Key=setup.blob_key(data), Body=bytes(damaged))

    quick = setup.run("object_mirror_verify", **setup.args(checksums=False))
    full = setup.run("object_mirror_verify", **setup.args())

    assert not quick.get("failed"), "sizes match: a listing-only check cannot see this"
    assert full["failed"] and full["corrupt"] == [victim]
    assert full["corrupt_blobs"] == [hashlib.sha256(data).hexdigest()]
    assert victim in full["msg"]
    assert full["counts"]["corrupt"] == 1 and full["counts"]["missing"] == 0

    # The next mirror finds the damage, reports it by key and uploads the good bytes again.
    repaired = setup.mirror()
    assert repaired["repair"]["corrupt"] == [victim]
    assert repaired["repair"]["replaced_blobs"] == full["corrupt_blobs"]
    assert repaired["copied"] == {"objects": 1, "bytes": len(data)}
    assert repaired["verify"]["equal"] and not repaired["new_generation"]
    assert any(victim in w for w in repaired["warnings"])
    body = setup.offsite.get_object(Bucket=OFFSITE_BUCKET, Key=setup.blob_key(data))["Body"].read()
    assert body == data


def test_verify_reports_missing_extra_and_different_by_key(setup):
    objects = seed_objects(setup, 4)
    setup.mirror()
    keys = sorted(objects)
    setup.store.delete_object(Bucket=setup.bucket, Key=keys[0])
    setup.put(keys[1], b"changed")

    r = setup.run("object_mirror_verify", **setup.args(expect="equal"))

    assert r["failed"]
    assert r["missing"] == [keys[0]] and r["different"] == [keys[1]]
    # Written after the generation was taken: expected drift of a live store, not a broken copy.
    assert r["changed_since_generation"] == [keys[1]]
    assert r["copy_ok"] and not r["store_ok"] and not r["equal"]
    assert r["store"] == {"objects": 3, "bytes": sum(len(objects[k]) for k in keys[2:]) + len(b"changed")}


# --------------------------------------------------------------------------- restore


def test_restore_into_a_lost_bucket_brings_every_object_back(setup):
    objects = seed_objects(setup, 12)
    setup.put("documents/signature.png", photo(50, 5000), ContentType="image/png",
              Metadata={"signed-by": "customer-42"})
    expected = setup.store_fingerprint()
    mirrored = setup.mirror()
    setup.empty_store(drop_bucket=True)

    plan = setup.run("object_mirror_restore", check=True, **setup.args())
    assert plan["would_create_bucket"] and plan["would_copy"]["objects"] == 13
    with pytest.raises(setup.store.exceptions.NoSuchBucket):
        setup.store.list_objects_v2(Bucket=setup.bucket)  # check mode created nothing

    r = setup.run("object_mirror_restore", **setup.args())

    assert r["changed"] and r["bucket_created"] and r["generation"] == mirrored["generation"]
    assert r["copied"] == {"objects": 13, "bytes": sum(map(len, objects.values())) + 5000}
    assert r["verify"]["equal"] and r["verify"]["store_ok"]
    assert setup.store_fingerprint() == expected
    head = setup.store.head_object(Bucket=setup.bucket, Key="documents/signature.png")
    assert head["ContentType"] == "image/png" and head["Metadata"] == {"signed-by": "customer-42"}

    again = setup.run("object_mirror_restore", **setup.args())
    assert not again["changed"] and again["copied"]["objects"] == 0


def test_restore_of_an_older_generation_adds_what_is_missing_and_keeps_what_differs(setup):
    objects = seed_objects(setup, 6)
    first = setup.mirror()
    keys = sorted(objects)
    setup.store.delete_object(Bucket=setup.bucket, Key=keys[0])
    setup.put(keys[1], b"edited since")
    setup.mirror()

    r = setup.run("object_mirror_restore", **setup.args(generation=first["generation"]))

    assert r["copied"]["objects"] == 1  # the deleted one is back
    assert r["different_kept"] == [keys[1]]  # newer in the store: not overwritten
    body = setup.store.get_object(Bucket=setup.bucket, Key=keys[1])["Body"].read()
    assert body == b"edited since"
    assert r["verify"]["store_ok"]  # differences are newer than the generation

    forced = setup.run("object_mirror_restore", **setup.args(generation=first["generation"], overwrite=True))
    assert forced["copied"]["objects"] == 1 and forced["verify"]["equal"]
    assert setup.store.get_object(Bucket=setup.bucket, Key=keys[1])["Body"].read() == objects[keys[1]]


def test_restore_refuses_a_corrupt_blob_and_names_the_key(setup):
    objects = seed_objects(setup, 3)
    setup.mirror()
    victim = sorted(objects)[0]
    damaged = bytearray(objects[victim])
    damaged[0] ^= 0x01
    setup.offsite.put_object(Bucket=OFFSITE_BUCKET, Key=setup.blob_key(objects[victim]), Body=bytes(damaged))
    setup.empty_store()

    r = setup.run("object_mirror_restore", **setup.args())

    assert r["failed"] and victim in r["msg"] and "is corrupt" in r["msg"]
    assert r["copied"]["objects"] == 2
    assert victim not in setup.store_fingerprint()  # never written with wrong bytes


def test_unknown_generation_is_refused_with_the_list(setup):
    seed_objects(setup, 2)
    gen = setup.mirror()["generation"]

    r = setup.run("object_mirror_restore", **setup.args(generation="20200101T000000Z"))

    assert r["failed"] and "does not exist" in r["msg"] and gen in r["msg"]


# --------------------------------------------------------------------------- retention


def test_retention_prunes_expired_generations_and_their_blobs(setup):
    setup.put("stable.jpg", photo(1, 10_000))
    setup.put("churn.jpg", photo(2, 10_000))
    gens = [setup.mirror(keep_generations=2, keep_days=0)["generation"]]
    for n in (3, 4):
        time.sleep(1.1)  # generation names carry the second they started
        setup.put("churn.jpg", photo(n, 10_000))
        gens.append(setup.mirror(keep_generations=2, keep_days=0)["generation"])
    listing = setup.offsite_listing()
    blob_of = {n: setup.blob_key(photo(n, 10_000)) for n in (1, 2, 3, 4)}

    info = setup.run("object_mirror_info", **{k: v for k, v in setup.args().items() if not k.startswith("store_")})

    assert [g["generation"] for g in info["generations"]] == gens[1:]
    assert blob_of[2] not in listing  # only the pruned generation referenced it
    assert all(blob_of[n] in listing for n in (1, 3, 4))
    assert info["blobs"] == {"objects": 3, "bytes": 30_000}


def test_keep_days_protects_young_generations(setup):
    setup.put("a.jpg", photo(1, 1000))
    first = setup.mirror(keep_generations=1)
    time.sleep(1.1)
    setup.put("a.jpg", photo(2, 1000))
    second = setup.mirror(keep_generations=1)  # keep_days 28: the first is only seconds old

    assert second["pruned_generations"] == []
    assert second["generations"] == [first["generation"], second["generation"]]


# --------------------------------------------------------------------------- metrics


def read_metrics(path: Path) -> dict[str, float]:
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("{", 1)[0], line.rsplit(" ", 1)[1]
            values[name] = float(value)
    return values


def test_metrics_keep_the_last_success_when_a_run_fails(setup):
    seed_objects(setup, 3)
    metrics = setup.tmp / "fleetpulse_object_mirror.prom"
    ok = setup.mirror(metrics_file=str(metrics))
    good = read_metrics(metrics)
    assert good["fleetpulse_object_mirror_last_run_success"] == 1
    assert good["fleetpulse_object_mirror_objects"] == 3 and good["fleetpulse_object_mirror_generations"] == 1
    assert good["fleetpulse_object_mirror_copied_bytes"] == ok["copied"]["bytes"]
    setup.empty_store()

    assert setup.mirror(metrics_file=str(metrics))["failed"]

    bad = read_metrics(metrics)
    assert bad["fleetpulse_object_mirror_last_run_success"] == 0
    assert bad["fleetpulse_object_mirror_last_success_timestamp_seconds"] == \
        good["fleetpulse_object_mirror_last_success_timestamp_seconds"]
    assert bad["fleetpulse_object_mirror_last_run_timestamp_seconds"] > \
        good["fleetpulse_object_mirror_last_run_timestamp_seconds"]


# --------------------------------------------------------------------------- the scheduled command


def cli_config(setup: Setup, metrics_dir: Path) -> Path:
    s, o = setup.world["s3store"], setup.world["s3"]
    config = {
        "buckets": [setup.bucket],
        "store": {"endpoint_url": s["controller_endpoint"], "access_key": s["access_key"],
                  "secret_key": s["secret_key"]},
        "offsite": {"endpoint_url": o["controller_endpoint"], "access_key": o["access_key"],
                    "secret_key": o["secret_key"], "bucket": OFFSITE_BUCKET, "prefix": setup.prefix,
                    "storage_class": "STANDARD_IA"},
        "mirror": {"keep_generations": 4, "keep_days": 28, "workers": 4, "max_removed_percent": 25,
                   "allow_empty_source": False, "verify": "full", "tmp_dir": str(setup.tmp)},
        "metrics_dir": str(metrics_dir),
    }
    path = setup.tmp / "object-mirror.json"
    path.write_text(json.dumps(config))
    return path


def run_cli(setup: Setup, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLEETPULSE_DR_LIB": str(REPO / ".collections")}
    lock_dir = setup.tmp / "lock"
    lock_dir.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, str(CLI), *args], capture_output=True, text=True, env=env, check=False)


def test_scheduled_command_mirrors_and_writes_metrics(setup):
    objects = seed_objects(setup, 8)
    metrics_dir = setup.tmp / "metrics"
    config = cli_config(setup, metrics_dir)

    res = run_cli(setup, "mirror", "--config", str(config))

    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.splitlines()[-1])
    assert summary["ok"] and summary["copied"] == {"objects": 8, "bytes": sum(map(len, objects.values()))}
    assert "verification equal" in res.stderr
    values = read_metrics(metrics_dir / f"fleetpulse_object_mirror_{setup.bucket}.prom")
    assert values["fleetpulse_object_mirror_last_run_success"] == 1
    assert values["fleetpulse_object_mirror_objects"] == 8

    setup.empty_store()
    failed = run_cli(setup, "mirror", "--config", str(config))
    assert failed.returncode == 1 and "is empty but generation" in failed.stderr
    assert read_metrics(metrics_dir / f"fleetpulse_object_mirror_{setup.bucket}.prom")[
        "fleetpulse_object_mirror_last_run_success"] == 0


# --------------------------------------------------------------------------- offsite archive


def tree(path: Path) -> dict[str, tuple]:
    out = {}
    for item in sorted(path.rglob("*")):
        rel = str(item.relative_to(path))
        if item.is_symlink():
            out[rel] = ("link", os.readlink(item))
        elif item.is_file():
            out[rel] = ("file", hashlib.sha256(item.read_bytes()).hexdigest(), item.stat().st_mode & 0o7777)
        else:
            out[rel] = ("dir", item.stat().st_mode & 0o7777)
    return out


def test_offsite_archive_round_trip_is_verified(setup):
    src = setup.tmp / "volume"
    (src / "buckets" / "fleetpulse").mkdir(parents=True)
    (src / "buckets" / "fleetpulse" / "1.dat").write_bytes(photo(1, 300_000))
    (src / "buckets" / "fleetpulse" / "1.idx").write_bytes(b"index")
    (src / "filer.db").write_bytes(photo(2, 5000))
    (src / "filer.db").chmod(0o600)
    (src / "current").symlink_to("buckets/fleetpulse/1.dat")
    args = {"name": "carrental_minio-data", "offsite_endpoint_url": setup.world["s3"]["controller_endpoint"],
            "offsite_access_key": setup.world["s3"]["access_key"],
            "offsite_secret_key": setup.world["s3"]["secret_key"], "offsite_bucket": OFFSITE_BUCKET,
            "offsite_prefix": setup.prefix, "keep": 2}

    made = setup.run("offsite_archive", src=str(src), **args)

    assert made["changed"] and made["archive"]["files"] == 3
    sidecar = setup.offsite.get_object(Bucket=OFFSITE_BUCKET, Key=made["archive"]["key"] + ".sha256")
    assert sidecar["Body"].read().decode().split()[0] == made["archive"]["sha256"]

    dest = setup.tmp / "new-volume"
    back = setup.run("offsite_archive", state="extracted", dest=str(dest), **args)
    assert back["archive"]["sha256"] == made["archive"]["sha256"]
    assert tree(dest) == tree(src)

    refused = setup.run("offsite_archive", state="extracted", dest=str(dest), **args)
    assert refused["failed"] and "is not empty" in refused["msg"]

    # A damaged archive offsite: the extraction fails and leaves nothing behind.
    body = bytearray(setup.offsite.get_object(Bucket=OFFSITE_BUCKET, Key=made["archive"]["key"])["Body"].read())
    body[-20_000] ^= 0xFF
    setup.offsite.put_object(Bucket=OFFSITE_BUCKET, Key=made["archive"]["key"], Body=bytes(body))
    shutil.rmtree(dest)
    broken = setup.run("offsite_archive", state="extracted", dest=str(dest), **args)
    assert broken["failed"] and "is corrupt" in broken["msg"]
    assert list(dest.iterdir()) == []


def test_offsite_archive_keeps_the_newest(setup):
    src = setup.tmp / "volume"
    src.mkdir()
    (src / "data").write_bytes(b"x")
    args = {"name": "vol", "src": str(src), "offsite_endpoint_url": setup.world["s3"]["controller_endpoint"],
            "offsite_access_key": setup.world["s3"]["access_key"],
            "offsite_secret_key": setup.world["s3"]["secret_key"], "offsite_bucket": OFFSITE_BUCKET,
            "offsite_prefix": setup.prefix, "keep": 2}
    names = []
    for _round in range(2):
        names.append(setup.run("offsite_archive", **args)["archive"]["name"])
        time.sleep(1.1)  # archive names carry the second

    last = setup.run("offsite_archive", **args)

    assert last["pruned"] == names[:1]
    assert last["archives"] == [names[1], last["archive"]["name"]]
    listing = setup.offsite_listing()
    assert not any(k.endswith(names[0]) or k.endswith(names[0] + ".sha256") for k in listing)
