"""Import inputs: promkit and vmgather bundles, jsonl(.gz), checksums, bombs, foreign files."""

from __future__ import annotations

import gzip
import hashlib
import zipfile
from pathlib import Path

import orjson
import pytest

from promkit.bundle.archive import BundleCounts, BundleMetadata, TimeRange, write_bundle
from promkit.bundle.reader import BundleKind, ReadLimits, open_bundle
from promkit.core.errors import DataError, IntegrityError, NotFoundError

LINES = (
    b'{"metric":{"__name__":"up","job":"a"},"values":[1,0],"timestamps":[1000,2000]}\n'
    b'{"metric":{"__name__":"x","job":"b"},"values":[+Inf],"timestamps":[3000]}\n'
)


def _promkit_bundle(tmp_path: Path, data: bytes = LINES) -> Path:
    staging = tmp_path / "staging.jsonl"
    staging.write_bytes(data)
    meta = BundleMetadata(
        export_id="exp-20261123T190000Z-abcdef",
        export_date="2026-11-23T19:00:00.000Z",
        time_range=TimeRange.of_ms(1000, 3000),
        mode="selector",
        query="{job!=''}",
        counts=BundleCounts(series=2, samples=3, lines=2),
    )
    return write_bundle(tmp_path / "out", staging, meta).path


def _vmgather_bundle(tmp_path: Path, data: bytes = LINES) -> Path:
    path = tmp_path / "vmexport_export-1795456626_20261123_175706.zip"
    meta = {
        "export_id": "export-1795456626",
        "export_date": "2026-11-23T17:57:06.123456789Z",
        "time_range": {"start": "2026-11-23T16:57:06Z", "end": "2026-11-23T17:57:06Z"},
        "components": ["vmstorage"],
        "jobs": ["vm_component_vmstorage_1"],
        "metrics_count": 2,
        "obfuscated": True,
        "vmgather_version": "v1.9.1",
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metrics.jsonl", data)
        zf.writestr("metadata.json", orjson.dumps(meta, option=orjson.OPT_INDENT_2))
        zf.writestr("README.txt", "vmgather bundle\n")
    return path


def _read_all(path: Path, **kw: object) -> bytes:
    reader = open_bundle(path, **kw)  # type: ignore[arg-type]
    return b"".join(reader.chunks())


def test_reader_promkit_bundle_streams_and_verifies_both_checksums(tmp_path: Path) -> None:
    path = _promkit_bundle(tmp_path)
    reader = open_bundle(path)
    assert reader.info.kind is BundleKind.PROMKIT
    assert reader.info.export_id == "exp-20261123T190000Z-abcdef"
    assert reader.info.time_range_ms == (1000, 3000)
    assert any("sidecar" in c or ".sha256" in c for c in reader.info.checks)
    assert b"".join(reader.chunks()) == LINES
    assert reader.verified


def test_reader_vmgather_bundle_is_recognised(tmp_path: Path) -> None:
    reader = open_bundle(_vmgather_bundle(tmp_path))
    assert reader.info.kind is BundleKind.VMGATHER
    assert reader.info.export_id == "export-1795456626"
    assert reader.info.expected_sha256 is None
    assert [line for line, _ in reader.lines()] == LINES.splitlines()


def test_reader_foreign_zip_with_a_jsonl_member(tmp_path: Path) -> None:
    path = tmp_path / "custom.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("notes.jsonl", b'{"note":"not metrics"}\n')
        zf.writestr("data/series.jsonl", LINES)
    reader = open_bundle(path)
    assert reader.info.kind is BundleKind.ZIP
    assert reader.info.member == "data/series.jsonl"
    assert b"".join(reader.chunks()) == LINES


@pytest.mark.parametrize("suffix", ["jsonl", "jsonl.gz"])
def test_reader_plain_and_gzip_jsonl(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"m.{suffix}"
    path.write_bytes(gzip.compress(LINES) if suffix.endswith("gz") else LINES)
    reader = open_bundle(path)
    assert reader.info.kind.value == suffix
    assert b"".join(reader.chunks()) == LINES


def test_reader_sidecar_mismatch_is_an_integrity_error(tmp_path: Path) -> None:
    path = _promkit_bundle(tmp_path)
    sidecar = path.with_name(path.name + ".sha256")
    sidecar.write_text(f"{hashlib.sha256(b'other').hexdigest()}  {path.name}\n")
    with pytest.raises(IntegrityError, match="does not match its checksum"):
        open_bundle(path)


def test_reader_metadata_checksum_mismatch_fails_at_end_of_stream(tmp_path: Path) -> None:
    path = _promkit_bundle(tmp_path)
    with zipfile.ZipFile(path) as zf:
        meta = orjson.loads(zf.read("metadata.json"))
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metrics.jsonl", LINES.replace(b"[1,0]", b"[1,9]"))
        zf.writestr("metadata.json", orjson.dumps(meta))
    reader = open_bundle(tampered)
    with pytest.raises(IntegrityError, match="SHA-256"):
        b"".join(reader.chunks())
    assert not reader.verified


def test_reader_truncated_zip_is_a_clear_error(tmp_path: Path) -> None:
    path = _promkit_bundle(tmp_path)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(path.read_bytes()[:-60])
    with pytest.raises(DataError, match="damaged ZIP"):
        open_bundle(cut)


def test_reader_corrupt_member_data_is_an_integrity_error(tmp_path: Path) -> None:
    path = tmp_path / "stored.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("metrics.jsonl", LINES)
    raw = bytearray(path.read_bytes())
    i = raw.find(b'"job":"b"')
    raw[i + 8] = ord("c")  # same length, wrong CRC
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="damaged"):
        _read_all(path)


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("image.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "not VictoriaMetrics JSON lines"),
        ("empty.jsonl", b"", "empty"),
        ("rows.jsonl", b'{"a":1}\n{"b":2}\n', "not VictoriaMetrics JSON lines"),
    ],
)
def test_reader_foreign_files_are_refused(
    tmp_path: Path, name: str, content: bytes, why: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=why) as exc:
        open_bundle(path)
    assert exc.value.hint


def test_reader_zip_without_metrics_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "docs.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("README.txt", "hello")
    with pytest.raises(DataError, match=r"no metrics\.jsonl"):
        open_bundle(path)


def test_reader_invalid_metadata_and_newer_schema(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("metrics.jsonl", LINES)
        zf.writestr("metadata.json", b"{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        open_bundle(bad)
    newer = tmp_path / "newer.zip"
    with zipfile.ZipFile(newer, "w") as zf:
        zf.writestr("metrics.jsonl", LINES)
        zf.writestr("metadata.json", orjson.dumps({"schema_version": 9, "tool": "promkit"}))
    with pytest.raises(DataError, match="schema 9"):
        open_bundle(newer)


def test_reader_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        open_bundle(tmp_path / "nope.zip")


def test_reader_zip_bomb_is_stopped_by_ratio(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    line = LINES.splitlines(keepends=True)[0]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("metrics.jsonl", "w") as f:
        f.write(line)
        for _ in range(64):
            f.write(b" " * (1 << 20))
    limits = ReadLimits(max_ratio=100, ratio_grace_bytes=4 << 20)
    reader = open_bundle(path, limits=limits)
    with pytest.raises(DataError, match="zip bomb"):
        for _ in reader.chunks():
            pass
    assert reader.bytes_read < 16 << 20


def test_reader_declared_size_over_limit_is_refused_up_front(tmp_path: Path) -> None:
    path = _vmgather_bundle(tmp_path)
    with pytest.raises(DataError, match="claims"):
        open_bundle(path, limits=ReadLimits(max_bytes=10))


def test_reader_gzip_bomb_is_stopped_by_size(tmp_path: Path) -> None:
    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wb") as gz:
        gz.write(LINES)
        gz.write(b"\n" * (8 << 20))
    reader = open_bundle(path, limits=ReadLimits(max_bytes=2 << 20))
    with pytest.raises(DataError, match="more than"):
        b"".join(reader.chunks())


def test_reader_truncated_gzip_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(LINES * 100)[:-20])
    with pytest.raises(DataError, match=r"cut short|not a complete"):
        _read_all(path)


def test_reader_lines_resume_from_offset(tmp_path: Path) -> None:
    data = b"".join(
        b'{"metric":{"__name__":"m","i":"%d"},"values":[1],"timestamps":[%d]}\r\n' % (i, i)
        for i in range(5000)
    )
    path = tmp_path / "m.jsonl"
    path.write_bytes(
        data + b"\n   \n" + b'{"metric":{"__name__":"last"},"values":[1],"timestamps":[1]}'
    )
    reader = open_bundle(path)
    all_lines = list(reader.lines())
    assert len(all_lines) == 5001
    assert all(not line.endswith(b"\r") for line, _ in all_lines)
    assert all_lines[-1][1] == path.stat().st_size
    offset = all_lines[2999][1]
    rest = list(open_bundle(path).lines(offset))
    assert rest == all_lines[3000:]
    assert data[:offset].endswith(b"\n")
