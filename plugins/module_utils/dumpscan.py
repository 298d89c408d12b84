# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a pg_dump backup once, in constant memory, and say what it holds.

One sequential pass over the stored bytes computes their sha256, decompresses
them (zlib, bounded output per step), and parses what pg_dump wrote:

* plain SQL (``.sql`` or gzip-compressed ``.sql.gz``, the plan's format): the header
  (server and pg_dump versions), the tables (``CREATE TABLE public."Tenant"``), the rows
  of every ``COPY ... FROM stdin`` block, and the completion trailer pg_dump writes last;
* custom archives (``pg_dump -Fc``): the archive header and table of contents, parsed
  here (no pg_restore needed on the host), then every data block that follows, so a
  missing or cut data member is found without a second read;
* directory archives (``pg_dump -Fd``): ``toc.dat`` the same way, then every data file
  it references, decompressed to its end.

Standard library only. Nothing here knows about Ansible; the modules turn a
:class:`ScanResult` into checks.
"""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ansible_collections.fleetpulse.dr.plugins.module_utils.manifest import directory_files as _directory_files
from ansible_collections.fleetpulse.dr.plugins.module_utils.manifest import sha256_directory

READ_CHUNK = 1024 * 1024
# Upper bound of decompressed bytes produced per zlib call: keeps memory constant
# even for a highly compressible (or malicious) stream.
INFLATE_STEP = 4 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
PGDMP_MAGIC = b"PGDMP"
PLAIN_HEADER = b"--\n-- PostgreSQL database dump\n--\n"
TRAILER = "-- PostgreSQL database dump complete"
COPY_END = b"\n\\.\n"


class ScanError(Exception):
    """The bytes cannot be read as the format they claim to be."""


@dataclass
class ScanResult:
    """What one pass over a backup found. ``None`` means "not known" (not "zero")."""

    format: str = "unknown"  # plain, plain.gz, custom, directory, unknown
    compression: str = "none"  # none, gzip, lz4, zstd
    size: int = 0
    sha256: str = ""
    pg_dump_version: str | None = None
    server_version: str | None = None
    database: str | None = None
    archive_created_at: str | None = None
    tables: list[str] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    decompressed_bytes: int = 0
    decompress_ok: bool | None = None
    decompress_error: str | None = None
    complete: bool | None = None
    complete_error: str | None = None
    toc_entries: int | None = None
    data_members: int | None = None
    format_error: str | None = None
    notes: list[str] = field(default_factory=list)
    depth: str = "full"  # full: every byte decompressed and parsed; quick: sha256 + header/table of contents

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# --------------------------------------------------------------------------- sources

def file_chunks(path: str, chunk: int = READ_CHUNK) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while True:
            block = handle.read(chunk)
            if not block:
                return
            yield block


class HashingSource:
    """Wrap an iterator of byte chunks: every chunk passing through is hashed and counted."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self.digest = hashlib.sha256()
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for block in self._chunks:
            if block:
                self.digest.update(block)
                self.size += len(block)
                yield block

    def drain(self) -> None:
        """Read (and hash) whatever the consumer left unread."""
        for _block in self:
            pass


# --------------------------------------------------------------------------- identifiers

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_QUALIFIED = re.compile(rf"({_IDENT})(?:\.({_IDENT}))?")


def unquote_ident(ident: str) -> str:
    if ident.startswith('"') and ident.endswith('"'):
        return ident[1:-1].replace('""', '"')
    return ident


def parse_qualified(text: str, default_schema: str = "public") -> tuple[str, str] | None:
    """``public."Tenant"`` -> ("public", "Tenant"); an unqualified name gets ``default_schema``."""
    m = _QUALIFIED.match(text)
    if not m:
        return None
    if m.group(2) is None:
        return default_schema, unquote_ident(m.group(1))
    return unquote_ident(m.group(1)), unquote_ident(m.group(2))


# --------------------------------------------------------------------------- COPY data

class CopyCounter:
    """Count the rows of COPY text data fed in arbitrary pieces, up to its ``\\.`` line.

    In COPY text format a row is exactly one line (newlines inside values are written
    as ``\\n``), and the data ends with a line holding only ``\\.``. Uses only
    ``bytes.find``/``bytes.count``, so gigabytes go by at memory speed.
    """

    def __init__(self) -> None:
        self.rows = 0
        self.done = False
        self.trailing = b""  # bytes after the terminator (plain dumps: the rest of the script)
        self._carry = b"\n"  # a virtual newline: the terminator may be the very first line
        self._data_pos = 1

    def feed(self, data: bytes) -> None:
        if self.done:
            self.trailing += data
            return
        buf = self._carry + data if self._carry else data
        idx = buf.find(COPY_END, max(self._data_pos - 1, 0))
        if idx >= 0:
            self.rows += buf.count(b"\n", self._data_pos, idx + 1)
            self.done = True
            self.trailing = buf[idx + len(COPY_END):]
            self._carry = b""
            return
        keep_from = max(len(buf) - (len(COPY_END) - 1), self._data_pos - 1, 0)
        if keep_from > self._data_pos:
            self.rows += buf.count(b"\n", self._data_pos, keep_from)
        self._data_pos = max(self._data_pos - keep_from, 0)
        self._carry = buf[keep_from:]


# --------------------------------------------------------------------------- plain SQL

_COPY_LINE = re.compile(r"^COPY (.+?)(?: \(.*\))? FROM stdin;$")
_CREATE_TABLE = re.compile(r"^CREATE (?:UNLOGGED )?TABLE (.+?) \($")
_DUMPED_FROM = "-- Dumped from database version "
_DUMPED_BY = "-- Dumped by pg_dump version "


class PlainScanner:
    """Parse a plain-format pg_dump script fed as decompressed chunks."""

    def __init__(self, result: ScanResult) -> None:
        self.result = result
        self._pending = b""
        self._copy: CopyCounter | None = None
        self._copy_table = ""
        self._lines_seen = 0
        self._head: list[str] = []
        self._tail: list[str] = []  # last non-empty lines outside COPY data
        self._restrict_key: str | None = None
        self._tables: dict[str, None] = {}

    def feed(self, data: bytes) -> None:
        self.result.decompressed_bytes += len(data)
        while data:
            if self._copy is not None:
                self._copy.feed(data)
                if not self._copy.done:
                    return
                self.result.row_counts[self._copy_table] = (
                    self.result.row_counts.get(self._copy_table, 0) + self._copy.rows)
                data = self._copy.trailing
                self._copy = None
                continue
            data = self._feed_lines(data)

    def _feed_lines(self, data: bytes) -> bytes:
        """Consume whole lines outside COPY data; return what follows a COPY line (if one came)."""
        buf = self._pending + data if self._pending else data
        pos = 0
        while True:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                self._pending = buf[pos:]
                if len(self._pending) > 16 * 1024 * 1024:
                    raise ScanError("a line longer than 16 MiB outside COPY data: not a pg_dump script")
                return b""
            line = buf[pos:nl].decode("utf-8", "replace")
            pos = nl + 1
            if self._on_line(line):
                self._pending = b""
                return buf[pos:]

    def _on_line(self, line: str) -> bool:  # noqa: PLR0911, PLR0912 - a flat list of format rules reads best as one function
        """Handle one line; True when it starts COPY data."""
        self._lines_seen += 1
        if self._lines_seen <= 4:
            self._head.append(line)
        if not line:
            return False
        self._tail.append(line)
        if len(self._tail) > 8:
            del self._tail[0]
        if line.startswith("--"):
            if line.startswith(_DUMPED_FROM):
                self.result.server_version = line[len(_DUMPED_FROM):].strip()
            elif line.startswith(_DUMPED_BY):
                self.result.pg_dump_version = line[len(_DUMPED_BY):].strip()
            return False
        if line.startswith("\\restrict ") and self._restrict_key is None:
            self._restrict_key = line.split(None, 1)[1].strip()
            return False
        if line.startswith("\\connect "):
            parts = line.split()
            if len(parts) > 1:
                self.result.database = unquote_ident(parts[-1])
            return False
        if line.startswith("COPY "):
            m = _COPY_LINE.match(line)
            if m:
                name = parse_qualified(m.group(1))
                self._copy_table = ".".join(name) if name else m.group(1)
                self._copy = CopyCounter()
                return True
            return False
        if line.startswith("CREATE "):
            m = _CREATE_TABLE.match(line)
            if m:
                name = parse_qualified(m.group(1))
                if name:
                    self._tables[".".join(name)] = None
        return False

    def starts_like_a_dump(self) -> bool:
        """Whether the first lines seen are pg_dump's header."""
        head = "\n".join(self._head[:3]) + "\n"
        return PLAIN_HEADER.decode() in head or head.startswith("--\n-- PostgreSQL database dump")

    def finish(self) -> None:
        res = self.result
        res.tables = sorted(self._tables)
        if self._pending.strip():
            line = self._pending.decode("utf-8", "replace")
            self._pending = b""
            self._on_line(line)
        head = "\n".join(self._head[:3]) + "\n"
        if not (PLAIN_HEADER.decode() in head or head.startswith("--\n-- PostgreSQL database dump")):
            res.complete = False
            if "PostgreSQL database cluster dump" in head:
                res.complete_error = "this is a pg_dumpall cluster dump, not a pg_dump database dump"
            else:
                res.complete_error = "it does not start with pg_dump's header '-- PostgreSQL database dump'"
            return
        if self._copy is not None:
            res.complete = False
            res.complete_error = (f"it ends inside the data of table {self._copy_table} "
                                  f"(after {self._copy.rows} rows): the dump was cut short")
            return
        tail = list(self._tail)
        unrestrict = None
        if tail and tail[-1].startswith("\\unrestrict"):
            unrestrict = tail.pop().split(None, 1)[-1].strip()
        if tail[-3:] != ["--", TRAILER, "--"]:
            last = tail[-1] if tail else ""
            res.complete = False
            res.complete_error = (f"it ends without pg_dump's completion trailer '{TRAILER}' "
                                  f"(last line: {last[:80]!r}): the dump was cut short")
            return
        if self._restrict_key is not None and unrestrict != self._restrict_key:
            res.complete = False
            res.complete_error = "its closing '\\unrestrict' line is missing or does not match the opening '\\restrict'"
            return
        res.complete = True


# --------------------------------------------------------------------------- gzip

class GzipInflater:
    """Decompress a gzip stream (several members allowed, as ``gzip -t`` does) in bounded steps."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.members = 1
        self.in_member = True
        self.consumed = 0

    def feed(self, data: bytes, sink: Callable[[bytes], None]) -> None:
        while data:
            if not self.in_member:
                if data[:1] == b"\x00" and not data.strip(b"\x00"):
                    return  # zero padding after the last member (tape blocks): accepted by gzip too
                if not data.startswith(GZIP_MAGIC[: len(data)]):
                    raise ScanError(f"unexpected data after the end of the gzip stream at byte {self.consumed}")
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self.members += 1
                self.in_member = True
            try:
                out = self._z.decompress(data, INFLATE_STEP)
                while out:
                    sink(out)
                    if not self._z.unconsumed_tail:
                        break
                    out = self._z.decompress(self._z.unconsumed_tail, INFLATE_STEP)
            except zlib.error as exc:
                raise ScanError(f"corrupt gzip data near byte {self.consumed} ({exc})") from exc
            if self._z.eof:
                used = len(data) - len(self._z.unused_data)
                self.consumed += used
                data = self._z.unused_data
                self.in_member = False
            else:
                self.consumed += len(data)
                data = b""

    def finish(self, sink: Callable[[bytes], None]) -> None:
        if self.in_member:
            tail = self._z.flush()
            if tail:
                sink(tail)
            raise ScanError(f"the gzip stream ends early after {self.consumed} bytes: the file is truncated")


def scan_plain(source: Iterable[bytes], result: ScanResult, compressed: bool) -> None:
    """Plain SQL (optionally gzip-compressed): decompress and parse in one pass."""
    scanner = PlainScanner(result)
    inflater = GzipInflater() if compressed else None
    result.compression = "gzip" if compressed else "none"
    try:
        for block in source:
            if inflater is None:
                scanner.feed(block)
            else:
                inflater.feed(block, scanner.feed)
        if inflater is not None:
            inflater.finish(scanner.feed)
        result.decompress_ok = True
    except ScanError as exc:
        result.decompress_ok = False
        result.decompress_error = str(exc)
    scanner.finish()
    if result.decompress_ok is False and result.complete:
        result.complete = False
        result.complete_error = "the data does not decompress to its end"


# --------------------------------------------------------------------------- archives

K_OFFSET_POS_NOT_SET, K_OFFSET_POS_SET, K_OFFSET_NO_DATA = 1, 2, 3
BLK_DATA, BLK_BLOBS = 1, 3
_COMPRESSION_ALGORITHMS = {0: "none", 1: "gzip", 2: "lz4", 3: "zstd"}


def _version(vmaj: int, vmin: int, vrev: int) -> int:
    return ((vmaj * 256 + vmin) * 256 + vrev) * 256


V1_3, V1_4, V1_5, V1_6, V1_7, V1_8, V1_9, V1_10, V1_11, V1_12, V1_14, V1_15, V1_16 = (
    _version(1, n, 0) for n in (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16))


class StreamReader:
    """Pull exact byte counts out of an iterator of chunks (the archive parser's input)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = bytearray()
        self._pos = 0
        self.offset = 0  # absolute position of the next byte

    def _fill(self, n: int) -> bool:
        while len(self._buf) - self._pos < n:
            try:
                block = next(self._it)
            except StopIteration:
                return False
            if self._pos > READ_CHUNK:
                del self._buf[: self._pos]
                self._pos = 0
            self._buf += block
        return True

    def read(self, n: int, what: str = "data") -> bytes:
        if not self._fill(n):
            raise ScanError(f"the archive ends early at byte {self.offset + len(self._buf) - self._pos} "
                            f"while reading {what}: the file is truncated")
        data = bytes(self._buf[self._pos:self._pos + n])
        self._pos += n
        self.offset += n
        return data

    def at_eof(self) -> bool:
        return not self._fill(1)


class ArchiveReader:
    """pg_dump's archive encoding: ints are a sign byte plus ``int_size`` little-endian bytes."""

    def __init__(self, stream: StreamReader) -> None:
        self.s = stream
        self.int_size = 4
        self.off_size = 8
        self.version = 0

    def byte(self, what: str) -> int:
        return self.s.read(1, what)[0]

    def int(self, what: str) -> int:
        raw = self.s.read(1 + self.int_size, what)
        value = int.from_bytes(raw[1:], "little")
        return -value if raw[0] else value

    def str(self, what: str) -> str | None:
        length = self.int(what)
        if length < 0:
            return None
        if length > 256 * 1024 * 1024:
            raise ScanError(f"implausible string length {length} while reading {what}: the archive is corrupt")
        return self.s.read(length, what).decode("utf-8", "replace")

    def offset(self, what: str) -> tuple[int, int]:
        flag = self.byte(what)
        raw = self.s.read(self.off_size, what)
        return flag, int.from_bytes(raw, "little")


@dataclass
class TocEntry:
    dump_id: int
    had_dumper: bool
    tag: str
    desc: str
    namespace: str
    data_state: int = 0
    data_offset: int = 0
    filename: str | None = None

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.tag}" if self.namespace else self.tag


def read_header_and_toc(rd: ArchiveReader, result: ScanResult, directory: bool) -> list[TocEntry]:  # noqa: PLR0912, PLR0915 - a flat list of format rules reads best as one function
    """Parse the archive header and table of contents (custom file or directory toc.dat)."""
    magic = rd.s.read(5, "the archive magic")
    if magic != PGDMP_MAGIC:
        raise ScanError("not a pg_dump archive (no 'PGDMP' magic)")
    vmaj, vmin = rd.byte("the version"), rd.byte("the version")
    vrev = rd.byte("the version") if vmaj > 1 or (vmaj == 1 and vmin > 0) else 0
    rd.version = _version(vmaj, vmin, vrev)
    if rd.version < V1_12 or vmaj > 1 or vmin > 16:
        raise ScanError(f"archive version {vmaj}.{vmin}.{vrev} is not supported (1.12 to 1.16: pg_dump 9.5 to 17)")
    rd.int_size = rd.byte("the integer size")
    rd.off_size = rd.byte("the offset size")
    if not (1 <= rd.int_size <= 8 and 1 <= rd.off_size <= 8):
        raise ScanError("implausible integer/offset sizes in the archive header: the archive is corrupt")
    fmt = rd.byte("the format")
    if directory and fmt not in (3, 5):
        raise ScanError(f"toc.dat says archive format {fmt}, not a directory archive")
    if not directory and fmt != 1:
        raise ScanError(f"the archive header says format {fmt}, not a custom-format archive")
    if rd.version >= V1_15:
        result.compression = _COMPRESSION_ALGORITHMS.get(rd.byte("the compression"), "unknown")
    else:
        level = rd.int("the compression")
        result.compression = "none" if level == 0 else "gzip"
    tm = [rd.int("the creation time") for _field in range(7)]  # sec, min, hour, mday, mon, year, isdst
    result.archive_created_at = (f"{tm[5] + 1900:04d}-{tm[4] + 1:02d}-{tm[3]:02d}T"
                                 f"{tm[2]:02d}:{tm[1]:02d}:{tm[0]:02d}")
    result.database = rd.str("the database name")
    result.server_version = rd.str("the server version")
    result.pg_dump_version = rd.str("the pg_dump version")
    count = rd.int("the number of TOC entries")
    if count < 0 or count > 10_000_000:
        raise ScanError(f"implausible TOC entry count {count}: the archive is corrupt")
    entries = []
    for i in range(count):
        what = f"TOC entry {i + 1} of {count}"
        dump_id = rd.int(what)
        had_dumper = bool(rd.int(what))
        rd.str(what)  # table oid
        rd.str(what)  # oid
        tag = rd.str(what) or ""
        desc = rd.str(what) or ""
        rd.int(what)  # section
        rd.str(what)  # definition
        rd.str(what)  # drop statement
        rd.str(what)  # copy statement
        namespace = rd.str(what) or ""
        rd.str(what)  # tablespace
        if rd.version >= V1_14:
            rd.str(what)  # table access method
        if rd.version >= V1_16:
            rd.int(what)  # relkind
        rd.str(what)  # owner
        rd.str(what)  # "with oids" (always "false" now)
        while rd.str(what) is not None:  # dependencies, terminated by a NULL string
            pass
        entry = TocEntry(dump_id, had_dumper, tag, desc, namespace)
        if directory:
            entry.filename = rd.str(what) or None
        else:
            entry.data_state, entry.data_offset = rd.offset(what)
        entries.append(entry)
    result.toc_entries = count
    result.tables = sorted({e.qualified for e in entries if e.desc in ("TABLE", "UNLOGGED TABLE")})
    return entries


def _data_entries(entries: list[TocEntry], directory: bool) -> list[TocEntry]:
    if directory:
        return [e for e in entries if e.filename]
    return [e for e in entries if e.had_dumper and e.data_state != K_OFFSET_NO_DATA]


def _member_decoder(compression: str) -> Callable[[], object] | None:
    if compression == "gzip":
        return zlib.decompressobj
    if compression == "none":
        return None
    raise ScanError(f"{compression} compression cannot be decompressed with the Python standard library")


def scan_custom(source: Iterable[bytes], result: ScanResult) -> None:
    """Custom archive: header + TOC, then walk every data block to the end of the file."""
    result.format = "custom"
    rd = ArchiveReader(StreamReader(source))
    try:
        entries = read_header_and_toc(rd, result, directory=False)
    except ScanError as exc:
        result.complete = False
        result.complete_error = f"the table of contents cannot be read: {exc}"
        result.decompress_ok = None
        return
    expected = {e.dump_id: e for e in _data_entries(entries, directory=False)}
    seen: set[int] = set()
    can_inflate = result.compression in ("none", "gzip")
    result.decompress_ok = True if can_inflate else None
    if not can_inflate:
        result.notes.append(f"{result.compression} data blocks are walked but not decompressed (stdlib has no "
                            f"{result.compression}); run pg_restore --list for a deeper check")
    try:
        while not rd.s.at_eof():
            start = rd.s.offset
            block_type = rd.byte("a data block header")
            dump_id = rd.int("a data block header")
            entry = expected.get(dump_id)
            if entry is None or block_type not in (BLK_DATA, BLK_BLOBS):
                raise ScanError(f"unexpected data block (type {block_type}, entry {dump_id}) at byte {start}: "
                                "the archive is corrupt")
            if entry.data_state == K_OFFSET_POS_SET and entry.data_offset != start:
                raise ScanError(f"the data of {entry.desc} {entry.qualified} starts at byte {start}, but the table "
                                f"of contents says {entry.data_offset}: the archive is corrupt")
            rows = _read_block(rd, result, block_type, entry, can_inflate)
            if entry.desc == "TABLE DATA" and rows is not None:
                result.row_counts[entry.qualified] = rows
            seen.add(dump_id)
    except ScanError as exc:
        result.complete = False
        result.complete_error = str(exc)
        if "decompress" in str(exc):
            result.decompress_ok = False
            result.decompress_error = str(exc)
        return
    missing = [e for i, e in expected.items() if i not in seen]
    result.data_members = len(seen)
    if missing:
        names = ", ".join(f"{e.desc} {e.qualified}" for e in missing[:5])
        result.complete = False
        result.complete_error = (f"{len(missing)} of {len(expected)} data members are missing ({names}"
                                 f"{', ...' if len(missing) > 5 else ''}): the archive was cut short")
        return
    result.complete = True


def _read_block(rd: ArchiveReader, result: ScanResult, block_type: int, entry: TocEntry,
                can_inflate: bool) -> int | None:
    """Read one data block's chunks (decompressing when possible); return COPY rows for table data."""
    what = f"the data of {entry.desc} {entry.qualified}"
    make = _member_decoder(result.compression) if can_inflate else None

    def read_stream(counter: CopyCounter | None) -> None:  # noqa: PLR0912 - a flat list of format rules reads best as one function
        z = make() if make else None
        while True:
            length = rd.int(what)
            if length == 0:
                break
            if length < 0 or length > 1 << 31:
                raise ScanError(f"implausible chunk length {length} in {what}: the archive is corrupt")
            data = rd.s.read(length, what)
            if not can_inflate:
                continue
            if z is not None:
                try:
                    out = z.decompress(data, INFLATE_STEP)
                    while True:
                        if out:
                            result.decompressed_bytes += len(out)
                            if counter:
                                counter.feed(out)
                        if not z.unconsumed_tail:
                            break
                        out = z.decompress(z.unconsumed_tail, INFLATE_STEP)
                except zlib.error as exc:
                    raise ScanError(f"{what} does not decompress ({exc})") from exc
            else:
                result.decompressed_bytes += len(data)
                if counter:
                    counter.feed(data)
        if z is not None and not z.eof:
            raise ScanError(f"{what} does not decompress: its compressed stream is incomplete")

    if block_type == BLK_BLOBS:
        while rd.int(f"{what} (large object oid)") != 0:
            read_stream(None)
        return None
    counter = CopyCounter() if entry.desc == "TABLE DATA" and can_inflate else None
    read_stream(counter)
    if counter is None:
        return None
    if not counter.done:
        raise ScanError(f"{what} ends without COPY's end-of-data line")
    return counter.rows


def _open_member(path: str) -> tuple[str, str] | None:
    for suffix, compression in (("", "none"), (".gz", "gzip"), (".lz4", "lz4"), (".zst", "zstd")):
        if os.path.isfile(path + suffix):
            if suffix == "" and path.endswith(".gz"):
                return path, "gzip"
            return path + suffix, compression
    return None


def _scan_member(path: str, compression: str, counter: CopyCounter | None, *, result: ScanResult,
                 digests: dict[str, str], rel: str) -> None:
    source = HashingSource(file_chunks(path))
    try:
        if compression == "gzip":
            inflater = GzipInflater()

            def sink(out: bytes) -> None:
                result.decompressed_bytes += len(out)
                if counter:
                    counter.feed(out)

            for block in source:
                inflater.feed(block, sink)
            inflater.finish(sink)
        elif compression == "none":
            for block in source:
                result.decompressed_bytes += len(block)
                if counter:
                    counter.feed(block)
        else:
            source.drain()
    finally:
        source.drain()
        digests[rel] = source.digest.hexdigest()
        result.size += source.size


def scan_directory(path: str, result: ScanResult) -> dict[str, str]:
    """Directory archive: toc.dat, then every data file it references; returns file digests."""
    result.format = "directory"
    digests: dict[str, str] = {}
    toc = os.path.join(path, "toc.dat")
    source = HashingSource(file_chunks(toc))
    rd = ArchiveReader(StreamReader(source))
    try:
        entries = read_header_and_toc(rd, result, directory=True)
    except ScanError as exc:
        result.complete = False
        result.complete_error = f"toc.dat cannot be read: {exc}"
        return digests
    finally:
        source.drain()
        digests["toc.dat"] = source.digest.hexdigest()
        result.size += source.size
    members = _data_entries(entries, directory=True)
    problems: list[str] = []
    result.decompress_ok = True
    for entry in members:
        found = _open_member(os.path.join(path, entry.filename or ""))
        if found is None:
            problems.append(f"{entry.filename} ({entry.desc} {entry.qualified}) is missing")
            continue
        member_path, compression = found
        is_blob_toc = entry.filename and entry.filename.endswith(".toc")
        counter = CopyCounter() if entry.desc == "TABLE DATA" and compression in ("none", "gzip") else None
        rel = os.path.relpath(member_path, path)
        try:
            _scan_member(member_path, compression, counter, result=result, digests=digests, rel=rel)
        except ScanError as exc:
            result.decompress_ok = False
            result.decompress_error = f"{rel}: {exc}"
            problems.append(f"{rel} is damaged ({exc})")
            continue
        if is_blob_toc:
            problems += _check_blob_files(path, member_path, result, digests)
        if counter is not None:
            if not counter.done:
                problems.append(f"{rel} ends without COPY's end-of-data line")
            else:
                result.row_counts[entry.qualified] = counter.rows
    if any(c not in ("none", "gzip") for c in [result.compression]):
        result.decompress_ok = None
        result.notes.append(f"{result.compression} members are checked for presence only")
    result.data_members = len(members)
    if problems:
        result.complete = False
        result.complete_error = (f"{len(problems)} of {len(members)} data members are missing or damaged: "
                                 + "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else ""))
    else:
        result.complete = True
    return digests


def _check_blob_files(path: str, blob_toc: str, result: ScanResult, digests: dict[str, str]) -> list[str]:
    problems = []
    with open(blob_toc, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) != 2:
                continue
            found = _open_member(os.path.join(path, parts[1]))
            if found is None:
                problems.append(f"large object file {parts[1]} is missing")
                continue
            try:
                _scan_member(found[0], found[1], None, result=result, digests=digests,
                             rel=os.path.relpath(found[0], path))
            except ScanError as exc:
                problems.append(f"large object file {parts[1]} is damaged ({exc})")
    return problems


# --------------------------------------------------------------------------- entry points

def sniff(first: bytes) -> str:
    """Format from the first bytes: plain.gz, custom, plain, or unknown."""
    if first.startswith(GZIP_MAGIC):
        return "plain.gz"
    if first.startswith(PGDMP_MAGIC):
        return "custom"
    if first.startswith(b"--\n-- PostgreSQL database") or first.startswith(b"--\r\n-- PostgreSQL database"):
        return "plain"
    return "unknown"


def _describe(first: bytes) -> str:
    if not first:
        return "it is empty"
    printable = first[:16].decode("ascii", "replace")
    return f"it starts with {printable!r} (hex {first[:8].hex()})"


def scan_stream(chunks: Iterable[bytes], name: str = "") -> ScanResult:
    """Scan a single-file backup (plain, plain.gz or custom) from an iterator of chunks."""
    result = ScanResult()
    source = HashingSource(chunks)
    it = iter(source)
    first = b""
    for block in it:  # gather enough bytes to recognise the format, whatever the chunk size
        first += block
        if len(first) >= 64:
            break

    def replay() -> Iterator[bytes]:
        if first:
            yield first
        yield from it

    fmt = sniff(first)
    result.format = fmt
    if fmt == "plain.gz":
        scan_plain(replay(), result, compressed=True)
    elif fmt == "plain":
        scan_plain(replay(), result, compressed=False)
    elif fmt == "custom":
        scan_custom(replay(), result)
    else:
        hint = " although its name ends in .gz" if name.endswith(".gz") else ""
        result.format_error = (f"not a PostgreSQL dump: neither gzip-compressed, a pg_dump custom archive nor a "
                               f"plain pg_dump script ({_describe(first)}){hint}")
        if name.endswith(".gz"):
            result.decompress_ok = False
            result.decompress_error = f"not gzip data ({_describe(first)})"
    source.drain()
    result.size = source.size
    result.sha256 = source.digest.hexdigest()
    return result


# --------------------------------------------------------------------------- quick scan

QUICK_HEAD = 256 * 1024  # decompressed bytes of a plain dump read for its header


def _quick_plain_head(source: Iterable[bytes], result: ScanResult, compressed: bool) -> None:
    """Parse the first QUICK_HEAD bytes of SQL (versions, \\connect) and leave the rest unread."""
    scanner = PlainScanner(result)
    inflater = GzipInflater() if compressed else None
    result.compression = "gzip" if compressed else "none"
    got = 0

    def sink(data: bytes) -> None:
        nonlocal got
        got += len(data)
        scanner.feed(data)

    try:
        for block in source:
            if inflater is None:
                sink(block)
            else:
                inflater.feed(block, sink)
            if got >= QUICK_HEAD:
                break
    except ScanError as exc:
        result.decompress_ok = False
        result.decompress_error = str(exc)
    if not scanner.starts_like_a_dump():
        result.complete = False
        result.complete_error = "it does not start with pg_dump's header '-- PostgreSQL database dump'"
    # Only the head was read: partial COPY counts and tables would mislead.
    result.decompressed_bytes = 0
    result.row_counts = {}
    result.tables = []


def quick_scan_stream(chunks: Iterable[bytes], name: str = "") -> ScanResult:
    """sha256 and size of every byte, plus the header (archives: the whole table of contents).

    Nothing past the header is decompressed or parsed: this proves the file is the one a
    manifest describes (whose writer ran the full scan) at the cost of one hashing read.
    """
    result = ScanResult(depth="quick")
    source = HashingSource(chunks)
    it = iter(source)
    first = b""
    for block in it:
        first += block
        if len(first) >= 64:
            break

    def replay() -> Iterator[bytes]:
        if first:
            yield first
        yield from it

    fmt = sniff(first)
    result.format = fmt
    if fmt in ("plain.gz", "plain"):
        _quick_plain_head(replay(), result, compressed=fmt == "plain.gz")
    elif fmt == "custom":
        rd = ArchiveReader(StreamReader(replay()))
        try:
            read_header_and_toc(rd, result, directory=False)
        except ScanError as exc:
            result.complete = False
            result.complete_error = f"the table of contents cannot be read: {exc}"
    else:
        hint = " although its name ends in .gz" if name.endswith(".gz") else ""
        result.format_error = (f"not a PostgreSQL dump: neither gzip-compressed, a pg_dump custom archive nor a "
                               f"plain pg_dump script ({_describe(first)}){hint}")
        if name.endswith(".gz"):
            result.decompress_ok = False
            result.decompress_error = f"not gzip data ({_describe(first)})"
    source.drain()
    result.size = source.size
    result.sha256 = source.digest.hexdigest()
    return result


def quick_scan_path(path: str) -> ScanResult:
    """:func:`quick_scan_stream` of a file; for a directory archive, toc.dat parsed and every file hashed."""
    if not os.path.isdir(path):
        return quick_scan_stream(file_chunks(path), name=os.path.basename(path))
    result = ScanResult(format="directory", depth="quick")
    toc = os.path.join(path, "toc.dat")
    source = HashingSource(file_chunks(toc))
    try:
        read_header_and_toc(ArchiveReader(StreamReader(source)), result, directory=True)
    except ScanError as exc:
        result.complete = False
        result.complete_error = f"toc.dat cannot be read: {exc}"
    source.drain()
    result.sha256 = sha256_directory(path, {"toc.dat": source.digest.hexdigest()})
    result.size = sum(os.path.getsize(os.path.join(path, rel)) for rel in _directory_files(path))
    return result


def scan_path(path: str) -> tuple[ScanResult, dict[str, str]]:
    """Scan a backup on disk: a file, or a directory-format archive. Returns per-file digests for directories."""
    if os.path.isdir(path):
        result = ScanResult(format="directory")
        digests = scan_directory(path, result)
        result.sha256 = sha256_directory(path, digests)
        return result, digests
    return scan_stream(file_chunks(path), name=os.path.basename(path)), {}


__all__ = [
    "CopyCounter",
    "GzipInflater",
    "HashingSource",
    "PlainScanner",
    "ScanError",
    "ScanResult",
    "file_chunks",
    "parse_qualified",
    "quick_scan_path",
    "quick_scan_stream",
    "scan_path",
    "scan_stream",
    "sniff",
]
