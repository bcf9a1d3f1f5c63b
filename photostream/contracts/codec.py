"""Avro single-object encoding (spec: "Single object encoding"): ``C3 01`` + 8-byte fingerprint + body.

Anyone holding ``schemas/`` can decode any record without a registry server: the fingerprint names the
writer schema, and the reader resolves it against the topic's current schema (Avro schema resolution), so
new readers read old events and old readers read new ones.

Encoding goes through a per-schema encoder generated once (:mod:`photostream.contracts.avro_writer`): the
producer encodes every event it publishes, and fastavro's generic writer costs about twice as much per record.
Decoding a record written with the reader's own schema goes through a generated decoder
(:mod:`photostream.contracts.avro_reader`) for the same reason; schema resolution stays fastavro's.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import partial
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from photostream.contracts.avro_reader import Decoder, TimeBound, compile_decoder
from photostream.contracts.avro_writer import EncodeError, Encoder, compile_encoder
from photostream.contracts.catalog import UnknownTopicError
from photostream.contracts.catalog import topic as catalog_topic
from photostream.contracts.schema_store import SchemaStore, SchemaVersion, default_store

__all__ = ["HEADER_LEN", "MARKER", "DecodeError", "EncodeError", "EventCodec", "not_single_object"]

MARKER = b"\xc3\x01"
HEADER_LEN = 10


class DecodeError(ValueError):
    """The bytes are not a single-object-encoded record of a known schema."""


#: the last millisecond of year 9999: what a Cassandra timestamp and a Python datetime can hold. A record timed
#: beyond it (a producer sending microseconds as milliseconds: year 58,000) was applied, and every read of the
#: row it wrote failed (a 500 for every reader of a thread or a feed, and the API's Cassandra connection taken
#: down with it); so it is poison, refused like undecodable bytes
LATEST_TIME_MS = 253_402_300_799_999


class EventCodec:
    """Encode with a topic's current schema; decode any released version into the reader's schema."""

    def __init__(self, store: SchemaStore | None = None) -> None:
        self.store = store or default_store()
        self._encoders: dict[bytes, Encoder] = {}
        #: topic → the encoder of its current schema (the store never changes: one look-up a record, not three)
        self._current_encoders: dict[str, Encoder] = {}
        self._decoders: dict[bytes, Decoder] = {}
        #: (topic, header) → the decoder of a record of the topic's current schema
        self._plans: dict[tuple[str, bytes], Decoder] = {}

    def encode(self, topic: str, record: Mapping[str, Any], version: SchemaVersion | None = None) -> bytes:
        """Serialise ``record`` with ``version`` or the topic's current schema.

        Raises :class:`EncodeError` (a ``ValueError``) naming the field if the record does not fit."""
        if version is not None:
            return self.encoder(version)(record)
        encode = self._current_encoders.get(topic)
        if encode is None:
            encode = self._current_encoders[topic] = self.encoder(self.store.current(topic))
        return encode(record)

    def encoder(self, version: SchemaVersion) -> Encoder:
        """The function that single-object-encodes records of ``version`` (built on first use, then kept)."""
        encode = self._encoders.get(version.fingerprint)
        if encode is None:
            header = MARKER + version.fingerprint
            encode = compile_encoder(version.raw, header) or _fastavro_encoder(version, header)
            self._encoders[version.fingerprint] = encode
        return encode

    def decoder(self, version: SchemaVersion) -> Decoder:
        """The function that decodes a single-object-encoded record written with ``version`` into ``version``
        itself (built on first use, then kept); it raises on bytes that are not such a record, and on a time
        outside what a store can hold (a generated decoder as it reads each time: ~0.1 µs a post-hashtag less
        than a pass over the record afterwards)."""
        decode = self._decoders.get(version.fingerprint)
        if decode is None:
            decode = compile_decoder(version.raw, HEADER_LEN, TimeBound(LATEST_TIME_MS, outside_the_times)) \
                or _fastavro_decoder(version)
            self._decoders[version.fingerprint] = decode
        return decode

    def decode(self, topic: str, data: bytes, reader: SchemaVersion | None = None) -> dict[str, Any]:
        """Decode into ``reader`` (default: the topic's current schema); timestamps come back as the epoch
        milliseconds on the wire (read with :attr:`SchemaVersion.decoding`)."""
        if reader is None:  # the hot path: a header seen before on this topic (one slice, one look-up)
            plan = self._plans.get((topic, data[:HEADER_LEN]))
            if plan is not None:
                return _decoded(plan, data)
        if len(data) < HEADER_LEN or data[:2] != MARKER:
            raise not_single_object()
        try:
            writer = self.store.by_fingerprint(data[2:HEADER_LEN])
        except LookupError as exc:
            raise DecodeError(str(exc)) from None
        target = reader or self.store.current(topic)
        if writer.raw.get("name") != target.raw.get("name"):
            raise DecodeError(f"record is a {writer.raw.get('name')}, topic {topic} holds {target.raw.get('name')}")
        if writer is not target:  # schema resolution (another version wrote it): ~3x a plain read, and rare
            resolve = partial(_resolving_read, self.decoder(writer), writer, target, _unwritten(topic, writer))
            return _checked(_decoded(resolve, data), time_fields(target))
        decode = self.decoder(writer)
        if reader is None:
            self._plans[topic, data[:HEADER_LEN]] = decode  # (bounded: topics × released versions)
        return _decoded(decode, data)


def not_single_object() -> DecodeError:
    """The error for bytes that do not start like a single-object-encoded record (another serializer's, random
    bytes, a tombstone)."""
    return DecodeError("not Avro single-object encoding (missing C3 01 marker)")


def _decoded(decode: Decoder, data: bytes) -> dict[str, Any]:
    try:
        record = decode(data)
    except DecodeError:  # (a time out of range, found by a generated decoder: its own words)
        raise
    except Exception as exc:  # truncated/garbled bodies raise a variety of errors
        raise DecodeError(f"undecodable body: {type(exc).__name__}: {exc}") from None
    return record


def _checked(record: dict[str, Any], times: tuple[str, ...]) -> dict[str, Any]:
    for field in times:
        at = record.get(field)
        if isinstance(at, int) and not 0 <= at <= LATEST_TIME_MS:
            raise outside_the_times(field, at)
    return record


def outside_the_times(field: str, at: int) -> DecodeError:
    return DecodeError(f"{field}: {at} ms is outside the times a store can hold (0 to year 9999)")


def _unwritten(topic: str, writer: SchemaVersion) -> frozenset[str]:
    """The topic's fields that ``writer`` lacks and whose absence means "unchanged" (the catalog's)."""
    try:
        kept = catalog_topic(topic).unchanged_unless_written
    except UnknownTopicError:
        return frozenset()
    return kept - {f["name"] for f in writer.raw.get("fields", ())}


def _resolving_read(strict: Decoder, writer: SchemaVersion, reader: SchemaVersion, unwritten: frozenset[str],
                    data: bytes) -> dict[str, Any]:
    """Checked with the writer's own (generated) decoder first, then resolved by fastavro: fastavro looks an enum
    symbol or a union branch up by plain list indexing, so a garbled index of -1 read as the last symbol (an
    old-version like read as an unlike and applied), and it took varints past 64 bits and negative block counts
    of -2**63; the generated decoder refuses all of them, as it does for the current version."""
    strict(data)
    record = _a_record(schemaless_reader(io.BytesIO(data[HEADER_LEN:]), writer.decoding, reader.decoding))
    for name in unwritten:
        record[name] = None
    return record


def _a_record(found: object) -> dict[str, Any]:
    if not isinstance(found, dict):
        raise DecodeError("record body is not an Avro record")
    return found


_TIME_FIELDS: dict[bytes, tuple[str, ...]] = {}


def time_fields(version: SchemaVersion) -> tuple[str, ...]:
    """The top-level ``timestamp-millis`` fields of ``version`` (found once per schema)."""
    found = _TIME_FIELDS.get(version.fingerprint)
    if found is None:
        found = _TIME_FIELDS[version.fingerprint] = tuple(
            f["name"] for f in version.raw.get("fields", [])
            if isinstance(f.get("type"), dict) and f["type"].get("logicalType") == "timestamp-millis")
    return found


def _fastavro_decoder(version: SchemaVersion) -> Decoder:
    """fastavro's generic reader, for a schema the decoder generator does not cover (its times checked after)."""
    times = time_fields(version)

    def decode(data: bytes) -> dict[str, Any]:
        return _checked(_a_record(schemaless_reader(io.BytesIO(data[HEADER_LEN:]), version.decoding, None)), times)

    return decode


def _fastavro_encoder(version: SchemaVersion, header: bytes) -> Encoder:
    """fastavro's generic writer, for a schema the encoder generator does not cover."""

    def encode(record: Mapping[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(header)
        try:
            schemaless_writer(buffer, version.parsed, record)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise EncodeError(None, f"not encodable: {exc}") from None
        return buffer.getvalue()

    return encode

