"""The console API and ``promkit gather validate`` against real servers, over real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from promkit.core.errors import AuthError, UsageError
from promkit.core.web import (
    TOKEN_HEADER,
    ListenAddress,
    bind_listen_socket,
)
from support.browser import ConsoleServer, start_console
from support.servers import PrometheusServer, VMAuthServer, VMServer, free_port

pytestmark = pytest.mark.integration

SECRET = "Sup3r-s3cret-pa55"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    server = start_console(tmp_path_factory.mktemp("console"))
    yield server
    server.stop()


def _validate(console: ConsoleServer, connection: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        console.url + "api/validate",
        json={"connection": connection},
        headers={TOKEN_HEADER: console.token},
        timeout=60,
    )


def _run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promkit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
        stdin=subprocess.DEVNULL,
    )


# --------------------------------------------------------------------------- console API


def test_ui_validate_real_vm_reports_vmsingle(console: ConsoleServer, vm: VMServer) -> None:
    r = _validate(console, {"url": vm.url})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["flavour"] == "vmsingle"
    assert body["endpoint"] == vm.url
    # Debian's 1.79.5 build has empty version labels; whatever is reported is passed through.
    assert "version" in body and "version" in body["message"]
    assert body["attempts"][0] == {
        "endpoint": f"{vm.url}/api/v1/query",
        "ok": True,
        "status": 200,
        "error": None,
    }


def test_ui_validate_unreachable_url_is_502_with_hint(console: ConsoleServer) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    r = _validate(console, {"url": url})
    assert r.status_code == 502
    body = r.json()
    assert body["error"].startswith("cannot connect to")
    assert "running" in body["hint"]
    assert body["attempts"][0]["ok"] is False


def test_ui_validate_page_and_api_reject_foreign_host_over_a_real_socket(
    console: ConsoleServer,
) -> None:
    r = httpx.get(console.url, headers={"Host": f"rebind.example:{console.port}"})
    assert r.status_code == 403
    r = httpx.get(console.url)
    assert r.status_code == 200 and console.token in r.text


def test_ui_validate_vmauth_tenant_url_reports_vmauth(
    console: ConsoleServer, vmauth: VMAuthServer
) -> None:
    auth = {"type": "basic", "username": vmauth.username, "password": vmauth.password}
    r = _validate(console, {"url": vmauth.tenant_base(), "auth": auth})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["flavour"] == "vmauth"
    assert body["tenant_id"] == vmauth.default_tenant
    assert vmauth.password not in r.text


@pytest.mark.parametrize(
    "auth",
    [
        {"type": "basic", "username": "user", "password": SECRET},
        {"type": "bearer", "token": SECRET},
    ],
)
def test_ui_validate_vmauth_wrong_credentials_is_401_with_hint(
    console: ConsoleServer, vmauth: VMAuthServer, auth: dict[str, str]
) -> None:
    r = _validate(console, {"url": vmauth.tenant_base(), "auth": auth})
    assert r.status_code == 401, r.text
    body = r.json()
    assert "credentials" in body["error"]
    assert body["hint"] == AuthError.default_hint
    assert SECRET not in r.text


def test_ui_validate_vmauth_without_credentials_is_401_with_hint(
    console: ConsoleServer, vmauth: VMAuthServer
) -> None:
    r = _validate(console, {"url": vmauth.tenant_base()})
    assert r.status_code == 401
    assert r.json()["hint"]


def test_ui_validate_prometheus_reports_prometheus_and_version(
    console: ConsoleServer, prometheus: PrometheusServer
) -> None:
    r = _validate(console, {"url": prometheus.url})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["flavour"] == "prometheus"
    assert body["version"] and body["version"][0].isdigit()


def test_ui_validate_cluster_url_without_tenant_is_400_with_hint(console: ConsoleServer) -> None:
    r = _validate(console, {"url": f"http://127.0.0.1:{free_port()}/select/"})
    assert r.status_code == 400
    assert "/select/0/prometheus" in r.json()["hint"]


# --------------------------------------------------------------------------- gather validate CLI


def test_gather_validate_cli_real_vm_json(vm: VMServer) -> None:
    proc = _run_cli("gather", "validate", "--url", vm.url, "--json")
    assert proc.returncode == 0, proc.stderr
    body = orjson.loads(proc.stdout)
    assert body["flavour"] == "vmsingle" and body["endpoint"] == vm.url


def test_gather_validate_cli_real_vm_text(vm: VMServer) -> None:
    proc = _run_cli("gather", "validate", "--url", vm.url)
    assert proc.returncode == 0, proc.stderr
    assert "flavour:  vmsingle" in proc.stdout
    assert f"endpoint: {vm.url}" in proc.stdout


def test_gather_validate_cli_closed_port_is_one_line_error_with_hint() -> None:
    proc = _run_cli("gather", "validate", "--url", f"http://127.0.0.1:{free_port()}")
    assert proc.returncode == 3  # ConnectError
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, proc.stderr
    assert lines[0].startswith("error: cannot connect to")
    assert lines[1].startswith("hint: ")
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_gather_validate_cli_closed_port_json_error_on_stdout() -> None:
    proc = _run_cli("gather", "validate", "--url", f"http://127.0.0.1:{free_port()}", "--json")
    assert proc.returncode == 3
    body = orjson.loads(proc.stdout)
    assert body["error"].startswith("cannot connect") and body["hint"]
    assert body["attempts"][0]["ok"] is False


def test_gather_validate_cli_vmauth_password_from_env(vmauth: VMAuthServer) -> None:
    proc = _run_cli(
        "gather",
        "validate",
        "--url",
        vmauth.tenant_base(),
        "--username",
        vmauth.username,
        "--password-env",
        "PK_TEST_PW",
        "--json",
        env={"PK_TEST_PW": vmauth.password},
    )
    assert proc.returncode == 0, proc.stderr
    assert orjson.loads(proc.stdout)["flavour"] == "vmauth"
    assert vmauth.password not in proc.stdout + proc.stderr


def test_gather_validate_cli_vmauth_token_from_file(vmauth: VMAuthServer, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(vmauth.bearer_token + "\n")
    proc = _run_cli(
        "gather",
        "validate",
        "--url",
        vmauth.tenant_base(),
        "--bearer-token-file",
        str(token_file),
    )
    assert proc.returncode == 0, proc.stderr
    assert "vmauth" in proc.stdout


def test_gather_validate_cli_wrong_password_exit_4_and_no_secret(vmauth: VMAuthServer) -> None:
    proc = _run_cli(
        "gather",
        "validate",
        "--url",
        vmauth.tenant_base(),
        "--username",
        vmauth.username,
        "--password-env",
        "PK_TEST_PW",
        env={"PK_TEST_PW": SECRET},
    )
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith("error: credentials refused")
    assert SECRET not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--password", "x"], "No such option"),
        (["--username", "u", "--password-env", "PK_UNSET_VAR"], "PK_UNSET_VAR is not set"),
        (["--username", "u"], "no password given"),
        (["--password-env", "PK_TEST_PW"], "without --username"),
        (["--username", "u", "--bearer-token-env", "PK_TEST_PW"], "conflicting"),
        (["--header-value-env", "PK_TEST_PW"], "without --header-name"),
    ],
)
def test_gather_validate_cli_refuses_bad_auth_flags(args: list[str], message: str) -> None:
    proc = _run_cli(
        "gather", "validate", "--url", "http://127.0.0.1:9", *args, env={"PK_TEST_PW": "pw"}
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- promkit ui


def test_bind_listen_socket_falls_back_to_a_free_port_when_busy() -> None:
    first = bind_listen_socket(ListenAddress("127.0.0.1", 0))
    try:
        busy = first.address.port
        second = bind_listen_socket(ListenAddress("127.0.0.1", busy))
        try:
            assert second.address.port != busy
            assert second.moved
            assert second.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        finally:
            second.sock.close()
        with pytest.raises(UsageError, match="cannot listen"):
            bind_listen_socket(ListenAddress("127.0.0.1", busy), fallback=False)
    finally:
        first.sock.close()


def _start_ui(*args: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "promkit", "ui", "--no-browser", *args],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        stdin=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
        start_new_session=True,
    )


def _console_url(proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("promkit console: "):
                return line.split()[2]
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"no console URL printed:\n{log.read_text(errors='replace')}")


def test_promkit_ui_busy_port_moves_serves_and_stops_on_sigint(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        busy = blocker.getsockname()[1]
        log = tmp_path / "ui.log"
        proc = _start_ui("--addr", f"127.0.0.1:{busy}", "--output", str(tmp_path), log=log)
        try:
            url = _console_url(proc, log)
            assert f":{busy}/" not in url
            assert f"port {busy} is busy" in log.read_text()
            assert httpx.get(url + "api/health", timeout=10).json()["status"] == "ok"
            page = httpx.get(url, timeout=10)
            token = page.text.split('name="promkit-session" content="')[1].split('"')[0]
            config = httpx.get(url + "api/config", headers={TOKEN_HEADER: token}, timeout=10)
            assert config.json()["output_dir"] == str(tmp_path.resolve())
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=20) == 130  # graceful shutdown, then the usual Ctrl+C code
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert "Traceback" not in log.read_text()


def test_promkit_ui_refuses_public_address_without_allow_remote(tmp_path: Path) -> None:
    proc = _run_cli("ui", "--no-browser", "--addr", "0.0.0.0:0")
    assert proc.returncode == 2
    assert "--allow-remote" in proc.stderr and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- no secret anywhere


def test_ui_validate_secrets_reach_no_log_line_response_or_error(
    vmauth: VMAuthServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Good and bad credentials of every kind, through the real app: the secrets appear in no
    log record (any logger, DEBUG), no response body and no error message."""
    from fastapi.testclient import TestClient
    from pydantic import SecretStr

    from promkit.bundle.app import ConsoleSettings, create_app
    from promkit.core.web import LocalUIPolicy

    token = "log-test-token"
    settings = ConsoleSettings(
        policy=LocalUIPolicy(port=80, token=SecretStr(token)), output_dir=tmp_path
    )
    auths = [
        {"type": "basic", "username": vmauth.username, "password": vmauth.password},
        {"type": "basic", "username": vmauth.username, "password": SECRET},
        {"type": "bearer", "token": vmauth.bearer_token},
        {"type": "bearer", "token": SECRET},
        {"type": "header", "header_name": "Authorization", "header_value": f"Bearer {SECRET}"},
    ]
    secrets = [vmauth.password, vmauth.bearer_token, SECRET]
    statuses = []
    caplog.set_level("DEBUG")
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        for auth in auths:
            for url in (vmauth.tenant_base(), f"http://127.0.0.1:{free_port()}"):
                r = client.post(
                    "/api/validate",
                    json={"connection": {"url": url, "auth": auth}},
                    headers={TOKEN_HEADER: token},
                )
                statuses.append(r.status_code)
                assert all(s not in r.text for s in secrets), r.text
    assert {200, 401, 502} <= set(statuses)  # success, refusal and network failure all seen
    logged = "\n".join(f"{rec.getMessage()} {rec.args!r}" for rec in caplog.records)
    assert caplog.records, "expected the TSDB client to log its requests at DEBUG"
    assert all(s not in logged for s in secrets)
