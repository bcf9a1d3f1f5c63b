"""Consistency tokens: a write's topic/partition/offset, handed back so later reads can wait for it.

A read given ``?after=TOKEN`` waits (bounded) until every processor that applies that topic has marked the
offset applied; then the read sees the write. Tokens are opaque to clients and signed: ``PAYLOAD.MAC``, both
base64url, where the payload is ``topic:partition:offset`` and the MAC a truncated HMAC-SHA256 under
:func:`token_key`. Only tokens this deployment issued make a read wait: a forged or tampered one is refused at
once (the signature is checked at the edge by :class:`api.middleware.ConsistencyGuard`, before any route).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from photostream.settings import Settings
from sinks import offsets

#: which processors must have applied a topic before a read that depends on it is consistent
APPLIERS: dict[str, tuple[str, ...]] = {
    "user-registered": ("profiles",),
    "profile-updated": ("profiles",),
    "post-created": ("posts", "feeds"),
    "post-deleted": ("posts", "feeds"),
    "follow-changed": ("feeds",),
    "like-changed": ("popularity",),
    "comment-added": ("comments", "popularity"),
    "comment-deleted": ("comments", "popularity"),
    "follow-requested": ("follow_requests",),
    "ON_MSG_UNSENT": ("unread",),
    "MESSAGES_READ": ("unread",),
    "presence-changed": ("presence",),
    "block-changed": ("safety", "follow_requests", "unread", "notifications"),
    "mute-changed": ("safety", "notifications"),
    "photo-tag-changed": ("photo_tags",),
    # (only ever waited for as the extractor's derived events: :data:`TAG_PAGES`)
    "post-hashtag": ("hashtag-counter",),
    # (absent, a topic counted as applied at once: a read after an account's deletion still served the profile)
    "account-deleted": ("account_purge",),
}
#: which processors publish events derived from a topic's records, recording where they landed
#: (:func:`sinks.offsets.advance_all`): a read after the cause waits for those events' appliers too. A block's
#: unfollows, unlikes, comment deletions and read marks; an account purge's retractions. (Not the hashtag
#: extractor's post-hashtag events here: a post's own page waits for the post's views, not for the counter's
#: next flush, up to ``HASHTAG_FLUSH_S`` later; the tag pages wait for them: :data:`TAG_PAGES`.)
DERIVERS: dict[str, tuple[str, ...]] = {
    "block-changed": ("safety",),
    "account-deleted": ("account_purge",),
}


@dataclass(frozen=True)
class Waits:
    """What a read given ``?after=`` waits for: the ``appliers`` of the token's topic, and for the topics that
    ``derivers`` publish consequences of, those consequences' appliers too. Each read waits for the views it
    reads, not for every view of the write."""

    appliers: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: APPLIERS)
    derivers: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: DERIVERS)


#: most reads: every view of the write, and a block's or a deletion's consequences
EVERY_VIEW = Waits()
#: a post's page, its comments and likes, its author's grid: not the feeds processor's fan-out of a new or deleted
#: post (pushing it into up to ``CELEBRITY_THRESHOLD`` followers' feeds, which the post page does not read; a
#: follow's token still waits for the feeds processor, which keeps the graph a followers-only post is shown by)
POST_PAGES = Waits(appliers={**APPLIERS, "post-created": ("posts",), "post-deleted": ("posts",)})
#: the hashtag pages: also a post's, a deletion's or a privacy change's tag memberships, as the extractor
#: announced them, applied by the counter (the author opening ``#sunset`` after posting with it sees the post
#: there, counted; after a deletion or turning private, no longer)
TAG_PAGES = Waits(derivers={**DERIVERS, "post-created": ("hashtag-extractor",),
                            "post-deleted": ("hashtag-extractor",), "profile-updated": ("hashtag-extractor",)})
#: 96 bits of MAC: unforgeable by guessing (each guess costs a request) and keeps the token short
MAC_BYTES = 12
_KEY_CONTEXT = b"photostream/consistency-token/v1"


class InvalidConsistencyTokenError(ValueError):
    """The token does not parse, or its signature is not ours."""


def token_key(settings: Settings) -> bytes:
    """The HMAC key: the dedicated ``consistency_secret`` if set, else derived from the JWT signing secret
    (the HS256 secret or the RS256 private key), so a deployment with real JWT secrets gets unforgeable tokens
    without another setting. Derived with a fixed context, so the key never equals the JWT secret itself."""
    if settings.consistency_secret is not None:
        secret = settings.consistency_secret.get_secret_value()
    elif settings.jwt_algorithm == "RS256" and settings.jwt_private_key is not None:
        secret = settings.jwt_private_key.get_secret_value()
    else:
        secret = settings.jwt_secret.get_secret_value()
    return hmac.new(secret.encode(), _KEY_CONTEXT, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:MAC_BYTES]


@dataclass(frozen=True)
class ConsistencyToken:
    """One write's place in the log; ``writer``: who made it, whose other writes of that moment a read with the
    token waits for too (:func:`api.routes.reads.honour_after`): a request can publish more than its own event
    (an account turning public approves every pending request), and the token named only the first."""

    topic: str
    partition: int
    offset: int
    writer: str = ""

    def encode(self, key: bytes) -> str:
        """The signed, opaque text handed to clients."""
        payload = f"{self.topic}:{self.partition}:{self.offset}{'@' + self.writer if self.writer else ''}".encode()
        return f"{_b64(payload)}.{_b64(_mac(key, payload))}"

    @classmethod
    def verify(cls, token: str, key: bytes) -> ConsistencyToken:
        """The token, if its signature is ours; :class:`InvalidConsistencyTokenError` otherwise."""
        encoded, _, mac = token.partition(".")
        try:
            valid = hmac.compare_digest(_unb64(mac), _mac(key, _unb64(encoded)))
        except (ValueError, binascii.Error):
            valid = False
        if not valid:
            raise InvalidConsistencyTokenError("after: not a consistency token issued here")
        return cls.decode(token)

    @classmethod
    def decode(cls, token: str) -> ConsistencyToken:
        """The token's fields, without checking the signature: only for a token already verified (every
        ``?after=`` is, by :class:`api.middleware.ConsistencyGuard`). Use :meth:`verify` anywhere else."""
        try:
            place, _, writer = _unb64(token.partition(".")[0]).decode().partition("@")
            topic, partition, offset = place.rsplit(":", 2)
            parsed = cls(topic, int(partition), int(offset), writer)
        except (ValueError, binascii.Error):
            raise InvalidConsistencyTokenError("after: not a consistency token") from None
        if not topic or parsed.partition < 0 or parsed.offset < 0:
            raise InvalidConsistencyTokenError("after: not a consistency token")
        return parsed


async def wait_applied(redis: Any, token: ConsistencyToken, timeout_s: float, waits: Waits = EVERY_VIEW) -> bool:
    """True once every applier of the token's topic (by ``waits``) reached its offset, and every applier of the
    events derived from it (once each deriver itself reached the offset) reached theirs; False if the timeout
    passed first."""
    deadline = time.monotonic() + timeout_s
    appliers = waits.appliers
    if not await _marks_reach(redis, token.topic, token.partition, token.offset, deadline,
                              appliers.get(token.topic, ())):
        return False
    for deriver in waits.derivers.get(token.topic, ()):
        if not await _marks_reach(redis, token.topic, token.partition, token.offset, deadline, (deriver,)):
            return False  # (where its derived events landed is recorded with its mark)
        for topic, partition, offset in await offsets.derived_from(redis, deriver, token.topic, token.partition,
                                                                   token.offset):
            if not await _marks_reach(redis, topic, partition, offset, deadline, appliers.get(topic, ())):
                return False
    return True


async def _marks_reach(redis: Any, topic: str, partition: int, offset: int, deadline: float,
                       consumers: tuple[str, ...]) -> bool:
    """Whether ``consumers`` all reach ``offset`` of ``topic``/``partition`` by ``deadline``."""
    delay = 0.01
    for consumer in consumers:
        while await offsets.applied(redis, consumer, topic, partition) < offset:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(delay)  # polling a Redis mark; bounded by the deadline
            delay = min(delay * 2, 0.1)
    return True
