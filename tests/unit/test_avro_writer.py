"""The generated encoders write fastavro's bytes and refuse what fastavro's validator refuses, field by field."""

import datetime
import io
import random

import pytest
from fastavro import parse_schema, schemaless_writer
from fastavro.validation import validate

from photostream.contracts.avro_writer import EncodeError, compile_encoder, zigzag_varint
from photostream.contracts.codec import MARKER, EventCodec
from photostream.contracts.schema_store import SchemaVersion, default_store

ALL_VERSIONS = [v for topic in default_store().topics() for v in default_store().versions(topic)]


def fastavro_bytes(schema, record):
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(schema), record)
    return buffer.getvalue()


def kind_of(avro_type):
    if isinstance(avro_type, list):
        return "union"
    return avro_type if isinstance(avro_type, str) else avro_type["type"]


def valid_value(avro_type, rng):
    """A random value of ``avro_type`` (of any union branch)."""
    kind = kind_of(avro_type)
    if kind == "union":
        return valid_value(rng.choice(avro_type), rng)
    return {
        "null": lambda: None,
        "boolean": lambda: rng.choice([True, False]),
        "string": lambda: rng.choice(["", "x", "ünïcødé 😍", "a" * 300, "0190a0b0-0000-7000-8000-000000000001"]),
        "long": lambda: rng.choice([0, -1, 1, 63, 64, -65, 8191, 8192, 2**40, 1_750_000_000_123, 2**63 - 1, -(2**63)]),
        "double": lambda: rng.choice([0.0, -1.5, 38.7, 1e300, 7]),
        "enum": lambda: rng.choice(avro_type["symbols"]),
        "array": lambda: [valid_value(avro_type["items"], rng) for _ in range(rng.choice([0, 1, 3, 70]))],
        "record": lambda: {f["name"]: valid_value(f["type"], rng) for f in avro_type["fields"]},
    }[kind]()


#: values that fit none of our schemas' types, plus ones that fit only some (validate() decides which)
CANDIDATES = [None, True, False, 0, 2**63, -(2**63) - 1, 1.5, "x", "like", b"bytes", [], ["x"], [1], ("x",), {},
              {"name": "n"}, {"name": 1}, object()]


@pytest.mark.parametrize("version", ALL_VERSIONS, ids=lambda v: f"{v.topic}-v{v.version}")
def test_bytes_equal_fastavro_for_random_records_of_every_released_schema(version):
    rng = random.Random(version.topic)
    encode = compile_encoder(version.raw)
    assert encode is not None, "every released schema is covered by the generator"
    for _ in range(200):
        record = valid_value(version.raw, rng)
        assert encode(record) == fastavro_bytes(version.raw, record)


@pytest.mark.parametrize("version", ALL_VERSIONS, ids=lambda v: f"{v.topic}-v{v.version}")
def test_a_field_is_refused_exactly_when_fastavro_validate_refuses_it(version):
    rng = random.Random(version.topic)
    encode = compile_encoder(version.raw)
    parsed = parse_schema(version.raw)
    for field in version.raw["fields"]:
        for candidate in CANDIDATES:
            record = valid_value(version.raw, rng) | {field["name"]: candidate}
            try:
                accepted = validate(record, parsed, raise_errors=False)
            except ValueError:  # fastavro's validator trips over a tuple in a union (its tuple notation)
                accepted = False
            if accepted:
                assert encode(record) == fastavro_bytes(version.raw, record)
            else:
                with pytest.raises(EncodeError) as info:
                    encode(record)
                assert info.value.field is not None and info.value.field.split(".")[0].split("[")[0] == field["name"]


def test_a_missing_field_without_default_is_named_and_a_missing_default_is_filled():
    schema = default_store().current("post-created").raw
    encode = compile_encoder(schema)
    record = valid_value(schema, random.Random(1))
    with pytest.raises(EncodeError) as info:
        encode({k: v for k, v in record.items() if k != "caption"})
    assert info.value.field == "caption" and "missing" in str(info.value)
    without_defaults = {k: v for k, v in record.items() if k not in ("visibility", "location")}
    assert encode(without_defaults) == fastavro_bytes(schema, without_defaults | {"visibility": "public"})


def test_nested_record_errors_name_the_path():
    schema = default_store().current("post-created").raw
    record = valid_value(schema, random.Random(2)) | {"location": {"name": "Lisbon", "lat": "north"}}
    with pytest.raises(EncodeError) as info:
        compile_encoder(schema)(record)
    # a union of null and Location: the Location branch is chosen, then its lat is refused
    assert info.value.field == "location.lat"


def test_booleans_are_not_numbers():
    schema = default_store().current("like-changed").raw
    record = valid_value(schema, random.Random(3)) | {"occurred_at": True}
    with pytest.raises(EncodeError) as info:
        compile_encoder(schema)(record)
    assert info.value.field == "occurred_at"


def test_a_datetime_timestamp_is_written_as_fastavro_writes_it():
    schema = default_store().current("like-changed").raw
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.UTC)
    record = valid_value(schema, random.Random(4)) | {"occurred_at": moment}
    assert compile_encoder(schema)(record) == fastavro_bytes(schema, record)


def test_the_remembered_timestamp_never_leaks_into_another_value():
    schema = default_store().current("like-changed").raw
    encode = compile_encoder(schema)
    record = valid_value(schema, random.Random(5))
    for stamp in [5, 5, 1_750_000_000_000, 5, 1_750_000_000_000, 1_750_000_000_001, -3]:
        assert encode(record | {"occurred_at": stamp}) == fastavro_bytes(schema, record | {"occurred_at": stamp})


@pytest.mark.parametrize("value", [0, 1, -1, 63, -64, 64, 8191, 8192, 2**14, 2**27, 2**28, 2**41, 2**42,
                                   1_750_000_000_123, 2**63 - 1, -(2**63)])
def test_zigzag_varint_matches_fastavro(value):
    assert zigzag_varint(value) == fastavro_bytes("long", value)


def test_the_header_comes_first():
    schema = default_store().current("like-changed").raw
    record = valid_value(schema, random.Random(6))
    assert compile_encoder(schema, b"HEAD")(record) == b"HEAD" + fastavro_bytes(schema, record)


def test_a_schema_the_generator_does_not_cover_falls_back_to_fastavro():
    raw = {"type": "record", "name": "WithMap", "fields": [{"name": "tags", "type": {"type": "map", "values": "long"}}]}
    assert compile_encoder(raw) is None
    version = SchemaVersion("with-map", 1, raw, parse_schema(raw), b"\x01" * 8)
    encoded = EventCodec().encoder(version)({"tags": {"a": 1}})
    assert encoded == MARKER + b"\x01" * 8 + fastavro_bytes(raw, {"tags": {"a": 1}})
    with pytest.raises(EncodeError):
        EventCodec().encoder(version)({"tags": "not a map"})
