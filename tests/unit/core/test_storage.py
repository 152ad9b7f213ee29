from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from promkit.core.errors import NotFoundError, UsageError
from promkit.core.storage import LocalStorage, ObjectStorage, StorageOptions, open_storage


def test_open_storage_plain_path_and_file_url_are_local(tmp_path: Path) -> None:
    a = open_storage(str(tmp_path / "r"))
    b = open_storage(f"file://{tmp_path}/r")
    assert isinstance(a, LocalStorage) and isinstance(b, LocalStorage)
    assert a.url == b.url == str(tmp_path / "r")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://bucket/some/prefix/", "s3://bucket/some/prefix"),
        ("s3://bucket", "s3://bucket"),
        ("gs://b/p", "gs://b/p"),
        ("gcs://b/p", "gs://b/p"),
    ],
)
def test_open_storage_object_store_urls(url: str, expected: str) -> None:
    storage = open_storage(
        url, StorageOptions(s3_endpoint_url="http://127.0.0.1:9", gcs_endpoint_url="http://x")
    )
    assert isinstance(storage, ObjectStorage)
    assert storage.url == expected


@pytest.mark.parametrize(
    "url", ["ftp://host/x", "s3://", "s3://key:secret@bucket/p", "file://otherhost/x", ""]
)
def test_open_storage_rejects_bad_urls(url: str) -> None:
    with pytest.raises(UsageError) as info:
        open_storage(url)
    assert "secret" not in info.value.message


def test_storage_options_repr_hides_secrets() -> None:
    opts = StorageOptions(s3_access_key=SecretStr("AKIAXXXX"), s3_secret_key=SecretStr("s3cr3t"))
    assert "s3cr3t" not in repr(opts)
    assert "AKIAXXXX" not in repr(opts)


def test_local_storage_failed_write_leaves_no_file_and_no_temp(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    with pytest.raises(ValueError), storage.writer("n/v.data") as fh:
        fh.write(b"partial")
        raise ValueError("boom")
    assert not storage.exists("n/v.data")
    assert [p.name for p in (tmp_path / "n").iterdir()] == []


def test_local_storage_temp_files_are_invisible_while_writing(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    with storage.writer("n/v.data") as fh:
        fh.write(b"x" * 10)
        fh.flush()
        assert storage.list() == []
        assert not storage.exists("n/v.data")
    assert [o.key for o in storage.list()] == ["n/v.data"]


def test_local_storage_files_are_private(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "repo")
    storage.write_bytes("a/b", b"x")
    mode = stat.S_IMODE(os.stat(tmp_path / "repo" / "a" / "b").st_mode)
    assert mode == 0o600


def test_local_storage_delete_prunes_empty_directories(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.write_bytes("a/b/c", b"x")
    storage.delete("a/b/c")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(NotFoundError):
        storage.read_bytes("a/b/c")


def test_local_storage_list_of_missing_root_is_empty(tmp_path: Path) -> None:
    assert LocalStorage(tmp_path / "nothing").list() == []


def test_local_writer_writes_back_as_it_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large objects are fdatasync'ed every SYNC_EVERY bytes, not only at the end."""
    from promkit.core import storage as storage_module

    synced: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(storage_module._WrittenBack, "SYNC_EVERY", 1000)
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd))[1])
    store = LocalStorage(tmp_path)
    data = os.urandom(5000)
    with store.writer("big/object") as fh:
        for i in range(0, len(data), 300):
            fh.write(data[i : i + 300])
            fh.flush()  # reach the file object, as 8 MiB buffers do in real backups
    assert store.read_bytes("big/object") == data
    assert len(synced) >= 4
