"""Idempotent CQL migrations: ``sinks/migrations/NNNN_name.cql``, applied once each, in order.

The keyspace is created with the replication from settings (SimpleStrategy locally, NetworkTopologyStrategy
on a cluster). Applied migrations are recorded in ``schema_migrations``; every statement is itself
idempotent (IF NOT EXISTS) so a migration interrupted half-way can simply run again.
"""

from __future__ import annotations

import re
from pathlib import Path

from photostream.settings import PROJECT_ROOT, Settings

MIGRATIONS_DIR = PROJECT_ROOT / "sinks" / "migrations"
_KEYSPACE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,47}$")
#: every schema change waits for the cluster's agreement: the driver's 10 s default timed out creating a keyspace
#: on a busy 2-core machine (the benchmark's, while other runs loaded Cassandra), failing a run before it began
DDL_TIMEOUT_S = 60.0


def migration_files(folder: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.cql"))


def split_statements(cql: str) -> list[str]:
    """Statements of a migration file (``;``-separated, ``--`` comments dropped)."""
    lines = [line for line in cql.splitlines() if not line.strip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]


def migrate(settings: Settings) -> list[str]:
    """Apply pending migrations; return the names applied now."""
    from sinks.cassandra import connect

    keyspace = settings.cassandra_keyspace
    if not _KEYSPACE_RE.match(keyspace):
        raise ValueError(f"invalid keyspace name {keyspace!r}")
    cluster, session = connect(settings, keyspace=None)
    try:
        session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {settings.cassandra_replication}",
            timeout=DDL_TIMEOUT_S,
        )
        session.set_keyspace(keyspace)
        session.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamp)",
            timeout=DDL_TIMEOUT_S,
        )
        done = {row.name for row in session.execute("SELECT name FROM schema_migrations", timeout=DDL_TIMEOUT_S)}
        applied = []
        for path in migration_files():
            if path.name in done:
                continue
            for statement in split_statements(path.read_text()):
                session.execute(statement, timeout=DDL_TIMEOUT_S)
            session.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (%s, toTimestamp(now()))", (path.name,),
                timeout=DDL_TIMEOUT_S,
            )
            applied.append(path.name)
        return applied
    finally:
        cluster.shutdown()


def unapplied_migrations(settings: Settings) -> list[str] | None:
    """The migrations this code expects that the settings' keyspace lacks (all of them when it has none); None
    when Cassandra does not answer within a few seconds (the caller goes on: the worker and the API already wait
    for a store that is still starting). Why ask: a worker of a release with a new migration, started before
    ``photostream stack migrate`` ran, failed on its first query of the new column, in the middle of a batch."""
    from cassandra import InvalidRequest, OperationTimedOut
    from cassandra.cluster import NoHostAvailable

    from sinks.cassandra import connect

    keyspace = settings.cassandra_keyspace
    if not _KEYSPACE_RE.match(keyspace):
        raise ValueError(f"invalid keyspace name {keyspace!r}")
    expected = [path.name for path in migration_files()]
    try:
        cluster, session = connect(settings, keyspace=None, metadata=False)
    except (NoHostAvailable, OperationTimedOut):
        return None
    try:
        rows = session.execute(f"SELECT name FROM {keyspace}.schema_migrations", timeout=10)
        done = {row.name for row in rows}
    except InvalidRequest:  # no keyspace, or no migration table in it: nothing applied
        done = set()
    except (NoHostAvailable, OperationTimedOut):
        return None
    finally:
        cluster.shutdown()
    return [name for name in expected if name not in done]


def drop_keyspace(settings: Settings, timeout_s: float = DDL_TIMEOUT_S) -> None:
    """Drop the settings' keyspace if it exists: the undo of :func:`migrate` for a test or benchmark run that
    migrated a keyspace of its own (never the shared one: the name is checked like :func:`migrate` checks it)."""
    from sinks.cassandra import connect

    keyspace = settings.cassandra_keyspace
    if not _KEYSPACE_RE.match(keyspace):
        raise ValueError(f"invalid keyspace name {keyspace!r}")
    cluster, session = connect(settings, keyspace=None)
    try:
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=timeout_s)
    finally:
        cluster.shutdown()
