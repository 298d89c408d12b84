"""Units of the object mirror that need no server: layout, manifests, generation names,
Prometheus textfiles and the archive member checks."""

from __future__ import annotations

import gzip
import json
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))

from ansible_collections.fleetpulse.dr.plugins.module_utils import object_mirror as om
from ansible_collections.fleetpulse.dr.plugins.module_utils import offsite_archive as oa
from ansible_collections.fleetpulse.dr.plugins.module_utils import prom_textfile

SHA = "a" * 64


def test_layout_puts_each_bucket_under_the_prefix():
    layout = om.Layout.for_source("offsite", "/fleetpulse/minio-mirror/", "fleetpulse")
    assert layout.url == "s3://offsite/fleetpulse/minio-mirror/fleetpulse/"
    assert layout.blob_key(SHA) == f"fleetpulse/minio-mirror/fleetpulse/blobs/sha256/aa/{SHA}"
    assert layout.generation_key("20260208T033000Z") == \
        "fleetpulse/minio-mirror/fleetpulse/generations/20260208T033000Z.json.gz"
    assert om.Layout.for_source("offsite", "", "b").prefix == "b"


def manifest(**entries: om.Entry) -> om.Manifest:
    return om.Manifest(generation="20260208T033000Z", bucket="fleetpulse", store="http://minio:9000",
                       started_at="2026-02-08T03:30:00Z", finished_at="2026-02-08T03:31:00Z",
                       entries={e.key: e for e in entries.values()})


def test_manifest_round_trip():
    m = manifest(a=om.Entry("a.jpg", 3, SHA, "etag", "2026-02-01T00:00:00Z", "image/jpeg", {"tenant": "t1"}))
    back = om.Manifest.from_bytes(m.to_bytes(), "test")
    assert back.entries == m.entries and (back.objects, back.bytes) == (1, 3)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda doc: doc.update(format="other/v9"), "has format 'other/v9'"),
    (lambda doc: doc.update(objects=2), "inconsistent"),
    (lambda doc: doc["entries"][0].update(sha256="xyz"), "without a valid SHA-256"),
    (lambda doc: doc.pop("entries"), "incomplete"),
])
def test_damaged_manifests_are_refused(mutate, message):
    doc = json.loads(gzip.decompress(manifest(a=om.Entry("a", 1, SHA)).to_bytes()))
    mutate(doc)
    with pytest.raises(om.MirrorError, match=message):
        om.Manifest.from_bytes(gzip.compress(json.dumps(doc).encode()), "test")


def test_truncated_manifest_is_refused():
    with pytest.raises(om.MirrorError, match="not readable gzip JSON"):
        om.Manifest.from_bytes(manifest(a=om.Entry("a", 1, SHA)).to_bytes()[:-10], "test")


def test_content_ignores_the_change_detection_cache():
    one = om.Entry("a", 1, SHA, etag="e1", last_modified="2026-01-01T00:00:00Z")
    two = om.Entry("a", 1, SHA, etag="e2", last_modified="2026-02-01T00:00:00Z")
    assert one.content() == two.content()
    assert one.content() != om.Entry("a", 1, SHA, content_type="image/png").content()
    assert one.content() != om.Entry("a", 1, SHA, metadata={"k": "v"}).content()


def test_generation_names_sort_by_time_then_suffix():
    names = ["20260208T033000Z-10", "20260201T033000Z", "20260208T033000Z-2", "20260208T033000Z"]
    assert sorted(names, key=lambda g: (om.generation_time(g), len(g), g)) == [
        "20260201T033000Z", "20260208T033000Z", "20260208T033000Z-2", "20260208T033000Z-10"]
    with pytest.raises(om.MirrorError, match="not a generation name"):
        om.generation_time("latest")


def test_metrics_keep_last_success_on_failure(tmp_path):
    path = str(tmp_path / "m.prom")
    prom_textfile.mirror_metrics(path, "fleetpulse", success=True, now=1000.0, duration=2.5,
                                 result={"objects": 10, "bytes": 2048, "copied": {"objects": 1, "bytes": 7},
                                         "generations": ["g1", "g2"],
                                         "verify": {"counts": {"missing": 0, "corrupt": 0}}})
    prom_textfile.mirror_metrics(path, "fleetpulse", success=False, now=2000.0, duration=1.0, result=None)
    text = Path(path).read_text()
    assert 'fleetpulse_object_mirror_last_success_timestamp_seconds{bucket="fleetpulse"} 1000\n' in text
    assert 'fleetpulse_object_mirror_last_run_success{bucket="fleetpulse"} 0\n' in text
    assert 'fleetpulse_object_mirror_last_run_timestamp_seconds{bucket="fleetpulse"} 2000\n' in text
    assert "# TYPE fleetpulse_object_mirror_duration_seconds gauge" in text


def test_metrics_of_a_first_failed_run_say_never(tmp_path):
    path = str(tmp_path / "m.prom")
    prom_textfile.archive_metrics(path, "carrental_minio-data", success=False, now=5.0, duration=1.0, size=0)
    assert prom_textfile.read_value(path, "fleetpulse_object_volume_archive_last_success_timestamp_seconds") == 0


def test_label_values_are_escaped(tmp_path):
    text = prom_textfile.archive_metrics(str(tmp_path / "m.prom"), 'a"b\\c\n', success=True, now=5.0,
                                         duration=1.0, size=0)
    assert 'fleetpulse_object_volume_archive_bytes{volume="a\\"b\\\\c\\n"} 0\n' in text


@pytest.mark.parametrize(("name", "kind", "link", "message"), [
    ("../escape", tarfile.REGTYPE, "", "outside the target"),
    ("/etc/passwd", tarfile.REGTYPE, "", "outside the target"),
    ("ok/link", tarfile.SYMTYPE, "../../etc", "links outside"),
    ("ok/abs", tarfile.SYMTYPE, "/etc/shadow", "links outside"),
    ("dev", tarfile.CHRTYPE, "", "device"),
])
def test_dangerous_archive_members_are_refused(tmp_path, name, kind, link, message):
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = link
    with pytest.raises(oa.ObjectStoreError, match=message):
        oa._check_member(member, str(tmp_path))


def test_safe_archive_members_pass(tmp_path):
    for name, kind, link in [("./a/b.dat", tarfile.REGTYPE, ""), ("a/current", tarfile.SYMTYPE, "b.dat"),
                             (".", tarfile.DIRTYPE, "")]:
        member = tarfile.TarInfo(name)
        member.type = kind
        member.linkname = link
        oa._check_member(member, str(tmp_path))
