"""``promkit tracker serve|migrate|create-user``: the tracker service's command line."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import SecretStr
from sqlalchemy import select

from promkit.core.console import print_json, read_secret, stderr
from promkit.core.errors import ConflictError, UsageError
from promkit.tracker.db import Database, redact_url
from promkit.tracker.settings import load_settings

app = typer.Typer(
    name="tracker",
    help="Multi-user web metrics service: accounts, API keys, metric definitions, a tracking"
    " snippet, ingestion and a Prometheus /metrics endpoint. Settings come from"
    " PROMKIT_TRACKER_* environment variables.",
    no_args_is_help=True,
    add_completion=False,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _overrides(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default 8000).")] = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="Development mode: random JWT secret, open /metrics.")
    ] = False,
) -> None:
    """Run the service (applies pending migrations first).

    Examples:
      PROMKIT_TRACKER_JWT_SECRET=$(openssl rand -hex 32) promkit tracker serve --port 8000
      promkit tracker serve --dev
    """
    import uvicorn

    from promkit.core.http_server import DirectRouteHttpProtocol
    from promkit.tracker.app import create_app
    from promkit.tracker.logs import configure_service_logging

    settings = load_settings(**_overrides(host=host, port=port, dev=dev or None))
    configure_service_logging()
    if settings.dev:
        stderr.print("[yellow]development mode:[/] do not expose this instance")
    stderr.print(
        f"tracker on http://{settings.host}:{settings.port}"
        f" (database {redact_url(settings.database_url)})"
    )
    # uvicorn's own access log would print query strings, and beacons carry the API key there.
    # log_config=None: uvicorn's dictConfig would close the handler configured above.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_config=None,
        http=DirectRouteHttpProtocol,  # ingestion without an ASGI task (core/http_server)
    )


@app.command()
def migrate(json_output: JsonOpt = False) -> None:
    """Apply the database migrations (the service also does this on start).

    Example: PROMKIT_TRACKER_DATABASE_URL=postgresql+psycopg://u:pw@db/t promkit tracker migrate
    """
    settings = load_settings(require_secrets=False)
    db = Database(settings.database_url)
    try:
        db.migrate()
        revision = db.current_revision()
    finally:
        db.dispose()
    result = {"database": redact_url(settings.database_url), "revision": revision}
    if json_output:
        print_json(result)
    else:
        stderr.print(f"database {result['database']} is at revision {revision}")


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="Email address of the new account.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    password_file: Annotated[
        str | None, typer.Option(help="Read the password from this file (first line).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Create an account; the password comes from --password-file,
    PROMKIT_TRACKER_USER_PASSWORD or a prompt, never from the command line.

    Example: promkit tracker create-user --email ops@example.com
    """
    from promkit.tracker.models import User
    from promkit.tracker.passwords import PasswordHasher
    from promkit.tracker.routes.auth import check_password, normalize_email

    settings = load_settings(require_secrets=False)
    password: SecretStr | None = read_secret(
        env="PROMKIT_TRACKER_USER_PASSWORD", file=password_file, prompt="Password"
    )
    if password is None:
        raise UsageError(
            "no password given",
            hint="use --password-file, PROMKIT_TRACKER_USER_PASSWORD or run in a terminal",
        )
    try:
        address = normalize_email(email)
        check_password(password.get_secret_value())
    except ValueError as exc:
        raise UsageError(str(exc), hint="fix the email or password and retry") from None
    db = Database(settings.database_url)
    try:
        db.migrate()
        with db.session() as session:
            if session.scalar(select(User.id).where(User.email == address)) is not None:
                raise ConflictError(f"an account for {address} already exists")
            hashed = PasswordHasher(settings.bcrypt_cost).hash(password.get_secret_value())
            user = User(email=address, password_hash=hashed, name=name)
            session.add(user)
            session.commit()
            result = {"id": user.id, "email": user.email, "name": user.name}
    finally:
        db.dispose()
    if json_output:
        print_json(result)
    else:
        stderr.print(f"created user {result['id']} <{address}>")


__all__ = ["app"]
