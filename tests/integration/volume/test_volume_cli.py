"""``promkit volume`` as a user runs it (a subprocess): every storage backend, exit codes, JSON."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import orjson
import pytest

from promkit.volume.names import version_time

from .conftest import PASSWORD, Runner, Volumes

pytestmark = pytest.mark.integration


def repo_args(request: pytest.FixtureRequest, kind: str, env: dict[str, str]) -> list[str]:
    prefix = f"cli-{uuid.uuid4().hex[:8]}"
    if kind == "local":
        return []
    if kind == "s3":
        s3 = request.getfixturevalue("s3_server")
        env.update(AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key)
        # DVOM's flags, so its users can switch.
        return ["--storage", "s3", "--s3-bucket", s3.make_bucket(), "--s3-endpoint",
                s3.endpoint_url, "--s3-region", s3.region]  # fmt: skip
    gcs = request.getfixturevalue("gcs_server")
    env.update(gcs.env)
    return ["--repo", f"gs://{gcs.bucket}/{prefix}"]


@pytest.mark.parametrize("kind", ["local", "s3", "gcs"])
def test_volume_cli_round_trip_on_every_storage(
    request: pytest.FixtureRequest,
    volumes: Volumes,
    base_env: dict[str, str],
    kind: str,
    promkit: Runner,
) -> None:
    env = dict(base_env)
    where = repo_args(request, kind, env)
    source = volumes.new()
    volumes.put(source, {"a.txt": b"alpha", ".dot": b"dot", "d/b.bin": os.urandom(300_000)})

    out = promkit("backup", "--volume", source, "--name", "app", "--json", *where, env=env)
    manifest = orjson.loads(out.stdout)
    assert manifest["encryption"]["kdf"] == "scrypt"
    assert PASSWORD not in out.stdout + out.stderr

    listed = orjson.loads(promkit("list", "--json", *where, env=env).stdout)
    assert [(x["name"], x["versions"], x["encrypted"]) for x in listed] == [("app", 1, True)]
    versions = orjson.loads(promkit("versions", "app", "--json", *where, env=env).stdout)
    assert [v["version"] for v in versions] == [manifest["version"]]
    info = orjson.loads(promkit("info", f"app@{manifest['version']}", "--json", *where,
                                env=env).stdout)  # fmt: skip
    assert info["tar_sha256"] == manifest["tar_sha256"]
    promkit("verify", "app", *where, env=env)

    target = volumes.adopt(f"{source}-r")
    promkit("restore", "--snapshot", "app", "--target-volume", target, "--create-volume",
            *where, env=env)  # fmt: skip
    assert volumes.snapshot(target) == volumes.snapshot(source)


def test_volume_cli_refuses_unsafe_or_wrong_use(
    volumes: Volumes, base_env: dict[str, str], tmp_path: Path, promkit: Runner
) -> None:
    env = base_env
    source = volumes.new()
    volumes.put(source, {"a": b"a"})
    promkit("backup", "--volume", source, "--name", "app", env=env)

    # A password on argv is refused before anything happens.
    bad = promkit("backup", "--volume", source, "--name", "x", "--password", "p", env=env,
                  check_rc=2)  # fmt: skip
    assert "never taken from the command line" in bad.stderr

    # Non-empty target, no terminal, no --force: non-zero exit, nothing changed.
    before = volumes.snapshot(source)
    refused = promkit("restore", "-s", "app", "--target-volume", source, env=env, check_rc=8)
    assert "--force" in refused.stderr
    assert volumes.snapshot(source) == before

    wrong = dict(env, PROMKIT_VOLUME_PASSWORD="nope")
    denied = promkit("restore", "-s", "app", "--target-volume", source, "--force", env=wrong,
                     check_rc=4)  # fmt: skip
    assert "wrong password" in denied.stderr and "Traceback" not in denied.stderr

    missing = promkit("restore", "-s", "nothing", "--target-volume", source, env=env, check_rc=5)
    assert "nothing" in missing.stderr

    pw_file = tmp_path / "pw"
    pw_file.write_text("from-file\n")
    no_env = {k: v for k, v in env.items() if k != "PROMKIT_VOLUME_PASSWORD"}
    promkit("backup", "--volume", source, "--name", "filepw", "--password-file", str(pw_file),
            env=no_env)  # fmt: skip
    promkit("verify", "filepw", "--password-file", str(pw_file), env=no_env)
    promkit("verify", "filepw", env=no_env, check_rc=2)  # encrypted, no password, no terminal

    promkit("delete", "app", env=env, check_rc=8)  # no --force, no terminal
    promkit("delete", "app", "--force", env=env)
    promkit("versions", "app", env=env, check_rc=5)


def test_volume_cli_prune_keeps_the_newest(
    volumes: Volumes, base_env: dict[str, str], promkit: Runner
) -> None:
    env = dict(base_env)
    del env["PROMKIT_VOLUME_PASSWORD"]
    source = volumes.new()
    volumes.put(source, {"a": b"a"})
    ids = [
        orjson.loads(
            promkit("backup", "--volume", source, "--name", "p", "--json", env=env).stdout
        )["version"]
        for _ in range(3)
    ]
    dry = orjson.loads(promkit("prune", "p", "--keep-last", "1", "--dry-run", "--json",
                               env=env).stdout)  # fmt: skip
    assert dry[0]["remove"] == sorted(ids[:2], reverse=True)
    by_period = orjson.loads(promkit("prune", "p", "--keep-hourly", "2", "--keep-yearly", "1",
                                     "--dry-run", "--json", env=env).stdout)[0]  # fmt: skip
    assert by_period["keep"][0] == {"version": ids[2], "reasons": ["hourly", "yearly"]}
    hours = {version_time(v).replace(minute=0, second=0, microsecond=0) for v in ids}
    assert len(by_period["keep"]) == min(len(hours), 2)  # 3 backups rarely straddle an hour
    kept_and_removed = [k["version"] for k in by_period["keep"]] + by_period["remove"]
    assert sorted(kept_and_removed) == sorted(ids)
    assert len(orjson.loads(promkit("versions", "p", "--json", env=env).stdout)) == 3
    promkit("prune", "p", "--keep-last", "1", env=env, check_rc=8)  # destructive, no --force
    promkit("prune", "p", "--keep-last", "1", "--force", env=env)
    left = orjson.loads(promkit("versions", "p", "--json", env=env).stdout)
    assert [v["version"] for v in left] == [ids[2]]
    promkit("prune", "p", env=env, check_rc=2)  # no rule: refuses to delete everything


def test_volume_cli_volumes_lists_users(
    volumes: Volumes, base_env: dict[str, str], promkit: Runner
) -> None:
    volume = volumes.new()
    container = volumes.container(volume)
    listed = orjson.loads(promkit("volumes", "--json", env=base_env).stdout)
    mine = [v for v in listed if v["name"] == volume]
    assert mine and mine[0]["containers"] == [container.name]
