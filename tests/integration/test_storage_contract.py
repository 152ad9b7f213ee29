"""One contract every storage backend passes: local directory, S3 (moto server), GCS (emulator)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promkit.core.errors import NotFoundError, UsageError
from promkit.core.storage import Storage, StorageOptions, open_storage

pytestmark = pytest.mark.integration

BACKENDS = ["local", "s3", "gcs"]


def _server(request: pytest.FixtureRequest, fixture: str) -> Any:
    """The shared conftest fixture when it exists, else a module-local server."""
    try:
        return request.getfixturevalue(fixture)
    except pytest.FixtureLookupError:
        return request.getfixturevalue(f"_local_{fixture}")


@pytest.fixture(scope="module")
def _local_s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from support.servers import ServerUnavailable, start_s3

    try:
        server = start_s3(tmp_path_factory.mktemp("s3"))
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def _local_gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from support.servers import ServerUnavailable, start_gcs

    try:
        server = start_gcs(tmp_path_factory.mktemp("gcs"))
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


def make_storage(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> Storage:
    prefix = f"contract/{uuid.uuid4().hex[:8]}"
    if kind == "local":
        return open_storage(str(tmp_path / "repo"))
    if kind == "s3":
        s3 = _server(request, "s3_server")
        bucket = s3.make_bucket()
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        return open_storage(
            f"s3://{bucket}/{prefix}",
            StorageOptions(s3_endpoint_url=s3.endpoint_url, s3_region="us-east-1"),
        )
    gcs = _server(request, "gcs_server")
    return open_storage(
        f"gs://{gcs.bucket}/{prefix}", StorageOptions(gcs_endpoint_url=gcs.endpoint_url)
    )


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    return make_storage(request, request.param, tmp_path)


def test_storage_small_object_round_trip(storage: Storage) -> None:
    storage.write_bytes("a/meta.json", b'{"x": 1}')
    assert storage.read_bytes("a/meta.json") == b'{"x": 1}'
    assert storage.exists("a/meta.json")
    assert not storage.exists("a/other.json")


def test_storage_streaming_write_and_read_of_many_parts(storage: Storage) -> None:
    # 20 MiB: more than two 8 MiB upload parts, written in odd-sized pieces.
    piece = os.urandom(777_777)
    count = 27
    with storage.writer("big/data.bin") as fh:
        for _ in range(count):
            fh.write(piece)
    digest = hashlib.sha256()
    with storage.open_read("big/data.bin") as fh:
        while chunk := fh.read(1 << 20):
            assert len(chunk) <= 1 << 20
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(piece * count).hexdigest()
    assert [o.size for o in storage.list("big/")] == [len(piece) * count]


def test_storage_failed_write_leaves_nothing(storage: Storage) -> None:
    with pytest.raises(RuntimeError), storage.writer("x/partial.bin") as fh:
        fh.write(os.urandom(9 << 20))
        raise RuntimeError("source broke")
    assert not storage.exists("x/partial.bin")
    assert storage.list("x/") == []


def test_storage_list_is_sorted_and_filtered_by_prefix(storage: Storage) -> None:
    for key in ["b/2", "a/1", "b/1", "c"]:
        storage.write_bytes(key, key.encode())
    assert [o.key for o in storage.list()] == ["a/1", "b/1", "b/2", "c"]
    assert [(o.key, o.size) for o in storage.list("b/")] == [("b/1", 3), ("b/2", 3)]
    assert storage.list("zzz") == []


def test_storage_overwrite_replaces_object(storage: Storage) -> None:
    storage.write_bytes("k", b"one")
    storage.write_bytes("k", b"two!")
    assert storage.read_bytes("k") == b"two!"
    assert [o.size for o in storage.list("k")] == [4]


def test_storage_delete_and_missing_objects(storage: Storage) -> None:
    storage.write_bytes("d/x", b"1")
    storage.delete("d/x")
    assert not storage.exists("d/x")
    with pytest.raises(NotFoundError):
        storage.delete("d/x")
    storage.delete("d/x", missing_ok=True)
    with pytest.raises(NotFoundError):
        storage.read_bytes("d/x")
    with pytest.raises(NotFoundError):
        storage.open_read("nope/never").read()


def test_storage_empty_object(storage: Storage) -> None:
    with storage.writer("empty"):
        pass
    assert storage.read_bytes("empty") == b""


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/./b", "", "sp ace", "a/.x.tmp-1"])
def test_storage_rejects_unsafe_keys(storage: Storage, key: str) -> None:
    with pytest.raises(UsageError):
        storage.write_bytes(key, b"x")


def test_storage_url_never_contains_credentials(storage: Storage) -> None:
    assert "testing" not in storage.url
    assert "@" not in storage.url
