"""Output formats of `photostream replay`: each takes batches of decoded rows and appends them to one file.

A writer holds at most one batch: Parquet writes one row group per batch, CSV and JSON lines write as they go,
so memory stays bounded by the batch size whatever the range.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from photostream.replay_columns import arrow_schema, flat_columns, flatten

Format = Literal["jsonl", "csv", "parquet"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv", "parquet")


class RowWriter(Protocol):
    def write(self, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def close(self) -> None: ...


class JsonlWriter:
    """One JSON object per line, nesting as decoded; timestamps stay epoch milliseconds like `tail`."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("w", encoding="utf-8")

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._file.writelines(json.dumps(row, ensure_ascii=False, default=_jsonable) + "\n" for row in rows)

    def close(self) -> None:
        self._file.close()


class CsvWriter:
    """Flattened columns from the schema (``location.lat``); lists as JSON text; a header even when empty.

    Users write the captions, comments and names in these files, and analysts open CSV in spreadsheets, which
    run a cell beginning ``=``, ``+``, ``-``, ``@``, tab or carriage return as a formula (``=HYPERLINK(…)``
    sends the row elsewhere). Such text cells get a leading ``'`` (OWASP's CSV-injection advice), which a
    spreadsheet shows as the plain text; numbers are left alone. JSON lines and Parquet keep the text exact.
    """

    def __init__(self, path: Path, avro_record: Mapping[str, Any]) -> None:
        self.columns = flat_columns(avro_record)
        self._file = path.open("w", encoding="utf-8", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="ignore")
        self._csv.writeheader()

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._csv.writerows(_inert(flatten(row, self.columns)) for row in rows)

    def close(self) -> None:
        self._file.close()


class ParquetWriter:
    """Columns typed from the Avro schema (see :func:`arrow_schema`); one row group per batch."""

    def __init__(self, path: Path, avro_record: Mapping[str, Any], nullable: frozenset[str] = frozenset()) -> None:
        self.schema = arrow_schema(avro_record, nullable)
        self._writer = pq.ParquetWriter(str(path), self.schema, compression="zstd")

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self._writer.write_table(pa.Table.from_pylist(list(rows), schema=self.schema))

    def close(self) -> None:
        self._writer.close()


def open_writer(fmt: Format, path: Path, avro_record: Mapping[str, Any],
                nullable: frozenset[str] = frozenset()) -> RowWriter:
    """``nullable``: top-level fields null where their writer lacked them, whatever the schema says (the catalog's
    ``unchanged_unless_written``)."""
    if fmt == "jsonl":
        return JsonlWriter(path)
    if fmt == "csv":
        return CsvWriter(path, avro_record)
    return ParquetWriter(path, avro_record, nullable)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(row: dict[str, Any]) -> dict[str, Any]:
    """The row with every text cell a spreadsheet would evaluate quoted as text (see :class:`CsvWriter`)."""
    return {k: "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v for k, v in row.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
