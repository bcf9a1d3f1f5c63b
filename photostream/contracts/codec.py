"""Avro single-object encoding (spec: "Single object encoding"): ``C3 01`` + 8-byte fingerprint + body.

Anyone holding ``schemas/`` can decode any record without a registry server: the fingerprint names the
writer schema, and the reader resolves it against the topic's current schema (Avro schema resolution), so
new readers read old events and old readers read new ones.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from photostream.contracts.schema_store import SchemaStore, SchemaVersion, default_store

MARKER = b"\xc3\x01"
HEADER_LEN = 10


class DecodeError(ValueError):
    """The bytes are not a single-object-encoded record of a known schema."""


class EventCodec:
    """Encode with a topic's current schema; decode any released version into the reader's schema."""

    def __init__(self, store: SchemaStore | None = None) -> None:
        self.store = store or default_store()

    def encode(self, topic: str, record: dict[str, Any], version: SchemaVersion | None = None) -> bytes:
        """Serialise ``record`` (already validated) with ``version`` or the topic's current schema."""
        schema = version or self.store.current(topic)
        buffer = io.BytesIO()
        buffer.write(MARKER)
        buffer.write(schema.fingerprint)
        schemaless_writer(buffer, schema.parsed, record)
        return buffer.getvalue()

    def decode(self, topic: str, data: bytes, reader: SchemaVersion | None = None) -> dict[str, Any]:
        """Decode into ``reader`` (default: the topic's current schema); timestamps come back as epoch ms."""
        if len(data) < HEADER_LEN or data[:2] != MARKER:
            raise DecodeError("not Avro single-object encoding (missing C3 01 marker)")
        try:
            writer = self.store.by_fingerprint(data[2:HEADER_LEN])
        except LookupError as exc:
            raise DecodeError(str(exc)) from None
        target = reader or self.store.current(topic)
        if writer.raw.get("name") != target.raw.get("name"):
            raise DecodeError(f"record is a {writer.raw.get('name')}, topic {topic} holds {target.raw.get('name')}")
        # Schema resolution costs ~3x a plain read; it is only needed when the writer is another version.
        reader_schema = None if writer is target else target.parsed
        try:
            record = schemaless_reader(io.BytesIO(data[HEADER_LEN:]), writer.parsed, reader_schema)
        except Exception as exc:  # fastavro raises a variety of errors on truncated/garbled bodies
            raise DecodeError(f"undecodable body: {type(exc).__name__}: {exc}") from None
        if not isinstance(record, dict):
            raise DecodeError("record body is not an Avro record")
        return _timestamps_to_millis(record)


def _timestamps_to_millis(record: dict[str, Any]) -> dict[str, Any]:
    """fastavro turns timestamp-millis into datetimes; events use plain epoch milliseconds everywhere."""
    for key, value in record.items():
        if isinstance(value, datetime):
            record[key] = int(value.timestamp() * 1000)
    return record
