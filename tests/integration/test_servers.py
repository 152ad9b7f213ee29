"""Each real-server fixture really serves what its docstring promises."""

from __future__ import annotations

import io
import os
import struct
import tarfile
import time
import uuid
from collections.abc import Iterator

import cramjam
import httpx
import psycopg
import pytest
import s3fs

from support.docker_image import DockerEngine
from support.servers import GCSServer, PostgresServer, PrometheusServer, S3Server, VMAuthServer


def _now_ms() -> int:
    return int(time.time() * 1000) - 60_000  # export's default end is "now"


@pytest.mark.parametrize("auth_kind", ["basic", "bearer"])
def test_vmauth_rw_queries_work_with_basic_and_bearer_auth(
    vmauth: VMAuthServer, auth_kind: str
) -> None:
    ts = _now_ms()
    vmauth.vm.seed("vmauth_fixture_q", {"job": f"j-{auth_kind}"}, [7], [ts])
    auth = vmauth.basic_auth if auth_kind == "basic" else None
    headers = vmauth.bearer_headers if auth_kind == "bearer" else None
    base = vmauth.tenant_base()
    assert base.endswith("/1011/rw/prometheus")
    with httpx.Client(auth=auth, headers=headers) as client:
        r = client.get(
            f"{base}/api/v1/query", params={"query": "vmauth_fixture_q", "time": ts / 1000}
        )
        assert r.status_code == 200, r.text
        jobs = {row["metric"]["job"] for row in r.json()["data"]["result"]}
        assert f"j-{auth_kind}" in jobs
        start, end = ts / 1000 - 60, ts / 1000 + 60
        window = {"start": start, "end": end}
        query_range = client.get(
            f"{base}/api/v1/query_range",
            params={"query": "vmauth_fixture_q", "step": 15, **window},
        ).json()["data"]["result"]
        assert f"j-{auth_kind}" in {row["metric"]["job"] for row in query_range}
        series = client.get(
            f"{base}/api/v1/series", params={"match[]": "vmauth_fixture_q", **window}
        ).json()["data"]
        assert {"__name__": "vmauth_fixture_q", "job": f"j-{auth_kind}"} in series
        assert "job" in client.get(f"{base}/api/v1/labels", params=window).json()["data"]
        values = client.get(f"{base}/api/v1/label/job/values", params=window).json()["data"]
        assert f"j-{auth_kind}" in values


def test_vmauth_export_only_under_non_rw_base(vmauth: VMAuthServer) -> None:
    ts = _now_ms()
    vmauth.vm.seed("vmauth_fixture_export", {"job": "exp"}, [1.5], [ts])
    with httpx.Client(auth=vmauth.basic_auth) as client:
        ok = client.post(
            f"{vmauth.export_base(1011)}/api/v1/export",
            data={"match[]": "vmauth_fixture_export"},
            headers={"Accept-Encoding": "identity"},
        )
        assert ok.status_code == 200, ok.text
        assert b'"__name__":"vmauth_fixture_export"' in ok.content
        assert b"[1.5]" in ok.content

        missing = client.post(
            f"{vmauth.tenant_base(1011)}/api/v1/export", data={"match[]": "vmauth_fixture_export"}
        )
        assert missing.status_code == 400
        assert 'missing route for "/1011/rw/prometheus/api/v1/export"' in missing.text


@pytest.mark.parametrize(
    "path",
    [
        "/1011/rw/prometheus/api/v1/export",
        "/1011/rw/prometheus/api/v1/export/native",
        "/1011/rw/prometheus/api/v1/query_exemplars",  # src_paths are anchored regexes
        "/1011/prometheus/api/v1/query",  # the non-rw base serves export only
        "/api/v1/query",
        "/prometheus/api/v1/query",
        "/select/0/prometheus/api/v1/query",
    ],
)
def test_vmauth_unrouted_paths_give_missing_route(vmauth: VMAuthServer, path: str) -> None:
    r = httpx.get(f"{vmauth.url}{path}", params={"query": "1"}, auth=vmauth.basic_auth)
    assert r.status_code == 400
    # vmauth 1.79 quotes the path together with its query string
    assert f'cannot determine targetURL: missing route for "{path}?query=1"' in r.text


def test_vmauth_gzip_export_streams_through(vmauth: VMAuthServer) -> None:
    ts = _now_ms()
    vmauth.vm.import_lines(
        {
            "metric": {"__name__": "vmauth_fixture_gzip", "i": str(i)},
            "values": [i],
            "timestamps": [ts],
        }
        for i in range(2000)
    )
    with httpx.stream(
        "POST",
        f"{vmauth.export_base()}/api/v1/export",
        data={"match[]": "vmauth_fixture_gzip"},
        headers=vmauth.bearer_headers,  # httpx asks for gzip by default
    ) as r:
        assert r.status_code == 200
        assert r.headers.get("content-encoding") == "gzip"
        lines = [line for line in r.iter_lines() if line]
    assert len(lines) == 2000


def test_vmauth_rejects_missing_and_wrong_credentials(vmauth: VMAuthServer) -> None:
    url = f"{vmauth.tenant_base()}/api/v1/labels"
    assert httpx.get(url).status_code == 401
    wrong = httpx.get(url, auth=(vmauth.username, "not-the-password"))
    assert wrong.status_code == 400
    assert "cannot find the provided auth token" in wrong.text
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 400
    assert httpx.get(f"{vmauth.url}/health").status_code == 200
    assert b"vmauth_" in httpx.get(f"{vmauth.url}/metrics").content


def test_vmauth_imports_through_rw_route(vmauth: VMAuthServer) -> None:
    ts = _now_ms()
    line = (
        b'{"metric":{"__name__":"vmauth_fixture_import","job":"imp"},"values":[3],"timestamps":[%d]}\n'
        % ts
    )

    def chunks() -> Iterator[bytes]:  # chunked request body, as a streaming importer sends it
        yield line

    r = httpx.post(
        f"{vmauth.tenant_base()}/api/v1/import", content=chunks(), headers=vmauth.bearer_headers
    )
    assert r.status_code == 204, r.text
    vmauth.vm.flush()
    rows = vmauth.vm.export('{__name__="vmauth_fixture_import"}')
    assert [row["values"] for row in rows] == [[3]]


def _write_request(metric: str, value: float, ts_ms: int) -> bytes:
    """A one-sample prometheus.WriteRequest, protobuf-encoded by hand."""

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            byte, n = n & 0x7F, n >> 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def field(number: int, payload: bytes) -> bytes:  # length-delimited
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    label = field(1, b"__name__") + field(2, metric.encode())
    sample = b"\x09" + struct.pack("<d", value) + b"\x10" + varint(ts_ms)
    return field(1, field(1, label) + field(2, sample))


def test_prometheus_accepts_remote_write_and_scrapes_itself(prometheus: PrometheusServer) -> None:
    assert prometheus.wait_for('up{job="prometheus"} == 1')
    ts = int(time.time() * 1000)
    body = bytes(cramjam.snappy.compress_raw(_write_request("promkit_rw_fixture", 42.5, ts)))
    r = httpx.post(
        prometheus.remote_write_url,
        content=body,
        headers={
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
        },
    )
    assert r.status_code == 204, r.text
    result = prometheus.wait_for("promkit_rw_fixture")
    assert [row["value"][1] for row in result] == ["42.5"]


def test_postgres_db_accepts_password_login(postgres_db: str, postgres: PostgresServer) -> None:
    assert postgres_db.startswith(f"postgresql+psycopg://promkit:{postgres.password}@127.0.0.1:")
    dsn = postgres_db.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        conn.execute("CREATE TABLE t (x int)")  # the test role owns its fresh database
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(dsn.replace(postgres.password, "wrong"))


def test_s3_server_round_trips_through_s3fs(s3_server: S3Server) -> None:
    bucket = s3_server.make_bucket()
    fs = s3fs.S3FileSystem(**s3_server.storage_options)
    payload = os.urandom(256 * 1024)
    with fs.open(f"{bucket}/dir/blob.bin", "wb") as f:
        f.write(payload)
    assert fs.cat(f"{bucket}/dir/blob.bin") == payload
    assert fs.ls(f"{bucket}/dir") == [f"{bucket}/dir/blob.bin"]


def test_gcs_server_round_trips_through_gcsfs(gcs_server: GCSServer) -> None:
    import gcsfs  # imported after conftest set GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT

    fs = gcsfs.GCSFileSystem(**gcs_server.storage_options)
    payload = os.urandom(64 * 1024)
    path = f"{gcs_server.bucket}/{uuid.uuid4().hex}/blob.bin"
    with fs.open(path, "wb") as f:
        f.write(payload)
    assert fs.cat(path) == payload


def test_docker_busybox_container_writes_volume_and_archives_unstarted(
    docker_engine: DockerEngine, busybox_image: str
) -> None:
    client = docker_engine.client
    assert docker_engine.base_url.startswith(("unix://", "tcp://"))
    volume = client.volumes.create(name=f"promkit-test-{uuid.uuid4().hex[:12]}")
    mounts = {volume.name: {"bind": "/data", "mode": "rw"}}
    try:
        writer = client.containers.run(
            busybox_image,
            ["sh", "-c", "echo hi > /data/x"],
            network_mode="none",
            volumes=mounts,
            detach=True,
        )
        try:
            assert writer.wait(timeout=60)["StatusCode"] == 0
            assert writer.attrs["HostConfig"]["NetworkMode"] == "none"
        finally:
            writer.remove(force=True)

        reader = client.containers.create(
            busybox_image, ["true"], network_mode="none", volumes=mounts
        )
        try:
            stream, stat = reader.get_archive("/data/x")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.extractfile("x")
                assert member is not None
                assert member.read() == b"hi\n"
            assert stat["name"] == "x"
            reader.reload()
            assert reader.status == "created"  # never started
        finally:
            reader.remove(force=True)
    finally:
        volume.remove(force=True)
