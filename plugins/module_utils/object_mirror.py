# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generational, content-addressed mirror of an S3 bucket to an offsite S3 store.

Layout offsite, under ``<offsite prefix>/<source bucket>/``::

    blobs/sha256/ab/ab12...ef              each distinct content once, named by its SHA-256
    generations/20260208T030000Z.json.gz   one manifest per generation: key -> sha256, size,
                                           content type, user metadata (and the source's
                                           ETag and time, to detect changes cheaply)

Why this and not a copy of the bucket per generation: an unchanged photo costs one copy
offsite however many generations reference it, so keeping 4 weekly generations costs
about one bucket plus four weeks of changes instead of four buckets; a deletion or
corruption upstream only changes what the *newest* manifest references, the older
generations still point at the good bytes; and the comparison is exact across stores
(SHA-256 of the bytes, never the ETag, which is an MD5 on one store, an MD5 of MD5s after
a multipart upload and something else again behind encryption).

Change detection: an object is read again only when it is new, or its size or its
ETag on the source differ from what the previous generation recorded for that key (the
ETag is compared with the ETag of the same store, where it is stable), or its blob is
missing offsite; ``rehash`` reads every object. What is read is hashed, and uploaded
only when no blob holds that content yet.

Safety: the source is listed before anything is written; a listing error stops the run,
and so does an empty source (or one that lost more than ``max_removed_percent`` of its
objects) where the last generation had objects. Nothing offsite is deleted except
expired generations (beyond the newest ``keep_generations`` *and* older than
``keep_days``) and blobs no kept generation references, and only after the new
manifest has been written and read back.

Nothing here imports Ansible: the modules and the scheduled command share this code.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta

from ansible_collections.fleetpulse.dr.plugins.module_utils.object_store import (
    UTC,
    Endpoint,
    Listed,
    ObjectStoreError,
    Progress,
    Spool,
    bucket_exists,
    create_bucket,
    delete_keys,
    fetch,
    get_small,
    hash_object,
    list_objects,
    parse_iso,
    put_small,
    upload,
    utc_iso,
)

FORMAT = "fleetpulse.object-mirror/v1"
GENERATION_RE = re.compile(r"^(\d{8}T\d{6}Z)(-\d+)?$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MD5_RE = re.compile(r"^[0-9a-f]{32}$")


class MirrorError(Exception):
    """The run stopped; ``result`` holds what was done and found up to that point."""

    def __init__(self, message: str, result: dict | None = None) -> None:
        super().__init__(message)
        self.result = result or {}


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """Where one source bucket's generations and blobs live offsite."""

    bucket: str
    prefix: str

    @classmethod
    def for_source(cls, offsite_bucket: str, offsite_prefix: str, source_bucket: str) -> Layout:
        parts = [p for p in (offsite_prefix or "").strip("/").split("/") if p]
        return cls(bucket=offsite_bucket, prefix="/".join([*parts, source_bucket]))

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/"

    @property
    def blobs_prefix(self) -> str:
        return f"{self.prefix}/blobs/sha256/"

    def blob_key(self, sha256: str) -> str:
        return f"{self.blobs_prefix}{sha256[:2]}/{sha256}"

    @property
    def generations_prefix(self) -> str:
        return f"{self.prefix}/generations/"

    def generation_key(self, generation: str) -> str:
        return f"{self.generations_prefix}{generation}.json.gz"


def generation_time(generation: str) -> datetime:
    m = GENERATION_RE.match(generation)
    if not m:
        raise MirrorError(f"{generation!r} is not a generation name (like 20260208T030000Z)")
    return datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


# --------------------------------------------------------------------------- manifests


@dataclass
class Entry:
    """One object of a generation."""

    key: str
    size: int
    sha256: str
    etag: str = ""
    last_modified: str = ""
    content_type: str = ""
    metadata: dict = field(default_factory=dict)

    def content(self) -> tuple:
        """What restoring the object brings back; generations differ when this differs."""
        return (self.sha256, self.size, self.content_type, tuple(sorted(self.metadata.items())))


@dataclass
class Manifest:
    generation: str
    bucket: str
    store: str
    started_at: str
    finished_at: str
    entries: dict[str, Entry]

    @property
    def objects(self) -> int:
        return len(self.entries)

    @property
    def bytes(self) -> int:
        return sum(e.size for e in self.entries.values())

    def to_bytes(self) -> bytes:
        doc = {
            "format": FORMAT, "generation": self.generation, "bucket": self.bucket, "store": self.store,
            "started_at": self.started_at, "finished_at": self.finished_at,
            "objects": self.objects, "bytes": self.bytes,
            "entries": [asdict(self.entries[k]) for k in sorted(self.entries)],
        }
        return gzip.compress(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode(), mtime=0)

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> Manifest:
        try:
            doc = json.loads(gzip.decompress(data))
        except (OSError, EOFError, ValueError) as exc:
            raise MirrorError(f"manifest {where} is not readable gzip JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise MirrorError(f"manifest {where} has format {doc.get('format') if isinstance(doc, dict) else None!r}, "
                              f"expected {FORMAT!r}")
        try:
            entries = {e["key"]: Entry(**e) for e in doc["entries"]}
            manifest = cls(generation=doc["generation"], bucket=doc["bucket"], store=doc.get("store", ""),
                           started_at=doc["started_at"], finished_at=doc["finished_at"], entries=entries)
        except (KeyError, TypeError) as exc:
            raise MirrorError(f"manifest {where} is incomplete ({exc})") from None
        if manifest.objects != doc.get("objects") or manifest.bytes != doc.get("bytes"):
            raise MirrorError(f"manifest {where} is inconsistent: it says {doc.get('objects')} objects and "
                              f"{doc.get('bytes')} bytes, its entries add up to {manifest.objects} and "
                              f"{manifest.bytes}")
        bad = [e.key for e in entries.values() if not SHA256_RE.match(e.sha256)]
        if bad:
            raise MirrorError(f"manifest {where} has entries without a valid SHA-256: {bad[:5]}")
        return manifest


@dataclass
class GenerationInfo:
    generation: str
    key: str
    size: int
    created: str
    objects: int | None = None
    bytes: int | None = None


class Offsite:
    """The offsite side of one source bucket: generations and blobs."""

    def __init__(self, endpoint: Endpoint, layout: Layout, client) -> None:
        self.endpoint = endpoint
        self.layout = layout
        self.client = client

    def generations(self, with_details: bool = False) -> list[GenerationInfo]:
        """Generations, oldest first."""
        listing = list_objects(self.client, self.endpoint, self.layout.bucket, self.layout.generations_prefix)
        found = []
        for key, item in listing.items():
            name = key[len(self.layout.generations_prefix):]
            if not name.endswith(".json.gz") or "/" in name:
                continue
            generation = name[: -len(".json.gz")]
            if GENERATION_RE.match(generation):
                found.append(GenerationInfo(generation, key, item.size, item.last_modified))
        found.sort(key=lambda g: (generation_time(g.generation), len(g.generation), g.generation))
        if with_details:
            for info in found:
                with contextlib.suppress(Exception):
                    head = self.client.head_object(Bucket=self.layout.bucket, Key=info.key)
                    meta = head.get("Metadata") or {}
                    info.objects = int(meta["objects"]) if "objects" in meta else None
                    info.bytes = int(meta["bytes"]) if "bytes" in meta else None
        return found

    def load(self, generation: str) -> Manifest:
        key = self.layout.generation_key(generation)
        where = f"s3://{self.layout.bucket}/{key}"
        try:
            data, meta = get_small(self.client, self.endpoint, self.layout.bucket, key)
        except ObjectStoreError as exc:
            raise MirrorError(str(exc)) from None
        expected = meta.get("sha256")
        actual = hashlib.sha256(data).hexdigest()
        if expected and expected != actual:
            raise MirrorError(f"manifest {where} is corrupt: SHA-256 {actual}, written as {expected}")
        manifest = Manifest.from_bytes(data, where)
        if manifest.generation != generation:
            raise MirrorError(f"manifest {where} names generation {manifest.generation}, not {generation}")
        return manifest

    def resolve(self, generation: str) -> Manifest:
        """The manifest of ``generation`` (``latest`` = the newest); a clear error when there is none."""
        gens = self.generations()
        if not gens:
            raise MirrorError(f"no generation found in {self.endpoint.describe()} under {self.layout.url}: run the "
                              f"mirror first, or check the offsite bucket and prefix")
        names = [g.generation for g in gens]
        if generation in ("", "latest"):
            generation = names[-1]
        elif generation not in names:
            raise MirrorError(f"generation {generation!r} does not exist under {self.layout.url}; "
                              f"available: {', '.join(names)}")
        return self.load(generation)

    def write(self, manifest: Manifest) -> str:
        data = manifest.to_bytes()
        key = self.layout.generation_key(manifest.generation)
        digest = hashlib.sha256(data).hexdigest()
        put_small(self.client, self.endpoint, self.layout.bucket, key, data, content_type="application/gzip",
                  metadata={"sha256": digest, "objects": str(manifest.objects), "bytes": str(manifest.bytes),
                            "format": FORMAT})
        # Read it back: a generation only counts once its manifest is proven readable.
        back = self.load(manifest.generation)
        if {k: e.content() for k, e in back.entries.items()} != {k: e.content() for k, e in manifest.entries.items()}:
            raise MirrorError(f"manifest s3://{self.layout.bucket}/{key} reads back different from what was written")
        return key

    def blobs(self) -> dict[str, Listed]:
        """Blobs offsite by SHA-256 (what the listing says: size and time)."""
        listing = list_objects(self.client, self.endpoint, self.layout.bucket, self.layout.blobs_prefix)
        found = {}
        for key, item in listing.items():
            sha = key.rsplit("/", 1)[-1]
            if SHA256_RE.match(sha) and key == self.layout.blob_key(sha):
                found[sha] = item
        return found


# --------------------------------------------------------------------------- helpers


def cap(keys: Iterable[str], limit: int) -> list[str]:
    return sorted(keys)[:limit]


def run_parallel(items: list, work: Callable, workers: int) -> Iterator[tuple[object, object, Exception | None]]:
    """Run ``work(item)`` on a thread pool; yields (item, result, error) as they finish."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(work, item): item for item in items}
        for future in as_completed(futures):
            item = futures[future]
            try:
                yield item, future.result(), None
            except Exception as exc:
                yield item, None, exc


@contextlib.contextmanager
def host_lock(name: str, lock_dir: str | None = None) -> Iterator[str]:
    """One run at a time per offsite location on this host (the scheduled run and a playbook run)."""
    directory = lock_dir or ("/run/lock" if os.access("/run/lock", os.W_OK) else tempfile.gettempdir())
    path = os.path.join(directory, f"fleetpulse-object-mirror-{hashlib.sha256(name.encode()).hexdigest()[:12]}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MirrorError(f"another object mirror run holds {path} for {name}; wait for it to finish") from None
        yield path
    finally:
        os.close(fd)


def sum_sizes(entries: Iterable) -> int:
    return sum(e.size for e in entries)


# --------------------------------------------------------------------------- jobs


@dataclass
class Job:
    """One bucket of the app's store and where its generations live offsite."""

    store: Endpoint
    offsite: Endpoint
    bucket: str
    layout: Layout
    workers: int = 8
    report_limit: int = 100
    tmp_dir: str | None = None
    log: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self.progress = Progress(self.log)
        self.store_client = self.store.client(self.workers)
        self.off = Offsite(self.offsite, self.layout, self.offsite.client(self.workers))

    def cap(self, keys: Iterable[str]) -> list[str]:
        return cap(keys, self.report_limit)

    def lock_name(self) -> str:
        return f"{self.offsite.endpoint_url}|{self.layout.url}"


# --------------------------------------------------------------------------- mirror


@dataclass
class MirrorOptions:
    keep_generations: int = 4
    keep_days: int = 28
    allow_empty_source: bool = False
    max_removed_percent: float = 25.0
    rehash: bool = False
    replace_blobs: tuple = ()
    storage_class: str = ""
    verify: str = "full"  # full, quick or none
    repair: bool = True
    check_mode: bool = False


class Mirror:
    """One mirror run: previous generation, source listing, guards, transfer, new generation, retention, verify."""

    def __init__(self, job: Job, opts: MirrorOptions) -> None:
        self.job, self.opts = job, opts
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC).replace(microsecond=0)
        self.prev: Manifest | None = None
        self.gens: list[GenerationInfo] = []
        self.source: dict[str, Listed] = {}
        self.blobs: dict[str, Listed] = {}
        self.entries: dict[str, Entry] = {}
        self.to_read: list[Listed] = []
        self.replace = set(opts.replace_blobs)
        self.lock = threading.Lock()
        self.counters = {"read": 0, "read_bytes": 0, "copied": 0, "copied_bytes": 0, "dedup": 0}
        self.vanished: list[str] = []
        self.replaced: list[str] = []
        self.result: dict = {
            "bucket": job.bucket, "offsite": job.layout.url, "check_mode": opts.check_mode, "changed": False,
            "generation": None, "new_generation": False, "previous_generation": None,
            "copied": {"objects": 0, "bytes": 0}, "read": {"objects": 0, "bytes": 0},
            "deduplicated": 0, "unchanged": 0, "vanished": [], "replaced_blobs": [], "warnings": [],
            "pruned_generations": [], "deleted_blobs": {"objects": 0, "bytes": 0}, "verify": None,
        }

    def fail(self, message: str) -> MirrorError:
        return MirrorError(message, self.result)

    def run(self) -> dict:
        self.load_previous()
        self.list_source()
        self.guard()
        self.plan()
        if self.opts.check_mode:
            return self.check_result()
        self.transfer()
        manifest = self.commit()
        prune(self.job.off, self.opts, self.started_at, self.result, self.job.progress)
        self.result["generations"] = [g.generation for g in self.job.off.generations()]
        if self.opts.verify != "none":
            self.result["verify"] = Comparison(self.job, manifest, checksums=self.opts.verify == "full").run()
        self.result["duration_seconds"] = round(time.monotonic() - self.started, 3)
        return self.result

    def load_previous(self) -> None:
        """The newest readable generation: the change-detection cache and the empty-source guard."""
        self.gens = self.job.off.generations()
        for info in reversed(self.gens):
            try:
                self.prev = self.job.off.load(info.generation)
                break
            except (MirrorError, ObjectStoreError) as exc:
                self.result["warnings"].append(f"skipped unreadable generation {info.generation}: {exc}")
        prev = self.prev
        self.result["previous_generation"] = prev.generation if prev else None
        self.job.progress(f"{self.job.bucket}: previous generation {prev.generation if prev else '(none)'} with "
                          f"{prev.objects if prev else 0} objects", force=True)

    def list_source(self) -> None:
        """The whole source, listed before anything is written; any listing error stops the run here."""
        self.source = list_objects(self.job.store_client, self.job.store, self.job.bucket)
        self.result.update({"objects": len(self.source), "bytes": sum_sizes(self.source.values())})
        self.job.progress(f"{self.job.bucket}: {len(self.source)} objects, {self.result['bytes']} bytes in the "
                          f"{self.job.store.describe()}", force=True)

    def guard(self) -> None:
        prev, bucket, store = self.prev, self.job.bucket, self.job.store.describe()
        prev_entries = prev.entries if prev else {}
        if not self.source and prev_entries and not self.opts.allow_empty_source:
            raise self.fail(
                f"bucket {bucket!r} on the {store} is empty but generation {prev.generation} holds {prev.objects} "
                f"objects: refusing to mirror an empty source (data loss upstream, or the wrong bucket or "
                f"endpoint?). Nothing was changed offsite. Recover the store (playbooks/recover-minio.yml), or set "
                f"allow_empty_source if the bucket was emptied on purpose.")
        removed = sorted(set(prev_entries) - set(self.source))
        if prev_entries and self.source and self.opts.max_removed_percent < 100:
            share = 100.0 * len(removed) / len(prev_entries)
            if share > self.opts.max_removed_percent:
                raise self.fail(
                    f"{len(removed)} of the {len(prev_entries)} objects of generation {prev.generation} "
                    f"({share:.0f} %) are gone from bucket {bucket!r} on the {store}, more than "
                    f"max_removed_percent={self.opts.max_removed_percent:g}: refusing to mirror what looks like "
                    f"data loss (e.g. {', '.join(removed[:5])}). Nothing was changed offsite. Recover the store, "
                    f"or raise max_removed_percent for this run if the deletions are intended.")

    def plan(self) -> None:
        """Unchanged (same size and ETag as recorded, blob present) or to read."""
        prev_entries = self.prev.entries if self.prev else {}
        self.blobs = self.job.off.blobs()
        for key, item in self.source.items():
            old = prev_entries.get(key)
            if old and not self.opts.rehash and self.unchanged(old, item):
                self.entries[key] = old
            else:
                self.to_read.append(item)
        added = [k for k in self.source if k not in prev_entries]
        removed = [k for k in prev_entries if k not in self.source]
        self.result.update({
            "unchanged": len(self.entries), "added": self.job.cap(added), "removed": self.job.cap(removed),
            "counts": {"added": len(added), "removed": len(removed), "to_read": len(self.to_read)},
        })

    def unchanged(self, old: Entry, item: Listed) -> bool:
        blob = self.blobs.get(old.sha256)
        return (bool(item.etag) and old.size == item.size and old.etag == item.etag and old.sha256 not in self.replace
                and blob is not None and blob.size == old.size)

    def check_result(self) -> dict:
        self.result["would_copy"] = {"objects": len(self.to_read), "bytes": sum_sizes(self.to_read),
                                     "keys": self.job.cap(i.key for i in self.to_read)}
        self.result["changed"] = bool(self.to_read or self.result["counts"]["removed"])
        self.result["duration_seconds"] = round(time.monotonic() - self.started, 3)
        return self.result

    def transfer(self) -> None:
        """Read what changed into bounded spools, hash it, upload contents not offsite yet."""
        total = len(self.to_read)
        self.job.progress(f"{self.job.bucket}: reading {total} new or changed objects "
                          f"({sum_sizes(self.to_read)} bytes)", force=True)
        errors = []
        for item, entry, exc in run_parallel(self.to_read, self.copy_one, self.job.workers):
            if exc is not None:
                errors.append(f"{item.key}: {exc}")
            elif entry is not None:
                self.entries[entry.key] = entry
        c = self.counters
        self.result.update({
            "read": {"objects": c["read"], "bytes": c["read_bytes"]},
            "copied": {"objects": c["copied"], "bytes": c["copied_bytes"]},
            "deduplicated": c["dedup"], "vanished": self.job.cap(self.vanished),
            "replaced_blobs": sorted(self.replaced), "changed": c["copied"] > 0,
        })
        if errors:
            raise self.fail(f"{len(errors)} of {total} objects could not be mirrored (no generation was written; "
                            f"blobs already uploaded are reused next run): {'; '.join(sorted(errors)[:5])}")
        unrepaired = sorted(set(self.opts.replace_blobs) - set(self.replaced))
        if unrepaired:
            self.result["warnings"].append(
                f"{len(unrepaired)} blob(s) to replace no longer match any object in the store and stay as they "
                f"are: {', '.join(unrepaired[:5])}")

    def copy_one(self, item: Listed) -> Entry | None:
        job = self.job
        with Spool(job.tmp_dir) as spool:
            try:
                got = fetch(job.store_client, job.store, job.bucket, item.key, spool)
            except ObjectStoreError as exc:
                if not exc.missing:
                    raise
                with self.lock:
                    self.vanished.append(item.key)  # deleted since the listing: not part of this generation
                return None
            sha = spool.sha256.hexdigest()
            needed = self.claim(sha, got.size)
            if needed:
                try:
                    upload(job.off.client, job.offsite, job.layout.bucket, job.layout.blob_key(sha), spool,
                           content_type="application/octet-stream", metadata={"sha256": sha},
                           storage_class=self.opts.storage_class)
                except ObjectStoreError:
                    with self.lock:
                        self.blobs.pop(sha, None)
                    raise
            self.count(sha, got.size, needed)
        return Entry(key=item.key, size=got.size, sha256=sha, etag=got.etag, last_modified=got.last_modified,
                     content_type=got.content_type, metadata=got.metadata)

    def claim(self, sha: str, size: int) -> bool:
        """Whether this content must be uploaded; claims it so that two keys with it upload it once."""
        with self.lock:
            self.counters["read"] += 1
            self.counters["read_bytes"] += size
            have = self.blobs.get(sha)
            if have is not None and have.size == size and sha not in self.replace:
                return False
            self.blobs[sha] = Listed(self.job.layout.blob_key(sha), size, "", utc_iso())
            self.replace.discard(sha)
            return True

    def count(self, sha: str, size: int, uploaded: bool) -> None:
        c = self.counters
        with self.lock:
            if uploaded:
                c["copied"] += 1
                c["copied_bytes"] += size
                if sha in self.opts.replace_blobs:
                    self.replaced.append(sha)
            else:
                c["dedup"] += 1
        self.job.progress(f"{self.job.bucket}: read {c['read']}/{len(self.to_read)} objects, uploaded "
                          f"{c['copied']} ({c['copied_bytes']} bytes)")

    def commit(self) -> Manifest:
        """A new generation when the content differs from the previous one; else the previous one stands."""
        prev = self.prev
        if prev is not None and {k: e.content() for k, e in self.entries.items()} == {
                k: e.content() for k, e in prev.entries.items()}:
            self.result["generation"] = prev.generation
            self.job.progress(f"{self.job.bucket}: nothing changed since generation {prev.generation}; "
                              f"no new generation", force=True)
            return prev
        existing = {g.generation for g in self.gens}
        base = name = self.started_at.strftime("%Y%m%dT%H%M%SZ")
        suffix = 1
        while name in existing:
            name = f"{base}-{suffix}"
            suffix += 1
        manifest = Manifest(generation=name, bucket=self.job.bucket, store=self.job.store.endpoint_url or "AWS S3",
                            started_at=utc_iso(self.started_at), finished_at=utc_iso(), entries=self.entries)
        self.job.off.write(manifest)
        self.result.update({"generation": name, "new_generation": True, "changed": True})
        self.job.progress(f"{self.job.bucket}: wrote generation {name} ({manifest.objects} objects, "
                          f"{manifest.bytes} bytes)", force=True)
        return manifest


def prune(off: Offsite, opts: MirrorOptions, run_started: datetime, result: dict, progress: Progress) -> None:
    """Remove expired generations, then the blobs no kept generation references."""
    gens = off.generations()
    keep_newest = max(1, opts.keep_generations)
    cutoff = run_started - timedelta(days=max(0, opts.keep_days))
    expired = [g for g in gens[:-keep_newest] if generation_time(g.generation) < cutoff]
    kept = [g for g in gens if g not in expired]
    # Every kept manifest must be readable before any blob is deleted: a blob is only ever
    # deleted when we are sure no kept generation needs it.
    referenced: set[str] = set()
    for info in kept:
        try:
            referenced.update(e.sha256 for e in off.load(info.generation).entries.values())
        except (MirrorError, ObjectStoreError) as exc:
            result["warnings"].append(f"kept generation {info.generation} is unreadable ({exc}); nothing was pruned")
            return
    if expired:
        delete_keys(off.client, off.endpoint, off.layout.bucket, [g.key for g in expired])
        result["pruned_generations"] = [g.generation for g in expired]
        result["changed"] = True
        progress(f"removed expired generation(s) {', '.join(result['pruned_generations'])}", force=True)
    # Blobs written during this run are never garbage: another run's manifest may be on its way.
    garbage = [item for sha, item in off.blobs().items()
               if sha not in referenced and parse_iso(item.last_modified) < run_started]
    if garbage:
        delete_keys(off.client, off.endpoint, off.layout.bucket, [item.key for item in garbage])
        result["deleted_blobs"] = {"objects": len(garbage), "bytes": sum_sizes(garbage)}
        result["changed"] = True
        progress(f"removed {len(garbage)} blob(s) no kept generation references", force=True)


def mirror(job: Job, opts: MirrorOptions) -> dict:
    """Mirror the job's bucket into a new generation offsite (when anything changed), prune, verify.

    With ``opts.repair``, blobs the verification finds corrupt or missing offsite are uploaded
    again from the store (when it still has their content) and the bucket is verified again;
    ``repair`` in the result names the damaged keys and what was done.
    """
    result = Mirror(job, opts).run()
    check = result.get("verify")
    if not (opts.repair and check and (check["corrupt_blobs"] or check["counts"]["offsite_missing"])):
        return result
    job.progress(f"{job.bucket}: repairing {len(check['corrupt_blobs'])} corrupt and "
                 f"{check['counts']['offsite_missing']} missing blob(s) offsite", force=True)
    again = Mirror(job, replace(opts, replace_blobs=tuple(check["corrupt_blobs"]))).run()
    result["repair"] = {
        "corrupt": check["corrupt"], "offsite_missing": check["offsite_missing"],
        "replaced_blobs": again["replaced_blobs"], "copied": again["copied"],
    }
    for key in ("verify", "generations", "generation"):
        result[key] = again[key]
    result["copied"] = {k: result["copied"][k] + again["copied"][k] for k in ("objects", "bytes")}
    damaged = check["corrupt"] + check["offsite_missing"]
    result["warnings"] += [*again["warnings"], f"the offsite copy was damaged and has been repaired from the store: "
                                               f"{', '.join(damaged[:10])}"]
    result["changed"] = True
    return result


# --------------------------------------------------------------------------- verify


class Comparison:
    """The store's bucket against a generation: counts, bytes, and per-object content on both sides."""

    def __init__(self, job: Job, manifest: Manifest, checksums: bool = True) -> None:
        self.job, self.manifest, self.checksums = job, manifest, checksums
        self.listing: dict[str, Listed] = {}
        self.missing: set[str] = set()
        self.different: set[str] = set()
        self.corrupt: set[str] = set()
        self.corrupt_blobs: set[str] = set()
        self.offsite_missing: set[str] = set()
        self.errors: list[str] = []
        self.read_bytes = 0

    def run(self) -> dict:
        started = time.monotonic()
        job = self.job
        exists = bucket_exists(job.store_client, job.store, job.bucket)
        self.listing = list_objects(job.store_client, job.store, job.bucket) if exists else {}
        how = "SHA-256 of every object" if self.checksums else "sizes and ETags"
        job.progress(f"{job.bucket}: verifying {len(self.listing)} objects in the store against generation "
                     f"{self.manifest.generation} ({how})", force=True)
        self.compare_store()
        self.compare_offsite()
        result = self.summarize(exists)
        result["duration_seconds"] = round(time.monotonic() - started, 3)
        job.progress(f"{job.bucket}: verification {'equal' if result['equal'] else 'found differences'}: "
                     f"{json.dumps(result['counts'], sort_keys=True)}", force=True)
        return result

    def compare_store(self) -> None:
        entries, listing, job = self.manifest.entries, self.listing, self.job
        self.missing = set(entries) - set(listing)
        to_hash = []
        for key in set(entries) & set(listing):
            entry, item = entries[key], listing[key]
            if entry.size != item.size:
                self.different.add(key)
            elif self.checksums:
                to_hash.append(key)
            elif MD5_RE.match(entry.etag) and MD5_RE.match(item.etag) and entry.etag != item.etag:
                self.different.add(key)

        def work(key: str) -> tuple[str, int]:
            return hash_object(job.store_client, job.store, job.bucket, key)

        for key, got, exc in run_parallel(sorted(to_hash), work, job.workers):
            if exc is not None:
                if getattr(exc, "missing", False):
                    self.missing.add(key)
                else:
                    self.errors.append(f"store {key}: {exc}")
                continue
            self.read_bytes += got[1]
            if got != (entries[key].sha256, entries[key].size):
                self.different.add(key)

    def compare_offsite(self) -> None:
        """Every referenced blob present with its size, and with checksums with its bytes."""
        off = self.job.off
        blobs = off.blobs()
        by_sha: dict[str, list[str]] = {}
        for entry in self.manifest.entries.values():
            by_sha.setdefault(entry.sha256, []).append(entry.key)
        to_hash = []
        for sha, keys in by_sha.items():
            blob = blobs.get(sha)
            if blob is None:
                self.offsite_missing.update(keys)
            elif blob.size != self.manifest.entries[keys[0]].size:
                self.corrupt.update(keys)
                self.corrupt_blobs.add(sha)
            elif self.checksums:
                to_hash.append(sha)

        def work(sha: str) -> tuple[str, int]:
            return hash_object(off.client, off.endpoint, off.layout.bucket, off.layout.blob_key(sha))

        for sha, got, exc in run_parallel(sorted(to_hash), work, self.job.workers):
            if exc is not None:
                if getattr(exc, "missing", False):
                    self.offsite_missing.update(by_sha[sha])
                else:
                    self.errors.append(f"offsite blob {sha}: {exc}")
                continue
            self.read_bytes += got[1]
            if got[0] != sha:
                self.corrupt.update(by_sha[sha])
                self.corrupt_blobs.add(sha)

    def summarize(self, exists: bool) -> dict:
        listing, cap_ = self.listing, self.job.cap
        gen_start = parse_iso(self.manifest.started_at)
        extra = set(listing) - set(self.manifest.entries)

        # Objects written in the store after the generation started are expected drift, not a fault.
        def newer(key: str) -> bool:
            return parse_iso(listing[key].last_modified) >= gen_start

        changed_since = {k for k in extra | self.different if newer(k)}
        copy_faults = bool(self.corrupt or self.offsite_missing or self.errors)
        counts = {
            "missing": len(self.missing), "extra": len(extra), "different": len(self.different),
            "changed_since_generation": len(changed_since), "corrupt": len(self.corrupt),
            "offsite_missing": len(self.offsite_missing), "errors": len(self.errors),
        }
        return {
            "generation": self.manifest.generation, "bucket": self.job.bucket, "store_bucket_exists": exists,
            "checksums": self.checksums,
            "store": {"objects": len(listing), "bytes": sum_sizes(listing.values())},
            "copy": {"objects": self.manifest.objects, "bytes": self.manifest.bytes},
            "missing": cap_(self.missing), "extra": cap_(extra), "different": cap_(self.different),
            "changed_since_generation": cap_(changed_since), "corrupt": cap_(self.corrupt),
            "corrupt_blobs": sorted(self.corrupt_blobs), "offsite_missing": cap_(self.offsite_missing),
            "errors": self.errors[: self.job.report_limit], "counts": counts, "read_bytes": self.read_bytes,
            # equal: store and copy hold exactly the same objects with the same bytes.
            "equal": not (self.missing or extra or self.different or copy_faults),
            # copy_ok: everything the store held when the generation was taken is intact offsite.
            "copy_ok": not ((extra | self.different) - changed_since) and not copy_faults,
            # store_ok: every object of the generation is in the store with the same bytes (after a restore).
            "store_ok": not self.missing and not (self.different - changed_since) and not self.errors,
        }


def verify(job: Job, generation: str = "latest", checksums: bool = True) -> dict:
    """Compare the job's bucket with a generation (``latest`` = the newest)."""
    manifest = job.off.resolve(generation)
    return Comparison(job, manifest, checksums).run()


# --------------------------------------------------------------------------- restore


class Restore:
    """Bring the job's bucket back to a generation: copy what is missing (and, with ``overwrite``, what
    differs), never delete anything in the store, then verify."""

    def __init__(self, job: Job, generation: str = "latest", *, overwrite: bool = False, create: bool = True,
                 checksums: bool = True, check_mode: bool = False) -> None:
        self.job, self.overwrite, self.create, self.checksums, self.check_mode = (
            job, overwrite, create, checksums, check_mode)
        self.started = time.monotonic()
        self.manifest = job.off.resolve(generation)
        self.lock = threading.Lock()
        self.done = {"objects": 0, "bytes": 0}
        self.to_copy: list[str] = []
        self.result: dict = {
            "bucket": job.bucket, "generation": self.manifest.generation, "offsite": job.layout.url,
            "check_mode": check_mode, "changed": False, "bucket_created": False,
            "copied": {"objects": 0, "bytes": 0}, "objects": self.manifest.objects, "bytes": self.manifest.bytes,
            "verify": None,
        }

    def run(self) -> dict:
        job, m = self.job, self.manifest
        job.progress(f"{job.bucket}: restoring generation {m.generation} ({m.objects} objects, {m.bytes} bytes) "
                     f"into the {job.store.describe()}", force=True)
        exists = bucket_exists(job.store_client, job.store, job.bucket)
        if not exists and not self.create:
            raise MirrorError(f"bucket {job.bucket!r} does not exist on the {job.store.describe()}; create it or "
                              f"set create_bucket", self.result)
        lost = self.plan(list_objects(job.store_client, job.store, job.bucket) if exists else {})
        plan_bytes = sum(m.entries[k].size for k in self.to_copy)
        if self.check_mode:
            self.result.update({
                "would_create_bucket": not exists, "changed": bool(self.to_copy) or not exists,
                "would_copy": {"objects": len(self.to_copy), "bytes": plan_bytes, "keys": job.cap(self.to_copy)},
                "duration_seconds": round(time.monotonic() - self.started, 3)})
            return self.result
        if not exists:
            create_bucket(job.store_client, job.store, job.bucket)
            self.result.update({"bucket_created": True, "changed": True})
            job.progress(f"{job.bucket}: created the bucket in the {job.store.describe()}", force=True)
        job.progress(f"{job.bucket}: copying {len(self.to_copy)} objects ({plan_bytes} bytes)", force=True)
        errors = [f"{key}: {exc}" for key, _done, exc in run_parallel(self.to_copy, self.copy_one, job.workers)
                  if exc is not None]
        self.result["copied"] = dict(self.done)
        self.result["changed"] = self.result["changed"] or self.done["objects"] > 0
        job.progress(f"{job.bucket}: restored {self.done['objects']} objects ({self.done['bytes']} bytes)",
                     force=True)
        self.result["verify"] = Comparison(job, m, self.checksums).run()
        self.result["duration_seconds"] = round(time.monotonic() - self.started, 3)
        if errors or lost:
            problems = errors + [f"{k}: its blob is missing offsite" for k in lost]
            raise MirrorError(f"{len(problems)} object(s) of generation {m.generation} could not be restored: "
                              f"{'; '.join(sorted(problems)[:5])}", self.result)
        return self.result

    def plan(self, listing: dict[str, Listed]) -> list[str]:
        """Decide what to copy; returns the keys whose blob is missing offsite."""
        job, entries = self.job, self.manifest.entries
        blobs = job.off.blobs()
        lost = sorted(k for k, e in entries.items() if e.sha256 not in blobs)
        both = set(entries) & set(listing)
        to_copy = set(entries) - set(listing)
        different = {k for k in both if entries[k].size != listing[k].size}
        if self.checksums:
            same_size = sorted(both - different)

            def work(key: str) -> tuple[str, int]:
                return hash_object(job.store_client, job.store, job.bucket, key)

            for key, got, exc in run_parallel(same_size, work, job.workers):
                if exc is not None:
                    if not getattr(exc, "missing", False):
                        raise MirrorError(str(exc), self.result)
                    to_copy.add(key)
                elif got[0] != entries[key].sha256:
                    different.add(key)
        kept = set() if self.overwrite else different
        if self.overwrite:
            to_copy |= different
        self.to_copy = sorted(to_copy - set(lost))
        extra = set(listing) - set(entries)
        self.result.update({
            "extra_kept": job.cap(extra), "different_kept": job.cap(kept),
            "counts": {"to_copy": len(self.to_copy), "different": len(different), "different_kept": len(kept),
                       "extra_kept": len(extra), "offsite_missing": len(lost)},
        })
        if lost:
            self.result["offsite_missing"] = job.cap(lost)
        return lost

    def copy_one(self, key: str) -> None:
        job, entry = self.job, self.manifest.entries[key]
        with Spool(job.tmp_dir) as spool:
            fetch(job.off.client, job.offsite, job.layout.bucket, job.layout.blob_key(entry.sha256), spool)
            sha = spool.sha256.hexdigest()
            if sha != entry.sha256 or spool.size != entry.size:
                raise MirrorError(f"offsite blob {entry.sha256} is corrupt (SHA-256 {sha}, {spool.size} bytes); "
                                  f"{key} was not written; restore it from an older generation")
            upload(job.store_client, job.store, job.bucket, key, spool, content_type=entry.content_type,
                   metadata=entry.metadata)
        with self.lock:
            self.done["objects"] += 1
            self.done["bytes"] += entry.size
        job.progress(f"{job.bucket}: restored {self.done['objects']}/{len(self.to_copy)} objects "
                     f"({self.done['bytes']} bytes)")


def restore(job: Job, generation: str = "latest", **kwargs) -> dict:
    """See :class:`Restore`."""
    return Restore(job, generation, **kwargs).run()


def generations_info(offsite: Endpoint, layout: Layout) -> list[dict]:
    off = Offsite(offsite, layout, offsite.client(2))
    return [asdict(g) for g in off.generations(with_details=True)]
