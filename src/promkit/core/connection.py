"""Where a TSDB lives and how to talk to it: URL normalisation, tenant, auth, TLS.

``ConnectionConfig`` is what users send (web API JSON, config files, CLI flags; the JSON
shape of ``auth`` is compatible with vmgather's ``connection.auth``). ``Connection`` is the
resolved, frozen form every client uses. URL rules (``path`` = the URL path, trailing
slashes and any ``/api/v1/...`` suffix removed):

=============================  ==============================  ============================
given path                     query base                      notes
=============================  ==============================  ============================
(root)                         ``""``                          single-node / Prometheus
``/select/<t>[/prometheus]``   ``/select/<t>/prometheus``      vmselect; import via ``/insert/<t>``
``/insert/<t>[/prometheus]``   ``/select/<t>/prometheus``      import ``/insert/<t>/prometheus``
``/<t>`` (digits[:digits])     ``/<t>/prometheus``             vmauth tenant route
``/<...>/rw/prometheus``       kept                            export goes to ``/<...>/prometheus``
``/<...>/prometheus[/...]``    up to ``/prometheus``           anything after is dropped
other                          kept verbatim                   a reverse-proxy prefix
=============================  ==============================  ============================

User info in the URL (``user:pass@host``) becomes basic auth and is never shown again;
the query string and fragment are dropped. Secrets live in ``SecretStr`` and never appear
in ``repr``, ``display_url`` or ``redacted()``.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from promkit.core.errors import UsageError

URL_EXAMPLE = "http://localhost:8428 (single-node) or http://vmselect:8481/select/0/prometheus"
VMSELECT_HINT = (
    "A VictoriaMetrics cluster URL needs the tenant: use http://<vmselect>:8481/select/0/prometheus"
    " (0 = account id; 0:1 for account 0, project 1)."
)

_TENANT = re.compile(r"\d{1,10}(?::\d{1,10})?")
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_UI_SUFFIXES = frozenset({"vmui", "graph", "classic"})


class AuthType(StrEnum):
    NONE = "none"
    BASIC = "basic"
    BEARER = "bearer"
    HEADER = "header"


class Auth(BaseModel):
    """Credentials; JSON shape compatible with vmgather's ``connection.auth``."""

    model_config = ConfigDict(extra="ignore")

    type: AuthType = AuthType.NONE
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    header_name: str | None = None
    header_value: SecretStr | None = None

    def secrets(self) -> list[str]:
        """Every secret string this auth holds (for scrubbing upstream messages)."""
        found = [s.get_secret_value() for s in (self.password, self.token, self.header_value) if s]
        return [s for s in found if s]


class ConnectionConfig(BaseModel):
    """A connection as users send it."""

    model_config = ConfigDict(extra="ignore")

    url: str
    api_base_path: str | None = None
    tenant_id: str | None = None
    auth: Auth = Field(default_factory=Auth)
    skip_tls_verify: bool = False
    ca_file: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _move_userinfo_to_auth(self) -> ConnectionConfig:
        """``user:pass@`` in the URL becomes basic auth (unless auth is set) and leaves the URL,
        so the config's repr and JSON never carry it."""
        raw = self.url.strip()
        scheme, sep, rest = raw.partition("://")
        if not sep:
            scheme, rest = "", raw
        end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        userinfo, at, host = rest[:end].rpartition("@")
        if not at:
            return self
        self.url = f"{scheme}{sep}{host}{rest[end:]}"
        if self.auth.type is AuthType.NONE:
            user, _, password = userinfo.partition(":")
            self.auth = Auth(
                type=AuthType.BASIC, username=unquote(user), password=SecretStr(unquote(password))
            )
        return self


class PathKind(StrEnum):
    ROOT = "root"
    SELECT = "select"
    INSERT = "insert"
    TENANT = "tenant"
    RW = "rw"
    PROMETHEUS = "prometheus"
    CUSTOM = "custom"


@dataclass(frozen=True)
class _Paths:
    kind: PathKind
    query: str
    export: str
    import_: str
    tenant: str | None


def _bad_url(raw: str, why: str) -> UsageError:
    shown = raw if len(raw) <= 80 else raw[:77] + "..."
    if "@" in shown:  # never echo user info back
        shown = shown.split("://", 1)[0] + "://***@" + shown.rsplit("@", 1)[1]
    return UsageError(f"invalid URL {shown!r}: {why}", hint=f"Use a URL like {URL_EXAMPLE}.")


def _check_host(raw: str, host: str) -> str:
    """Validate the host; return it as written in a URL (IPv6 in brackets)."""
    if not host:
        raise _bad_url(raw, "no host")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _bad_url(raw, f"invalid host name {host!r}") from None
    labels = ascii_host.rstrip(".").split(".")
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise _bad_url(raw, f"invalid host name {host!r}")
    return ascii_host.rstrip(".")


def _join(segments: list[str]) -> str:
    return "".join("/" + s for s in segments)


def _classify(segs: list[str], raw: str) -> _Paths:
    """Map cleaned path segments to query/export/import bases."""
    if not segs:
        return _Paths(PathKind.ROOT, "", "", "", None)
    head = segs[0]
    if head in ("select", "insert"):
        if len(segs) < 2 or not (_TENANT.fullmatch(segs[1]) or segs[1] == "multitenant"):
            raise UsageError(
                f"VictoriaMetrics cluster URL without a tenant: {raw!r}", hint=VMSELECT_HINT
            )
        t = segs[1]
        select, insert = f"/select/{t}/prometheus", f"/insert/{t}/prometheus"
        kind = PathKind.SELECT if head == "select" else PathKind.INSERT
        return _Paths(kind, select, select, insert, t)
    if len(segs) == 1 and _TENANT.fullmatch(head):
        base = f"/{head}/prometheus"
        return _Paths(PathKind.TENANT, base, base, base, head)
    if "prometheus" in segs:
        i = segs.index("prometheus")
        base_segs = segs[: i + 1]
        tenant = head if i >= 1 and _TENANT.fullmatch(head) else None
        base = _join(base_segs)
        if i >= 1 and segs[i - 1] == "rw":
            export = _join([*segs[: i - 1], "prometheus"])
            return _Paths(PathKind.RW, base, export, base, tenant)
        return _Paths(PathKind.PROMETHEUS, base, base, base, tenant)
    base = _join(segs)
    return _Paths(PathKind.CUSTOM, base, base, base, None)


def _clean_segments(path: str) -> list[str]:
    segs = [s for s in path.split("/") if s]
    for i in range(len(segs) - 1):
        if segs[i] == "api" and segs[i + 1] == "v1":
            segs = segs[:i]
            break
    if segs and segs[-1] in _UI_SUFFIXES:
        segs = segs[:-1]
    return segs


@dataclass(frozen=True, repr=False)
class Connection:
    """A resolved connection. Build it with ``Connection.from_config``."""

    scheme: str
    host: str  # as written in a URL: IPv6 in brackets
    port: int | None
    kind: PathKind
    base_path: str
    export_path: str
    import_path: str
    tenant_id: str | None
    auth: Auth = field(default_factory=Auth)
    skip_tls_verify: bool = False
    ca_file: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    timeout_seconds: float = 30.0

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Connection:
        return cls.from_config(ConnectionConfig(url=url, **kwargs))

    @classmethod
    def from_config(cls, cfg: ConnectionConfig) -> Connection:
        raw = cfg.url.strip()
        if not raw:
            raise UsageError("the connection URL is empty", hint=f"Use a URL like {URL_EXAMPLE}.")
        if any(c.isspace() or c == "\\" or not c.isprintable() for c in raw):
            raise _bad_url(raw, "it contains spaces, backslashes or control characters")
        if "://" not in raw:
            raw = "http://" + raw.lstrip("/")
        try:
            parts = urlsplit(raw)
            port = parts.port
            hostname = parts.hostname or ""
        except ValueError as exc:
            why = "invalid port (use 1-65535)" if "port" in str(exc).lower() else "cannot parse it"
            raise _bad_url(raw, why) from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise _bad_url(raw, f"unsupported scheme {scheme!r} (use http or https)")
        host = _check_host(raw, hostname)
        if port == 0:
            raise _bad_url(raw, "port 0")

        segs = _clean_segments(parts.path)
        if cfg.api_base_path:
            extra = _clean_segments(cfg.api_base_path)
            if segs[-len(extra) :] != extra:
                segs = [*segs, *extra]
        paths = _classify(segs, _display_raw(scheme, host, port, parts.path))

        tenant = paths.tenant
        if cfg.tenant_id:
            wanted = cfg.tenant_id.strip()
            if not (_TENANT.fullmatch(wanted) or wanted == "multitenant"):
                raise UsageError(
                    f"invalid tenant id {cfg.tenant_id!r}",
                    hint="A tenant is <accountID> or <accountID>:<projectID>, e.g. 0 or 12:3.",
                )
            if tenant is not None and tenant != wanted:
                raise UsageError(
                    f"tenant {wanted!r} conflicts with tenant {tenant!r} in the URL path",
                    hint="Give the tenant either in the URL or as tenant id, not both.",
                )
            if paths.kind is PathKind.ROOT:
                paths = _classify(["select", wanted], raw)
            tenant = wanted

        auth = cfg.auth
        if parts.username is not None and auth.type is AuthType.NONE:
            auth = Auth(
                type=AuthType.BASIC,
                username=unquote(parts.username),
                password=SecretStr(unquote(parts.password or "")),
            )
        _check_auth(auth)
        headers = _check_headers(cfg.headers)
        if cfg.ca_file is not None and not cfg.ca_file.strip():
            raise UsageError("the CA file path is empty", hint="Pass a PEM file or omit it.")
        return cls(
            scheme=scheme,
            host=host,
            port=port,
            kind=paths.kind,
            base_path=paths.query,
            export_path=paths.export,
            import_path=paths.import_,
            tenant_id=tenant,
            auth=auth,
            skip_tls_verify=cfg.skip_tls_verify,
            ca_file=cfg.ca_file,
            headers=headers,
            timeout_seconds=cfg.timeout_seconds,
        )

    # ------------------------------------------------------------------ URLs
    @property
    def origin(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{self.host}{port}"

    @property
    def query_base_url(self) -> str:
        return self.origin + self.base_path

    @property
    def export_base_url(self) -> str:
        return self.origin + self.export_path

    @property
    def import_base_url(self) -> str:
        return self.origin + self.import_path

    @property
    def display_url(self) -> str:
        """The query base URL; never holds credentials."""
        return self.query_base_url

    @property
    def is_cluster(self) -> bool:
        return self.kind in (PathKind.SELECT, PathKind.INSERT)

    def api_url(self, endpoint: str, *, base: str | None = None) -> str:
        """``<base>/api/v1/<endpoint>``; ``base`` defaults to the query base URL."""
        return f"{self.query_base_url if base is None else base}/api/v1/{endpoint.lstrip('/')}"

    def secrets(self) -> list[str]:
        """Secret strings to scrub from any upstream text before showing it."""
        found = self.auth.secrets()
        if self.auth.type is AuthType.BASIC:
            import base64

            pair = f"{self.auth.username or ''}:{_secret(self.auth.password)}"
            found.append(base64.b64encode(pair.encode()).decode())
        return [s for s in found if len(s) >= 1]

    def redacted(self) -> dict[str, Any]:
        """A JSON-safe description without any secret."""
        return {
            "url": self.display_url,
            "api_base_path": self.base_path,
            "export_url": self.export_base_url,
            "import_url": self.import_base_url,
            "tenant_id": self.tenant_id,
            "auth_type": self.auth.type.value,
            "username": self.auth.username if self.auth.type is AuthType.BASIC else None,
            "skip_tls_verify": self.skip_tls_verify,
            "ca_file": self.ca_file,
            "header_names": [name for name, _ in self.headers],
        }

    def __repr__(self) -> str:
        return (
            f"Connection(url={self.display_url!r}, tenant_id={self.tenant_id!r}, "
            f"auth={self.auth.type.value!r}, skip_tls_verify={self.skip_tls_verify})"
        )

    __str__ = __repr__

    # ------------------------------------------------------------------ HTTP
    def auth_headers(self) -> dict[str, bytes]:
        """Auth headers to send (UTF-8 bytes: httpx would refuse non-ASCII ``str`` values)."""
        if self.auth.type is AuthType.BEARER:
            return {"Authorization": f"Bearer {_secret(self.auth.token)}".encode()}
        if self.auth.type is AuthType.HEADER and self.auth.header_name:
            return {self.auth.header_name: _secret(self.auth.header_value).encode()}
        return {}

    def verify(self) -> ssl.SSLContext | bool:
        if self.skip_tls_verify:
            return False
        if self.ca_file:
            try:
                return ssl.create_default_context(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(
                    f"cannot load CA file {self.ca_file}: {getattr(exc, 'strerror', None) or exc}",
                    hint="Pass a readable PEM file with the CA certificate(s).",
                ) from None
        return True

    def client(self, *, transport: httpx.BaseTransport | None = None) -> httpx.Client:
        """An ``httpx.Client`` with auth, headers, TLS settings and proxy env honoured.

        The timeout applies to each connect/read/write step (inactivity), never to a
        whole request, so long streaming exports are not cut off.
        """
        auth: httpx.Auth | None = None
        if self.auth.type is AuthType.BASIC:
            auth = httpx.BasicAuth(self.auth.username or "", _secret(self.auth.password))
        headers: dict[bytes, bytes] = {b"User-Agent": b"promkit"}
        headers.update((name.encode(), value.encode()) for name, value in self.headers)
        headers.update((name.encode(), value) for name, value in self.auth_headers().items())
        return httpx.Client(
            auth=auth,
            headers=headers,
            verify=self.verify(),
            timeout=httpx.Timeout(self.timeout_seconds),
            trust_env=True,
            follow_redirects=True,
            transport=transport,
        )


def scrub_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``, longest first (so a
    secret that contains another is hidden whole)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _display_raw(scheme: str, host: str, port: int | None, path: str) -> str:
    return f"{scheme}://{host}{f':{port}' if port is not None else ''}{path}"


def _check_auth(auth: Auth) -> None:
    if auth.type is AuthType.BASIC and not auth.username:
        raise UsageError("basic auth needs a username", hint="Set auth.username.")
    if auth.type is AuthType.BEARER and not _secret(auth.token):
        raise UsageError("bearer auth needs a token", hint="Set auth.token.")
    if auth.type is AuthType.HEADER:
        if not auth.header_name or not _HEADER_NAME.fullmatch(auth.header_name):
            raise UsageError(
                "header auth needs a valid header name",
                hint="Set auth.header_name, e.g. X-Api-Key.",
            )
        value = _secret(auth.header_value)
        if not value or "\r" in value or "\n" in value:
            raise UsageError(
                "header auth needs a one-line header value", hint="Set auth.header_value."
            )


def _check_headers(headers: dict[str, str]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise UsageError(f"invalid header name {name!r}", hint="Use a name like X-Scope-OrgID.")
        if "\r" in value or "\n" in value:
            raise UsageError(f"header {name} has a line break", hint="Header values are one line.")
        out.append((name, value))
    return tuple(out)


__all__ = [
    "URL_EXAMPLE",
    "VMSELECT_HINT",
    "Auth",
    "AuthType",
    "Connection",
    "ConnectionConfig",
    "PathKind",
]
