"""Validate a record against its topic's current schema, naming the offending field.

fastavro's own validator reports the whole datum; users of `photostream publish` and upstream services need
to know *which* field is wrong, so records are checked field by field.
"""

from __future__ import annotations

from typing import Any

from fastavro.validation import validate

from photostream.contracts.schema_store import SchemaStore, default_store


class EventValidationError(ValueError):
    """A record does not fit its schema (or a domain rule); ``field`` names the culprit."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def _type_name(avro_type: Any) -> str:
    if isinstance(avro_type, list):
        return " or ".join(_type_name(t) for t in avro_type)
    if isinstance(avro_type, dict):
        if avro_type.get("type") == "enum":
            return "one of " + ", ".join(avro_type["symbols"])
        if avro_type.get("type") == "array":
            return f"array of {_type_name(avro_type['items'])}"
        return str(avro_type.get("logicalType") or avro_type.get("name") or avro_type.get("type"))
    return str(avro_type)


def validate_record(topic: str, record: dict[str, Any], store: SchemaStore | None = None) -> dict[str, Any]:
    """Return the record with defaults filled in, or raise :class:`EventValidationError`."""
    if not isinstance(record, dict):
        raise EventValidationError(None, "an event must be a JSON object")
    schema = (store or default_store()).current(topic)
    fields = schema.raw["fields"]
    known = {f["name"] for f in fields}
    unknown = sorted(set(record) - known)
    if unknown:
        raise EventValidationError(unknown[0], f"unknown field (allowed: {', '.join(sorted(known))})")
    complete: dict[str, Any] = {}
    for spec in fields:
        name = spec["name"]
        if name not in record:
            if "default" not in spec:
                raise EventValidationError(name, "required field is missing")
            complete[name] = spec["default"]
            continue
        value = record[name]
        if isinstance(value, bool) and _type_name(spec["type"]) in ("long", "int", "timestamp-millis"):
            raise EventValidationError(name, f"expected {_type_name(spec['type'])}, got a boolean")
        if not validate(value, _named_subschema(schema.parsed, name), raise_errors=False):
            raise EventValidationError(name, f"expected {_type_name(spec['type'])}, got {value!r:.80}")
        complete[name] = value
    return complete


def _named_subschema(parsed: Any, field_name: str) -> Any:
    """The parsed type of one field (named types resolved by fastavro's parse)."""
    for spec in parsed["fields"]:
        if spec["name"] == field_name:
            return spec["type"]
    raise KeyError(field_name)
