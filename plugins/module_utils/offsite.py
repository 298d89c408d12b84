# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offsite copies (plan 2.4): upload to S3-compatible storage, read back to verify, purge.

Used by the backup program on the managed host (``fleetpulse-backup``). boto3 is
optional at import time (``HAS_BOTO3``): Debian's python3-boto3 is enough.

* Upload: streamed (multipart above 64 MiB), with a storage class (STANDARD_IA by
  default; S3 servers that do not know it may ignore it) and the plaintext's sha256 in
  the object metadata (``x-amz-meta-sha256``).
* Optional client-side encryption: ``gpg --symmetric --cipher-algo AES256`` with a
  passphrase from the vault, given to gpg through a pipe (never a command line or a
  file). Anyone with the passphrase decrypts with
  ``gpg --batch --pinentry-mode loopback --passphrase-file KEYFILE -d FILE.gpg``.
* Verification reads the object back from the store and compares its size and sha256
  (after decryption, for encrypted objects) with what the manifest says: the store's
  own bytes, not a checksum we sent along, are what is checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# boto3 is optional on managed hosts; HAS_BOTO3 and BOTO3_IMPORT_ERROR are re-exported for the modules.
from ansible_collections.fleetpulse.dr.plugins.module_utils.s3deps import (  # noqa: F401  pylint: disable=unused-import
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    BotoCoreError,
    ClientError,
    Config,
    TransferConfig,
    boto3,
)

CHUNK = 1024 * 1024
PART_SIZE = 64 * 1024 * 1024
ENCRYPTION_GPG = "gpg-symmetric-aes256"


class OffsiteError(Exception):
    """An offsite operation failed; the message names the cause and the fix."""


@dataclass
class OffsiteSettings:
    bucket: str
    prefix: str = "fleetpulse"
    endpoint: str = ""
    region: str = "us-east-1"
    access_key: str = ""
    secret_key: str = ""
    storage_class: str = "STANDARD_IA"
    encryption_key: str = ""
    connect_timeout: int = 10
    max_attempts: int = 3

    @property
    def encrypted(self) -> bool:
        return bool(self.encryption_key)

    def key(self, area: str, name: str) -> str:
        """``<prefix>/<area>/<name>`` (plan 2.4: s3://$S3_BUCKET/fleetpulse/db-backups/)."""
        return "/".join(p.strip("/") for p in (self.prefix, area, name) if p.strip("/"))


@dataclass
class RemoteObject:
    key: str
    size: int


def explain(exc: Exception, settings: OffsiteSettings, key: str = "") -> str:
    """A one-line reason with the fix, naming the variables to check (never the secrets)."""
    where = f"s3://{settings.bucket}/{key}" if key else f"bucket {settings.bucket!r}"
    store = settings.endpoint or "AWS S3"
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "InvalidToken",
                    "ExpiredToken"):
            return (f"the offsite store {store} refused the credentials for {where} ({code}): check "
                    "fleetpulse_offsite_s3_access_key and fleetpulse_offsite_s3_secret_key (vault) and the "
                    "bucket policy")
        if code in ("NoSuchBucket",):
            return (f"the offsite bucket {settings.bucket!r} does not exist at {store}: create it or fix "
                    "fleetpulse_offsite_s3_bucket")
        if code in ("InvalidStorageClass",):
            return (f"the offsite store {store} does not accept storage class {settings.storage_class!r}: set "
                    "db_backup_offsite_storage_class (fleetpulse_offsite_s3_storage_class) to one it knows")
        return f"the offsite store {store} answered {code or 'an error'} for {where}: {err.get('Message', exc)}"
    return (f"the offsite store {store} is unreachable for {where} ({type(exc).__name__}: {exc}): check "
            "fleetpulse_offsite_s3_endpoint, DNS and the network (firewall, proxy)")


class Store:
    """One S3 bucket through boto3, with errors turned into OffsiteError."""

    def __init__(self, settings: OffsiteSettings) -> None:
        if not HAS_BOTO3:
            raise OffsiteError("boto3 is not installed on this host: install python3-boto3 (the db_backup role "
                               "does when offsite copies are enabled)")
        self.settings = settings
        config = Config(retries={"max_attempts": settings.max_attempts, "mode": "standard"},
                        connect_timeout=settings.connect_timeout, read_timeout=120,
                        s3={"addressing_style": "path"} if settings.endpoint else None)
        self.client = boto3.client(
            "s3", endpoint_url=settings.endpoint or None, region_name=settings.region or None,
            aws_access_key_id=settings.access_key or None, aws_secret_access_key=settings.secret_key or None,
            config=config)

    def _call(self, key: str, func: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return func(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise OffsiteError(explain(exc, self.settings, key)) from None

    def check(self) -> None:
        """Fail early (before any upload) when the bucket cannot be reached with these credentials."""
        self._call("", self.client.head_bucket, Bucket=self.settings.bucket)

    def head(self, key: str) -> dict[str, Any] | None:
        try:
            return self.client.head_object(Bucket=self.settings.bucket, Key=key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise OffsiteError(explain(exc, self.settings, key)) from None
        except BotoCoreError as exc:
            raise OffsiteError(explain(exc, self.settings, key)) from None

    def list(self, prefix: str) -> list[RemoteObject]:
        found: list[RemoteObject] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.settings.bucket,
                                                                              Prefix=prefix):
                found.extend(RemoteObject(o["Key"], int(o["Size"])) for o in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise OffsiteError(explain(exc, self.settings, prefix)) from None
        return found

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        self._call(key, self.client.put_object, Bucket=self.settings.bucket, Key=key, Body=data,
                   ContentType=content_type, StorageClass=self.settings.storage_class)

    def get_bytes(self, key: str, limit: int = 16 * 1024 * 1024) -> bytes:
        body = self._call(key, self.client.get_object, Bucket=self.settings.bucket, Key=key)["Body"]
        try:
            return body.read(limit)
        finally:
            body.close()

    def upload_stream(self, key: str, stream: Any, metadata: dict[str, str]) -> None:
        extra = {"Metadata": metadata, "StorageClass": self.settings.storage_class,
                 "ContentType": "application/octet-stream"}
        cfg = TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_concurrency=2,
                             use_threads=True)
        try:
            self.client.upload_fileobj(stream, self.settings.bucket, key, ExtraArgs=extra, Config=cfg)
        except (ClientError, BotoCoreError) as exc:
            raise OffsiteError(explain(exc, self.settings, key)) from None
        except Exception as exc:  # boto3's S3UploadFailedError wraps the ClientError
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ClientError | BotoCoreError):
                raise OffsiteError(explain(cause, self.settings, key)) from None
            raise OffsiteError(f"upload of s3://{self.settings.bucket}/{key} failed: {exc}") from None

    def stream(self, key: str) -> Iterator[bytes]:
        body = self._call(key, self.client.get_object, Bucket=self.settings.bucket, Key=key)["Body"]
        try:
            try:
                yield from body.iter_chunks(CHUNK)
            except (ClientError, BotoCoreError) as exc:
                raise OffsiteError(explain(exc, self.settings, key)) from None
        finally:
            body.close()

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = keys[start:start + 1000]
            answer = self._call(batch[0], self.client.delete_objects, Bucket=self.settings.bucket,
                                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise OffsiteError(f"could not delete {len(errors)} offsite object(s), e.g. {first.get('Key')}: "
                                   f"{first.get('Code')} {first.get('Message', '')}")


# --------------------------------------------------------------------------- gpg

class Gpg:
    """Symmetric gpg (AES-256) with the passphrase handed over through a pipe."""

    def __init__(self, passphrase: str) -> None:
        if not passphrase:
            raise OffsiteError("no encryption key: set db_backup_offsite_encryption_key (vault)")
        if shutil.which("gpg") is None:
            raise OffsiteError("gpg is not installed on this host: apt-get install gpg (the db_backup role does "
                               "when encryption is enabled)")
        self.passphrase = passphrase
        self.home = tempfile.mkdtemp(prefix="fleetpulse-gpg-")

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", self.home, "--kill", "all"], capture_output=True, check=False)
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Gpg:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, mode: str, stdin: Any) -> subprocess.Popen:
        """gpg encrypting (``mode='encrypt'``) or decrypting stdin to its stdout."""
        read_fd, write_fd = os.pipe()
        os.write(write_fd, self.passphrase.encode() + b"\n")
        os.close(write_fd)
        args = ["gpg", "--homedir", self.home, "--batch", "--no-tty", "--quiet", "--pinentry-mode", "loopback",
                "--passphrase-fd", str(read_fd), "--no-symkey-cache"]
        if mode == "encrypt":
            args += ["--symmetric", "--cipher-algo", "AES256", "--s2k-digest-algo", "SHA512",
                     "--compress-algo", "none", "--output", "-"]
        else:
            args += ["--decrypt", "--output", "-"]
        try:
            return subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    pass_fds=(read_fd,))
        finally:
            os.close(read_fd)


class HashingReader:
    """A file-like reader over a pipe that hashes and counts what passes through (for upload_fileobj)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size if size and size > 0 else CHUNK)
        self.digest.update(data)
        self.size += len(data)
        return data


@dataclass
class Upload:
    key: str
    stored_size: int
    stored_sha256: str
    encrypted: bool


def upload_file(store: Store, path: str, key: str, plain_sha256: str, gpg: Gpg | None) -> Upload:
    """Upload ``path`` (encrypted on the way when ``gpg``), hashing exactly the bytes sent."""
    metadata = {"sha256": plain_sha256, "encryption": ENCRYPTION_GPG if gpg else "none"}
    with open(path, "rb") as source:
        if gpg is None:
            reader = HashingReader(source)
            store.upload_stream(key, reader, metadata)
            return Upload(key, reader.size, reader.digest.hexdigest(), False)
        proc = gpg.start("encrypt", source)
        reader = HashingReader(proc.stdout)
        try:
            store.upload_stream(key, reader, metadata)
        finally:
            proc.stdout.close()  # type: ignore[union-attr]
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            rc = proc.wait()
        if rc != 0:
            store.delete([key])
            raise OffsiteError(f"gpg could not encrypt {path} (exit {rc}): {' '.join(err.split())[-300:]}")
        return Upload(key, reader.size, reader.digest.hexdigest(), True)


@dataclass
class Readback:
    stored_size: int
    stored_sha256: str
    plain_size: int
    plain_sha256: str


def read_back(store: Store, key: str, gpg: Gpg | None,
              consume: Callable[[bytes], None] | None = None) -> Readback:
    """Read an object back from the store; decrypt it when ``gpg``; hash both sides.

    ``consume`` receives the plaintext chunks (the configuration backup checks its
    archive's members with it).
    """
    stored = hashlib.sha256()
    stored_size = 0
    if gpg is None:
        for chunk in store.stream(key):
            stored.update(chunk)
            stored_size += len(chunk)
            if consume:
                consume(chunk)
        return Readback(stored_size, stored.hexdigest(), stored_size, stored.hexdigest())
    proc = gpg.start("decrypt", subprocess.PIPE)
    plain = hashlib.sha256()
    plain_size = 0
    failure: list[BaseException] = []

    def feed() -> None:
        nonlocal stored_size
        try:
            for chunk in store.stream(key):
                stored.update(chunk)
                stored_size += len(chunk)
                proc.stdin.write(chunk)  # type: ignore[union-attr]
        except BaseException as exc:  # handed to the main thread
            failure.append(exc)
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    for chunk in iter(lambda: proc.stdout.read(CHUNK), b""):  # type: ignore[union-attr]
        plain.update(chunk)
        plain_size += len(chunk)
        if consume:
            consume(chunk)
    feeder.join()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    rc = proc.wait()
    if failure:
        exc = failure[0]
        raise exc if isinstance(exc, OffsiteError) else OffsiteError(f"reading back {key} failed: {exc}")
    if rc != 0:
        raise OffsiteError(f"the offsite copy {key} does not decrypt with the configured key (gpg exit {rc}: "
                           f"{' '.join(err.split())[-300:]}): check db_backup_offsite_encryption_key")
    return Readback(stored_size, stored.hexdigest(), plain_size, plain.hexdigest())
