"""Schemas, single-object encoding, schema evolution and the compatibility gate."""

import copy
import io
import json

import pytest
from fastavro import parse_schema, schemaless_reader

from photostream.contracts.catalog import TOPICS, topic
from photostream.contracts.codec import MARKER, DecodeError, EventCodec
from photostream.contracts.compat import check_pair, check_store
from photostream.contracts.schema_store import SchemaStore, default_store, schemas_dir
from producers import events
from producers.ids import new_id


def post_record(**overrides):
    event = events.post_created(author_id="0190a0b0-0000-7000-8000-000000000001", caption="hi #there",
                                image_ids=["0190a0b0-0000-7000-8000-000000000002"])
    return {**event.value, **overrides}


def test_fingerprint_matches_the_spec_vector():
    # Avro spec test vector: CRC-64-AVRO("null") = 7195948357588979594, written little-endian.
    from fastavro.schema import fingerprint
    assert int.from_bytes(bytes.fromhex(fingerprint('"null"', "CRC-64-AVRO")), "little") == 7195948357588979594


def test_single_object_encoding_header():
    codec = EventCodec()
    data = codec.encode("post-created", post_record())
    assert data[:2] == MARKER
    assert data[2:10] == default_store().current("post-created").fingerprint
    assert codec.decode("post-created", data)["caption"] == "hi #there"


def test_timestamps_decode_as_the_epoch_milliseconds_encoded():
    """Decoding reads ``timestamp-millis`` as the plain long on the wire: the same int the event carried, for
    the current schema and through schema resolution from an older writer."""
    codec = EventCodec()
    record = post_record(occurred_at=1_796_000_000_123)
    decoded = codec.decode("post-created", codec.encode("post-created", record))
    assert decoded == record and type(decoded["occurred_at"]) is int
    v1 = default_store().versions("post-created")[0]
    old = {k: v for k, v in record.items() if k != "location"}
    assert codec.decode("post-created", codec.encode("post-created", old, v1))["occurred_at"] == 1_796_000_000_123


def test_new_reader_reads_old_events():
    codec = EventCodec()
    v1, v2 = default_store().versions("post-created")[:2]
    old = {k: v for k, v in post_record().items() if k != "location"}
    decoded = codec.decode("post-created", codec.encode("post-created", old, v1), reader=v2)
    assert decoded["location"] is None and decoded["caption"] == "hi #there"


def test_old_reader_reads_new_events():
    codec = EventCodec()
    v1, v2 = default_store().versions("post-created")[:2]
    new = post_record(location={"name": "Lisbon", "lat": 38.7, "lon": -9.1})
    decoded = codec.decode("post-created", codec.encode("post-created", new, v2), reader=v1)
    assert "location" not in decoded and decoded["post_id"] == new["post_id"]


def test_decoding_does_not_need_a_registry_only_the_schema_files():
    data = EventCodec().encode("post-created", post_record())
    schema_file = schemas_dir() / "post-created" / f"v{default_store().current('post-created').version}.avsc"
    record = schemaless_reader(io.BytesIO(data[10:]), parse_schema(json.loads(schema_file.read_text())))
    assert record["caption"] == "hi #there"


@pytest.mark.parametrize("garbage", [b"", b"{}", b"\xc3\x01" + b"\x00" * 8 + b"x", b"\xc3\x01" + b"\xff" * 20])
def test_garbage_is_a_decode_error(garbage):
    with pytest.raises(DecodeError):
        EventCodec().decode("post-created", garbage)


def test_a_record_of_another_topic_is_refused():
    codec = EventCodec()
    data = codec.encode("post-deleted", {"event_id": "e", "occurred_at": 1, "post_id": "p", "author_id": "a"})
    with pytest.raises(DecodeError, match="PostDeleted"):
        codec.decode("post-created", data)


def test_truncated_body_is_a_decode_error():
    data = EventCodec().encode("post-created", post_record())
    with pytest.raises(DecodeError):
        EventCodec().decode("post-created", data[:-5])


def test_released_schemas_are_full_compatible():
    assert check_store(default_store()) == []


def test_adding_a_required_field_is_refused():
    current = default_store().current("post-created").raw
    changed = copy.deepcopy(current)
    changed["fields"].append({"name": "mood", "type": "string"})
    assert [d for d, _ in check_pair(current, changed)] == ["backward"]


def test_removing_a_field_without_default_is_refused():
    current = default_store().current("post-created").raw
    changed = copy.deepcopy(current)
    changed["fields"] = [f for f in changed["fields"] if f["name"] != "caption"]
    assert [d for d, _ in check_pair(current, changed)] == ["forward"]


def test_adding_an_optional_field_is_accepted():
    current = default_store().current("post-created").raw
    changed = copy.deepcopy(current)
    changed["fields"].append({"name": "mood", "type": ["null", "string"], "default": None})
    assert check_pair(current, changed) == []


def test_changing_a_logical_type_is_refused():
    """Avro's resolution accepts it (a long stays a long), but the same bytes then mean another instant."""
    current = default_store().current("post-created").raw
    changed = copy.deepcopy(current)
    occurred = next(f for f in changed["fields"] if f["name"] == "occurred_at")
    occurred["type"] = {"type": "long", "logicalType": "timestamp-micros"}
    problems = check_pair(current, changed)
    assert [d for d, _ in problems] == ["both"]
    assert "occurred_at" in problems[0][1]


def test_dropping_a_logical_type_inside_a_union_is_refused():
    current = {"type": "record", "name": "E", "fields": [
        {"name": "at", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}], "default": None}]}
    changed = copy.deepcopy(current)
    changed["fields"][0]["type"] = ["null", "long"]
    assert [d for d, _ in check_pair(current, changed)] == ["both"]


def test_store_check_reports_an_incompatible_release(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    v1 = default_store().current("post-deleted").raw
    v2 = copy.deepcopy(v1)
    v2["fields"].append({"name": "reason", "type": "string"})
    (folder / "v1.avsc").write_text(json.dumps(v1))
    (folder / "v2.avsc").write_text(json.dumps(v2))
    problems = check_store(SchemaStore(tmp_path))
    assert problems and problems[0].direction == "backward"


def test_catalog_covers_every_schema_and_keys_exist():
    store = default_store()
    assert {t.name for t in TOPICS} == set(store.topics())
    for spec in TOPICS:
        field_names = {f["name"] for f in store.current(spec.name).raw["fields"]}
        assert spec.key_field in field_names, spec.name
        assert {"event_id", "occurred_at"} <= field_names
        assert spec.dlq == spec.name + ".dlq"


def test_badge_topics_share_a_partitioning():
    assert topic("ON_MSG_UNSENT").partitions == topic("MESSAGES_READ").partitions
    assert topic("ON_MSG_UNSENT").key_field == "dest" and topic("MESSAGES_READ").key_field == "user_id"


def test_store_check_compares_every_pair_of_releases_not_only_neighbours(tmp_path):
    """v2 drops an optional field, v3 adds it back as another type: each neighbour pair is compatible, and v1's
    records no longer decode into v3."""
    folder = tmp_path / "t"
    folder.mkdir()
    v1 = copy.deepcopy(default_store().current("post-deleted").raw)
    v1["fields"].append({"name": "note", "type": ["null", "string"], "default": None})
    v2 = copy.deepcopy(default_store().current("post-deleted").raw)
    v3 = copy.deepcopy(v2)
    v3["fields"].append({"name": "note", "type": ["null", "long"], "default": None})
    for number, schema in enumerate((v1, v2, v3), start=1):
        (folder / f"v{number}.avsc").write_text(json.dumps(schema))
    problems = check_store(SchemaStore(tmp_path))
    assert {(p.older, p.newer) for p in problems} == {(1, 3)}


def test_fields_an_old_writer_lacked_decode_as_unchanged_not_as_their_default():
    """profile-updated v1 had no ``is_private``: Avro's default (false) turned a private account public."""
    store = default_store()
    v1, v2 = store.versions("profile-updated")[:2]
    base = {"event_id": new_id(), "occurred_at": 5, "user_id": new_id(), "username": "ann", "display_name": "Ann",
            "bio": None, "avatar_image_id": None}
    codec = EventCodec()
    old = codec.decode("profile-updated", codec.encode("profile-updated", base, v1))
    assert (old["is_private"], old["tags_followed_only"], old["tags_manual_approval"]) == (None, None, None)
    newer = codec.decode("profile-updated", codec.encode("profile-updated", {**base, "is_private": True}, v2))
    assert (newer["is_private"], newer["tags_manual_approval"]) == (True, None)
