# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A directory (a Docker volume's data) as a tar stream straight to S3, and back.

No local copy of the archive is ever made: the tar stream is cut into multipart-upload
parts of ``PART_SIZE`` bytes (the only memory it needs) while its SHA-256 is computed.
The archive counts only once it has been read back from the store with the same
SHA-256; then a sidecar ``<archive>.sha256`` (sha256sum format) is written next to it.
Archives without a sidecar are incomplete and never restored.

Extraction streams the archive from the store into an empty directory while hashing
it, and compares the hash with the sidecar at the end: on a mismatch the directory is
emptied again and the run fails, so a corrupt archive never leaves a half-restored
volume behind. Members are checked like tarfile's ``tar`` filter (no absolute paths,
no ``..``, no links out of the directory, no device files).

Nothing here imports Ansible.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import re
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ansible_collections.fleetpulse.dr.plugins.module_utils.object_store import (
    CHUNK,
    UTC,
    BotoCoreError,
    ClientError,
    Endpoint,
    ObjectStoreError,
    delete_keys,
    explain,
    list_objects,
    put_small,
)

PART_SIZE = 32 * 1024 * 1024
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class Archive:
    key: str
    name: str
    stamp: str
    size: int
    sha256: str | None  # from the sidecar; None: incomplete


def archive_re(name: str) -> re.Pattern:
    return re.compile(rf"^{re.escape(name)}-(\d{{8}}T\d{{6}}Z)\.tar(\.gz)?$")


class MultipartWriter(io.RawIOBase):
    """A writable stream that becomes one S3 object through a multipart upload, hashing what passes."""

    def __init__(self, client, endpoint: Endpoint, bucket: str, key: str, storage_class: str = "") -> None:
        super().__init__()
        self.client, self.endpoint, self.bucket, self.key = client, endpoint, bucket, key
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.buffer = bytearray()
        self.parts: list[dict] = []
        extra = {"StorageClass": storage_class} if storage_class and storage_class != "STANDARD" else {}
        try:
            self.upload_id = client.create_multipart_upload(Bucket=bucket, Key=key,
                                                            ContentType="application/x-tar", **extra)["UploadId"]
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError(explain(exc, endpoint, bucket, key, "write")) from None

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = bytes(data)
        self.sha256.update(view)
        self.size += len(view)
        self.buffer += view
        while len(self.buffer) >= PART_SIZE:
            self._send(bytes(self.buffer[:PART_SIZE]))
            del self.buffer[:PART_SIZE]
        return len(view)

    def _send(self, data: bytes) -> None:
        number = len(self.parts) + 1
        md5 = hashlib.md5(data).digest()  # noqa: S324 - Content-MD5 integrity check, not security
        try:
            resp = self.client.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                           PartNumber=number, Body=data,
                                           ContentMD5=base64.b64encode(md5).decode())
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError(explain(exc, self.endpoint, self.bucket, self.key, "write")) from None
        self.parts.append({"PartNumber": number, "ETag": resp["ETag"]})

    def finish(self) -> None:
        if self.buffer or not self.parts:
            self._send(bytes(self.buffer))
            self.buffer.clear()
        try:
            self.client.complete_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                                  MultipartUpload={"Parts": self.parts})
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError(explain(exc, self.endpoint, self.bucket, self.key, "write")) from None

    def abort(self) -> None:
        with contextlib.suppress(ClientError, BotoCoreError):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


class HashingReader(io.RawIOBase):
    """A readable stream over an S3 object body, hashing what is read."""

    def __init__(self, body) -> None:
        super().__init__()
        self.chunks = body.iter_chunks(CHUNK)
        self.body = body
        self.pending = b""
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.pending:
            self.pending = next(self.chunks, b"")
            if not self.pending:
                return 0
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.sha256.update(self.pending[:n])
        self.size += n
        self.pending = self.pending[n:]
        return n

    def drain(self) -> None:
        while self.readinto(bytearray(CHUNK)):
            pass


def directory_size(path: str) -> tuple[int, int]:
    files = size = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            full = os.path.join(root, name)
            if os.path.isfile(full) and not os.path.islink(full):
                files += 1
                size += os.path.getsize(full)
    return files, size


@dataclass
class Shelf:
    """Archives under ``prefix`` in an offsite bucket."""

    client: object
    endpoint: Endpoint
    bucket: str
    prefix: str

    @property
    def base(self) -> str:
        prefix = self.prefix.strip("/")
        return f"{prefix}/" if prefix else ""

    def archives(self, name: str) -> list[Archive]:
        """Archives of ``name``, oldest first; ``sha256`` is None for incomplete ones (no sidecar)."""
        listing = list_objects(self.client, self.endpoint, self.bucket, f"{self.base}{name}-")
        pattern = archive_re(name)
        found = []
        for key, item in listing.items():
            m = pattern.match(key[len(self.base):])
            if m:
                sha = self.sidecar(key) if f"{key}.sha256" in listing else None
                found.append(Archive(key=key, name=key[len(self.base):], stamp=m.group(1), size=item.size, sha256=sha))
        found.sort(key=lambda a: a.stamp)
        return found

    def sidecar(self, key: str) -> str | None:
        try:
            words = self.client.get_object(Bucket=self.bucket, Key=f"{key}.sha256")["Body"].read(4096).decode().split()
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError(explain(exc, self.endpoint, self.bucket, f"{key}.sha256", "read")) from None
        return words[0] if words and re.match(r"^[0-9a-f]{64}$", words[0]) else None

    def upload(self, name: str, src: str, *, compression: str = "none", storage_class: str = "",
               now: datetime | None = None, log: Callable[[str], None] | None = None) -> dict:
        """Archive ``src`` as ``<prefix>/<name>-<UTC time>.tar[.gz]``, read it back, then write the sidecar."""
        if not os.path.isdir(src):
            raise ObjectStoreError(f"{src} is not a directory: nothing to archive")
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        key = f"{self.base}{name}-{stamp}.tar{'.gz' if compression == 'gz' else ''}"
        files, size = directory_size(src)
        if log:
            log(f"archiving {src} ({files} files, {size} bytes) to s3://{self.bucket}/{key}")
        writer = MultipartWriter(self.client, self.endpoint, self.bucket, key, storage_class)
        try:
            mode = "w|gz" if compression == "gz" else "w|"
            with tarfile.open(fileobj=writer, mode=mode, format=tarfile.PAX_FORMAT) as tar:
                tar.add(src, arcname=".", recursive=True)
            writer.finish()
        except BaseException:
            writer.abort()
            raise
        sha = writer.sha256.hexdigest()
        # Read it back: the archive counts only when the store returns the same bytes.
        got, got_size = self.read_back(key)
        if got != sha or got_size != writer.size:
            delete_keys(self.client, self.endpoint, self.bucket, [key])
            raise ObjectStoreError(f"s3://{self.bucket}/{key} read back as SHA-256 {got} ({got_size} bytes), {sha} "
                                   f"({writer.size} bytes) was sent; the archive was deleted, run again")
        put_small(self.client, self.endpoint, self.bucket, f"{key}.sha256",
                  f"{sha}  {key.rsplit('/', 1)[-1]}\n".encode(), content_type="text/plain")
        if log:
            log(f"archive s3://{self.bucket}/{key} verified: {writer.size} bytes, SHA-256 {sha}")
        return {"key": key, "name": key[len(self.base):], "size": writer.size, "sha256": sha, "files": files,
                "source_bytes": size}

    def read_back(self, key: str) -> tuple[str, int]:
        try:
            reader = HashingReader(self.client.get_object(Bucket=self.bucket, Key=key)["Body"])
            reader.drain()
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError(explain(exc, self.endpoint, self.bucket, key, "read")) from None
        return reader.sha256.hexdigest(), reader.size

    def prune(self, name: str, keep: int) -> list[str]:
        """Delete complete archives beyond the newest ``keep``, and incomplete ones older than the newest one."""
        archives = self.archives(name)
        complete = [a for a in archives if a.sha256]
        if not complete:
            return []
        doomed = complete[:-keep] if keep > 0 else []
        doomed += [a for a in archives if not a.sha256 and a.stamp < complete[-1].stamp]
        keys = []
        for archive in doomed:
            keys.append(archive.key)
            if archive.sha256:
                keys.append(f"{archive.key}.sha256")
        if keys:
            delete_keys(self.client, self.endpoint, self.bucket, keys)
        return sorted(a.name for a in doomed)

    def extract(self, archive: Archive, dest: str, log: Callable[[str], None] | None = None) -> dict:
        """Extract a complete archive into the empty directory ``dest``, verified against its sidecar."""
        where = f"s3://{self.bucket}/{archive.key}"
        if archive.sha256 is None:
            raise ObjectStoreError(f"{where} has no .sha256 sidecar: it was never verified (an interrupted "
                                   f"upload); choose another archive")
        os.makedirs(dest, exist_ok=True)
        if os.listdir(dest):
            raise ObjectStoreError(f"{dest} is not empty: extract only into a new (empty) volume, so nothing there "
                                   f"is overwritten")
        if log:
            log(f"extracting {where} ({archive.size} bytes) into {dest}")
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=archive.key)["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError(explain(exc, self.endpoint, self.bucket, archive.key, "read")) from None
        reader = HashingReader(body)
        try:
            files = extract_stream(reader, dest)
            reader.drain()
        except (tarfile.TarError, OSError, EOFError, ClientError, BotoCoreError, ObjectStoreError) as exc:
            empty_directory(dest)
            raise ObjectStoreError(f"extracting {where} failed ({exc}); {dest} was emptied again") from None
        sha = reader.sha256.hexdigest()
        if sha != archive.sha256:
            empty_directory(dest)
            raise ObjectStoreError(f"{where} is corrupt: SHA-256 {sha}, recorded {archive.sha256}; {dest} was "
                                   f"emptied again; restore an older archive")
        if log:
            log(f"extracted {files} files ({reader.size} bytes read), SHA-256 verified")
        return {"key": archive.key, "name": archive.name, "size": reader.size, "sha256": sha, "files": files}


def extract_stream(reader: io.RawIOBase, dest: str) -> int:
    """Extract a tar stream member by member after checking each; returns the number of files."""
    files = 0
    # Members are checked by _check_member (a `tar` filter that keeps owners and modes, which the
    # volume's server needs), so tarfile's own filter is told to trust them.
    trust = {"filter": "fully_trusted"} if hasattr(tarfile, "data_filter") else {}
    with tarfile.open(fileobj=reader, mode="r|*") as tar:
        for member in tar:
            _check_member(member, dest)
            if member.name in (".", "./"):
                continue
            tar.extract(member, dest, set_attrs=True, numeric_owner=True, **trust)
            files += member.isfile()
    return files


def _check_member(member: tarfile.TarInfo, dest: str) -> None:
    name = member.name
    target = os.path.realpath(os.path.join(dest, name))
    root = os.path.realpath(dest)
    if os.path.isabs(name) or ".." in name.split("/") or not (target == root or target.startswith(root + os.sep)):
        raise ObjectStoreError(f"archive member {name!r} points outside the target directory; refusing it")
    if member.ischr() or member.isblk() or member.isfifo():
        raise ObjectStoreError(f"archive member {name!r} is a device or FIFO; refusing it")
    if member.issym() or member.islnk():
        link = member.linkname
        base = os.path.dirname(target) if member.issym() else root
        resolved = os.path.realpath(os.path.join(base, link))
        if os.path.isabs(link) or not (resolved == root or resolved.startswith(root + os.sep)):
            raise ObjectStoreError(f"archive member {name!r} links outside the target directory ({link!r})")


def empty_directory(path: str) -> None:
    for entry in os.listdir(path):
        full = os.path.join(path, entry)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            os.unlink(full)
