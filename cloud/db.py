"""Engines, sessions and migrations: SQLite by default, PostgreSQL by URL.

No engine exists at import time: `create_app` (or a CLI command) builds one from its
settings and disposes of it at the end.

SQLite: WAL (readers never wait for the writer), foreign keys on, and every transaction
starts with ``BEGIN IMMEDIATE``. Nearly every request writes (a pull writes its audit
rows), and a deferred transaction that reads first and writes later can fail with
"database is locked" when two of them try to upgrade at once; taking the write lock at
BEGIN makes them queue on the busy timeout instead.

PostgreSQL: writes run at READ COMMITTED and lock the guest rows they touch; reads run
at REPEATABLE READ (`Database.snapshots`), so a pull that overlaps an erasure sees the
guest either whole or erased, never with its observations but without its key. The
gateways' hot reads (pull, page) instead run as one statement in autocommit on a pool of
their own (`cloud.pgread`): one statement sees one snapshot, which gives the same.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from .errors import SchemaOutOfDate

__all__ = [
    "MIGRATIONS_DIR",
    "Database",
    "alembic_config",
    "check_schema",
    "head_revision",
    "make_engine",
    "migrate",
    "schema_revision",
]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    sqlite_busy_timeout_ms: int = 10_000,
    autocommit: bool = False,
) -> Engine:
    """An engine for the URL. ``autocommit`` (PostgreSQL only): its own pool whose
    connections run each statement as its own transaction, for `cloud.pgread`."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # No pre-ping: it would cost a round trip on every request. A connection that died
        # with a database restart fails its one request instead (503, which gateways
        # retry), and SQLAlchemy then drops the whole pool.
        options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size, **options)
    if autocommit:
        raise ValueError("the autocommit engine is for PostgreSQL's one-statement reads")
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        # Requests run in FastAPI's thread pool, one connection per request at a time.
        connect_args={"check_same_thread": False, "timeout": sqlite_busy_timeout_ms / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling would BEGIN lazily (deferred); we emit
        # BEGIN ourselves in _on_begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: an acknowledged push survives a power cut, not only a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(sqlite_busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@dataclass(frozen=True)
class Database:
    """The engine and the two session factories built on it; on PostgreSQL, optionally,
    a second engine in autocommit that the one-statement read path runs on
    (`cloud.pgread`). A pool of its own: its connections never change isolation level
    per checkout, which SQLAlchemy would otherwise do on every request."""

    engine: Engine
    sessions: sessionmaker[Session]
    snapshots: sessionmaker[Session]
    autocommit: Engine | None = None

    @classmethod
    def of(cls, engine: Engine, *, autocommit: Engine | None = None) -> Database:
        snapshot_engine = engine
        if engine.dialect.name == "postgresql":
            snapshot_engine = engine.execution_options(isolation_level="REPEATABLE READ")
        return cls(
            engine=engine,
            sessions=sessionmaker(engine, expire_on_commit=False),
            snapshots=sessionmaker(snapshot_engine, expire_on_commit=False),
            autocommit=autocommit,
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()
        if self.autocommit is not None:
            self.autocommit.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code: no alembic.ini is needed anywhere."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its revisions
        raise SchemaOutOfDate("no migration revisions found in " + str(MIGRATIONS_DIR))
    return head


def schema_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema (idempotent: at head it does nothing)."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)
    log.info("database schema at %s", schema_revision(engine))


def check_schema(engine: Engine) -> None:
    current, head = schema_revision(engine), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"the database is at schema revision {current or 'none (empty)'}, this code "
            f"needs {head}: run `staysync cloud migrate` first"
        )
