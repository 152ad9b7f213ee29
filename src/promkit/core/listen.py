"""Listening for a local web UI: address parsing, loopback policy, bind, serve, browser.

The listening socket is bound here and handed to uvicorn, so the port we print is the port
we hold (no probe-then-bind race). Binding anything but loopback needs ``--allow-remote``
(see ``promkit.core.web`` for the request-level threat model).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import sys
import threading
import webbrowser
from dataclasses import dataclass

from starlette.types import ASGIApp

from promkit.core.errors import UsageError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


# --------------------------------------------------------------------------- addresses


@dataclass(frozen=True)
class ListenAddress:
    """Where to listen: a literal IP (``localhost`` is resolved to 127.0.0.1) and a port."""

    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        return ipaddress.ip_address(self.host).is_loopback

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET


def parse_listen_address(addr: str) -> ListenAddress:
    """Parse ``HOST:PORT``, ``[V6]:PORT``, ``HOST`` or ``:PORT`` (host defaults to 127.0.0.1)."""
    text = addr.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise _bad_addr(addr)
        port_text = rest[1:]
    elif text.count(":") > 1:  # a bare IPv6 literal without a port
        host, port_text = text, ""
    else:
        host, _, port_text = text.partition(":")
    host = host or DEFAULT_HOST
    if host == "localhost":
        host = DEFAULT_HOST
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        raise UsageError(
            f"listen address {addr!r}: {host!r} is not an IP address",
            hint="use an IP address, e.g. 127.0.0.1:8080 (or 0.0.0.0 with --allow-remote)",
        ) from None
    if not port_text:
        return ListenAddress(host, DEFAULT_PORT)
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise _bad_addr(addr)
    return ListenAddress(host, int(port_text))


def _bad_addr(addr: str) -> UsageError:
    return UsageError(f"invalid listen address {addr!r}", hint="use HOST:PORT, e.g. 127.0.0.1:8080")


def check_remote(address: ListenAddress, *, allow_remote: bool) -> str | None:
    """Refuse a non-loopback address without ``--allow-remote``; return a warning with it."""
    if address.is_loopback:
        return None
    if not allow_remote:
        raise UsageError(
            f"refusing to listen on {address.host}: it is reachable from other machines",
            hint="the console holds your TSDB credentials; pass --allow-remote if you really "
            "mean it, or use 127.0.0.1",
        )
    return (
        f"listening on {address.host}, reachable from other machines: anyone who can open the "
        "page can use the credentials you enter; prefer 127.0.0.1 and an SSH tunnel"
    )


@dataclass
class BoundSocket:
    """A listening socket we own, and whether we had to leave the requested port."""

    sock: socket.socket
    address: ListenAddress
    requested_port: int

    @property
    def moved(self) -> bool:
        return self.address.port != self.requested_port and self.requested_port != 0


def bind_listen_socket(address: ListenAddress, *, fallback: bool = True) -> BoundSocket:
    """Bind and listen on ``address``; if its port is busy and ``fallback``, take a free one."""
    try:
        sock = _bind(address.host, address.port, address.family)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE or not fallback:
            raise UsageError(
                f"cannot listen on {address.host}:{address.port}: {exc.strerror}",
                hint="choose another address with --addr HOST:PORT",
            ) from None
        try:
            sock = _bind(address.host, 0, address.family)
        except OSError as exc2:
            raise UsageError(
                f"cannot listen on {address.host}: {exc2.strerror}",
                hint="choose another address with --addr HOST:PORT",
            ) from None
    port = int(sock.getsockname()[1])
    return BoundSocket(sock, ListenAddress(address.host, port), address.port)


def _bind(host: str, port: int, family: socket.AddressFamily) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def browser_url(address: ListenAddress) -> str:
    """The URL to open: loopback and wildcard binds are opened through 127.0.0.1."""
    host = address.host
    if ipaddress.ip_address(host).is_unspecified or ipaddress.ip_address(host).is_loopback:
        host = "127.0.0.1" if ":" not in host else "[::1]"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{address.port}/"


def can_open_browser() -> bool:
    """True when a graphical browser can be expected.

    Without a display, ``webbrowser`` would fall back to a text browser (lynx, w3m) and take
    over the terminal the server is logging to, so we do not try.
    """
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_browser(url: str, *, delay: float = 0.5) -> bool:
    """Open ``url`` in the user's browser shortly after the server starts (never fails).

    Returns False when there is no graphical session to open it in.
    """
    if not can_open_browser():
        return False

    def _open() -> None:
        with contextlib.suppress(Exception):  # a missing browser is not an error
            webbrowser.open(url)

    timer = threading.Timer(delay, _open)
    timer.daemon = True
    timer.start()
    return True


# --------------------------------------------------------------------------- running


def serve(app: ASGIApp, bound: BoundSocket, *, log_level: str = "warning") -> None:
    """Run ``app`` with uvicorn on the socket we already hold, until interrupted."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[bound.sock])


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "BoundSocket",
    "ListenAddress",
    "bind_listen_socket",
    "browser_url",
    "can_open_browser",
    "check_remote",
    "open_browser",
    "parse_listen_address",
    "serve",
]
