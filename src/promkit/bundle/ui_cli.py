"""``promkit ui``: start the local web console (the support-bundle wizard)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from promkit.core.console import stderr

ADDR_HELP = "Listen address HOST:PORT. When the port is busy a free one is used instead."


def default_output_dir() -> Path:
    """``~/Downloads/promkit`` when a Downloads folder exists, else ``./promkit-bundles``."""
    downloads = Path.home() / "Downloads"
    if downloads.is_dir():
        return downloads / "promkit"
    return Path.cwd() / "promkit-bundles"


def ui(
    addr: Annotated[str, typer.Option("--addr", help=ADDR_HELP)] = "127.0.0.1:8080",
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open a browser window.")
    ] = False,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow a non-loopback --addr (the console then is reachable from other "
            "machines; prefer an SSH tunnel).",
        ),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="Directory for finished bundles [default: ~/Downloads/promkit or "
            "./promkit-bundles].",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Start the local web console: test a connection, then build a support bundle.

    Examples:

        promkit ui

        promkit ui --addr 127.0.0.1:9090 --no-browser --output ./bundles
    """
    # Imported here so `promkit --help` stays fast and never builds a web app.
    from promkit.bundle.app import ConsoleSettings, create_app
    from promkit.core.web import (
        LocalUIPolicy,
        bind_listen_socket,
        browser_url,
        check_remote,
        open_browser,
        parse_listen_address,
        serve,
    )

    address = parse_listen_address(addr)
    warning = check_remote(address, allow_remote=allow_remote)
    if warning:
        stderr.print(f"[yellow]warning:[/] {warning}")
    bound = bind_listen_socket(address)
    try:
        if bound.moved:
            stderr.print(f"port {address.port} is busy, using {bound.address.port} instead")
        settings = ConsoleSettings(
            policy=LocalUIPolicy.for_address(bound.address),
            output_dir=(output or default_output_dir()).expanduser().resolve(),
        )
        app = create_app(settings)
        url = browser_url(bound.address)
        stderr.print(f"promkit console: {url}  (Ctrl+C stops it)", markup=False)
        if not no_browser and not open_browser(url):
            stderr.print("no graphical session: open the URL above in your browser")
        serve(app, bound)
    finally:
        bound.sock.close()


__all__ = ["default_output_dir", "ui"]
