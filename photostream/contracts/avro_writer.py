"""A per-schema Avro binary encoder, generated once from the schema: the producer's hot path.

fastavro's ``schemaless_writer`` re-resolves the schema and walks it generically on every call (~3 µs for a
five-field record here); the SDK encodes every event it publishes, so that cost is paid per event. For a
fixed record shape the walk can be unrolled once into straight-line Python: one type check and one
``bytes`` piece per field, joined once. The generated function refuses exactly what
``fastavro.validation.validate`` refuses (wrong types, unknown enum symbols, out-of-range numbers,
booleans for numbers), raising :class:`EncodeError` naming the field, and its bytes equal fastavro's
(``tests/unit/test_avro_writer.py`` checks both, type by type).

Schemas using a type this compiler does not cover (map, fixed, decimal and other logical types, unions
whose branches it cannot tell apart by a cheap type test) get ``None`` from :func:`compile_encoder`;
callers then use fastavro.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastavro.logical_writers import LOGICAL_WRITERS

Encoder = Callable[[Mapping[str, Any]], bytes]

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
#: Varint bytes of every value below 2**14 (string lengths, enum indexes, block counts), and the same
#: 14 bits as two bytes that both carry the continuation bit: a long is written 14 bits per table look-up
#: instead of 7 per loop turn (a millisecond timestamp: 3 look-ups instead of 6 turns). ~1 MB, built once.
_SMALL = [bytes([n]) if n < 0x80 else bytes([(n & 0x7F) | 0x80, n >> 7]) for n in range(2**14)]
_PAIR = [bytes([(n & 0x7F) | 0x80, (n >> 7) | 0x80]) for n in range(2**14)]


class EncodeError(ValueError):
    """The datum does not fit the schema; ``field`` is the dotted path of the culprit (None: the record)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class UnsupportedSchemaError(Exception):
    """The schema uses a type the compiler does not unroll (callers fall back to fastavro)."""


def zigzag_varint(n: int) -> bytes:
    """Avro ``long``/``int`` encoding of ``n`` (already range-checked)."""
    n = (n << 1) ^ (n >> 63)
    if n < 0x4000:
        return _SMALL[n]
    out = _PAIR[n & 0x3FFF]
    n >>= 14
    while n >= 0x4000:
        out += _PAIR[n & 0x3FFF]
        n >>= 14
    return out + _SMALL[n]


def length_prefix(n: int) -> bytes:
    """The varint length of a string, bytes or array block (``n`` ≥ 0)."""
    return _SMALL[n * 2] if n < 2**13 else zigzag_varint(n)


def _bad(field: str, expected: str, value: Any) -> EncodeError:
    return EncodeError(field, f"expected {expected}, got {value!r:.80}")


class SourceBuilder:
    """The lines of a generated function, its fresh local names and the constants it reads (shared by the
    encoder here and the decoder in :mod:`photostream.contracts.avro_reader`)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self._counter = 0

    def fresh(self, stem: str) -> str:
        self._counter += 1
        return f"{stem}{self._counter}"

    def constant(self, value: Any) -> str:
        name = self.fresh("_c")
        self.constants[name] = value
        return name

    def line(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)


class _Emitter(SourceBuilder):
    """Appends source lines that encode one value (held in a local variable) into the ``parts`` list."""

    def value(self, schema: Any, var: str, path: str, indent: int) -> None:
        """Check ``var`` against ``schema`` and append its encoding to ``parts``."""
        kind = schema if isinstance(schema, str) else schema["type"] if isinstance(schema, dict) else "union"
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        p = self.constant(path)
        if logical == "timestamp-millis" and kind == "long":
            self.timestamp(var, p, indent)
            return
        if logical is not None:
            raise UnsupportedSchemaError(f"logical type {logical}")
        if kind == "null":
            self.line(indent, f"if {var} is not None: raise _bad({p}, 'null', {var})")
        elif kind == "boolean":
            self.line(indent, f"if {var} is True: _ap(b'\\x01')")
            self.line(indent, f"elif {var} is False: _ap(b'\\x00')")
            self.line(indent, f"else: raise _bad({p}, 'boolean', {var})")
        elif kind in ("int", "long"):
            low, high = ("INT_MIN", "INT_MAX") if kind == "int" else ("LONG_MIN", "LONG_MAX")
            self.line(indent, f"if {var}.__class__ is not int and (not isinstance({var}, int) "
                              f"or isinstance({var}, bool)): raise _bad({p}, {kind!r}, {var})")
            self.line(indent, f"if not {low} <= {var} <= {high}: raise _bad({p}, {kind!r}, {var})")
            self.line(indent, f"_ap(_varint({var}))")
        elif kind in ("float", "double"):
            fmt = "<f" if kind == "float" else "<d"
            self.line(indent, f"if not isinstance({var}, (int, float)) or isinstance({var}, bool): "
                              f"raise _bad({p}, {kind!r}, {var})")
            self.line(indent, f"_ap(_pack({fmt!r}, {var}))")
        elif kind == "string":
            b = self.fresh("b")
            self.line(indent, f"if {var}.__class__ is not str and not isinstance({var}, str): "
                              f"raise _bad({p}, 'string', {var})")
            n = self.fresh("n")
            self.line(indent, f"{b} = {var}.encode(); {n} = len({b})")
            self.line(indent, f"_ap(_SMALL[{n} + {n}] if {n} < 0x2000 else _len({n})); _ap({b})")
        elif kind == "bytes":
            self.line(indent, f"if not isinstance({var}, (bytes, bytearray)): raise _bad({p}, 'bytes', {var})")
            self.line(indent, f"_ap(_len(len({var}))); _ap(bytes({var}))")
        elif kind == "enum":
            table = self.constant({s: _SMALL[i * 2] for i, s in enumerate(schema["symbols"])})
            index = self.fresh("e")
            expected = "one of " + ", ".join(schema["symbols"])
            self.line(indent, f"{index} = {table}.get({var}) if {var}.__class__ is str or isinstance({var}, str) "
                              "else None")
            self.line(indent, f"if {index} is None: raise _bad({p}, {expected!r}, {var})")
            self.line(indent, f"_ap({index})")
        elif kind == "array":
            item = self.fresh("i")
            self.line(indent, f"if {var}.__class__ is not list and (not isinstance({var}, _Sequence) "
                              f"or isinstance({var}, (str, bytes, bytearray))): raise _bad({p}, 'array', {var})")
            self.line(indent, f"if {var}:")
            self.line(indent + 1, f"_ap(_len(len({var})))")
            self.line(indent + 1, f"for {item} in {var}:")
            self.value(schema["items"], item, path + "[]", indent + 2)
            self.line(indent, "_ap(b'\\x00')")
        elif kind == "record":
            self.record(schema, var, path, indent)
        elif kind == "union":
            self.union(schema, var, path, indent)
        else:
            raise UnsupportedSchemaError(f"type {kind}")

    def timestamp(self, var: str, path_constant: str, indent: int) -> None:
        """A ``timestamp-millis``: an int (or a datetime, as fastavro allows). Events made within the same
        millisecond share the timestamp, so its last encoding is kept: one (value, bytes) tuple, replaced
        whole, so concurrent callers never see a torn pair."""
        memo, last = self.constant([(0, _SMALL[0])]), self.fresh("m")
        self.line(indent, f"if {var}.__class__ is not int:")
        self.line(indent + 1, f"if isinstance({var}, _datetime): {var} = _prepare_ts({var}, None)")
        self.line(indent + 1, f"elif not isinstance({var}, int) or isinstance({var}, bool): "
                              f"raise _bad({path_constant}, 'long', {var})")
        self.line(indent, f"{last} = {memo}[0]")
        self.line(indent, f"if {last}[0] == {var}: _ap({last}[1])")
        self.line(indent, "else:")
        self.line(indent + 1, f"if not LONG_MIN <= {var} <= LONG_MAX: raise _bad({path_constant}, 'long', {var})")
        self.line(indent + 1, f"{last} = {memo}[0] = ({var}, _varint({var})); _ap({last}[1])")

    def record(self, schema: dict[str, Any], var: str, path: str, indent: int) -> None:
        self.line(indent, f"if {var}.__class__ is not dict and not isinstance({var}, _Mapping): "
                          f"raise _bad({self.constant(path)}, 'record', {var})")
        for field in schema["fields"]:
            name = field["name"]
            sub = f"{path}.{name}" if path else name
            local = self.fresh("v")
            if "default" in field:
                self.line(indent, f"{local} = {var}.get({name!r}, {self.constant(field['default'])})")
            else:
                self.line(indent, f"{local} = {var}.get({name!r}, _MISSING)")
                self.line(indent, f"if {local} is _MISSING: raise _EncodeError({sub!r}, 'required field is missing')")
            self.value(field["type"], local, sub, indent)

    def union(self, branches: list[Any], var: str, path: str, indent: int) -> None:
        tests = [_union_test(branch, var) for branch in branches]
        if len(set(tests)) != len(tests):
            raise UnsupportedSchemaError("union branches not told apart by a type test")
        for index, (branch, test) in enumerate(zip(branches, tests, strict=True)):
            self.line(indent, f"{'if' if index == 0 else 'elif'} {test}:")
            self.line(indent + 1, f"_ap({self.constant(_SMALL[index * 2])})")
            self.value(branch, var, path, indent + 1)
        expected = " or ".join(str(b if isinstance(b, str) else b.get("name") or b["type"]) for b in branches)
        self.line(indent, f"else: raise _bad({self.constant(path)}, {expected!r}, {var})")


def _union_test(branch: Any, var: str) -> str:
    """A cheap test that picks the branch fastavro's writer picks (the first branch the datum validates as)."""
    kind = branch if isinstance(branch, str) else branch["type"] if isinstance(branch, dict) else "union"
    tests = {
        "null": f"{var} is None",
        "boolean": f"isinstance({var}, bool)",
        "int": f"isinstance({var}, int) and not isinstance({var}, bool)",
        "long": f"isinstance({var}, int) and not isinstance({var}, bool)",
        "float": f"isinstance({var}, (int, float)) and not isinstance({var}, bool)",
        "double": f"isinstance({var}, (int, float)) and not isinstance({var}, bool)",
        "string": f"isinstance({var}, str)",
        "bytes": f"isinstance({var}, (bytes, bytearray))",
        "array": f"isinstance({var}, _Sequence) and not isinstance({var}, (str, bytes, bytearray))",
        "record": f"isinstance({var}, _Mapping)",
    }
    if kind not in tests or (isinstance(branch, dict) and branch.get("logicalType")):
        raise UnsupportedSchemaError(f"union branch {kind}")
    return tests[kind]


_MISSING = object()
_NAMESPACE: dict[str, Any] = {
    "_bad": _bad, "_SMALL": _SMALL, "_EncodeError": EncodeError, "_varint": zigzag_varint, "_len": length_prefix,
    "_pack": struct.pack, "_Mapping": Mapping, "_Sequence": Sequence, "_MISSING": _MISSING,
    "_datetime": datetime.datetime, "_prepare_ts": LOGICAL_WRITERS["long-timestamp-millis"],
    "INT_MIN": INT_MIN, "INT_MAX": INT_MAX, "LONG_MIN": LONG_MIN, "LONG_MAX": LONG_MAX,
}


def encoder_source(schema: dict[str, Any], header: bytes = b"") -> tuple[str, dict[str, Any]]:
    """The generated function's source and its constants (for reading, and for the tests)."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise UnsupportedSchemaError("only record schemas are compiled")
    emitter = _Emitter()
    emitter.line(1, f"parts = [{emitter.constant(header)}]; _ap = parts.append")
    emitter.record(schema, "record", "", 1)
    emitter.line(1, "return b''.join(parts)")
    return "\n".join(["def encode(record):", *emitter.lines]), emitter.constants


def compile_encoder(schema: dict[str, Any], header: bytes = b"") -> Encoder | None:
    """An encoder for the record ``schema`` (its JSON, or fastavro's parse of it) whose output starts with
    ``header``; None if the schema uses something not covered (use fastavro then)."""
    try:
        source, constants = encoder_source(schema, header)
    except UnsupportedSchemaError:
        return None
    namespace = {**_NAMESPACE, **constants}
    exec(compile(source, f"<avro encoder {schema.get('name')}>", "exec"), namespace)
    encode: Encoder = namespace["encode"]
    return encode
