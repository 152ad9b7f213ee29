"""The rules for account emails and passwords, shared by signup, password reset and the CLI."""

from __future__ import annotations

import re

from promkit.tracker.passwords import MAX_PASSWORD_BYTES

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD_LENGTH = 8


def normalize_email(value: str) -> str:
    """Trim and lower-case; dots and plus tags are kept (they can be distinct mailboxes)."""
    email = value.strip().lower()
    if len(email) > 320 or not EMAIL_RE.match(email):
        raise ValueError("not a valid email address")
    return email


def check_password(value: str) -> str:
    if len(value) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(value.encode()) > MAX_PASSWORD_BYTES:
        raise ValueError(f"password must be at most {MAX_PASSWORD_BYTES} bytes")
    return value


__all__ = ["EMAIL_RE", "check_password", "normalize_email"]
