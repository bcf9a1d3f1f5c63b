"""The one way every consumer parks a poison record: its bytes, unchanged, on ``<topic>.dlq``.

Headers say what went wrong and where the record came from, so an operator can fix and replay it.
Consumers hand a batch's poison records to :func:`dead_letter_many` (through
``streams.engine.dead_letters``) and carry on; the source offsets still move past the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, NamedTuple

from photostream.contracts.catalog import DLQ_MAX_MESSAGE_BYTES, DLQ_SUFFIX
from producers.ids import now_ms
from producers.publisher import Headers, Publisher, RawRecord

HEADER_PREFIX = "dlq."


def headers_of(message: Any) -> Headers:
    """A consumed record's headers as a list of (name, value) (the client gives a list, or None for none)."""
    return as_header_list(message.headers())


def as_header_list(found: Any) -> Headers:
    """Headers as a list of (name, value), from a list, a mapping (faust's messages may carry either) or None."""
    return list(found.items()) if isinstance(found, dict) else list(found or [])


class PoisonRecord(NamedTuple):
    """A record a processor could not handle, with its coordinates (a named tuple: a poison storm builds one per
    record, a third of a frozen dataclass's cost)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    #: the record's own headers, parked with it after the DLQ's (a redrive sends them back)
    headers: Headers | None = None


#: a parked record whose value was left out, the value's size (see :func:`parked_value`)
VALUE_LEFT_OUT = f"{HEADER_PREFIX}value.left-out"
#: what the DLQ's own headers and a key may take of a DLQ record, at most
_HEADROOM = 64 * 1024
#: what a record's key, value and own headers may take to be parked as they are
_PARKABLE = DLQ_MAX_MESSAGE_BYTES - _HEADROOM
#: no headers of a record's own
_NONE: tuple[tuple[str, bytes], ...] = ()


def parked_value(record: PoisonRecord) -> tuple[bytes | None, Sequence[tuple[str, str | bytes | None]]]:
    """The value and extra headers a record is parked with: as it was, or, for one too large for its DLQ even
    so (a topic whose limit an operator raised past the DLQ's; its own headers count), no value and no headers
    of its own, and :data:`VALUE_LEFT_OUT`. Why: the
    broker refused the DLQ record, the batch failed, and the loop crashed on it after every restart; the
    record itself stays readable at its source offset (headers) for as long as the topic keeps it."""
    size = len(record.value or b"") + len(record.key or b"")
    if not record.headers and size <= _PARKABLE:  # a storm's usual record: no headers of its own, small
        return record.value, _NONE
    own = list(record.headers or ())
    headers = sum(len(name) + len(value or b"") for name, value in own)
    if size + headers <= _PARKABLE:
        return record.value, own
    return None, [(VALUE_LEFT_OUT, str(size).encode())]  # (its own headers too: they may be what is large)


#: the header names, in the order they are written
ERROR_CLASS, ERROR_MESSAGE, SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET, PROCESSOR, TIME = (
    f"{HEADER_PREFIX}{name}" for name in
    ("error.class", "error.message", "source.topic", "source.partition", "source.offset", "processor", "time"))


def dead_letter_many(
    publisher: Publisher, rejected: Sequence[tuple[PoisonRecord, BaseException]], processor: str
) -> Future[int]:
    """Send every rejected record to its topic's DLQ; one future resolves once all are acknowledged (not a
    future per record, each waking the event loop when it settled)."""
    headers = _HeaderMaker(processor, now_ms())
    dlq_of: dict[str, str] = {}
    records = []
    for record, error in rejected:
        dlq = dlq_of.get(record.topic)
        if dlq is None:
            dlq = dlq_of[record.topic] = record.topic.removesuffix(DLQ_SUFFIX) + DLQ_SUFFIX
        value, own_headers = parked_value(record)
        records.append(RawRecord(dlq, record.key, value, headers(record, error, own_headers)))  # null stays null
    return publisher.submit_raw_many(records)


class _HeaderMaker:
    """Builds a batch's DLQ headers (the contract's seven, in :data:`ERROR_CLASS`… order). What records of one
    batch repeat (the error, the source partition, the processor, the time) is built once per batch, so a
    record costs its own offset and a list: a poison storm's header building went from ~4 to ~1 µs a record.
    Errors are remembered by identity: the batch loop keeps one exception per distinct error of a batch, so a
    storm's records share it (and its text is not made again for each)."""

    __slots__ = ("_errors", "_sources", "_tail")

    def __init__(self, processor: str, at_ms: int) -> None:
        self._tail = ((PROCESSOR, processor.encode()), (TIME, str(at_ms).encode()))
        self._errors: dict[int, tuple[BaseException, tuple[tuple[str, bytes], tuple[str, bytes]]]] = {}
        self._sources: dict[tuple[str, int], tuple[tuple[str, bytes], tuple[str, bytes]]] = {}

    def __call__(self, record: PoisonRecord, error: BaseException,
                 own_headers: Sequence[tuple[str, str | bytes | None]]) -> list[tuple[str, str | bytes | None]]:
        known = self._errors.get(id(error))
        if known is None:  # (the error is kept with its headers, so its id is not reused meanwhile)
            known = self._errors[id(error)] = (error, (
                (ERROR_CLASS, type(error).__name__.encode()), (ERROR_MESSAGE, str(error)[:2000].encode())))
        source = self._sources.get((record.topic, record.partition))
        if source is None:
            source = self._sources[record.topic, record.partition] = (
                (SOURCE_TOPIC, record.topic.encode()), (SOURCE_PARTITION, str(record.partition).encode()))
        return [*known[1], *source, (SOURCE_OFFSET, b"%d" % record.offset), *self._tail, *own_headers]
