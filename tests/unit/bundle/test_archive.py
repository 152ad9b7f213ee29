"""Bundle writer: entries, metadata, checksums, atomicity, streaming."""

from __future__ import annotations

import hashlib
import os
import subprocess
import zipfile
from pathlib import Path

import orjson
import pytest

from promkit import __version__
from promkit.bundle.archive import (
    METADATA_NAME,
    METRICS_NAME,
    README_NAME,
    BundleCounts,
    BundleMetadata,
    TimeRange,
    bundle_name,
    new_export_id,
    read_metadata,
    write_bundle,
)
from promkit.core.errors import PromkitError, UsageError


def _meta(export_id: str = "exp-20261123T190000Z-abcdef", **extra: object) -> BundleMetadata:
    return BundleMetadata(
        export_id=export_id,
        export_date="2026-11-23T19:00:00.000Z",
        time_range=TimeRange.of_ms(1_763_900_000_000, 1_763_903_600_000),
        mode="cluster",
        query='{job="vmstorage-job-1"}',
        jobs=["vmstorage-job-1"],
        components=["vmstorage"],
        counts=BundleCounts(series=2, samples=3, lines=2),
        obfuscation={"enabled": True, "instance": True, "job": True},
        **extra,  # type: ignore[arg-type]
    )


def _metrics(tmp_path: Path) -> Path:
    path = tmp_path / "staging.jsonl"
    path.write_bytes(
        b'{"metric":{"__name__":"up","job":"vmstorage-job-1"},"values":[1,1],"timestamps":[1,2]}\n'
        b'{"metric":{"__name__":"x","job":"vmstorage-job-1"},"values":[+Inf],"timestamps":[3]}\n'
    )
    return path


def test_bundle_holds_the_three_entries_in_order(tmp_path: Path) -> None:
    res = write_bundle(tmp_path / "out", _metrics(tmp_path), _meta())
    assert res.path.name == "promkit-bundle_exp-20261123T190000Z-abcdef.zip"
    with zipfile.ZipFile(res.path) as zf:
        assert zf.namelist() == [METRICS_NAME, METADATA_NAME, README_NAME]
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
        assert zf.read(METRICS_NAME) == _metrics(tmp_path).read_bytes()
        assert zf.testzip() is None


def test_metadata_has_checksum_counts_and_version(tmp_path: Path) -> None:
    metrics = _metrics(tmp_path)
    res = write_bundle(tmp_path, metrics, _meta())
    meta = read_metadata(res.path)
    assert meta["schema_version"] == 1
    assert meta["promkit_version"] == __version__
    assert meta["metrics_sha256"] == hashlib.sha256(metrics.read_bytes()).hexdigest()
    assert meta["metrics_bytes"] == metrics.stat().st_size
    assert meta["counts"] == {"series": 2, "samples": 3, "lines": 2}
    assert meta["time_range"]["start"] == "2025-11-23T12:13:20.000Z"
    assert meta["mode"] == "cluster"
    assert meta["jobs"] == ["vmstorage-job-1"]
    assert "mapping" not in orjson.dumps(meta).decode()


def test_sidecar_is_sha256sum_format_and_verifies(tmp_path: Path) -> None:
    res = write_bundle(tmp_path, _metrics(tmp_path), _meta())
    text = res.sha256_path.read_text()
    assert text == f"{hashlib.sha256(res.path.read_bytes()).hexdigest()}  {res.path.name}\n"
    assert res.sha256 in text
    check = subprocess.run(
        ["sha256sum", "-c", res.sha256_path.name], cwd=tmp_path, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_readme_describes_the_bundle_without_mapping(tmp_path: Path) -> None:
    res = write_bundle(tmp_path, _metrics(tmp_path), _meta())
    with zipfile.ZipFile(res.path) as zf:
        readme = zf.read(README_NAME).decode()
    assert "exp-20261123T190000Z-abcdef" in readme
    assert "vmstorage-job-1" in readme
    assert "NOT in this bundle" in readme
    assert f"promkit {__version__}" in readme


def test_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(PromkitError):
        write_bundle(out, tmp_path / "missing.jsonl", _meta())
    assert [p.name for p in out.iterdir()] == []


def test_unwritable_output_dir_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError):
        write_bundle(blocker / "sub", _metrics(tmp_path), _meta())


@pytest.mark.parametrize("bad", ["", "a/b", "a\\b", "x:y", "a\nb"])
def test_bundle_name_rejects_unsafe_export_ids(bad: str) -> None:
    with pytest.raises(UsageError):
        bundle_name(bad)


def test_export_ids_are_unique() -> None:
    assert len({new_export_id() for _ in range(200)}) == 200


def test_large_metrics_file_streams_with_zip64_header(tmp_path: Path) -> None:
    line = b'{"metric":{"__name__":"m"},"values":[1],"timestamps":[1]}\n'
    path = tmp_path / "big.jsonl"
    with path.open("wb") as fh:
        for _ in range(200):
            fh.write(line * 1000)
    res = write_bundle(tmp_path, path, _meta())
    with zipfile.ZipFile(res.path) as zf, zf.open(METRICS_NAME) as member:
        assert sum(1 for _ in member) == 200_000
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]


def test_deflate_level_is_applied_to_metrics(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"".join(b'{"v":%d}\n' % (i * 7919 % 10007) for i in range(50_000)))
    fast = write_bundle(tmp_path / "a", path, _meta(), level=1)
    small = write_bundle(tmp_path / "b", path, _meta(), level=9)
    with zipfile.ZipFile(fast.path) as za, zipfile.ZipFile(small.path) as zb:
        assert za.getinfo(METRICS_NAME).compress_size > zb.getinfo(METRICS_NAME).compress_size


def test_zlib_ng_is_swapped_in_and_output_stays_plain_deflate(tmp_path: Path) -> None:
    from promkit.bundle.archive import _fast_compressor

    with zipfile.ZipFile(tmp_path / "x.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("a.txt", "w") as dst:
            assert _fast_compressor(dst, 4)
            dst.write(b"hello " * 10_000)
        with zf.open("b.txt", "w") as dst:
            dst.write(b"x")
            assert not _fast_compressor(dst, 4)  # too late once data went through
    with zipfile.ZipFile(tmp_path / "x.zip") as zf:
        assert zf.testzip() is None
        assert zf.read("a.txt") == b"hello " * 10_000
    check = subprocess.run(["python3", "-m", "zipfile", "-t", str(tmp_path / "x.zip")], check=False)
    assert check.returncode == 0


def test_bundle_writer_streams_batches_and_abort_leaves_nothing(tmp_path: Path) -> None:
    from promkit.bundle.archive import BundleWriter

    out = tmp_path / "out"
    writer = BundleWriter(out, "exp-stream-1")
    for i in range(50):
        writer.write(bytearray(b'{"metric":{"i":"%d"},"values":[1],"timestamps":[1]}\n' % i))
    res = writer.finish(_meta("exp-stream-1"))
    with zipfile.ZipFile(res.path) as zf:
        assert len(zf.read(METRICS_NAME).splitlines()) == 50
    assert read_metadata(res.path)["metrics_bytes"] == res.metadata.metrics_bytes > 0

    aborted = BundleWriter(out, "exp-stream-2")
    aborted.write(b"partial\n")
    aborted.abort()
    aborted.abort()  # idempotent
    assert sorted(p.name for p in out.iterdir()) == sorted([res.path.name, res.sha256_path.name])


def test_bundle_writer_resume_feeds_a_prefix_of_the_staging_file(tmp_path: Path) -> None:
    from promkit.bundle.archive import BundleWriter

    staging = tmp_path / "staging.jsonl"
    staging.write_bytes(b"line-1\nline-2\ngarbage-after-checkpoint")
    writer = BundleWriter(tmp_path / "out", "exp-resume-1")
    writer.write_file(staging, limit=14)
    writer.write(b"line-3\n")
    res = writer.finish(_meta("exp-resume-1"))
    with zipfile.ZipFile(res.path) as zf:
        assert zf.read(METRICS_NAME) == b"line-1\nline-2\nline-3\n"


def test_bundle_writer_removes_partials_a_crashed_run_left(tmp_path: Path) -> None:
    from promkit.bundle.archive import BundleWriter

    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".promkit-bundle_exp-crash.zip.abc123.partial"
    stale.write_bytes(b"half a zip")
    other = out / ".promkit-bundle_exp-other.zip.def456.partial"
    other.write_bytes(b"another export's")
    writer = BundleWriter(out, "exp-crash")
    writer.write(b"x\n")
    writer.finish(_meta("exp-crash"))
    assert not stale.exists()
    assert other.exists()
