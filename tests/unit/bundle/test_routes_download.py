"""``/api/download``: only bundles from the output directory, never anything else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from promkit.bundle.app import ConsoleSettings, create_app
from promkit.bundle.routes.download import ForbiddenPathError, resolve_download
from promkit.core.errors import NotFoundError, UsageError
from promkit.core.web import TOKEN_HEADER, LocalUIPolicy

PORT = 18082
AUTH = {TOKEN_HEADER: "download-token"}


@pytest.fixture
def out(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "bundle.zip").write_bytes(b"PK bundle")
    (out / "bundle.zip.sha256").write_text("abc  bundle.zip\n")
    (out / "notes.txt").write_text("not a bundle")
    (out / "dir.zip").mkdir()
    (out / ".staging").mkdir()
    (out / ".staging" / "x.zip").write_bytes(b"staged")
    secret = tmp_path / "secret.zip"
    secret.write_bytes(b"PK secret")
    (out / "escape.zip").symlink_to(secret)
    (out / "alias.zip").symlink_to(out / "bundle.zip")
    return out


@pytest.mark.parametrize(
    ("name", "expected"),
    [("bundle.zip", "bundle.zip"), ("bundle.zip.sha256", "bundle.zip.sha256")],
)
def test_routes_download_resolves_bundles_in_the_output_dir(
    out: Path, name: str, expected: str
) -> None:
    assert resolve_download(out, name) == (out / expected).resolve()
    assert resolve_download(out, str(out / name)) == (out / expected).resolve()


def test_routes_download_follows_a_symlink_that_stays_inside(out: Path) -> None:
    assert resolve_download(out, "alias.zip") == (out / "bundle.zip").resolve()


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("../secret.zip", ForbiddenPathError),
        ("escape.zip", ForbiddenPathError),  # symlink pointing out
        (".staging/x.zip", ForbiddenPathError),  # subfolders are not served
        ("/etc/passwd", ForbiddenPathError),
        ("notes.txt", ForbiddenPathError),
        ("missing.zip", NotFoundError),
        ("dir.zip", NotFoundError),
        ("", UsageError),
        ("a\x00.zip", UsageError),
    ],
)
def test_routes_download_refuses_everything_else(
    out: Path, name: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        resolve_download(out, name)


@pytest.fixture
def client(out: Path) -> Iterator[TestClient]:
    policy = LocalUIPolicy(port=PORT, token=SecretStr(AUTH[TOKEN_HEADER]))
    app = create_app(ConsoleSettings(policy=policy, output_dir=out))
    with TestClient(app, base_url=f"http://127.0.0.1:{PORT}") as c:
        yield c


def test_routes_download_sends_an_attachment(client: TestClient) -> None:
    r = client.get("/api/download", params={"path": "bundle.zip"}, headers=AUTH)
    assert r.status_code == 200
    assert r.content == b"PK bundle"
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == 'attachment; filename="bundle.zip"'


@pytest.mark.parametrize(
    ("path", "status"), [("escape.zip", 403), ("../secret.zip", 403), ("nope.zip", 404)]
)
def test_routes_download_errors_are_json_with_hint(
    client: TestClient, path: str, status: int
) -> None:
    r = client.get("/api/download", params={"path": path}, headers=AUTH)
    assert r.status_code == status
    body = r.json()
    assert body["error"] and body["hint"]
    assert b"PK secret" not in r.content


def test_routes_download_needs_the_session_token(client: TestClient) -> None:
    assert client.get("/api/download", params={"path": "bundle.zip"}).status_code == 401
