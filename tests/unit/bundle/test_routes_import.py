"""Import wizard routes in-process: uploads, bundle ids, preflight and start validation.

The target is a fake TSDB (httpx.MockTransport) that publishes ``flag`` metrics; running
imports against a real VictoriaMetrics is in ``tests/integration/ui/test_import_api.py``.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from promkit.bundle.app import ConsoleSettings, create_app
from promkit.bundle.routes.import_bundles import upload_name
from promkit.core.connection import Connection, ConnectionConfig
from promkit.core.errors import AuthError
from promkit.core.flavour import Flavour, ValidationResult
from promkit.core.tsdb import TSDBClient
from promkit.core.web import TOKEN_HEADER, LocalUIPolicy

PORT = 18093
AUTH = {TOKEN_HEADER: "import-token"}
SECRET = "imp0rt-S3cret"
MIN = 60_000
NOW = int(time.time() * 1000)


def _lines(n: int = 3, first: int = NOW - 3600_000) -> bytes:
    rows = [
        orjson.dumps(
            {
                "metric": {"__name__": "m", "job": "j", "i": str(i)},
                "values": [1, 2, 3],
                "timestamps": [first, first + MIN, first + 2 * MIN],
            }
        )
        for i in range(n)
    ]
    return b"\n".join(rows) + b"\n"


def _flags(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/metrics":
        text = 'flag{name="retentionPeriod", value="1"}\n'
        text += 'flag{name="maxLabelsPerTimeseries", value="2"}\n'
        return httpx.Response(200, text=text)
    return httpx.Response(404)


def _validate(config: ConnectionConfig) -> ValidationResult:
    conn = Connection.from_config(config)
    if conn.host == "locked.invalid":
        raise AuthError(f"{conn.display_url} refused the credentials")
    return ValidationResult(
        flavour=Flavour.VMSINGLE,
        version="v1.79.5",
        endpoint=conn.display_url,
        api_base_path=conn.base_path,
        tenant_id=None,
        attempts=[],
        message="VictoriaMetrics single-node v1.79.5",
    )


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


@pytest.fixture
def client(out: Path, tmp_path: Path) -> Iterator[TestClient]:
    def factory(config: ConnectionConfig) -> TSDBClient:
        return TSDBClient(Connection.from_config(config), transport=httpx.MockTransport(_flags))

    policy = LocalUIPolicy(port=PORT, token=SecretStr(AUTH[TOKEN_HEADER]))
    settings = ConsoleSettings(
        policy=policy,
        output_dir=out,
        staging_dir=tmp_path / "staging",
        max_upload_bytes=64 << 10,
    )
    app = create_app(settings, client_factory=factory, validator=_validate)
    with TestClient(app, base_url=f"http://127.0.0.1:{PORT}") as c:
        yield c


def _upload(client: TestClient, name: str, content: bytes | Iterator[bytes]) -> httpx.Response:
    r: httpx.Response = client.post(
        "/api/import/upload",
        params={"name": name},
        content=content,
        headers={**AUTH, "Content-Type": "application/octet-stream"},
    )
    return r


def _options(bundle_id: str, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "bundle_id": bundle_id,
        "connection": {
            "url": "http://vm.invalid:8428",
            "auth": {"type": "basic", "username": "u", "password": SECRET},
        },
    }
    body.update(kw)
    return body


def test_upload_stores_a_jsonl_and_lists_it(client: TestClient, tmp_path: Path) -> None:
    r = _upload(client, "../../etc/my bundle.jsonl", _lines())
    assert r.status_code == 200, r.text
    ref = r.json()
    assert ref["name"] == "my_bundle.jsonl" and ref["source"] == "upload"
    assert ref["kind"] == "jsonl" and ref["size_bytes"] == len(_lines())
    stored = list((tmp_path / "staging" / "uploads").glob("*/*"))
    assert [p.name for p in stored] == ["my_bundle.jsonl"]  # no partial file left
    listed = client.get("/api/import/bundles", headers=AUTH).json()
    assert [b["bundle_id"] for b in listed["bundles"]] == [ref["bundle_id"]]
    assert listed["max_upload_bytes"] == 64 << 10


def test_upload_streams_chunks_of_an_unknown_length(client: TestClient) -> None:
    data = _lines(40)
    pieces = iter([data[i : i + 1000] for i in range(0, len(data), 1000)])
    r = _upload(client, "chunked.jsonl", pieces)
    assert r.status_code == 200, r.text
    assert r.json()["size_bytes"] == len(data)


@pytest.mark.parametrize("streamed", [False, True])
def test_upload_over_the_limit_is_refused_and_removed(
    client: TestClient, tmp_path: Path, streamed: bool
) -> None:
    data = _lines(2000)
    assert len(data) > 64 << 10
    content: bytes | Iterator[bytes] = iter([data[:40000], data[40000:]]) if streamed else data
    r = _upload(client, "big.jsonl", content)
    assert r.status_code == 413
    assert "larger than the console accepts" in r.json()["error"]
    assert r.json()["hint"]
    assert list((tmp_path / "staging" / "uploads").glob("*/*")) == []


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"PK\x03\x04 this is not really a zip", "zip"),
        (b"hello, I am a text file\nnot json\n", "not VictoriaMetrics JSON lines"),
        (b"", "empty"),
    ],
)
def test_upload_of_a_corrupt_file_says_why_and_keeps_nothing(
    client: TestClient, tmp_path: Path, content: bytes, words: str
) -> None:
    r = _upload(client, "broken.zip", content)
    assert r.status_code in (400, 422), r.text
    body = r.json()
    assert words in body["error"] and body["hint"]
    assert str(tmp_path) not in body["error"]
    assert list((tmp_path / "staging" / "uploads").glob("*/*")) == []


def test_upload_needs_the_session_token(client: TestClient) -> None:
    r = client.post("/api/import/upload", params={"name": "x.jsonl"}, content=_lines())
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("bundle.zip", "bundle.zip"),
        ("C:\\Users\\me\\b u n.zip", "b_u_n.zip"),
        ("../..", "bundle.zip"),
        (".hidden.jsonl", "hidden.jsonl"),
    ],
)
def test_upload_name_keeps_only_a_safe_base_name(raw: str, expected: str) -> None:
    assert upload_name(raw) == expected


def test_bundles_in_the_output_directory_are_listed(client: TestClient, out: Path) -> None:
    with zipfile.ZipFile(out / "b1.zip", "w") as zf:
        zf.writestr("metrics.jsonl", _lines())
    (out / "notes.txt").write_text("x")
    (out / "outside.jsonl").symlink_to("/etc/passwd")
    listed = client.get("/api/import/bundles", headers=AUTH).json()
    ids = {b["bundle_id"] for b in listed["bundles"]}
    assert "out/b1.zip" in ids and "out/notes.txt" not in ids


def test_discard_removes_an_upload_but_never_an_output_bundle(
    client: TestClient, out: Path, tmp_path: Path
) -> None:
    ref = _upload(client, "x.jsonl", _lines()).json()
    (out / "kept.jsonl").write_bytes(_lines())
    r = client.post("/api/import/discard", json={"bundle_id": ref["bundle_id"]}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert [b["bundle_id"] for b in r.json()["bundles"]] == ["out/kept.jsonl"]
    assert list((tmp_path / "staging" / "uploads").iterdir()) == []
    r = client.post("/api/import/discard", json={"bundle_id": "out/kept.jsonl"}, headers=AUTH)
    assert r.status_code == 400 and r.json()["hint"]
    assert (out / "kept.jsonl").exists()
    r = client.post("/api/import/discard", json={"bundle_id": ref["bundle_id"]}, headers=AUTH)
    assert r.status_code == 404


@pytest.mark.parametrize(
    "bundle_id",
    ["out/../secret.zip", "out//etc/passwd", "up/zz/x.zip", "/etc/passwd", "out/.staging"],
)
def test_bad_bundle_ids_are_refused(client: TestClient, bundle_id: str) -> None:
    r = client.post("/api/import/preflight", json=_options(bundle_id), headers=AUTH)
    assert r.status_code == 400, r.text
    assert r.json()["error"]


def test_a_symlink_out_of_the_output_directory_is_not_read(
    client: TestClient, out: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "elsewhere.jsonl"
    secret.write_bytes(_lines())
    (out / "link.jsonl").symlink_to(secret)
    r = client.post("/api/import/preflight", json=_options("out/link.jsonl"), headers=AUTH)
    assert r.status_code == 404
    assert "no bundle named" in r.json()["error"]


def test_preflight_reports_counts_limits_and_retention(client: TestClient, out: Path) -> None:
    old = NOW - 40 * 86_400_000  # older than the one month of retentionPeriod=1
    (out / "old.jsonl").write_bytes(_lines(3, first=old))
    r = client.post("/api/import/preflight", json=_options("out/old.jsonl"), headers=AUTH)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["series"] == 3 and report["samples"] == 9
    assert report["target"]["retention_source"] == "flag"
    assert report["target"]["max_labels"] == 2 and report["series_over_label_limit"] == 3
    assert report["samples_outside_retention"] == 9
    assert report["warnings"]
    shifted = client.post(
        "/api/import/preflight", json=_options("out/old.jsonl", shift="now"), headers=AUTH
    ).json()
    assert shifted["samples_outside_retention"] == 0
    assert shifted["shifted_last_ms"] == shifted["now_ms"]
    assert SECRET not in r.text


@pytest.mark.parametrize(
    ("extra", "status", "words"),
    [
        ({"shift": "sideways"}, 400, "cannot parse shift"),
        ({"retention": "forever"}, 400, "retention"),
        ({"add_labels": ["novalue"]}, 400, "k=v"),
        ({"drop_labels": ["__name__"]}, 400, "__name__"),
    ],
)
def test_bad_options_answer_400_before_anything_starts(
    client: TestClient, out: Path, extra: dict[str, Any], status: int, words: str
) -> None:
    (out / "b.jsonl").write_bytes(_lines())
    for path in ("/api/import/preflight", "/api/import/start"):
        r = client.post(path, json=_options("out/b.jsonl", **extra), headers=AUTH)
        assert r.status_code == status, (path, r.text)
        assert words in r.json()["error"]
    assert client.app.state.console.jobs.jobs() == []  # type: ignore[attr-defined]


def test_refused_credentials_stop_preflight_and_start_before_any_job(
    client: TestClient, out: Path
) -> None:
    (out / "b.jsonl").write_bytes(_lines())
    body = _options("out/b.jsonl")
    body["connection"]["url"] = "http://locked.invalid:8427"
    for path in ("/api/import/preflight", "/api/import/start"):
        r = client.post(path, json=body, headers=AUTH)
        assert r.status_code == 401, r.text
        assert r.json()["hint"] and SECRET not in r.text
    assert client.app.state.console.jobs.jobs() == []  # type: ignore[attr-defined]


def test_missing_bundle_is_404_with_a_hint(client: TestClient) -> None:
    r = client.post("/api/import/start", json=_options("out/gone.zip"), headers=AUTH)
    assert r.status_code == 404
    assert r.json()["hint"]


def test_import_status_of_unknown_or_other_jobs_is_404(client: TestClient) -> None:
    r = client.get("/api/import/status", params={"id": "nope"}, headers=AUTH)
    assert r.status_code == 404
    jobs = client.app.state.console.jobs  # type: ignore[attr-defined]
    snap = jobs.submit("export", lambda ctx: None)
    jobs.wait(snap.job_id, timeout=10)
    r = client.get("/api/import/status", params={"id": snap.job_id}, headers=AUTH)
    assert r.status_code == 404
    assert "not an import" in r.json()["error"]
    r = client.post("/api/import/cancel", json={"job_id": snap.job_id}, headers=AUTH)
    assert r.status_code == 404


def test_page_holds_both_wizards_and_one_connection_card(client: TestClient) -> None:
    html = client.get("/").text
    assert 'id="import-main"' in html and 'id="imp-conn-slot"' in html
    assert html.count('id="connection-form"') == 1
    assert "promkit:import-wizard" not in html
    for name in ("import.js", "importjob.js", "import.css"):
        assert client.get(f"/static/{name}").status_code == 200
