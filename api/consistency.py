"""Consistency tokens: a write's topic/partition/offset, handed back so later reads can wait for it.

A read given ``?after=TOKEN`` waits (bounded) until every processor that applies that topic has marked the
offset applied; then the read sees the write. Tokens are opaque to clients (base64url JSON).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import Any

from sinks import offsets

#: which processors must have applied a topic before a read that depends on it is consistent
APPLIERS: dict[str, tuple[str, ...]] = {
    "user-registered": ("profiles",),
    "profile-updated": ("profiles",),
    "post-created": ("posts",),
    "post-deleted": ("posts",),
    "follow-changed": ("graph",),
}


class InvalidConsistencyTokenError(ValueError):
    """The token does not parse."""


@dataclass(frozen=True)
class ConsistencyToken:
    topic: str
    partition: int
    offset: int

    def encode(self) -> str:
        raw = json.dumps({"t": self.topic, "p": self.partition, "o": self.offset}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> ConsistencyToken:
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            return cls(str(data["t"]), int(data["p"]), int(data["o"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise InvalidConsistencyTokenError("after: not a consistency token") from None


async def wait_applied(redis: Any, token: ConsistencyToken, timeout_s: float) -> bool:
    """True once every applier of the token's topic reached its offset; False if the timeout passed first."""
    deadline = time.monotonic() + timeout_s
    delay = 0.01
    for consumer in APPLIERS.get(token.topic, ()):
        while await offsets.applied(redis, consumer, token.topic, token.partition) < token.offset:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(delay)  # polling a Redis mark; bounded by the deadline
            delay = min(delay * 2, 0.1)
    return True
