"""The shapes a replayed record takes: Avro types mapped to Arrow (Parquet) and flattened columns (CSV).

Both are derived from the topic's current (reader) Avro schema, never from the records seen, so every file of
a topic has the same columns even when a batch happens to hold no optional field. Every output row starts
with the record's Kafka coordinates (:data:`META_FIELDS`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

#: Kafka coordinates prepended to every exported row: partition, offset, record timestamp (ms), key
META_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("_partition", pa.int32()),
    ("_offset", pa.int64()),
    ("_timestamp", pa.timestamp("ms", tz="UTC")),
    ("_key", pa.string()),
)

_PRIMITIVES: dict[str, pa.DataType] = {
    "null": pa.null(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "bytes": pa.binary(),
    "string": pa.string(),
}

_LOGICAL: dict[tuple[str, str], pa.DataType] = {
    ("long", "timestamp-millis"): pa.timestamp("ms", tz="UTC"),
    ("long", "timestamp-micros"): pa.timestamp("us", tz="UTC"),
    ("long", "local-timestamp-millis"): pa.timestamp("ms"),
    ("long", "local-timestamp-micros"): pa.timestamp("us"),
    ("int", "date"): pa.date32(),
    ("int", "time-millis"): pa.time32("ms"),
    ("long", "time-micros"): pa.time64("us"),
    ("string", "uuid"): pa.string(),
}


class UnsupportedAvroTypeError(TypeError):
    """An Avro construct with no faithful Arrow column (e.g. a union of two non-null types)."""


def arrow_type(avro: Any, named: dict[str, pa.DataType] | None = None) -> tuple[pa.DataType, bool]:
    """``(arrow type, nullable)`` of an Avro type: records → struct, arrays → list, maps → map<string, …>,
    enums → dictionary<int32, string>, fixed → fixed-size binary, ``["null", X]`` → nullable X,
    logical timestamps/dates → Arrow temporal types, decimals → decimal128.

    ``named`` remembers named types already defined, so a later reference by name resolves."""
    named = {} if named is None else named
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        if len(branches) != 1:
            raise UnsupportedAvroTypeError(f"union {avro!r}: only [null, T] maps to one Arrow column")
        inner, _ = arrow_type(branches[0], named)
        return inner, len(branches) < len(avro)
    if isinstance(avro, str):
        if avro in _PRIMITIVES:
            return _PRIMITIVES[avro], avro == "null"
        if avro in named:
            return named[avro], False
        short = avro.rsplit(".", 1)[-1]
        if short in named:
            return named[short], False
        raise UnsupportedAvroTypeError(f"unknown Avro type name {avro!r}")
    kind = avro["type"]
    logical = avro.get("logicalType")
    if logical == "decimal" and kind in ("bytes", "fixed"):
        result: pa.DataType = pa.decimal128(int(avro["precision"]), int(avro.get("scale", 0)))
    elif isinstance(kind, str) and (kind, logical) in _LOGICAL:
        result = _LOGICAL[(kind, logical)]
    elif kind == "record":
        fields = [_arrow_field(f, named) for f in avro["fields"]]
        result = pa.struct(fields)
    elif kind == "enum":
        result = pa.dictionary(pa.int32(), pa.string())
    elif kind == "array":
        item, item_nullable = arrow_type(avro["items"], named)
        result = pa.list_(pa.field("item", item, nullable=item_nullable))
    elif kind == "map":
        value, _ = arrow_type(avro["values"], named)
        result = pa.map_(pa.string(), value)
    elif kind == "fixed":
        result = pa.binary(int(avro["size"]))
    else:
        return arrow_type(kind, named)
    if "name" in avro:
        named[avro["name"]] = result
        if "namespace" in avro:
            named[f"{avro['namespace']}.{avro['name']}"] = result
    return result, False


def _arrow_field(avro_field: Mapping[str, Any], named: dict[str, pa.DataType]) -> pa.Field:
    kind, nullable = arrow_type(avro_field["type"], named)
    return pa.field(avro_field["name"], kind, nullable=nullable)


def arrow_schema(avro_record: Mapping[str, Any], nullable: frozenset[str] = frozenset()) -> pa.Schema:
    """The Parquet schema of a topic: :data:`META_FIELDS` then the record's fields, nesting kept; the fields in
    ``nullable`` may be null whatever their type (an old writer lacked them: they read as "unchanged")."""
    named: dict[str, pa.DataType] = {}
    fields = [pa.field(name, kind, nullable=name == "_key") for name, kind in META_FIELDS]
    fields += [_arrow_field(f, named) for f in avro_record["fields"]]
    return pa.schema([f.with_nullable(True) if f.name in nullable else f for f in fields])


def flat_columns(avro_record: Mapping[str, Any]) -> list[str]:
    """CSV columns: meta fields, then every leaf of the record with nested record fields joined by ``.``
    (``location.lat``). Arrays and maps stay one column (JSON text)."""
    return [name for name, _ in META_FIELDS] + _leaves(avro_record, "")


def _leaves(record: Mapping[str, Any], prefix: str) -> list[str]:
    columns: list[str] = []
    for field in record["fields"]:
        nested = _record_of(field["type"])
        name = prefix + field["name"]
        columns += _leaves(nested, name + ".") if nested is not None else [name]
    return columns


def _record_of(avro: Any) -> Mapping[str, Any] | None:
    """The record schema inside ``avro`` (directly or as the non-null branch of an optional), else None."""
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        return _record_of(branches[0]) if len(branches) == 1 else None
    if isinstance(avro, dict) and avro.get("type") == "record":
        return avro
    return None


def flatten(row: Mapping[str, Any], columns: Sequence[str], prefix: str = "") -> dict[str, Any]:
    """A decoded record as one level of ``column → text-ready value``: nested records become the dotted
    ``columns`` (a null record leaves its columns empty), lists and maps become JSON, bytes become hex."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = prefix + key
        if isinstance(value, Mapping) and any(c.startswith(name + ".") for c in columns):
            flat.update(flatten(value, columns, name + "."))
        elif isinstance(value, Mapping | list | tuple):
            flat[name] = json.dumps(value, ensure_ascii=False, default=str)
        elif isinstance(value, bytes):
            flat[name] = value.hex()
        else:
            flat[name] = value
    return flat
