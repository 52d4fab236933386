"""Open the database, bring its schema up to date, and the one INSERT both dialects share.

``sqlite:///path`` is the embedded local default; ``postgresql://...`` is the real
one (psycopg 3 is the driver, and the only choice on Lambda, where ``/tmp``
belongs to one sandbox). Short lock and connect timeouts: a database that is
down or locked fails the batch fast, and the batch is retried.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from streaming.database.history import LATEST, MIGRATIONS, schema_version

#: a statement waiting longer than this for a lock fails (the batch is retried)
LOCK_TIMEOUT_S = 5
#: connecting takes at most this long (a database that is down fails fast)
CONNECT_TIMEOUT_S = 5
#: one advisory lock id for migrations on PostgreSQL (any constant; "mon1")
_MIGRATION_LOCK = 0x6D6F6E31


class StoreError(Exception):
    """The database URL or schema cannot be used (a message naming the fix)."""


def open_store(url: str, *, lock_timeout_s: float = LOCK_TIMEOUT_S) -> Engine:
    """An engine for ``url`` with short lock and connect timeouts, schema migrated."""
    engine = make_engine(url, lock_timeout_s=lock_timeout_s)
    migrate(engine)
    return engine


def make_engine(url: str, *, lock_timeout_s: float = LOCK_TIMEOUT_S) -> Engine:
    """``sqlite:///file`` or ``postgresql://`` (psycopg 3); anything else is refused."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"{url!r} is not a database URL: use sqlite:///monitoring.db "
            "or postgresql://user:password@host:5432/db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return create_engine(parsed, connect_args={"timeout": lock_timeout_s})
    if backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
        options = f"-c lock_timeout={int(lock_timeout_s * 1000)} -c statement_timeout=60000"
        return create_engine(
            parsed,
            pool_pre_ping=True,  # a restarted server: the next batch reconnects
            pool_size=2,
            max_overflow=2,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "options": options},
        )
    raise StoreError(
        f"{backend!r} databases are not supported; use sqlite:///file.db or postgresql://..."
    )


def migrate(engine: Engine) -> int:
    """Apply the migrations this database lacks, each with its ``schema_version`` row,
    in one transaction; return the version. On PostgreSQL an advisory lock makes
    concurrent cold starts take turns. A database newer than this code is refused."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK})
        schema_version.create(conn, checkfirst=True)
        current = conn.execute(select(func.max(schema_version.c.version))).scalar() or 0
        if current > LATEST:
            raise StoreError(
                f"the monitoring database is at schema version {current}, newer than this "
                f"code's {LATEST}: deploy the newer code, or point MONITORING_DB_URL elsewhere"
            )
        for step in MIGRATIONS:
            if step.version > current:
                step.apply(conn)
                conn.execute(
                    schema_version.insert().values(
                        version=step.version,
                        description=step.description,
                        applied_at=datetime.now(UTC).isoformat(timespec="seconds"),
                    )
                )
        return max(current, LATEST)


def insert_of(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT with ON CONFLICT (both dialects spell it the same)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)
