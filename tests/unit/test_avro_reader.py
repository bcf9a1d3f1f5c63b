"""The generated decoders read what fastavro reads, and refuse bytes that are not a whole record."""

import io
import random

import pytest
from fastavro import schemaless_reader

from photostream.contracts.avro_reader import TimeBound, compile_decoder, read_long
from photostream.contracts.avro_writer import zigzag_varint
from photostream.contracts.codec import HEADER_LEN, DecodeError, EventCodec
from photostream.contracts.schema_store import default_store
from tests.unit.test_avro_writer import ALL_VERSIONS, fastavro_bytes, valid_value


def fastavro_read(version, body):
    return schemaless_reader(io.BytesIO(body), version.decoding, None)


@pytest.mark.parametrize("version", ALL_VERSIONS, ids=lambda v: f"{v.topic}-v{v.version}")
def test_records_read_as_fastavro_reads_them_for_every_released_schema(version):
    rng = random.Random(version.topic)
    decode = compile_decoder(version.raw)
    assert decode is not None, "every released schema is covered by the generator"
    for _ in range(200):
        body = fastavro_bytes(version.raw, valid_value(version.raw, rng))
        assert decode(body) == fastavro_read(version, body)


@pytest.mark.parametrize("version", ALL_VERSIONS, ids=lambda v: f"{v.topic}-v{v.version}")
def test_every_strict_prefix_of_a_record_is_refused(version):
    rng = random.Random(version.topic + "prefix")
    decode = compile_decoder(version.raw)
    body = fastavro_bytes(version.raw, valid_value(version.raw, rng))
    for end in range(len(body)):
        with pytest.raises(Exception):  # noqa: B017 (IndexError, struct.error, TruncatedError: the codec wraps them)
            decode(body[:end])


@pytest.mark.parametrize("version", ALL_VERSIONS[::3], ids=lambda v: f"{v.topic}-v{v.version}")
def test_garbled_bytes_read_as_fastavro_reads_them_or_are_refused(version):
    """Flipped bytes: whatever the generated decoder accepts, fastavro reads the same; what fastavro refuses,
    it refuses too."""
    rng = random.Random(version.topic + "garble")
    decode = compile_decoder(version.raw)
    for _ in range(300):
        body = bytearray(fastavro_bytes(version.raw, valid_value(version.raw, rng)))
        for _ in range(rng.choice([1, 2, 5])):
            body[rng.randrange(len(body))] = rng.randrange(256)
        try:
            theirs = fastavro_read(version, bytes(body))
        except Exception:
            theirs = None
        try:
            ours = decode(bytes(body))
        except Exception:
            ours = None
        if ours is not None:
            assert ours == theirs


def test_a_count_larger_than_the_bytes_left_is_refused_at_once():
    """Garbage announcing 2**60 array items must not loop: it is refused before the first item is read."""
    schema = {"type": "record", "name": "R", "fields": [{"name": "a", "type": {"type": "array", "items": "long"}}]}
    decode = compile_decoder(schema)
    with pytest.raises(ValueError, match="items announced"):
        decode(zigzag_varint(2**60) + b"\x02\x00")


def test_a_varint_that_never_ends_is_refused():
    with pytest.raises(ValueError, match="varint"):
        read_long(b"\xff" * 20, 0)


@pytest.mark.parametrize("value", [0, -1, 1, 63, -64, 64, 2**40, 2**63 - 1, -(2**63)])
def test_read_long_reads_zigzag_varints(value):
    data = b"\x07" + zigzag_varint(value) + b"\x07"
    assert read_long(data, 1) == (value, len(data) - 1)


def test_a_schema_the_generator_does_not_cover_falls_back_to_fastavro():
    schema = {"type": "record", "name": "M", "fields": [{"name": "m", "type": {"type": "map", "values": "long"}}]}
    assert compile_decoder(schema) is None
    nulls = {"type": "record", "name": "N", "fields": [{"name": "a", "type": {"type": "array", "items": "null"}}]}
    assert compile_decoder(nulls) is None


def test_the_codec_reads_its_own_records_and_names_what_is_wrong_with_a_cut_one():
    codec = EventCodec()
    version = default_store().current("post-hashtag")
    record = valid_value(version.raw, random.Random(7)) | {"occurred_at": 1_764_000_000_000,
                                                            "post_created_at": 1_764_000_000_000}
    data = codec.encode("post-hashtag", record)
    assert codec.decode("post-hashtag", data) == fastavro_read(version, data[HEADER_LEN:])
    with pytest.raises(DecodeError, match="undecodable body"):
        codec.decode("post-hashtag", data[:-1])


@pytest.mark.parametrize("body", [b"\xff" * 9 + b"\x7f", b"\xfe" + b"\xff" * 8 + b"\x03"])
def test_a_varint_past_64_bits_is_refused(body):
    """fastavro keeps the low 64 bits of such a varint; no long is encoded so, and ours read a number past the
    long range (a `size_bytes` of 2**64 - 1 passed every rule, then broke the replay's Parquet writer)."""
    with pytest.raises(ValueError, match="overflows a 64-bit long"):
        read_long(body, 0)


def test_an_older_versions_record_with_a_negative_enum_index_is_refused_not_read_as_the_last_symbol():
    """A record of an older schema version is resolved by fastavro, which looked an enum index of -1 up as the
    last symbol: a garbled v1 like was read as an unlike and applied. It is checked by its own decoder first."""
    codec, v1 = EventCodec(), default_store().versions("like-changed")[0]

    def text(value: str) -> bytes:
        return zigzag_varint(len(value.encode())) + value.encode()

    body = text("0190a0b0-0000-7000-8000-000000000001") + zigzag_varint(1_764_000_000_000) + text("p1") + text("u1")
    header = b"\xc3\x01" + v1.fingerprint
    assert codec.decode("like-changed", header + body + zigzag_varint(0))["action"] == "like"
    with pytest.raises(DecodeError, match="symbol -1"):
        codec.decode("like-changed", header + body + zigzag_varint(-1))


def test_a_time_bound_refuses_top_level_times_outside_it_as_they_are_read():
    """With a :class:`TimeBound`, a top-level ``timestamp-millis`` outside ``0..latest`` raises the bound's own
    error (the codec's DecodeError: a poison record's reason); other longs and times in a union are left alone, as
    :func:`photostream.contracts.codec.time_fields` leaves them."""
    timestamp = {"type": "long", "logicalType": "timestamp-millis"}
    schema = {"type": "record", "name": "R", "fields": [
        {"name": "at", "type": timestamp}, {"name": "count", "type": "long"},
        {"name": "maybe", "type": ["null", timestamp]}]}

    def error(field, value):
        return LookupError(f"{field}={value}")

    bounded = compile_decoder(schema, 0, TimeBound(1_000, error))
    unbounded = compile_decoder(schema)
    inside = zigzag_varint(1_000) + zigzag_varint(-5) + zigzag_varint(1) + zigzag_varint(5_000)
    assert bounded(inside) == unbounded(inside) == {"at": 1_000, "count": -5, "maybe": 5_000}
    for outside in (1_001, -1):
        body = zigzag_varint(outside) + zigzag_varint(0) + zigzag_varint(0)
        assert unbounded(body)["at"] == outside
        with pytest.raises(LookupError, match=f"at={outside}"):
            bounded(body)
