"""PostgreSQL helpers of the benchmarks: the server URL, a fresh schema per run, dropped at exit."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    return os.environ.get("TAPE_BENCH_POSTGRES") or os.environ.get("TAPE_TEST_POSTGRES") or DEFAULT_URL


@contextlib.contextmanager
def fresh_schema(prefix: str) -> Iterator[str]:
    """A new, empty schema, dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url().split("?")[0], autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(server_url().split("?")[0], autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def library_env(schema: str) -> dict[str, str]:
    """The eventsourcing library's documented environment for its PostgreSQL module."""
    parts = urlsplit(server_url())
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_PASSWORD": parts.password or "",
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_ORIGINATOR_ID_TYPE": "uuid",
    }


def server_settings() -> dict[str, str]:
    import psycopg

    with psycopg.connect(server_url().split("?")[0]) as conn:
        out = {}
        for name in ("server_version", "synchronous_commit", "fsync", "wal_level"):
            out[name] = conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
        return out
