# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The single-pass dump scanner (plugins/module_utils/dumpscan.py) on crafted inputs."""

from __future__ import annotations

import gzip
import hashlib
import sys
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))
from ansible_collections.fleetpulse.dr.plugins.module_utils.dumpscan import (
    CopyCounter,
    GzipInflater,
    ScanError,
    parse_qualified,
    scan_stream,
    sniff,
)

KEY = "abc123"
DUMP = f"""--
-- PostgreSQL database dump
--

\\restrict {KEY}

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

CREATE TABLE public."Tenant" (
    id text NOT NULL
);

CREATE TABLE public.simple (
    a integer
);

CREATE TABLE "odd""schema"."we""ird" (
    a integer
);

COPY public."Tenant" (id) FROM stdin;
t1
t2\\n-- PostgreSQL database dump complete\\n--
CREATE TABLE public."Fake" (
\\.

COPY public.simple (a) FROM stdin;
\\.

COPY "odd""schema"."we""ird" (a) FROM stdin;
1
2
3
\\.


--
-- PostgreSQL database dump complete
--

\\unrestrict {KEY}

""".encode()


def chunks(data: bytes, size: int):
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64, 100000])
def test_plain_dump_in_any_chunking(size: int) -> None:
    res = scan_stream(chunks(DUMP, size))
    assert res.format == "plain" and res.complete is True, res.complete_error
    assert res.tables == ['odd"schema.we"ird', "public.Tenant", "public.simple"]  # not public.Fake (in data)
    assert res.row_counts == {"public.Tenant": 3, "public.simple": 0, 'odd"schema.we"ird': 3}
    assert res.pg_dump_version == res.server_version == "15.18 (Debian 15.18-0+deb12u1)"
    assert res.sha256 == hashlib.sha256(DUMP).hexdigest() and res.size == len(DUMP)


def test_gzip_multi_member_and_sha256_of_stored_bytes() -> None:
    half = len(DUMP) // 2
    data = gzip.compress(DUMP[:half]) + gzip.compress(DUMP[half:])
    res = scan_stream(chunks(data, 11))
    assert res.format == "plain.gz" and res.decompress_ok and res.complete
    assert res.sha256 == hashlib.sha256(data).hexdigest()
    assert res.decompressed_bytes == len(DUMP)


@pytest.mark.parametrize(("cut", "reason"), [
    (DUMP.index(b"t2"), "inside the data of table public.Tenant"),
    (DUMP.index(b"\n--\n-- PostgreSQL database dump complete"), "completion trailer"),
    (DUMP.index(b"\\unrestrict"), "'\\unrestrict' line is missing"),
])
def test_cut_dumps_are_incomplete(cut: int, reason: str) -> None:
    res = scan_stream([gzip.compress(DUMP[:cut])])
    assert res.decompress_ok is True
    assert res.complete is False and reason in res.complete_error


def test_dump_without_restrict_lines_older_pg_dump() -> None:
    old = DUMP.replace(f"\\restrict {KEY}\n".encode(), b"").replace(f"\\unrestrict {KEY}\n".encode(), b"")
    assert scan_stream([old]).complete is True


def test_truncated_and_corrupt_gzip() -> None:
    data = gzip.compress(DUMP)
    truncated = scan_stream([data[:-9]])
    assert truncated.decompress_ok is False and "ends early" in truncated.decompress_error
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    corrupt = scan_stream([bytes(flipped)])
    assert corrupt.decompress_ok is False and "corrupt gzip data" in corrupt.decompress_error
    garbage = scan_stream([data + b"junk"])
    assert garbage.decompress_ok is False and "after the end of the gzip stream" in garbage.decompress_error


def test_inflater_output_is_bounded() -> None:
    bomb = zlib.compress(b"\0" * (64 * 1024 * 1024))
    gz = gzip.compress(b"\0" * (64 * 1024 * 1024))
    sizes = []
    inflater = GzipInflater()
    inflater.feed(gz, lambda out: sizes.append(len(out)))
    assert max(sizes) <= 4 * 1024 * 1024 and sum(sizes) == 64 * 1024 * 1024
    assert len(bomb) < 100_000


def test_inflater_rejects_a_gzip_that_never_ends() -> None:
    inflater = GzipInflater()
    inflater.feed(gzip.compress(b"x" * 1000)[:-8], lambda out: None)
    with pytest.raises(ScanError, match="ends early"):
        inflater.finish(lambda out: None)


def test_copy_counter_every_split_point() -> None:
    data = b"r1\nr2\\.\n\\.x\nr4\n\\.\nrest"
    for split in range(len(data) + 1):
        counter = CopyCounter()
        counter.feed(data[:split])
        counter.feed(data[split:])
        assert (counter.done, counter.rows, counter.trailing) == (True, 4, b"rest"), split


def test_copy_counter_empty_table_and_unterminated() -> None:
    empty = CopyCounter()
    empty.feed(b"\\.\n")
    assert empty.done and empty.rows == 0
    open_ended = CopyCounter()
    open_ended.feed(b"a\nb\n")
    assert not open_ended.done


def test_sniff_and_identifiers() -> None:
    assert sniff(b"\x1f\x8b\x08") == "plain.gz"
    assert sniff(b"PGDMP\x01") == "custom"
    assert sniff(b"--\n-- PostgreSQL database dump\n") == "plain"
    assert sniff(b"<html>") == "unknown"
    assert parse_qualified('public."Tenant"') == ("public", "Tenant")
    assert parse_qualified("tenant") == ("public", "tenant")
    assert parse_qualified('"a""b".c') == ('a"b', "c")


def test_pg_dumpall_output_is_not_a_database_dump() -> None:
    res = scan_stream([b"--\n-- PostgreSQL database cluster dump\n--\n\nSET x;\n"])
    assert res.complete is False and "pg_dumpall" in res.complete_error


def test_custom_archive_header_garbage() -> None:
    res = scan_stream([b"PGDMP\x01\x0e\x00\x04\x08\x07"])
    assert res.format == "custom" and res.complete is False and "not a custom-format archive" in res.complete_error
