"""Who was in a block lately: noted by the safety processor before it writes a block, so the processors that
apply likes, comments and people tags re-ask Cassandra after their write only about the people in one.

Why: those processors ask again, once their write is durable, whether a block now stands between the sender
and the post's author (:mod:`streams.engagement_blocks`), because a block written between their first
question and their write may have read what it ends before that write. Asking Cassandra again for every
batch cost them 15–30% of their throughput (benchmark 13, three A/B rounds), for a race only a block can
open. A block is noted before its row is written and its reading follows the write, so by the time a
processor's write lands after that reading, the note is there: a pair whose post author is not noted (a block
notes both its people) had no block written since well before the processor's first question, and needs no
second one.
Notes expire after :data:`sinks.keys.RECENT_BLOCK_TTL_S` (minutes, against the seconds between a block's write
and its reading). With Redis down a note cannot be read, and everyone is asked again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sinks import keys
from sinks.cache_aside import REDIS_DOWN
from sinks.redis_bulk import exist_many


async def note(redis: Any, users: Iterable[str]) -> None:
    """Note ``users`` as in a block now (before the block's rows are written; a failure fails the batch, which
    is retried, so no block is written un-noted)."""
    people = sorted(set(users))
    if not people:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for user in people:
            pipe.set(keys.recent_block(user), 1, ex=keys.RECENT_BLOCK_TTL_S)
        await pipe.execute()


async def noted_among(redis: Any, users: Iterable[str]) -> set[str] | None:
    """Which of ``users`` were in a block lately (one ``MGET``); None when Redis cannot say (ask about all)."""
    people = sorted(set(users))
    if not people:
        return set()
    try:
        found = await exist_many(redis, [keys.recent_block(user) for user in people])
    except REDIS_DOWN:
        return None
    return {user for user, noted in zip(people, found, strict=True) if noted}
