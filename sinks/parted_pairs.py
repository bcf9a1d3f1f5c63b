"""Who a block or a mute parted from whom, noted by the notifications processor as it reads the change, for
the minutes until the safety processor's relations surely say it too.

Why: the notifications processor asks the safety processor's relations (:mod:`sinks.safety`) whether an actor
is blocked or muted by a recipient, and another processor writes those. While it lagged, a like applied after
the notifications processor had taken the muted person out of the muter's groups (their mute read, their
relation not written yet) notified the muter, and stayed. The notifications processor reads ``block-changed``
and ``mute-changed`` itself, so it notes each change before it applies anything of that batch, and its rules
take a noted pair as the relation would: whichever processor reads what first, the muted person is out.

A batch with nobody noted costs one ``ZMSCORE`` (who among its recipients has a note); only they are asked
more. Notes last :data:`sinks.keys.RECENT_BLOCK_TTL_S`, against the seconds a processor lags.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from photostream.domain.safety import SafetyChange
from producers.ids import now_ms
from sinks import keys

TTL_S = keys.RECENT_BLOCK_TTL_S


def _notes(change: SafetyChange) -> list[tuple[str, str]]:
    """(whose note, the field) a change writes: a mute one way, a block both ways."""
    notes = [(change.actor_id, f"{change.kind}:{change.target_id}")]
    if change.kind == "block":
        notes.append((change.target_id, f"block:{change.actor_id}"))
    return notes


async def note(redis: Any, changes: Iterable[SafetyChange]) -> None:
    """Note the user blocks and mutes (on), and forget the ones turned off, in the order given."""
    found = [c for c in changes if c.target_kind == "user"]
    if not found:
        return
    expires = now_ms() + TTL_S * 1000
    async with redis.pipeline(transaction=False) as pipe:
        for change in found:
            for user, field in _notes(change):
                if change.on:
                    pipe.hset(keys.parted(user), field, 1)
                    pipe.expire(keys.parted(user), TTL_S)
                    pipe.zadd(keys.parted_lately(), {user: expires})
                else:
                    pipe.hdel(keys.parted(user), field)
        pipe.zremrangebyscore(keys.parted_lately(), "-inf", now_ms())
        await pipe.execute()


async def parted_among(redis: Any, actors: dict[str, set[str]]) -> dict[str, set[str]]:
    """For each recipient, the actors among ``actors[recipient]`` a noted block or mute parts them from."""
    recipients = sorted(actors)
    if not recipients:
        return {}
    expiry = await redis.zmscore(keys.parted_lately(), recipients)
    now = now_ms()
    noted = [r for r, until in zip(recipients, expiry, strict=True) if until is not None and until > now]
    if not noted:
        return {}
    asked = {r: sorted(actors[r]) for r in noted}
    async with redis.pipeline(transaction=False) as pipe:
        for recipient, people in asked.items():
            pipe.hmget(keys.parted(recipient), [f"{kind}:{a}" for a in people for kind in ("block", "mute")])
        answers = await pipe.execute()
    parted: dict[str, set[str]] = {}
    for (recipient, people), values in zip(asked.items(), answers, strict=True):
        hits = {a for i, a in enumerate(people) if values[2 * i] is not None or values[2 * i + 1] is not None}
        if hits:
            parted[recipient] = hits
    return parted
