"""Migrations wait for schema agreement as long as a busy machine needs, every statement alike."""

from __future__ import annotations

from typing import Any

import pytest

from photostream.settings import Settings
from photostream.stack import migrate as migrate_module


class _Session:
    def __init__(self) -> None:
        self.timeouts: list[tuple[str, Any]] = []

    def execute(self, statement: str, parameters: Any = None, timeout: Any = None) -> list[Any]:
        self.timeouts.append((statement.split("(")[0].strip(), timeout))
        return []

    def set_keyspace(self, keyspace: str) -> None:
        pass


class _Cluster:
    def shutdown(self) -> None:
        pass


def test_every_statement_of_a_migration_gets_the_schema_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The keyspace's creation used the driver's 10 s default and timed out under load, failing a run."""
    session = _Session()
    monkeypatch.setattr("sinks.cassandra.connect", lambda settings, keyspace=None: (_Cluster(), session))
    applied = migrate_module.migrate(Settings(cassandra_keyspace="ps_unit_migrate"))
    assert applied == [path.name for path in migrate_module.migration_files()]
    assert session.timeouts[0][0].startswith("CREATE KEYSPACE")
    late = [statement for statement, timeout in session.timeouts if timeout != migrate_module.DDL_TIMEOUT_S]
    assert late == []
