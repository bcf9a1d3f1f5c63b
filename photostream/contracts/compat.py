"""Refuse schema changes that are not both backward and forward compatible with the last released version.

Uses Apache Avro's own ``ReaderWriterCompatibilityChecker`` (the reference implementation of the spec's
resolution rules) rather than a hand-written approximation. `make lint` runs this module; a test does too.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from photostream.contracts.schema_store import SchemaStore, default_store


@dataclass(frozen=True)
class Incompatibility:
    topic: str
    older: int
    newer: int
    direction: str  # "backward" (new reads old), "forward" (old reads new) or "both" (a logical type changed)
    detail: str


def _parse(raw: dict[str, Any]) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(raw))


def check_pair(older: dict[str, Any], newer: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems of replacing ``older`` with ``newer``: (direction, detail) for each failing direction."""
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    old, new = _parse(older), _parse(newer)
    problems = []
    for direction, reader, writer in (("backward", new, old), ("forward", old, new)):
        result = checker.get_compatibility(reader, writer)
        if result.compatibility is not SchemaCompatibilityType.compatible:
            problems.append((direction, "; ".join(result.messages) or "incompatible"))
    problems.extend(("both", detail) for detail in logical_type_changes(older, newer))
    return problems


def logical_type_changes(older: dict[str, Any], newer: dict[str, Any]) -> list[str]:
    """Fields whose logical type changed between versions, which Avro's resolution rules ignore: the bytes still
    decode, but a ``long`` that was ``timestamp-millis`` read as ``timestamp-micros`` (or as a bare number) is
    another instant, silently."""
    old, new = _logical_types(older), _logical_types(newer)
    return [f"{path}: logical type {sorted(old[path])} became {sorted(new[path])}"
            for path in sorted(old.keys() & new.keys()) if old[path] != new[path]]


def _logical_types(schema: Any, path: str = "", found: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    """Each field's dotted path → the logical types its type carries (a union's branches included)."""
    found = {} if found is None else found
    if isinstance(schema, list):
        for branch in schema:
            _logical_types(branch, path, found)
    elif isinstance(schema, dict):
        if path:
            found.setdefault(path, set())
            if "logicalType" in schema:
                found[path].add(str(schema["logicalType"]))
        for field in schema.get("fields", ()) if schema.get("type") == "record" else ():
            child = f"{path}.{field['name']}" if path else field["name"]
            found.setdefault(child, set())
            _logical_types(field["type"], child, found)
        for key in ("items", "values"):
            if key in schema:
                _logical_types(schema[key], f"{path}[]", found)
    return found


def check_store(store: SchemaStore) -> list[Incompatibility]:
    """Every pair of released versions must be full-compatible, not only neighbours ("full transitive"): a
    field removed in v2 and added back in v3 with another type passed a neighbours-only check, and v1's records,
    kept for ever on their topics, would no longer decode into v3 (a replay or a rebuild would park them)."""
    found = []
    for topic in store.topics():
        versions = store.versions(topic)
        for older, newer in combinations(versions, 2):
            for direction, detail in check_pair(older.raw, newer.raw):
                found.append(Incompatibility(topic, older.version, newer.version, direction, detail))
    return found


def main() -> int:
    problems = check_store(default_store())
    for p in problems:
        how = "changes a logical type of" if p.direction == "both" else f"is not {p.direction} compatible with"
        sys.stderr.write(f"{p.topic}: v{p.newer} {how} v{p.older}: {p.detail}\n")
    if not problems:
        sys.stdout.write(f"schemas compatible ({len(default_store().topics())} topics)\n")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
