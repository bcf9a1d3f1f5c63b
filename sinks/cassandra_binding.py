"""Adding prepared statements to a batch without the driver's per-row ``BoundStatement``.

Why: ``BatchStatement.add`` builds a whole ``BoundStatement`` for every row (a dozen attributes, a ``ColDesc``
named tuple per value, the column-encryption checks) only to keep its serialised values. Measured on this
stack, 50,000 three-column rows: 5.8–6.4 µs of the event loop's thread per row through the driver, 1.6–1.75 µs
here, with the same column types' ``serialize`` and the same bytes in the batch. Every processor's durable
writes go through here, one to three rows per event.

The fast path writes the batch's ``_statements_and_parameters`` list, the one the driver's own ``add`` appends
to. ``tests/integration/test_cassandra_binding.py`` compares both paths' contents, so a driver upgrade that changes it
fails there; if the attribute is gone, every row takes the driver's path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cassandra.query import BatchStatement, PreparedStatement

#: per prepared statement: (query id, protocol version, one serialiser per bind marker), or None where the
#: driver must bind (column encryption)
_Serializers = tuple[bytes, int, tuple[Callable[[Any, int], bytes], ...]] | None
#: where a prepared statement keeps its serialisers: on itself, so they live exactly as long as it does (a
#: ``WeakKeyDictionary`` lookup cost ~0.1 µs a row, against ~0.015 µs for the attribute)
_KEPT_AS = "_photostream_serializers"
_POSITIONAL = frozenset({tuple, list})
_FAST = hasattr(BatchStatement(), "_statements_and_parameters")


def add_bound(batch: BatchStatement, statement: Any, params: Any) -> None:
    """``batch.add(statement, params)``, binding a prepared statement's positional values straight into the batch.

    The driver still adds a batch's first statement (that sets the batch's routing key and keyspace, which
    token-aware routing reads), named or partial parameters, anything not prepared, and any row whose values
    do not serialise (so the error is the driver's, naming the column)."""
    if _FAST and batch.routing_key is not None and type(params) in _POSITIONAL \
            and type(statement) is PreparedStatement:
        binding = _serializers(statement)
        if binding is not None and len(params) == len(binding[2]):
            query_id, protocol, serializers = binding
            try:
                values = [None if value is None else serialize(value, protocol)
                          for value, serialize in zip(params, serializers, strict=True)]
            except Exception:  # the driver's add below raises its own error, naming the column
                pass
            else:
                batch._statements_and_parameters.append((True, query_id, values))
                return
    batch.add(statement, params)


def _serializers(statement: PreparedStatement) -> _Serializers:
    try:
        return getattr(statement, _KEPT_AS)  # type: ignore[no-any-return]
    except AttributeError:
        pass
    binding: _Serializers = None
    if statement.column_encryption_policy is None and statement.custom_payload is None:
        binding = (statement.query_id, statement.protocol_version,
                   tuple(column.type.serialize for column in statement.column_metadata))
    setattr(statement, _KEPT_AS, binding)
    return binding
