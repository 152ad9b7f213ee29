"""S3 endpoint, region, profile and credentials from flags (moto in server mode)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from .conftest import PASSWORD, Runner, Volumes

pytestmark = pytest.mark.integration
SECRET = "s3-Secret-Never-Printed-7f3a"


def _flags(s3: Any, *extra: str) -> list[str]:
    return ["--repo", f"s3://{s3.make_bucket()}/p-{uuid.uuid4().hex[:6]}",
            "--s3-endpoint-url", s3.endpoint_url, "--s3-region", s3.region, *extra]  # fmt: skip


def test_volume_s3_credentials_from_flags_round_trip(
    s3_server: Any, volumes: Volumes, base_env: dict[str, str], promkit: Runner, tmp_path: Path
) -> None:
    env = dict(base_env)  # no AWS_* variables at all: everything comes from flags and files
    secret_file = tmp_path / "s3-secret"
    secret_file.write_text(SECRET + "\n")
    where = _flags(s3_server, "--s3-access-key-id", "AKIDFLAG",
                   "--s3-secret-access-key-file", str(secret_file))  # fmt: skip
    source = volumes.new()
    volumes.put(source, {"a.txt": b"alpha", "d/b.bin": os.urandom(200_000)})
    out = promkit("backup", "--volume", source, "--name", "s3f", "--json", *where, env=env)
    version = orjson.loads(out.stdout)["version"]
    listed = promkit("versions", "s3f", "--json", *where, env=env)
    assert [v["version"] for v in orjson.loads(listed.stdout)] == [version]
    target = volumes.adopt(f"{source}-r")
    done = promkit("restore", "--snapshot", "s3f", "--target-volume", target, "--create-volume",
                   *where, env=env)  # fmt: skip
    assert volumes.snapshot(target) == volumes.snapshot(source)
    for result in (out, listed, done):
        assert SECRET not in result.stdout + result.stderr
        assert PASSWORD not in result.stdout + result.stderr


def test_volume_s3_profile_and_env_secret(
    s3_server: Any, base_env: dict[str, str], promkit: Runner, tmp_path: Path
) -> None:
    creds = tmp_path / "credentials"
    creds.write_text(f"[lab]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = {SECRET}\n")
    env = dict(base_env, AWS_SHARED_CREDENTIALS_FILE=str(creds),
               AWS_CONFIG_FILE=str(tmp_path / "none"))  # fmt: skip
    # The whole profile, through s3fs/botocore.
    assert promkit("list", "--json", *_flags(s3_server, "--s3-profile", "lab"),
                   env=env).stdout.strip() == "[]"  # fmt: skip
    # A key id on the command line, its secret from the profile or from AWS_SECRET_ACCESS_KEY.
    promkit("list", *_flags(s3_server, "--s3-profile", "lab", "--s3-access-key-id", "AKID2"),
            env=env)  # fmt: skip
    promkit("list", *_flags(s3_server, "--s3-access-key-id", "AKID3"),
            env=dict(base_env, AWS_SECRET_ACCESS_KEY=SECRET))  # fmt: skip
    missing = promkit("list", *_flags(s3_server, "--s3-profile", "nope", "--s3-access-key-id",
                                      "AKID4"), env=env, check_rc=2)  # fmt: skip
    assert "profile 'nope' not found" in missing.stderr


def test_volume_s3_missing_or_argv_secret_is_a_usage_error(
    s3_server: Any, base_env: dict[str, str], promkit: Runner, tmp_path: Path
) -> None:
    no_secret = promkit("list", *_flags(s3_server, "--s3-access-key-id", "AKID"),
                        env=base_env, check_rc=2)  # fmt: skip
    assert "needs its secret access key" in no_secret.stderr
    assert "--s3-secret-access-key-file" in no_secret.stderr
    no_id = promkit("list", *_flags(s3_server, "--s3-secret-access-key-file", str(tmp_path)),
                    env=base_env, check_rc=2)  # fmt: skip
    assert "needs an access key id" in no_id.stderr
    on_argv = _flags(s3_server, "--s3-access-key-id", "AKID", "--s3-secret-access-key", SECRET)
    argv = promkit("list", *on_argv, env=base_env, check_rc=2)
    assert "never taken from the command line" in argv.stderr
    assert SECRET not in argv.stdout + argv.stderr


def test_volume_s3_secret_never_in_errors(
    s3_server: Any, base_env: dict[str, str], promkit: Runner, tmp_path: Path
) -> None:
    secret_file = tmp_path / "s3-secret"
    secret_file.write_text(SECRET)
    creds = ["--s3-access-key-id", "AKID", "--s3-secret-access-key-file", str(secret_file)]
    missing_bucket = ["--repo", f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/x",
                      "--s3-endpoint-url", s3_server.endpoint_url, *creds]  # fmt: skip
    failed = promkit("info", "db", *missing_bucket, env=base_env, check_rc=None)
    assert failed.returncode != 0
    unreachable = ["--repo", "s3://b/x", "--s3-endpoint-url", "http://127.0.0.1:9", *creds]
    down = promkit("list", *unreachable, env=base_env, check_rc=None)
    assert down.returncode != 0
    for result in (failed, down):
        assert "Traceback" not in result.stderr
        assert SECRET not in result.stdout + result.stderr


def test_volume_s3_without_any_credentials_fails(
    s3_server: Any, base_env: dict[str, str], promkit: Runner, tmp_path: Path
) -> None:
    """The tests above pass because of the flags: with none, the same call is refused."""
    env = dict(base_env, AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_CONFIG_FILE=str(tmp_path / "none"))  # fmt: skip
    refused = promkit("list", *_flags(s3_server), env=env, check_rc=None)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
