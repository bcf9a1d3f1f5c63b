"""The hashtag counter: post-hashtag → exact tallies, windows, related tags, recency and trending data.

Per batch: group events by tag, load each tag's relevant state, apply the events as set transitions
(:mod:`streams.hashtags.tally`), write each tag's changes in one atomic single-partition batch, then refresh
Redis with absolute values. Offsets are committed by the loop only after this returns.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

from photostream.domain.tally import TagState, apply
from photostream.domain.windows import tumbling_start
from photostream.settings import Settings
from sinks.hashtags.state import HashtagStateStore
from sinks.hashtags.views import HashtagViews
from streams.engine.records import Record, Reject


class HashtagCounter:
    name: str = "hashtag-counter"
    topics: tuple[str, ...] = ("post-hashtag",)

    def __init__(self, settings: Settings, store: HashtagStateStore, views: HashtagViews) -> None:
        self._window_ms = settings.hashtag_window_s * 1000
        self.flush_interval_s = float(settings.hashtag_window_s)
        self._store = store
        self._views = views

    async def _apply_tag(self, tag: str, events: list[dict[str, Any]]) -> TagState:
        state = await self._store.load(
            tag,
            post_ids={e["post_id"] for e in events},
            windows={tumbling_start(int(e["post_created_at"]), self._window_ms) for e in events},
            related={o for e in events for o in e.get("post_tags", ()) if o != tag},
        )
        for event in events:
            apply(state, event, self._window_ms)
        await self._store.save(state)
        return state

    async def process(self, batch: list[Record], reject: Reject) -> None:
        by_tag: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in batch:
            by_tag[record.value["hashtag"]].append(record.value)
        states = await asyncio.gather(*(self._apply_tag(tag, events) for tag, events in by_tag.items()))
        authors = {tag: {(e["author_id"], int(e["post_created_at"])) for e in events if e["action"] == "add"}
                   for tag, events in by_tag.items()}
        await self._views.refresh_cache(list(states), {t: a for t, a in authors.items() if a},
                                        int(time.time() * 1000))
        await self._views.rank_new_members(list(states))
