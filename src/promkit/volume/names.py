"""Backup names, version ids and references (``name``, ``name@latest``, ``name@<version>``)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from promkit.core.errors import UsageError

# Like Docker volume names, so a backup can be named after its volume; never '@' or '/'.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# UTC with milliseconds plus a random suffix: sorts by time, never collides in one millisecond.
VERSION_RE = re.compile(r"^(\d{8}T\d{6}\.\d{3}Z)-([0-9a-f]{6})$")
_VERSION_TIME = "%Y%m%dT%H%M%S.%f"
LATEST = "latest"


def check_name(name: str) -> str:
    if not NAME_RE.match(name) or name.endswith((".json", ".data")):
        raise UsageError(
            f"invalid backup name {name!r}",
            hint="Use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit.",
        )
    return name


def new_version(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    stamp = moment.strftime(_VERSION_TIME)[:-3] + "Z"
    return f"{stamp}-{secrets.token_hex(3)}"


def check_version(version: str) -> str:
    if not VERSION_RE.match(version):
        raise UsageError(
            f"invalid version {version!r}",
            hint="Versions look like 20260101T120000.000Z-1a2b3c; see `promkit volume versions`.",
        )
    return version


def version_time(version: str) -> datetime:
    match = VERSION_RE.match(version)
    if not match:
        raise UsageError(f"invalid version {version!r}")
    return datetime.strptime(match.group(1)[:-1] + "000", _VERSION_TIME).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Ref:
    """What the user asked for: a name and a version, or ``None`` for the latest."""

    name: str
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.name}@{self.version or LATEST}"


def parse_ref(text: str, version: str | None = None) -> Ref:
    """``name``, ``name@latest`` or ``name@<version>``; ``version`` is DVOM's ``--version``."""
    name, sep, ver = text.partition("@")
    check_name(name)
    if sep and version and ver != version:
        raise UsageError(f"{text!r} and --version {version!r} disagree")
    chosen = ver if sep else version
    if chosen in (None, "", LATEST):
        return Ref(name)
    assert chosen is not None
    return Ref(name, check_version(chosen))
