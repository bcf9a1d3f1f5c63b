"""`photostream tail`'s rendering of records nothing could decode: a null record (a tombstone) is shown as
undecodable on a topic and as a null value in a DLQ, never as a crash or as empty bytes."""

from __future__ import annotations

from typing import Any

from photostream.cli_io import _render
from photostream.contracts.codec import EventCodec


class FakeMessage:
    def __init__(self, value: bytes | None, headers: list[tuple[str, bytes | None]] | None = None) -> None:
        self._value, self._headers = value, headers

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes | None]] | None:
        return self._headers

    def partition(self) -> int:
        return 1

    def offset(self) -> int:
        return 7

    def key(self) -> bytes:
        return b"u-1"


def test_a_null_record_on_a_topic_is_reported_as_undecodable() -> None:
    shown: dict[str, Any] = _render(EventCodec(), "like-changed", FakeMessage(None))
    assert shown["_undecodable"] and (shown["partition"], shown["offset"]) == (1, 7)


def test_a_parked_null_record_keeps_its_null_and_empty_bytes_stay_empty() -> None:
    codec = EventCodec()
    assert _render(codec, "like-changed.dlq", FakeMessage(None, [("dlq.error.class", b"DecodeError")])) == {
        "partition": 1, "offset": 7, "headers": {"dlq.error.class": "DecodeError"}, "value_base64": None}
    assert _render(codec, "like-changed.dlq", FakeMessage(b""))["value_base64"] == ""


def test_a_tombstone_on_a_compacted_topic_is_shown_as_the_deletion_of_its_key() -> None:
    """An account purge's marker on its profile updates: a deletion, not a record nothing could decode."""
    assert _render(EventCodec(), "profile-updated", FakeMessage(None)) == {"_deleted": "u-1", "partition": 1,
                                                                          "offset": 7}
