"""Replay output shapes: Avro types mapped to Arrow, flattened CSV columns, and each writer's file read back."""

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from photostream.contracts.schema_store import default_store
from photostream.replay_columns import (
    UnsupportedAvroTypeError,
    arrow_schema,
    arrow_type,
    flat_columns,
    flatten,
)
from photostream.replay_writers import FORMATS, open_writer

TS_MS = {"type": "long", "logicalType": "timestamp-millis"}


@pytest.mark.parametrize(("avro", "arrow", "nullable"), [
    ("boolean", pa.bool_(), False),
    ("int", pa.int32(), False),
    ("long", pa.int64(), False),
    ("float", pa.float32(), False),
    ("double", pa.float64(), False),
    ("bytes", pa.binary(), False),
    ("string", pa.string(), False),
    ({"type": "string"}, pa.string(), False),
    (["null", "string"], pa.string(), True),
    (["string", "null"], pa.string(), True),
    (TS_MS, pa.timestamp("ms", tz="UTC"), False),
    ({"type": "long", "logicalType": "timestamp-micros"}, pa.timestamp("us", tz="UTC"), False),
    ({"type": "int", "logicalType": "date"}, pa.date32(), False),
    ({"type": "string", "logicalType": "uuid"}, pa.string(), False),
    ({"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}, pa.decimal128(10, 2), False),
    ({"type": "fixed", "name": "Hash", "size": 16}, pa.binary(16), False),
    ({"type": "enum", "name": "Toggle", "symbols": ["on", "off"]}, pa.dictionary(pa.int32(), pa.string()), False),
    ({"type": "array", "items": "string"}, pa.list_(pa.field("item", pa.string(), nullable=False)), False),
    ({"type": "array", "items": ["null", "long"]}, pa.list_(pa.field("item", pa.int64())), False),
    ({"type": "map", "values": "long"}, pa.map_(pa.string(), pa.int64()), False),
    (["null", {"type": "record", "name": "Loc", "fields": [{"name": "lat", "type": "double"}]}],
     pa.struct([pa.field("lat", pa.float64(), nullable=False)]), True),
])
def test_avro_types_map_to_arrow_types(avro: Any, arrow: pa.DataType, nullable: bool) -> None:
    assert arrow_type(avro) == (arrow, nullable)


def test_a_named_type_used_twice_resolves_by_name() -> None:
    named: dict[str, pa.DataType] = {}
    first, _ = arrow_type({"type": "enum", "name": "Toggle", "namespace": "ps", "symbols": ["on"]}, named)
    assert arrow_type("Toggle", named) == (first, False)
    assert arrow_type("ps.Toggle", named) == (first, False)


@pytest.mark.parametrize("avro", [["null", "string", "long"], ["string", "long"], "Nowhere"])
def test_unions_of_several_types_and_unknown_names_are_refused(avro: Any) -> None:
    with pytest.raises(UnsupportedAvroTypeError):
        arrow_type(avro)


def test_every_released_schema_maps_to_an_arrow_schema() -> None:
    store = default_store()
    for topic in store.topics():
        schema = arrow_schema(store.current(topic).raw)
        assert schema.names[:4] == ["_partition", "_offset", "_timestamp", "_key"], topic
        assert schema.field("occurred_at").type == pa.timestamp("ms", tz="UTC"), topic


POST = default_store().current("post-created").raw


def test_csv_columns_flatten_nested_records_with_dots() -> None:
    columns = flat_columns(POST)
    assert columns[:4] == ["_partition", "_offset", "_timestamp", "_key"]
    assert {"location.name", "location.lat", "location.lon", "image_ids", "visibility"} <= set(columns)
    assert "location" not in columns


def test_flatten_spreads_records_keeps_lists_as_json_and_leaves_a_null_record_empty() -> None:
    columns = flat_columns(POST)
    row = {"post_id": "p", "image_ids": ["a", "b"], "location": {"name": "Oslo", "lat": 59.9, "lon": None},
           "extra": {"k": 1}, "raw": b"\x01\xff"}
    assert flatten(row, columns) == {"post_id": "p", "image_ids": '["a", "b"]', "location.name": "Oslo",
                                     "location.lat": 59.9, "location.lon": None,
                                     "extra": '{"k": 1}',  # a map (no columns under it) stays JSON
                                     "raw": "01ff"}
    assert flatten({"location": None}, columns) == {"location": None}


def _rows() -> list[dict[str, Any]]:
    base = {"_key": "author-1", "event_id": "e", "occurred_at": 1_700_000_000_123, "post_id": "p",
            "author_id": "author-1", "caption": "#sea, \"quoted\"\nnewline", "image_ids": ["i1", "i2"],
            "visibility": "public"}
    return [
        {"_partition": 0, "_offset": 7, "_timestamp": 1_700_000_000_200, **base,
         "location": {"name": "Oslo", "lat": 59.9, "lon": 10.7}},
        {"_partition": 3, "_offset": 8, "_timestamp": 1_700_000_000_300, **base, "visibility": "private",
         "location": None},
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reads_back_what_was_written_across_batches(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / f"out.{fmt}"
    writer = open_writer(fmt, out, POST)  # type: ignore[arg-type]
    rows = _rows()
    writer.write(rows[:1])
    writer.write([])
    writer.write(rows[1:])
    writer.close()
    if fmt == "jsonl":
        back = [json.loads(line) for line in out.read_text().splitlines()]
        assert back == rows
    elif fmt == "csv":
        with out.open(newline="") as f:
            back_csv = list(csv.DictReader(f))
        assert [r["_offset"] for r in back_csv] == ["7", "8"]
        assert back_csv[0]["caption"] == rows[0]["caption"]  # quoting and newlines survive
        assert back_csv[0]["location.lat"] == "59.9" and back_csv[1]["location.lat"] == ""
        assert json.loads(back_csv[0]["image_ids"]) == ["i1", "i2"]
    else:
        table = pq.read_table(out)
        assert table.num_rows == 2
        assert pq.ParquetFile(out).num_row_groups == 2  # one per non-empty batch: memory stays bounded
        assert table.schema.field("occurred_at").type == pa.timestamp("ms", tz="UTC")
        back_pq = table.to_pylist()
        assert back_pq[0]["occurred_at"].timestamp() == 1_700_000_000.123
        assert back_pq[0]["location"] == {"name": "Oslo", "lat": 59.9, "lon": 10.7}
        assert back_pq[1]["location"] is None
        assert [r["visibility"] for r in back_pq] == ["public", "private"]
        assert back_pq[1]["image_ids"] == ["i1", "i2"]


def test_csv_has_a_header_even_when_nothing_matched(tmp_path: Path) -> None:
    out = tmp_path / "empty.csv"
    open_writer("csv", out, POST).close()
    assert out.read_text().splitlines() == [",".join(flat_columns(POST))]


@pytest.mark.parametrize("caption", ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_quotes_text_a_spreadsheet_would_run_as_a_formula(caption: str, tmp_path: Path) -> None:
    out = tmp_path / "formula.csv"
    writer = open_writer("csv", out, POST)
    row = _rows()[0]
    writer.write([{**row, "caption": caption, "location": {"name": "=1+1", "lat": -59.9, "lon": 10.7}}])
    writer.close()
    with out.open(newline="") as f:
        back = next(csv.DictReader(f))
    assert back["caption"] == "'" + caption and back["location.name"] == "'=1+1"
    assert back["location.lat"] == "-59.9"  # a number is not text: left as it is


def test_csv_leaves_ordinary_text_exact(tmp_path: Path) -> None:
    out = tmp_path / "plain.csv"
    writer = open_writer("csv", out, POST)
    writer.write([{**_rows()[0], "caption": "a = b, #sunset @ noon"}])
    writer.close()
    with out.open(newline="") as f:
        assert next(csv.DictReader(f))["caption"] == "a = b, #sunset @ noon"
