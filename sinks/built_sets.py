"""Redis sets that count only once a rebuild from durable state marked them complete, and the fence that keeps
a rebuild from marking a set it lost on the way.

Used by the set of tagged posts (:mod:`sinks.tagged_posts`) and the celebrity set (:mod:`sinks.feeds`). Each is
a superset kept by its writers (every writer adds what it wrote), plus a marker member written by a rebuild after
it added everything durable state holds. A rebuild first puts a member of its own in the set (:func:`begin`)
and writes the marker only if that member is still there at the end, in one script (:func:`finish`): had Redis
lost the set meanwhile (restarted, the key deleted), the rebuild's earlier adds went with it, and a marker on
what is left would hide the lost members for good. Markers and fences start with a NUL: never an id.
"""

from __future__ import annotations

import uuid
from typing import Any

#: the prefix of a rebuild's own member
BUILDING = "\x00building:"

#: KEYS[1]: the set; ARGV[1]: the rebuild's member; ARGV[2]: the marker. The marker goes in only if the member
#: is still there.
_FINISH = """
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('SADD', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


class SetLostError(RuntimeError):
    """The set went (Redis restarted, the key deleted) while a rebuild ran: it was not marked built."""


def is_marker(member: str) -> bool:
    """A marker or a rebuild's fence, not a member the set is about."""
    return member.startswith("\x00")


async def begin(redis: Any, key: str) -> str:
    """Fence the set ``key`` for a rebuild about to add durable state's members; returns the fence."""
    fence = BUILDING + uuid.uuid4().hex
    await redis.sadd(key, fence)
    return fence


async def finish(redis: Any, key: str, fence: str, marker: str) -> None:
    """Mark the set built if it kept ``fence`` since :func:`begin`; raises :class:`SetLostError` otherwise."""
    if not await redis.eval(_FINISH, 1, key, fence, marker):
        raise SetLostError(f"{key} was lost while it was rebuilt: not marked built")
