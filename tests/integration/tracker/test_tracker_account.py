"""Account endpoints the reference had or lacked, against SQLite and PostgreSQL: password
reset by mail through a real SMTP server, account deletion, GET /api/v1/metrics, key copy."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from promkit.tracker.mail import ResetMailer, parse_smtp_url
from promkit.tracker.models import PasswordReset, Series, User, utcnow
from promkit.tracker.tokens import token_hash
from support.process import free_port
from support.smtp import MailSink, smtp_sink

from .conftest import bearer, sign_in

PUBLIC = "https://tracker.example.com"
LINK_RE = re.compile(re.escape(PUBLIC) + r"/app/#/reset\?token=([A-Za-z0-9_-]+)")


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with smtp_sink() as server:
        yield server


@pytest.fixture
def mail_client(make_client: Callable[..., TestClient], sink: MailSink) -> TestClient:
    return make_client(
        smtp_url=sink.url("mailer", "smtp-secret-pw"),
        public_url=PUBLIC,
        mail_from="Tracker <tracker@example.com>",
    )


def _request_token(client: TestClient, sink: MailSink, email: str, nth: int = 1) -> str:
    r = client.post("/api/v1/auth/password-reset-request", json={"email": email})
    assert r.status_code == 200, r.text
    mail = sink.wait(nth)[nth - 1]
    assert mail["To"] == email and mail["From"] == "Tracker <tracker@example.com>"
    found = LINK_RE.search(mail.get_content())
    assert found, mail.get_content()
    return found.group(1)


def _ctx(client: TestClient) -> Any:
    return client.app.state.tracker  # type: ignore[attr-defined]


def test_password_reset_by_mail_end_to_end(
    mail_client: TestClient, sink: MailSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    old = sign_in(mail_client, "ada@example.com", "old password")
    token = _request_token(mail_client, sink, "ada@example.com")
    assert sink.logins == [("mailer", "smtp-secret-pw")]
    with _ctx(mail_client).db.session() as db:  # stored hashed only
        assert db.scalars(select(PasswordReset.token_hash)).all() == [token_hash(token)]
    r = mail_client.post(
        "/api/v1/auth/password-reset", json={"token": token, "password": "new password"}
    )
    assert r.status_code == 200, r.text
    signin = mail_client.post(
        "/api/v1/auth/signin", json={"email": "ada@example.com", "password": "new password"}
    )
    assert signin.status_code == 200
    refused = mail_client.post(
        "/api/v1/auth/signin", json={"email": "ada@example.com", "password": "old password"}
    )
    assert refused.status_code == 401
    stale = mail_client.post("/api/v1/auth/refresh", json={"refreshToken": old["refreshToken"]})
    assert stale.status_code == 401
    # Access tokens issued before the reset end with it; those issued after it work.
    before = mail_client.get("/api/v1/api-keys", headers=bearer(old))
    assert before.status_code == 401 and "password was reset" in before.json()["error"]
    after = mail_client.get("/api/v1/api-keys", headers=bearer(signin.json()["data"]))
    assert after.status_code == 200, after.text
    again = mail_client.post(
        "/api/v1/auth/password-reset", json={"token": token, "password": "third password"}
    )
    assert again.status_code == 401 and "reset token" in again.json()["error"]
    logged = caplog.text
    assert token not in logged and "smtp-secret-pw" not in logged


def test_password_reset_unknown_email_sends_nothing_and_answers_the_same(
    mail_client: TestClient, sink: MailSink
) -> None:
    sign_in(mail_client, "known@example.com")
    known = mail_client.post(
        "/api/v1/auth/password-reset-request", json={"email": "known@example.com"}
    )
    unknown = mail_client.post(
        "/api/v1/auth/password-reset-request", json={"email": "nobody@example.com"}
    )
    assert known.status_code == unknown.status_code == 200
    assert known.json()["message"] == unknown.json()["message"]
    assert len(sink.wait(1)) == 1
    with _ctx(mail_client).db.session() as db:
        assert db.scalar(select(func.count()).select_from(PasswordReset)) == 1


def test_password_reset_expired_token_is_refused(mail_client: TestClient, sink: MailSink) -> None:
    sign_in(mail_client, "exp@example.com")
    token = _request_token(mail_client, sink, "exp@example.com")
    with _ctx(mail_client).db.session() as db:
        db.execute(update(PasswordReset).values(expires_at=utcnow() - timedelta(seconds=1)))
    r = mail_client.post(
        "/api/v1/auth/password-reset", json={"token": token, "password": "new password"}
    )
    assert r.status_code == 401


def test_password_reset_invalidates_the_other_links(
    mail_client: TestClient, sink: MailSink
) -> None:
    sign_in(mail_client, "two@example.com")
    first = _request_token(mail_client, sink, "two@example.com", 1)
    second = _request_token(mail_client, sink, "two@example.com", 2)
    assert first != second
    ok = mail_client.post(
        "/api/v1/auth/password-reset", json={"token": second, "password": "new password"}
    )
    assert ok.status_code == 200
    r = mail_client.post(
        "/api/v1/auth/password-reset", json={"token": first, "password": "other password"}
    )
    assert r.status_code == 401


def _ingest(client: TestClient, key: str) -> None:
    r = client.post(
        "/api/v1/metrics",
        json={"metrics": [{"name": "page_views", "value": 2, "labels": {"page": "/"}}]},
        headers={"X-API-Key": key},
    )
    assert r.status_code == 200, r.text


def test_account_deletion_removes_series_keys_and_sessions(client: TestClient) -> None:
    session = sign_in(client, "gone@example.com")
    other = sign_in(client, "stays@example.com")
    keys = {}
    for who, s in (("gone", session), ("stays", other)):
        auth = bearer(s)
        definition = {"name": "Views", "metric_type": "counter", "metric_name": "page_views",
                      "labels": [{"name": "page"}]}  # fmt: skip
        assert client.post("/api/v1/metric-configs", json=definition, headers=auth).is_success
        created = client.post("/api/v1/api-keys", json={"key_name": who}, headers=auth)
        keys[who] = created.json()["data"]["api_key"]
        _ingest(client, keys[who])
    gone_id, stays_id = session["user"]["id"], other["user"]["id"]
    before = client.get("/metrics").text
    assert f'user_id="{gone_id}"' in before and f'user_id="{stays_id}"' in before

    wrong = client.request(
        "DELETE", "/api/v1/auth/account", json={"password": "not it!!"}, headers=bearer(session)
    )
    assert wrong.status_code == 401
    r = client.request(
        "DELETE", "/api/v1/auth/account", json={"password": "correct horse"},
        headers=bearer(session),
    )  # fmt: skip
    assert r.status_code == 200, r.text

    after = client.get("/metrics").text
    assert f'user_id="{gone_id}"' not in after and f'user_id="{stays_id}"' in after
    refused = client.post(
        "/api/v1/metrics",
        json={"metrics": [{"name": "page_views", "value": 1}]},
        headers={"X-API-Key": keys["gone"]},
    )
    assert refused.status_code == 401
    _ingest(client, keys["stays"])  # the other user is untouched
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refreshToken": session["refreshToken"]}
        ).status_code
        == 401
    )
    assert client.get("/api/v1/auth/me", headers=bearer(session)).status_code == 401
    with _ctx(client).db.session() as db:
        assert db.scalar(select(func.count()).where(Series.user_id == gone_id)) == 0
        assert db.get(User, gone_id) is None


def test_metrics_info_and_key_copy_keep_the_reference_routes(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(grafana_url="http://viewer:pw@grafana.example:3000/")
    auth = bearer(sign_in(client))
    info = client.get("/api/v1/metrics", headers=auth)
    assert info.status_code == 200
    assert info.json()["data"]["metricsEndpoint"] == "/metrics"
    assert info.json()["data"]["grafanaUrl"] == "http://grafana.example:3000"
    key = client.post("/api/v1/api-keys", json={"key_name": "k"}, headers=auth).json()["data"]
    copy = client.post(f"/api/v1/api-keys/{key['id']}/copy", headers=auth)
    assert copy.status_code == 410 and key["api_key"] not in copy.text
    stranger = bearer(sign_in(client, "eve@example.com"))
    assert client.post(f"/api/v1/api-keys/{key['id']}/copy", headers=stranger).status_code == 404


def test_reset_mail_to_an_unreachable_server_is_logged_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="promkit.tracker.mail")
    server = parse_smtp_url(f"smtp://mailer:smtp-secret-pw@127.0.0.1:{free_port()}")
    mailer = ResetMailer(server, PUBLIC, "t@example.com", 1800, timeout=5)
    assert mailer.send("ada@example.com", "TOKEN-abc") is False
    assert "password reset mail via" in caplog.text and "ConnectionRefusedError" in caplog.text
    assert "smtp-secret-pw" not in caplog.text and "TOKEN-abc" not in caplog.text
