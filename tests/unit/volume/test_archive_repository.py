from __future__ import annotations

import io
import os
import signal
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from promkit.core import crypto
from promkit.core.errors import (
    AuthError,
    DataError,
    IntegrityError,
    NotFoundError,
    UsageError,
)
from promkit.core.storage import LocalStorage
from promkit.volume.archive import Prefetch, TarStream, pack
from promkit.volume.containers import signals_as_interrupts
from promkit.volume.manifest import EncryptionInfo, Manifest
from promkit.volume.names import Ref, new_version
from promkit.volume.repository import Repository
from promkit.volume.retention import RetentionPolicy
from promkit.volume.settings import RepoSpec, read_password
from promkit.volume.verify import verify_version

PW = SecretStr("pw")


@pytest.fixture(autouse=True)
def _cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(crypto.WEAK_KDF_ENV, "1")


def a_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"data/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def store(
    repo: Repository, tar: bytes, *, password: SecretStr | None, compression: str = "zstd",
    when: datetime | None = None, name: str = "db",
) -> Manifest:  # fmt: skip
    version = new_version(when)
    with repo.data_writer(name, version) as sink:
        pieces = [tar[i : i + 100_000] for i in range(0, len(tar), 100_000)]
        r = pack(pieces, sink, compression=compression, password=password)  # type: ignore[arg-type]
    manifest = Manifest(
        name=name, version=version, volume="v", created_at=when or datetime.now(UTC),
        tool_version="t", compression=compression,  # type: ignore[arg-type]
        encryption=EncryptionInfo(chunk_size=crypto.DEFAULT_CHUNK_SIZE) if password else None,
        data_key=repo.data_key(name, version), tar_size=r.tar_size, tar_sha256=r.tar_sha256,
        stored_size=r.stored_size, stored_sha256=r.stored_sha256,
    )  # fmt: skip
    repo.commit(manifest)
    return manifest


def read_all(repo: Repository, m: Manifest, password: SecretStr | None = PW) -> bytes:
    with repo.open_data(m) as fh:
        return b"".join(TarStream(fh, m, password))


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return Repository(LocalStorage(tmp_path / "repo"))


@pytest.mark.parametrize("compression", ["zstd", "gzip"])
@pytest.mark.parametrize("password", [PW, None])
def test_archive_round_trip(repo: Repository, compression: str, password: SecretStr | None) -> None:
    tar = a_tar({"a": os.urandom(3 << 20), "b": b"text " * 10000})
    m = store(repo, tar, password=password, compression=compression)
    assert read_all(repo, m, password) == tar
    assert verify_version(repo, m, password).entries == 2


def test_archive_wrong_password_and_missing_password(repo: Repository) -> None:
    m = store(repo, a_tar({"a": b"x"}), password=PW)
    with pytest.raises(AuthError):
        read_all(repo, m, SecretStr("nope"))
    with pytest.raises(UsageError):
        read_all(repo, m, None)


def test_archive_final_piece_withheld_until_checksums_match(repo: Repository) -> None:
    tar = a_tar({"a": os.urandom(3 << 20)})
    m = store(repo, tar, password=None)
    bad = m.model_copy(update={"tar_sha256": "0" * 64})
    got = bytearray()
    with pytest.raises(IntegrityError), repo.open_data(bad) as fh:
        for piece in TarStream(fh, bad, None):
            got += piece
    assert 0 < len(got) < len(tar)


@pytest.mark.parametrize("compression", ["zstd", "gzip"])
def test_archive_any_flipped_byte_is_an_integrity_error(repo: Repository, compression: str) -> None:
    """Every corruption, wherever it lands, is an IntegrityError, never a codec exception.

    CI once caught gzip raising a bare ``zlib.error`` ("invalid distance too far back") for a
    flip in the middle of the deflate stream; so flip every 97th byte, not one lucky spot.
    """
    text = "".join(f"series {i} value {i * 7919 % 1009}\n" for i in range(20_000)).encode()
    tar = a_tar({"f": b"data", "z": bytes(100_000), "t": text})
    m = store(repo, tar, password=None, compression=compression)
    clean = repo.storage.read_bytes(m.data_key)
    for at in range(0, len(clean), max(1, len(clean) // 300)):
        blob = bytearray(clean)
        blob[at] ^= 0x01
        repo.storage.write_bytes(m.data_key, bytes(blob))
        with pytest.raises(IntegrityError):
            read_all(repo, m, None)


def test_archive_encrypted_data_with_plain_manifest_is_refused(repo: Repository) -> None:
    m = store(repo, a_tar({"a": b"x"}), password=PW)
    lying = m.model_copy(update={"encryption": None})
    with pytest.raises((DataError, IntegrityError)):
        read_all(repo, lying, None)


def test_prefetch_passes_pieces_and_errors_and_closes_source() -> None:
    closed: list[bool] = []

    def source(fail: bool):  # type: ignore[no-untyped-def]
        try:
            yield b"a"
            yield b"b"
            if fail:
                raise OSError("broken")
        finally:
            closed.append(True)

    p = Prefetch(source(False))
    assert list(p) == [b"a", b"b"]
    p.close()
    with pytest.raises(OSError, match="broken"):
        list(Prefetch(source(True)))
    assert closed == [True, True]


def test_repository_lists_versions_resolves_and_ignores_orphans(repo: Repository) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    ms = [store(repo, a_tar({"a": b"x"}), password=None, when=t0 + timedelta(hours=i))
          for i in range(3)]  # fmt: skip
    with repo.data_writer("db", new_version(t0 - timedelta(days=3))) as fh:
        fh.write(b"orphan from an interrupted backup")
    assert repo.names() == ["db"]
    assert [m.version for m in repo.versions("db")] == [m.version for m in reversed(ms)]
    assert repo.resolve(Ref("db")).version == ms[-1].version
    assert repo.resolve(Ref("db", ms[0].version)).version == ms[0].version
    [summary] = repo.summaries()
    assert summary.versions == 3 and summary.latest.version == ms[-1].version
    with pytest.raises(NotFoundError):
        repo.resolve(Ref("other"))
    with pytest.raises(NotFoundError):
        repo.delete_version("db", new_version())

    plan = repo.plan_prune("db", RetentionPolicy(keep_last=1))
    assert [d.keep for d in plan.decisions] == [True, False, False]
    assert len(plan.orphans) == 1
    repo.apply_prune(plan)
    assert repo.version_ids("db") == [ms[-1].version]
    assert [o.key for o in repo.storage.list()] == [
        repo.data_key("db", ms[-1].version),
        repo.manifest_key("db", ms[-1].version),
    ]


def test_repository_damaged_manifest_is_a_data_error(repo: Repository) -> None:
    m = store(repo, a_tar({"a": b"x"}), password=None)
    repo.storage.write_bytes(repo.manifest_key("db", m.version), b"{not json")
    with pytest.raises(DataError):
        repo.resolve(Ref("db"))


def test_repo_spec_urls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PROMKIT_VOLUME_REPO", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert RepoSpec().url() == str(tmp_path / "promkit" / "volumes")
    monkeypatch.setenv("PROMKIT_VOLUME_REPO", "s3://b/p")
    assert RepoSpec().url() == "s3://b/p"
    assert RepoSpec(storage="local", backup_dir="/x").url() == "/x"
    assert RepoSpec(storage="s3", s3_bucket="b").url() == "s3://b"
    assert RepoSpec(storage="gcs", gcs_bucket="g").url() == "gs://g"
    for bad in (RepoSpec(storage="s3"), RepoSpec(storage="ftp"), RepoSpec(repo="x", storage="s3")):
        with pytest.raises(UsageError):
            bad.url()


def test_password_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PROMKIT_VOLUME_PASSWORD", raising=False)
    monkeypatch.delenv("PROMKIT_VOLUME_PASSWORD_FILE", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert read_password(None, prompt=True) is None  # no terminal: never blocks on a prompt
    f = tmp_path / "pw"
    f.write_text("from-file\nignored\n")
    secret = read_password(str(f), prompt=False)
    assert secret is not None and secret.get_secret_value() == "from-file"
    assert "from-file" not in repr(secret)
    monkeypatch.setenv("PROMKIT_VOLUME_PASSWORD", "from-env")
    secret = read_password(None, prompt=False)
    assert secret is not None and secret.get_secret_value() == "from-env"


def test_sigterm_becomes_keyboard_interrupt_while_active() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), signals_as_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # interrupted by the handler at once
    assert signal.getsignal(signal.SIGTERM) == before
