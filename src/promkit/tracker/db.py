"""The tracker database: engine and sessions built from settings, migrations by Alembic.

The migrations ship inside the package (``promkit/tracker/migrations``) and run on start
(unless disabled) and by ``promkit tracker migrate``. SQLite is the embedded default;
PostgreSQL is used by passing its URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from promkit.core.errors import ConfigError, ConnectError


def redact_url(url: str) -> str:
    """The database URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (SQLite or PostgreSQL); the URL's password never reaches errors."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "the tracker database URL cannot be parsed",
            hint="use sqlite:///path/to/file.db or postgresql+psycopg://user:pw@host/db",
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(parsed, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)
    raise ConfigError(
        f"unsupported tracker database {backend!r}",
        hint="use sqlite:///path/to/file.db or postgresql+psycopg://user:pw@host/db",
    )


class Database:
    """An engine plus a session factory; one per app, built by ``create_app``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def migrate(self, revision: str = "head") -> None:
        """Apply the packaged Alembic migrations up to ``revision``."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        with resources.as_file(resources.files("promkit.tracker") / "migrations") as path:
            config.set_main_option("script_location", str(path))
            try:
                with self.engine.begin() as conn:
                    config.attributes["connection"] = conn
                    command.upgrade(config, revision)
            except OperationalError as exc:
                raise ConnectError(
                    f"cannot reach the tracker database {redact_url(self.url)}",
                    hint=f"check that it is running and reachable ({type(exc.orig).__name__})",
                ) from None

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def dispose(self) -> None:
        self.engine.dispose()


__all__ = ["Database", "make_engine", "redact_url"]
