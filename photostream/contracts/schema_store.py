"""Every released schema version, indexed by topic and by CRC-64-AVRO fingerprint.

Layout on disk: ``schemas/<topic>/v<N>.avsc``. The highest N is the topic's current (reader and writer)
schema; older versions stay so that records written with them can still be resolved by fingerprint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from photostream.settings import PROJECT_ROOT


class UnknownSchemaError(LookupError):
    """No released schema has this fingerprint, or the topic has no schema."""


@dataclass(frozen=True)
class SchemaVersion:
    """One released version of one topic's schema."""

    topic: str
    version: int
    raw: dict[str, Any]
    parsed: Any
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO, as single-object encoding writes it

    @cached_property
    def decoding(self) -> Any:
        """``parsed`` as decoders read it: ``timestamp-millis`` fields stay the epoch milliseconds on the wire
        (what every event uses), instead of fastavro building a datetime the codec would turn straight back
        (that round trip was half of a small record's decode time). The encoding on the wire is identical."""
        return parse_schema(_as_epoch_millis(self.raw))

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(f["name"] for f in self.raw["fields"])

    @property
    def defaults(self) -> dict[str, Any]:
        return {f["name"]: f["default"] for f in self.raw["fields"] if "default" in f}


def schemas_dir() -> Path:
    """``schemas/`` of the checkout, or the copy packaged inside the wheel."""
    for candidate in (PROJECT_ROOT / "schemas", Path(__file__).resolve().parent.parent / "schemas"):
        if candidate.is_dir():
            return candidate
    raise UnknownSchemaError("schemas/ folder not found")


def _load_version(topic: str, path: Path) -> SchemaVersion:
    raw = json.loads(path.read_text())
    parsed = parse_schema(raw)
    canonical = to_parsing_canonical_form(raw)
    # fastavro's hex is already the little-endian byte order the spec puts on the wire
    # (checked against the spec's test vector for "null" in tests/unit/contracts).
    fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    return SchemaVersion(topic, int(path.stem.lstrip("v")), raw, parsed, fp)


def _as_epoch_millis(schema: Any) -> Any:
    """``schema`` with the ``timestamp-millis`` logical type dropped (the underlying ``long`` stays)."""
    if isinstance(schema, dict):
        return {k: _as_epoch_millis(v) for k, v in schema.items()
                if not (k == "logicalType" and v == "timestamp-millis")}
    if isinstance(schema, list):
        return [_as_epoch_millis(item) for item in schema]
    return schema


class SchemaStore:
    """All topics' schema versions; immutable after loading."""

    def __init__(self, root: Path) -> None:
        self._by_topic: dict[str, list[SchemaVersion]] = {}
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        for topic_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            versions = sorted(
                (_load_version(topic_dir.name, f) for f in topic_dir.glob("v*.avsc")), key=lambda v: v.version
            )
            if versions:
                self._by_topic[topic_dir.name] = versions
                for version in versions:
                    self._by_fingerprint[version.fingerprint] = version

    def topics(self) -> list[str]:
        return sorted(self._by_topic)

    def versions(self, topic: str) -> list[SchemaVersion]:
        try:
            return self._by_topic[topic]
        except KeyError:
            raise UnknownSchemaError(f"no schema for topic {topic!r}") from None

    def current(self, topic: str) -> SchemaVersion:
        return self.versions(topic)[-1]

    def by_fingerprint(self, fp: bytes) -> SchemaVersion:
        try:
            return self._by_fingerprint[fp]
        except KeyError:
            raise UnknownSchemaError(f"no released schema has fingerprint {fp.hex()}") from None


@lru_cache(maxsize=1)
def default_store() -> SchemaStore:
    """The store over the project's ``schemas/`` folder, loaded once per process."""
    return SchemaStore(schemas_dir())
