"""A per-schema Avro binary decoder, generated once from the schema: every consumer's hot path.

``fastavro.schemaless_reader`` sets up a reader and walks the schema generically on every call (~5 µs for a
``post-hashtag`` here, half of what encoding and decoding it cost the hashtag counter). For a record read with
the schema it was written with (the usual case: no schema resolution), the walk can be unrolled once into
straight-line Python over the bytes: a field costs a few index operations and one slice. The generated
function returns what fastavro returns for the same bytes and schema (``timestamp-millis`` as the epoch
milliseconds, as :attr:`SchemaVersion.decoding` reads them), and raises on bytes that end early, lengths or
indexes out of range and invalid UTF-8; ``tests/unit/test_avro_reader.py`` checks both against fastavro for
every released schema. Like fastavro, it ignores bytes after the record.

Schemas using a type this compiler does not cover (map, fixed, named references, other logical types, an
array whose items may take no bytes) get ``None`` from :func:`compile_decoder`; callers then use fastavro.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from photostream.contracts.avro_writer import SourceBuilder, UnsupportedSchemaError

Decoder = Callable[[bytes], dict[str, Any]]


class TimeBound(NamedTuple):
    """Top-level ``timestamp-millis`` fields must lie in ``0..latest_ms``; ``error(field, value)`` is raised for
    one that does not. Checked as each is read: a pass over the record afterwards cost more than the reads."""

    latest_ms: int
    error: Callable[[str, int], Exception]

#: a varint of more than 10 bytes is not a long (garbage must not loop on)
_MAX_VARINT_BYTES = 10


class TruncatedError(ValueError):
    """The bytes end, or a length or index points, outside the record."""


def read_long(data: bytes, p: int) -> tuple[int, int]:
    """The zigzag varint at ``p``, and the position after it. Up to six bytes (a millisecond timestamp) are read
    unrolled (0.47 against 0.71 µs a timestamp), longer ones in a loop."""
    x = data[p]
    n = x & 0x7F
    if x < 0x80:
        return (n >> 1) ^ -(n & 1), p + 1
    x = data[p + 1]
    n |= (x & 0x7F) << 7
    if x < 0x80:
        return (n >> 1) ^ -(n & 1), p + 2
    x = data[p + 2]
    n |= (x & 0x7F) << 14
    if x < 0x80:
        return (n >> 1) ^ -(n & 1), p + 3
    x = data[p + 3]
    n |= (x & 0x7F) << 21
    if x < 0x80:
        return (n >> 1) ^ -(n & 1), p + 4
    x = data[p + 4]
    n |= (x & 0x7F) << 28
    if x < 0x80:
        return (n >> 1) ^ -(n & 1), p + 5
    x = data[p + 5]
    n |= (x & 0x7F) << 35
    if x < 0x80:
        return (n >> 1) ^ -(n & 1), p + 6
    return _read_long_looping(data, p)


def _read_long_looping(data: bytes, p: int) -> tuple[int, int]:
    byte = data[p]
    n, shift, start = byte & 0x7F, 7, p
    p += 1
    while byte & 0x80:
        if p - start >= _MAX_VARINT_BYTES:
            raise TruncatedError(f"a varint at byte {start} runs past {_MAX_VARINT_BYTES} bytes")
        byte = data[p]
        n |= (byte & 0x7F) << shift
        shift += 7
        p += 1
    if n >> 64:  # a tenth byte above 1: no long has this encoding (it was read as a number past 64 bits)
        raise TruncatedError(f"a varint at byte {start} overflows a 64-bit long")
    return (n >> 1) ^ -(n & 1), p


def _min_bytes(schema: Any) -> int:
    """The fewest bytes a value of ``schema`` takes on the wire (an array of items that may take none could
    claim any number of them: such arrays are left to fastavro)."""
    kind = _kind(schema)
    if kind == "null":
        return 0
    if kind == "record":
        return sum(_min_bytes(field["type"]) for field in schema["fields"])
    return {"float": 4, "double": 8}.get(kind, 1)


def _kind(schema: Any) -> str:
    return schema if isinstance(schema, str) else schema["type"] if isinstance(schema, dict) else "union"


class _Emitter(SourceBuilder):
    """Appends source lines that decode one value at ``p`` of ``b`` into a local variable."""

    def varint(self, var: str, indent: int) -> None:
        """``var`` = the long at ``p`` (one byte read inline: lengths, indexes and counts are mostly small)."""
        self.line(indent, f"{var} = b[p]")
        self.line(indent, f"if {var} < 0x80: p += 1; {var} = ({var} >> 1) ^ -({var} & 1)")
        self.line(indent, f"else: {var}, p = _long(b, p)")

    def span(self, var: str, path: str, indent: int) -> str:
        """Reads a length at ``p`` into ``var`` and checks the bytes it announces are there; the slice's end."""
        end = self.fresh("e")
        self.varint(var, indent)
        self.line(indent, f"{end} = p + {var}")
        self.line(indent, f"if {var} < 0 or {end} > size: raise _Truncated({self.constant(path)} + "
                          f"f': a length of {{{var}}} at byte {{p}} of {{size}}')")
        return end

    def value(self, schema: Any, var: str, path: str, indent: int) -> None:
        kind = _kind(schema)
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        if logical is not None and not (logical == "timestamp-millis" and kind == "long"):
            raise UnsupportedSchemaError(f"logical type {logical}")
        if kind == "null":
            self.line(indent, f"{var} = None")
        elif kind == "boolean":
            self.line(indent, f"{var} = b[p] != 0; p += 1")
        elif kind in ("int", "long"):
            self.varint(var, indent)
        elif kind in ("float", "double"):
            width, fmt = (4, "<f") if kind == "float" else (8, "<d")
            self.line(indent, f"{var} = _unpack_from({fmt!r}, b, p)[0]; p += {width}")
        elif kind in ("string", "bytes"):
            end = self.span(var, path, indent)
            self.line(indent, f"{var} = b[p:{end}]{'.decode()' if kind == 'string' else ''}; p = {end}")
        elif kind == "enum":
            symbols = self.constant(tuple(schema["symbols"]))
            self.varint(var, indent)
            self.line(indent, f"if not 0 <= {var} < {len(schema['symbols'])}: raise _Truncated("
                              f"{self.constant(path)} + f': symbol {{{var}}} of {len(schema['symbols'])}')")
            self.line(indent, f"{var} = {symbols}[{var}]")
        elif kind == "array":
            self.array(schema, var, path, indent)
        elif kind == "record":
            self.record(schema, var, path, indent)
        elif kind == "union":
            self.union(schema, var, path, indent)
        else:
            raise UnsupportedSchemaError(f"type {kind}")

    def array(self, schema: dict[str, Any], var: str, path: str, indent: int) -> None:
        """Blocks of items: a count (negative: followed by the block's byte size), then that many items; a
        count of 0 ends the array. A count larger than the bytes left could hold is refused at once."""
        if _min_bytes(schema["items"]) == 0:
            raise UnsupportedSchemaError("an array of items that may take no bytes")
        count, item, turn = self.fresh("n"), self.fresh("i"), self.fresh("j")
        self.line(indent, f"{var} = []")
        self.line(indent, "while True:")
        self.varint(count, indent + 1)
        self.line(indent + 1, f"if {count} == 0: break")
        self.line(indent + 1, f"if {count} < 0: {count} = -{count}; _, p = _long(b, p)")
        self.line(indent + 1, f"if {count} > size - p: raise _Truncated({self.constant(path)} + "
                              f"f': {{{count}}} items announced at byte {{p}} of {{size}}')")
        self.line(indent + 1, f"for {turn} in range({count}):")
        self.value(schema["items"], item, path + "[]", indent + 2)
        self.line(indent + 2, f"{var}.append({item})")

    def record(self, schema: dict[str, Any], var: str, path: str, indent: int,
               time_bound: TimeBound | None = None) -> None:
        """``time_bound``: the top-level record's times are checked against it (see :class:`TimeBound`)."""
        fields = []
        for field in schema["fields"]:
            local = self.fresh("v")
            self.value(field["type"], local, f"{path}.{field['name']}" if path else field["name"], indent)
            if time_bound is not None and _is_time(field["type"]):
                self.line(indent, f"if not 0 <= {local} <= {time_bound.latest_ms}: "
                                  f"raise _time_error({field['name']!r}, {local})")
            fields.append(f"{field['name']!r}: {local}")
        self.line(indent, f"{var} = {{{', '.join(fields)}}}")

    def union(self, branches: list[Any], var: str, path: str, indent: int) -> None:
        index = self.fresh("u")
        self.varint(index, indent)
        for number, branch in enumerate(branches):
            self.line(indent, f"{'if' if number == 0 else 'elif'} {index} == {number}:")
            self.value(branch, var, path, indent + 1)
        self.line(indent, f"else: raise _Truncated({self.constant(path)} + "
                          f"f': union branch {{{index}}} of {len(branches)}')")


_NAMESPACE: dict[str, Any] = {"_long": read_long, "_Truncated": TruncatedError, "_unpack_from": struct.unpack_from}


def _is_time(schema: Any) -> bool:
    """A ``timestamp-millis`` long (not in a union: what :func:`photostream.contracts.codec.time_fields` checks)."""
    return isinstance(schema, dict) and schema.get("type") == "long" and schema.get("logicalType") == "timestamp-millis"


def decoder_source(schema: dict[str, Any], start: int = 0,
                   time_bound: TimeBound | None = None) -> tuple[str, dict[str, Any]]:
    """The generated function's source and its constants (for reading, and for the tests)."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise UnsupportedSchemaError("only record schemas are compiled")
    emitter = _Emitter()
    emitter.line(1, f"p = {start}; size = len(b)")
    emitter.record(schema, "record", "", 1, time_bound)
    emitter.line(1, "return record")
    return "\n".join(["def decode(b):", *emitter.lines]), emitter.constants


def compile_decoder(schema: dict[str, Any], start: int = 0, time_bound: TimeBound | None = None) -> Decoder | None:
    """A decoder for records of ``schema`` (its JSON) that start at byte ``start`` of the bytes it is given
    (after a header); None if the schema uses something not covered (use fastavro then)."""
    try:
        source, constants = decoder_source(schema, start, time_bound)
    except UnsupportedSchemaError:
        return None
    namespace = {**_NAMESPACE, **constants, "_time_error": time_bound.error if time_bound else None}
    exec(compile(source, f"<avro decoder {schema.get('name')}>", "exec"), namespace)
    decode: Decoder = namespace["decode"]
    return decode
