"""Password reset mail: an SMTP server from ``PROMKIT_TRACKER_SMTP_URL``, sent with smtplib.

``smtp://user:pass@host:587`` talks plain SMTP and upgrades with STARTTLS when the server
offers it; ``smtps://user:pass@host:465`` uses TLS from the first byte. The password is a
``SecretStr``: neither it nor the reset link ever reaches a log line or an error message.
Sending blocks, so callers run :meth:`ResetMailer.send` in a worker thread.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from promkit.tracker.settings import TrackerSettings

log = logging.getLogger("promkit.tracker.mail")

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
RESET_PATH = "/app/#/reset?token="


@dataclass(frozen=True)
class SmtpServer:
    scheme: str  # "smtp" or "smtps"
    host: str
    port: int
    username: str | None = None
    password: SecretStr | None = None

    def __repr__(self) -> str:  # never the password, even by accident
        user = f"{self.username}@" if self.username else ""
        return f"SmtpServer({self.scheme}://{user}{self.host}:{self.port})"


def parse_smtp_url(url: str) -> SmtpServer:
    """``smtp(s)://[user[:password]@]host[:port]``; ValueError (never echoing ``url``)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError("not a URL like smtp://user:pass@host:587") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError("must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("has no host (smtp://user:pass@host:587)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("takes no path or query (smtp://user:pass@host:587)")
    return SmtpServer(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or DEFAULT_PORTS[parts.scheme],
        username=unquote(parts.username) if parts.username else None,
        password=SecretStr(unquote(parts.password)) if parts.password else None,
    )


def missing_mail_settings(settings: TrackerSettings) -> list[str]:
    """The settings reset mail still needs (empty when it can be sent)."""
    missing = [] if settings.smtp_url is not None else ["PROMKIT_TRACKER_SMTP_URL"]
    return missing if settings.public_url else [*missing, "PROMKIT_TRACKER_PUBLIC_URL"]


class ResetMailer:
    """Composes and sends the reset link mail to one SMTP server."""

    def __init__(
        self,
        server: SmtpServer,
        public_url: str,
        sender: str,
        ttl_seconds: int,
        timeout: float = 10.0,
    ) -> None:
        self.server = server
        self.public_url = public_url.rstrip("/")
        self.sender = sender
        self.ttl_seconds = ttl_seconds
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"ResetMailer({self.server!r}, public_url={self.public_url!r})"

    @classmethod
    def from_settings(cls, settings: TrackerSettings) -> ResetMailer | None:
        """A mailer, or None when SMTP or the public URL is not configured."""
        if settings.smtp_url is None or not settings.public_url:
            return None
        server = parse_smtp_url(settings.smtp_url.get_secret_value())
        host = urlsplit(settings.public_url).hostname or "localhost"
        return cls(
            server,
            settings.public_url,
            settings.mail_from or f"promkit tracker <no-reply@{host}>",
            settings.password_reset_ttl_seconds,
            settings.smtp_timeout_seconds,
        )

    def reset_link(self, token: str) -> str:
        return f"{self.public_url}{RESET_PATH}{token}"

    def compose(self, recipient: str, token: str) -> EmailMessage:
        minutes = max(1, self.ttl_seconds // 60)
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = recipient
        message["Subject"] = "Reset your promkit tracker password"
        message["Message-ID"] = make_msgid(domain=self.server.host)
        message.set_content(
            "Someone (hopefully you) asked to reset the password of this account.\n\n"
            f"Open this link within {minutes} minutes to choose a new password:\n\n"
            f"{self.reset_link(token)}\n\n"
            "The link works once. Setting a new password signs out every session.\n"
            "If you did not ask for this, ignore this mail: your password stays as it is.\n"
        )
        return message

    def send(self, recipient: str, token: str) -> bool:
        """Blocking: deliver the reset mail; failures are logged (without secrets), not raised."""
        message = self.compose(recipient, token)
        server = self.server
        try:
            context = ssl.create_default_context()
            smtp: smtplib.SMTP
            if server.scheme == "smtps":
                smtp = smtplib.SMTP_SSL(
                    server.host, server.port, timeout=self.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if server.scheme == "smtp" and smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if server.username:
                    password = server.password.get_secret_value() if server.password else ""
                    smtp.login(server.username, password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            # Only the type and the server: SMTP replies can echo what was sent.
            log.warning("password reset mail via %r failed: %s", server, type(exc).__name__)
            return False
        return True


__all__ = ["ResetMailer", "SmtpServer", "missing_mail_settings", "parse_smtp_url"]
