"""What the photos processor derived from an upload: its blurhash and the widths rendered ahead of time.

Written by ``streams.photos`` (absolute upserts of values that are pure functions of the original, so replays
write the same row); read by hydration (``api.hydrate``), one ``IN`` query per page, so feed and post items can
show a placeholder while the photo loads. A blurhash never changes once derived (a pure function of the
original), so each reader process remembers the ones it has seen (bounded LRU) and asks Cassandra only for the
rest: a hot feed page costs no placeholder read at all. An image found without one is not asked again for
``ABSENT_MEMO_S`` either: a fresh post's page is read by every follower at once, and its placeholder may
show a few seconds after it was derived rather than cost one Cassandra read per page view until then.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import LRUCache, TTLCache
from cassandra.cluster import Session

from sinks.cassandra import execute

#: image ids per multi-partition read
_IN_CHUNK = 100
#: placeholders remembered per process (~100 B each)
_REMEMBERED = 200_000
#: how long an image found without a placeholder is answered without asking again
ABSENT_MEMO_S = 5.0


class PhotoDerivatives:
    def __init__(self, session: Session, clock: Callable[[], float] = time.monotonic) -> None:
        self._session = session
        self._w = session.prepare(
            "INSERT INTO photo_derivatives (image_id, blurhash, prerendered, derived_at) VALUES (?, ?, ?, ?)")
        self._q = session.prepare("SELECT image_id, blurhash, prerendered FROM photo_derivatives WHERE image_id IN ?")
        self._d = session.prepare("DELETE FROM photo_derivatives WHERE image_id = ?")
        self._known: LRUCache[str, str] = LRUCache(maxsize=_REMEMBERED)
        self._absent: TTLCache[str, bool] = TTLCache(maxsize=_REMEMBERED, ttl=ABSENT_MEMO_S, timer=clock)

    async def record(self, image_id: str, blurhash: str | None, prerendered: set[int], derived_at_ms: int) -> None:
        await execute(self._session, self._w, (image_id, blurhash, prerendered, derived_at_ms))

    async def forget(self, image_id: str) -> None:
        """The image's row gone (its account was purged while it was being derived)."""
        await execute(self._session, self._d, (image_id,))
        self._known.pop(image_id, None)

    async def blurhashes(self, image_ids: list[str]) -> dict[str, str]:
        """The placeholders known for ``image_ids`` (an image not derived yet is absent, and asked again)."""
        found: dict[str, str] = {}
        wanted: list[str] = []
        for image_id in dict.fromkeys(image_ids):
            known = self._known.get(image_id)
            if known is not None:
                found[image_id] = known
            elif image_id not in self._absent:
                wanted.append(image_id)
        for start in range(0, len(wanted), _IN_CHUNK):
            rows = await execute(self._session, self._q, (wanted[start:start + _IN_CHUNK],))
            for row in rows:
                if row.blurhash:
                    found[str(row.image_id)] = self._known[str(row.image_id)] = str(row.blurhash)
        for image_id in wanted:
            if image_id not in found:
                self._absent[image_id] = True
        return found

    async def derived(self, image_ids: list[str]) -> dict[str, set[int]]:
        """The widths already rendered ahead of time, for the images that were derived."""
        done: dict[str, set[int]] = {}
        wanted = list(dict.fromkeys(image_ids))
        for start in range(0, len(wanted), _IN_CHUNK):
            rows = await execute(self._session, self._q, (wanted[start:start + _IN_CHUNK],))
            done.update({str(row.image_id): set(row.prerendered or ()) for row in rows})
        return done
