"""S3 (moto server) and GCS (gcp-storage-emulator) endpoints for object-storage tests."""

from __future__ import annotations

import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from support.process import (
    ManagedProcess,
    ServerUnavailable,
    free_port,
    http_ok,
)


@dataclass
class S3Server:
    """moto in server mode: a real S3 HTTP endpoint with dummy credentials.

    For s3fs: ``s3fs.S3FileSystem(**s3.storage_options)``; for boto3: ``s3.client()``;
    for subprocesses or code that reads the environment: ``s3.env``.
    """

    process: ManagedProcess
    port: int
    access_key: str = "testing"
    secret_key: str = "testing"
    region: str = "us-east-1"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }

    @property
    def storage_options(self) -> dict[str, Any]:
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": self.region},
        }

    def client(self) -> Any:
        import boto3  # type: ignore[import-untyped]

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def make_bucket(self, name: str | None = None) -> str:
        bucket = name or f"promkit-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def stop(self) -> None:
        self.process.stop()


def start_s3(base_dir: Path) -> S3Server:
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        raise ServerUnavailable("moto[server] is not installed (pip install -e '.[dev]')") from exc
    port = free_port()
    proc = ManagedProcess(
        name="moto-s3",
        argv=[sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        log_path=base_dir / f"moto-{port}.log",
    )
    proc.start()
    proc.wait_ready(http_ok(f"http://127.0.0.1:{port}/moto-api/"))
    return S3Server(process=proc, port=port)


@dataclass
class GCSServer:
    """gcp-storage-emulator (in memory) with one default bucket ``bucket``.

    For gcsfs: ``gcsfs.GCSFileSystem(**gcs.storage_options)``; gcsfs must be imported with
    ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` (tests/conftest.py sets it), otherwise each
    call first waits ~60 s on a gRPC probe the emulator never answers.
    """

    process: ManagedProcess
    port: int
    bucket: str = "promkit-test"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "STORAGE_EMULATOR_HOST": self.endpoint_url,
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        }

    @property
    def storage_options(self) -> dict[str, Any]:
        return {"endpoint_url": self.endpoint_url, "token": "anon"}

    def make_bucket(self, name: str | None = None) -> str:
        bucket = name or f"promkit-{uuid.uuid4().hex[:12]}"
        r = httpx.post(
            f"{self.endpoint_url}/storage/v1/b", params={"project": "test"}, json={"name": bucket}
        )
        r.raise_for_status()
        return bucket

    def stop(self) -> None:
        self.process.stop()


def start_gcs(base_dir: Path) -> GCSServer:
    binary = shutil.which("gcp-storage-emulator") or str(
        Path(sys.executable).parent / "gcp-storage-emulator"
    )
    if not Path(binary).exists():
        raise ServerUnavailable("gcp-storage-emulator is not installed (pip install -e '.[dev]')")
    port = free_port()
    bucket = "promkit-test"
    proc = ManagedProcess(
        name="gcp-storage-emulator",
        argv=[
            binary,
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--in-memory",
            "--default-bucket",
            bucket,
        ],
        log_path=base_dir / f"gcs-{port}.log",
    )
    proc.start()
    proc.wait_ready(http_ok(f"http://127.0.0.1:{port}/storage/v1/b/{bucket}"))
    return GCSServer(process=proc, port=port, bucket=bucket)
