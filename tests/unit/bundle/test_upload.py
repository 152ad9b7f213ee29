"""Upload sink: gzip chunks, tenant headers, retries/backoff, fail-fast 4xx, checkpoint resume.

The HTTP side is an ``httpx.MockTransport`` (pure client logic); the real server round trips
are in ``tests/integration/bundle_import``.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from promkit.bundle.alignment import ShiftSpec
from promkit.bundle.reader import open_bundle
from promkit.bundle.upload import ImportPlan, RetryPolicy, import_runner, tenant_headers
from promkit.core.connection import Auth, AuthType, Connection, ConnectionConfig
from promkit.core.errors import AuthError, ConnectError, DataError, UpstreamError
from promkit.core.jobs import read_checkpoint, write_checkpoint

NOW = 1_800_000_000_000


@dataclass
class Ctx:
    staging_dir: Path
    done: list[int] = field(default_factory=list)
    total: int = 0

    def check_canceled(self) -> None:
        return None

    def set_total(self, total_windows: int) -> None:
        self.total = total_windows

    def restore(self, *, completed_windows: int, samples: int, lines: int) -> None:
        return None

    def window_done(self, index: int, **_: Any) -> None:
        self.done.append(index)

    def save_checkpoint(self, data: dict[str, Any]) -> None:
        write_checkpoint(self.staging_dir, data)

    def load_checkpoint(self) -> dict[str, Any] | None:
        return read_checkpoint(self.staging_dir)


@dataclass
class Server:
    """Records every import request; ``plan`` says how to answer request n (0-based)."""

    plan: Callable[[int], httpx.Response | Exception] = lambda n: httpx.Response(204)
    requests: list[httpx.Request] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        n = len(self.requests)
        self.requests.append(request)
        answer = self.plan(n)
        if isinstance(answer, Exception):
            raise answer
        if answer.status_code < 300:
            self.bodies.append(gzip.decompress(request.content))
        return answer

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(x) for b in self.bodies for x in b.splitlines()]


def _bundle(tmp_path: Path, n: int = 200) -> Path:
    path = tmp_path / f"m{n}.jsonl"
    if path.exists():  # a rewrite would change the fingerprint (mtime) and defeat resume
        return path
    path.write_bytes(
        b"".join(
            b'{"metric":{"__name__":"m","i":"%d"},"values":[1,2],"timestamps":[%d,%d]}\n'
            % (i, NOW - 2000, NOW - 1000)
            for i in range(n)
        )
    )
    return path


def _run(
    tmp_path: Path,
    server: Server,
    *,
    url: str = "http://vm.test:8428",
    plan: ImportPlan | None = None,
    n: int = 200,
    sleeps: list[float] | None = None,
    **conn: Any,
) -> Any:
    staging = tmp_path / "state"
    staging.mkdir(exist_ok=True)
    reader = open_bundle(_bundle(tmp_path, n))
    connection = Connection.from_config(ConnectionConfig(url=url, **conn))
    the_plan = plan or ImportPlan(chunk_bytes=2000, verify=False)
    runner = import_runner(
        reader,
        connection,
        the_plan,
        now_ms=NOW,
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        transport=server.transport,
    )
    return runner(Ctx(staging))


def test_upload_sends_gzip_chunks_with_every_line(tmp_path: Path) -> None:
    server = Server()
    result = _run(tmp_path, server)
    assert len(server.requests) == result.chunks > 5
    req = server.requests[0]
    assert req.url.path == "/api/v1/import"
    assert req.headers["Content-Encoding"] == "gzip"
    assert "X-Vm-AccountID" not in req.headers
    got = server.lines()
    assert [line["metric"]["i"] for line in got] == [str(i) for i in range(200)]
    assert result.samples_sent == 400 and result.lines == 200
    assert (result.first_ms, result.last_ms) == (NOW - 2000, NOW - 1000)
    assert not (tmp_path / "state" / "checkpoint.json").exists()


def test_upload_tenant_path_and_headers(tmp_path: Path) -> None:
    server = Server()
    _run(tmp_path, server, tenant_id="12:3")
    req = server.requests[0]
    assert req.url.path == "/insert/12:3/prometheus/api/v1/import"
    assert req.headers["X-Vm-AccountID"] == "12"
    assert req.headers["X-Vm-ProjectID"] == "3"
    conn = Connection.from_url("http://h:8480/insert/7/prometheus")
    assert tenant_headers(conn)["X-Vm-TenantID"] == "7"


def test_upload_bearer_auth_and_labels_shift(tmp_path: Path) -> None:
    server = Server()
    auth = Auth(type=AuthType.BEARER, token="s3cret")  # type: ignore[arg-type]
    plan = ImportPlan(
        shift=ShiftSpec.parse("1h", now_ms=NOW),
        add_labels={"env": "lab"},
        drop_labels=("i",),
        verify=False,
    )
    _run(tmp_path, server, plan=plan, n=3, auth=auth)
    assert server.requests[0].headers["Authorization"] == "Bearer s3cret"
    got = server.lines()
    assert all(line["metric"] == {"__name__": "m", "env": "lab"} for line in got)
    assert got[0]["timestamps"] == [NOW - 2000 + 3_600_000, NOW - 1000 + 3_600_000]


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503, text="busy"),
        httpx.Response(429),
        httpx.Response(502),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
)
def test_upload_retries_transient_failures(tmp_path: Path, failure: Any) -> None:
    server = Server(plan=lambda n: failure if n in (1, 2) else httpx.Response(204))
    sleeps: list[float] = []
    result = _run(tmp_path, server, sleeps=sleeps)
    assert result.retries == 2
    assert len(sleeps) == 2 and sleeps[1] > 0
    assert [line["metric"]["i"] for line in server.lines()] == [str(i) for i in range(200)]


def test_upload_backoff_is_capped_and_exponential() -> None:
    policy = RetryPolicy(attempts=20, initial_s=1, max_s=8)
    delays = [policy.delay(a) for a in range(10)]
    assert all(0.5 <= d <= 8 for d in delays)
    assert max(delays[5:]) <= 8 and min(delays[5:]) >= 4


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, DataError), (422, DataError), (401, AuthError), (403, AuthError)],
)
def test_upload_client_errors_fail_fast(tmp_path: Path, status: int, error: type) -> None:
    server = Server(plan=lambda n: httpx.Response(status, text="bad things"))
    sleeps: list[float] = []
    with pytest.raises(error):
        _run(tmp_path, server, sleeps=sleeps)
    assert len(server.requests) == 1 and sleeps == []


def test_upload_gives_up_after_the_retry_budget(tmp_path: Path) -> None:
    plan = ImportPlan(chunk_bytes=2000, verify=False, retry=RetryPolicy(attempts=3))
    server = Server(plan=lambda n: httpx.Response(503))
    with pytest.raises(UpstreamError, match="after retries"):
        _run(tmp_path, server, plan=plan)
    assert len(server.requests) == 3
    server = Server(plan=lambda n: httpx.ConnectError("down"))
    with pytest.raises(ConnectError):
        _run(tmp_path, server, plan=plan)


def test_upload_resumes_after_the_last_acknowledged_chunk(tmp_path: Path) -> None:
    first = Server(plan=lambda n: httpx.Response(204) if n < 3 else httpx.Response(400))
    with pytest.raises(DataError):
        _run(tmp_path, first)
    checkpoint = read_checkpoint(tmp_path / "state")
    assert checkpoint is not None and checkpoint["chunks"] == 3
    second = Server()
    result = _run(tmp_path, second)
    assert result.resumed_from_chunk == 3
    ids = [line["metric"]["i"] for line in first.lines() + second.lines()]
    assert ids == [str(i) for i in range(200)]  # nothing twice, nothing lost
    assert result.samples_sent == 400  # counts cover the whole import


def test_upload_changed_options_start_over(tmp_path: Path) -> None:
    first = Server(plan=lambda n: httpx.Response(204) if n < 2 else httpx.Response(400))
    with pytest.raises(DataError):
        _run(tmp_path, first)
    second = Server()
    plan = ImportPlan(chunk_bytes=2000, verify=False, add_labels={"run": "2"})
    result = _run(tmp_path, second, plan=plan)
    assert result.resumed_from_chunk == 0
    assert len(second.lines()) == 200


def test_upload_secrets_never_in_errors(tmp_path: Path) -> None:
    server = Server(plan=lambda n: httpx.Response(400, text="echo Bearer s3cret-token"))
    auth = Auth(type=AuthType.BEARER, token="s3cret-token")  # type: ignore[arg-type]
    with pytest.raises(DataError) as exc:
        _run(tmp_path, server, auth=auth)
    assert "s3cret-token" not in exc.value.message


def test_upload_mixed_plain_and_odd_lines_arrive_point_by_point(tmp_path: Path) -> None:
    plain = b'{"metric":{"__name__":"p","i":"%d"},"values":[1,+Inf],"timestamps":[1,2]}\n'
    odd = b'{"metric":{"__name__":"o"},"values":[null,"2",true],"timestamps":[1,2,3]}\n'
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"".join(plain % i for i in range(50)) + odd + b"not json\n" + plain % 99)
    server = Server()
    reader = open_bundle(path)
    conn = Connection.from_url("http://vm.test:8428")
    runner = import_runner(reader, conn, ImportPlan(verify=False), transport=server.transport)
    (tmp_path / "st").mkdir()
    result = runner(Ctx(tmp_path / "st"))
    body = b"".join(server.bodies)
    assert body.count(b'"__name__":"p"') == 51 and b"+Inf" in body
    assert b'{"metric":{"__name__":"o"},"values":[2.0,1],"timestamps":[2,3]}' in body
    assert (result.lines, result.bad_lines, result.skipped_values) == (53, 1, 1)
    assert result.samples_sent == 51 * 2 + 2


def test_upload_damaged_bundle_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    import zipfile

    from promkit.bundle.archive import BundleMetadata, TimeRange, write_bundle
    from promkit.core.errors import IntegrityError

    staging = tmp_path / "staging.jsonl"
    staging.write_bytes(_bundle(tmp_path).read_bytes())
    meta = BundleMetadata(
        export_id="exp-20261123T190000Z-abcdef",
        export_date="2026-11-23T19:00:00.000Z",
        time_range=TimeRange.of_ms(NOW - 2000, NOW - 1000),
        mode="selector",
        query="{}",
    )
    good = write_bundle(tmp_path / "out", staging, meta).path
    with zipfile.ZipFile(good) as zf:
        metadata = zf.read("metadata.json")
    bad = tmp_path / "bad.zip"  # no sidecar; one value changed; metadata's SHA-256 kept
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metrics.jsonl", staging.read_bytes().replace(b"[1,2]", b"[1,3]", 1))
        zf.writestr("metadata.json", metadata)
    server = Server()
    runner = import_runner(
        open_bundle(bad),
        Connection.from_url("http://vm.test:8428"),
        ImportPlan(verify=False),
        transport=server.transport,
    )
    (tmp_path / "st").mkdir()
    with pytest.raises(IntegrityError):
        runner(Ctx(tmp_path / "st"))
    assert server.requests == []


def test_upload_cancel_keeps_the_checkpoint_for_resume(tmp_path: Path) -> None:
    from promkit.core.errors import CanceledError

    class Canceling(Ctx):
        def check_canceled(self) -> None:
            if len(self.done) >= 2:
                raise CanceledError("the job was canceled")

    server = Server()
    (tmp_path / "state").mkdir()
    reader = open_bundle(_bundle(tmp_path))
    conn = Connection.from_url("http://vm.test:8428")
    plan = ImportPlan(chunk_bytes=2000, verify=False)
    with pytest.raises(CanceledError):
        import_runner(reader, conn, plan, transport=server.transport)(Canceling(tmp_path / "state"))
    checkpoint = read_checkpoint(tmp_path / "state")
    assert checkpoint is not None and checkpoint["chunks"] == 2
    rest = Server()
    result = import_runner(reader, conn, plan, transport=rest.transport)(Ctx(tmp_path / "state"))
    assert result.resumed_from_chunk == 2
    ids = [line["metric"]["i"] for line in server.lines() + rest.lines()]
    assert ids == [str(i) for i in range(200)]


def test_upload_vmauth_refused_token_is_an_auth_error(tmp_path: Path) -> None:
    # vmauth answers a wrong password with 400 and the text below, never 401
    text = 'cannot find the provided auth token "Bearer zzz"'
    server = Server(plan=lambda n: httpx.Response(400, text=text))
    with pytest.raises(AuthError, match="credentials refused"):
        _run(tmp_path, server)
    assert len(server.requests) == 1
