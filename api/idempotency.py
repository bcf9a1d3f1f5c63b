"""``Idempotency-Key`` on the writes that create something (a post, a comment): a client that lost the answer
(a dropped connection, a timeout) sends the same request again with the same key and gets the first answer,
not a second post. (The IETF draft "The Idempotency-Key HTTP Header Field".)

The first request with a key stores, per user and key, its fingerprint (the route and the body), the ids it
gives what it creates and when it started (for 24 h); once accepted, its answer too. A repeat with the same
fingerprint gets the stored answer; while the first is still being answered (for :data:`IN_FLIGHT_S`), a 409
with ``Retry-After`` (the draft's answer: concurrent repeats each published, and each spent a rate-limit token);
past that, the first never finished (its process died between publishing and answering), so the repeat
publishes again with the same ids — the same event id and post id, which every processor applies once. A
request refused before publishing forgets its key (:func:`forget`). The same key with another request is a 422
naming the header. With Redis down the write goes ahead without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from api.errors import ApiError
from producers.ids import new_id, now_ms
from sinks import keys
from sinks.cache_aside import REDIS_DOWN

HEADER = "Idempotency-Key"
#: how long a key is remembered (a client retries within minutes; a day covers a phone offline overnight)
REMEMBERED_S = 24 * 3600
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII (a UUID, typically)
#: how long a first request may take to be answered (past the settle bound and a publish's timeout): a repeat
#: meanwhile is a 409; after it, the first is taken for dead and the repeat publishes in its place
IN_FLIGHT_S = 30


@dataclass
class Claim:
    """One write's use of a key: the stored answer of an earlier identical request, or the ids to create with."""

    user: str
    key: str | None
    fingerprint: str = ""
    ids: dict[str, str] = field(default_factory=dict)
    answer: dict[str, Any] | None = None
    started_ms: int = 0

    def id_for(self, what: str) -> str:
        """The id this write gives ``what`` (the same on every repeat of the request)."""
        return self.ids.setdefault(what, new_id())


async def claim(redis: Any, user: str, key: str | None, route: str, body: Any, wanted: tuple[str, ...]) -> Claim:
    """The claim of ``key`` for this request (``wanted``: the ids it creates), or a fresh one without a key."""
    if key is None:
        return Claim(user, None)
    if not _KEY.fullmatch(key):
        raise ApiError(422, "invalid", f"{HEADER}: 1 to 255 visible ASCII characters", HEADER)
    fingerprint = hashlib.sha256(json.dumps([route, body], sort_keys=True, default=str).encode()).hexdigest()
    fresh = Claim(user, key, fingerprint, {what: new_id() for what in wanted}, started_ms=now_ms())
    stored_key = keys.idempotency(user, key)
    try:
        if await redis.set(stored_key, _encoded(fresh), nx=True, ex=REMEMBERED_S):
            return fresh
        stored = await redis.get(stored_key)
    except REDIS_DOWN:
        return Claim(user, None)  # (no memory of keys: the write goes ahead as one without)
    if stored is None:  # expired between the two calls: this request is the first again
        return fresh
    found = json.loads(stored)
    if found["fingerprint"] != fingerprint:
        raise ApiError(422, "invalid", f"{HEADER} {key!r} was already used with another request", HEADER)
    earlier = Claim(user, key, fingerprint, dict(found["ids"]), found.get("answer"), int(found.get("started", 0)))
    if earlier.answer is None:
        if now_ms() - earlier.started_ms < IN_FLIGHT_S * 1000:
            raise ApiError(409, "conflict", f"a request with this {HEADER} is still being answered; retry",
                           HEADER, headers={"Retry-After": "1"})
        earlier.started_ms = now_ms()  # the first died: this repeat publishes in its place (with its ids)
        with contextlib.suppress(*REDIS_DOWN):
            await redis.set(stored_key, _encoded(earlier), ex=REMEMBERED_S)
    return earlier


async def keep(redis: Any, done: Claim, answer: dict[str, Any]) -> None:
    """Remember the accepted answer, for the repeats of the request."""
    if done.key is None:
        return
    done.answer = answer
    with contextlib.suppress(*REDIS_DOWN):
        await redis.set(keys.idempotency(done.user, done.key), _encoded(done), ex=REMEMBERED_S)


async def release(redis: Any, failed: Claim) -> None:
    """The request was refused or failed (a 429, a 503, a broker timeout): a repeat may go at once, with the same
    ids (the event may have landed all the same), instead of waiting out :data:`IN_FLIGHT_S` as a 409."""
    if failed.key is None:
        return
    failed.started_ms = 0
    with contextlib.suppress(*REDIS_DOWN):
        await redis.set(keys.idempotency(failed.user, failed.key), _encoded(failed), ex=REMEMBERED_S)


async def forget(redis: Any, refused: Claim) -> None:
    """The request was refused before anything was published (a 422, a 403, a 429): its key starts afresh, ids
    included. Kept, a post's id was the refused attempt's, and the post made by the corrected repeat sorted by
    that older time, below posts made in between (off a full feed's first screen)."""
    if refused.key is None:
        return
    with contextlib.suppress(*REDIS_DOWN):
        await redis.delete(keys.idempotency(refused.user, refused.key))


def _encoded(c: Claim) -> str:
    return json.dumps({"fingerprint": c.fingerprint, "ids": c.ids, "answer": c.answer, "started": c.started_ms},
                      separators=(",", ":"))
