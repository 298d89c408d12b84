# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scheduled side of fleetpulse.dr.object_mirror, run by systemd timers on the app server.

    fleetpulse-object-mirror mirror            # every bucket: mirror, prune, verify; metrics
    fleetpulse-object-mirror verify            # every bucket against its newest generation
    fleetpulse-object-mirror generations       # list the generations offsite
    fleetpulse-object-mirror volume-archive    # the store's Docker volume as a verified tar offsite

Installed by the role as /usr/local/lib/fleetpulse-dr/object_mirror_cli.py, run through the
wrapper /usr/local/sbin/fleetpulse-object-mirror (python3). Settings (with secrets) come from
/etc/fleetpulse/object-mirror.json, written by the role.
It runs the very code the collection's modules run (installed by the role under
/usr/local/lib/fleetpulse-dr), so a scheduled run and a playbook run behave the same.
Progress goes to stderr (the journal), one JSON summary per bucket to stdout; the exit
status is 0 only when every bucket succeeded. Prometheus textfile metrics are written
whether the run succeeds or not.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

LIB = os.environ.get("FLEETPULSE_DR_LIB", "/usr/local/lib/fleetpulse-dr")
sys.path.insert(0, LIB)

from ansible_collections.fleetpulse.dr.plugins.module_utils import object_mirror as om  # noqa: E402
from ansible_collections.fleetpulse.dr.plugins.module_utils import object_store as ostore  # noqa: E402
from ansible_collections.fleetpulse.dr.plugins.module_utils import offsite_archive as oa  # noqa: E402
from ansible_collections.fleetpulse.dr.plugins.module_utils import prom_textfile  # noqa: E402

LOCK = "/run/lock/fleetpulse-object-storage.lock"


def log(message: str) -> None:
    stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")  # noqa: UP017 - Python 3.10 servers
    print(f"{stamp} {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def storage_lock(wait_seconds: int = 6 * 3600):
    """The mirror and the volume archive never run at the same time (the archive stops the store)."""
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"another object storage job still holds {LOCK} after {wait_seconds} s") from None
                time.sleep(5)
        yield
    finally:
        os.close(fd)


def docker(*args: str) -> str:
    res = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout.strip()


def store_endpoint_url(store: dict) -> str:
    """The configured endpoint, or the store container's address now (it changes when recreated)."""
    if store.get("endpoint_url"):
        return store["endpoint_url"]
    addresses = docker("inspect", "--format",
                       "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", store["container"]).split()
    if not addresses:
        raise RuntimeError(f"container {store['container']} has no network address: is it running?")
    return f"http://{addresses[0]}:{store['port']}"


def offsite_endpoint(cfg: dict) -> ostore.Endpoint:
    o = cfg["offsite"]
    return ostore.Endpoint("offsite", o.get("endpoint_url") or None, o.get("region") or "us-east-1",
                           o.get("access_key") or None, o.get("secret_key") or None)


def endpoints(cfg: dict) -> tuple[ostore.Endpoint, ostore.Endpoint]:
    s = cfg["store"]
    store = ostore.Endpoint("app's object", store_endpoint_url(s), s.get("region") or "us-east-1",
                            s.get("access_key") or None, s.get("secret_key") or None)
    return store, offsite_endpoint(cfg)


def job(cfg: dict, store: ostore.Endpoint, offsite: ostore.Endpoint, bucket: str) -> om.Job:
    layout = om.Layout.for_source(cfg["offsite"]["bucket"], cfg["offsite"]["prefix"], bucket)
    return om.Job(store=store, offsite=offsite, bucket=bucket, layout=layout, workers=cfg["mirror"]["workers"],
                  tmp_dir=cfg["mirror"].get("tmp_dir") or None, log=log)


def metrics_path(cfg: dict, name: str) -> str | None:
    directory = cfg.get("metrics_dir")
    return os.path.join(directory, f"{name}.prom") if directory else None


def cmd_mirror(cfg: dict) -> int:
    m = cfg["mirror"]
    opts = om.MirrorOptions(keep_generations=m["keep_generations"], keep_days=m["keep_days"],
                            allow_empty_source=m["allow_empty_source"], max_removed_percent=m["max_removed_percent"],
                            storage_class=cfg["offsite"].get("storage_class", ""), verify=m["verify"])
    failures = 0
    for bucket in cfg["buckets"]:
        started = time.time()
        result: dict = {}
        error = None
        try:
            store, offsite = endpoints(cfg)
            run = job(cfg, store, offsite, bucket)
            with om.host_lock(run.lock_name()):
                result = om.mirror(run, opts)
            verify = result.get("verify")
            if verify is not None and not verify["copy_ok"]:
                error = f"verification failed: {json.dumps(verify['counts'], sort_keys=True)}"
        except om.MirrorError as exc:
            result, error = exc.result, str(exc)
        except (ostore.ObjectStoreError, RuntimeError) as exc:
            error = str(exc)
        path = metrics_path(cfg, f"fleetpulse_object_mirror_{bucket}")
        if path:
            prom_textfile.mirror_metrics(path, bucket, success=error is None, now=time.time(),
                                         duration=time.time() - started, result=result)
        summary = {"bucket": bucket, "ok": error is None, "error": error,
                   **{k: result.get(k) for k in ("generation", "new_generation", "objects", "bytes", "read", "copied",
                                                 "deduplicated", "generations", "pruned_generations",
                                                 "deleted_blobs", "duration_seconds")},
                   "verify": (result.get("verify") or {}).get("counts")}
        print(json.dumps(summary, sort_keys=True), flush=True)
        if error:
            log(f"{bucket}: FAILED: {error}")
            failures += 1
    return 1 if failures else 0


def cmd_verify(cfg: dict) -> int:
    failures = 0
    store, offsite = endpoints(cfg)
    for bucket in cfg["buckets"]:
        try:
            result = om.verify(job(cfg, store, offsite, bucket), "latest", checksums=True)
        except (om.MirrorError, ostore.ObjectStoreError) as exc:
            log(f"{bucket}: FAILED: {exc}")
            failures += 1
            continue
        keys = ("bucket", "generation", "store", "copy", "counts", "equal", "copy_ok", "missing", "extra",
                "different", "corrupt")
        print(json.dumps({k: result[k] for k in keys}, sort_keys=True), flush=True)
        failures += not result["copy_ok"]
    return 1 if failures else 0


def cmd_generations(cfg: dict) -> int:
    offsite = offsite_endpoint(cfg)
    for bucket in cfg["buckets"]:
        layout = om.Layout.for_source(cfg["offsite"]["bucket"], cfg["offsite"]["prefix"], bucket)
        for info in om.generations_info(offsite, layout):
            print(json.dumps({"bucket": bucket, **info}, sort_keys=True))
    return 0


def wait_for_store(cfg: dict, timeout: float = 180.0) -> None:
    """Poll until the store's S3 API answers again (any HTTP status), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            url = store_endpoint_url(cfg["store"])
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(url + "/", timeout=5).close()  # noqa: S310 - our own endpoint, http(s)
            return
        except (OSError, RuntimeError) as exc:
            last = exc
            time.sleep(2)
    raise RuntimeError(f"the store did not answer within {timeout:.0f} s after its restart ({last}); check "
                       f"`docker compose ps minio` and its logs")


def compose(cfg: dict, *args: str) -> None:
    v = cfg["volume"]
    subprocess.run(["docker", "compose", "--project-directory", v["app_dir"], "--project-name", v["project"],
                    "--file", os.path.join(v["app_dir"], v["compose_file"]), *args], check=True,
                   capture_output=True, text=True)


def cmd_volume_archive(cfg: dict) -> int:
    v = cfg["volume"]
    started = time.time()
    size = 0
    error = None
    try:
        mountpoint = docker("volume", "inspect", "--format", "{{.Mountpoint}}", v["name"])
        offsite = offsite_endpoint(cfg)
        shelf = oa.Shelf(client=offsite.client(2), endpoint=offsite, bucket=cfg["offsite"]["bucket"],
                         prefix=v["prefix"])
        stopped = False
        try:
            if v["stop_service"]:
                log(f"stopping {v['service']} for a consistent archive of {v['name']}")
                compose(cfg, "stop", v["service"])
                stopped = True
            made = shelf.upload(v["name"], mountpoint, compression=v["compression"],
                                storage_class=cfg["offsite"].get("storage_class", ""), log=log)
        finally:
            if stopped:
                compose(cfg, "start", v["service"])
                wait_for_store(cfg)
                log(f"started {v['service']} again; it answers")
        size = made["size"]
        pruned = shelf.prune(v["name"], v["keep"])
        archives = [a.name for a in shelf.archives(v["name"]) if a.sha256]
        log(f"{len(archives)} archive(s) kept offsite, {len(pruned)} pruned")
        print(json.dumps({"volume": v["name"], "ok": True, **made, "pruned": pruned, "archives": archives},
                         sort_keys=True))
    except (ostore.ObjectStoreError, RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        error = getattr(exc, "stderr", None) or str(exc)
        log(f"volume archive FAILED: {error}")
    path = metrics_path(cfg, "fleetpulse_object_volume_archive")
    if path:
        prom_textfile.archive_metrics(path, v["name"], success=error is None, now=time.time(),
                                      duration=time.time() - started, size=size)
    return 1 if error else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["mirror", "verify", "generations", "volume-archive"])
    parser.add_argument("--config", default="/etc/fleetpulse/object-mirror.json")
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as handle:
        cfg = json.load(handle)
    if not ostore.HAS_BOTO3:
        raise SystemExit("boto3 is missing: apt-get install python3-boto3")
    commands = {"mirror": cmd_mirror, "verify": cmd_verify, "generations": cmd_generations,
                "volume-archive": cmd_volume_archive}
    if args.command in ("mirror", "volume-archive"):
        with storage_lock():
            return commands[args.command](cfg)
    return commands[args.command](cfg)


if __name__ == "__main__":
    sys.exit(main())
