"""The one list of error types that mean "this record is bad", as opposed to "a store is down".

The batch loop uses it: a poison error isolates the culprit record and sends it to the DLQ; anything else is
retried (the offsets stay uncommitted meanwhile). A store outage must never be classified as poison, or a
brief outage would dead-letter good records.
"""

from __future__ import annotations

from photostream.contracts.codec import DecodeError
from producers.validation import EventValidationError

#: record-shaped failures: bytes that are not the topic's schema, values that break a domain rule, a field the
#: processor needs but the record lacks (KeyError/AttributeError), a wrong type
POISON_ERRORS: tuple[type[Exception], ...] = (
    DecodeError, EventValidationError, KeyError, ValueError, TypeError, AttributeError,
)
