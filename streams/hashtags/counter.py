"""The hashtag counter: post-hashtag → exact tallies, windows, related tags, top posts and trending data.

Per batch: group events by tag, load each tag's relevant state (a tag never stored has none to load), apply
the events as set transitions (:mod:`photostream.domain.tally`), write each tag's changes atomically (whole in
one batch; small tags share a request), then project
the absolute state of everything the batch *touched* into Redis — not what changed — so a batch retried
after its Cassandra write succeeded and its Redis write failed repairs the views. A tag where a post was
retracted (which trending sets and the top set cannot express as an absolute write of the touched posts)
is re-derived from its whole durable state. Scores are settled against engagement that moved meanwhile
(:mod:`sinks.hashtags.settle`). Then the applied-offset marks move (a tag page read with a post's ``?after=``
token waits for them). Offsets are committed by the loop only after this returns.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

from photostream.domain.hashtag_views import Member
from photostream.domain.scoring import popularity, score_weights
from photostream.domain.tally import TagState, apply, counted
from photostream.domain.windows import tumbling_start
from photostream.settings import Settings
from sinks import offsets
from sinks.engagement import EngagementStore
from sinks.hashtag_search import HashtagSearch
from sinks.hashtags.settle import RankSettler
from sinks.hashtags.state import HashtagStateStore
from sinks.hashtags.views import HashtagViews
from streams.engine.records import Record, Reject


class HashtagCounter:
    name: str = "hashtag-counter"
    topics: tuple[str, ...] = ("post-hashtag",)

    def __init__(self, settings: Settings, store: HashtagStateStore, engagement: EngagementStore,
                 views: HashtagViews, settler: RankSettler, redis: Any, search: HashtagSearch | None = None) -> None:
        self._window_ms = settings.hashtag_window_s * 1000
        self.flush_interval_s = min(float(settings.hashtag_flush_s), float(settings.hashtag_window_s))
        self._weights = score_weights(settings)
        self._store = store
        self._engagement = engagement
        self._views = views
        self._settler = settler
        self._redis = redis
        #: where a tag is listed for the search, the first time it is counted
        self._search = search

    async def _apply_tag(self, tag: str, events: list[dict[str, Any]], total: int | None) -> TagState:
        """The tag's state after ``events``; ``total`` None: the tag has no stored state (nothing to load)."""
        state = TagState(tag) if total is None else await self._store.load(
            tag,
            post_ids={e["post_id"] for e in events},
            windows={tumbling_start(int(e["post_created_at"]), self._window_ms) for e in events},
            related={o for e in events for o in e.get("post_tags", ()) if o != tag},
            total=total,
        )
        for event in events:
            apply(state, event, self._window_ms)
        return state

    async def process(self, batch: list[Record], reject: Reject) -> None:
        by_tag: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in batch:
            by_tag[record.value["hashtag"]].append(record.value)
        totals = await self._store.totals(by_tag)
        states = await asyncio.gather(*(self._apply_tag(tag, events, totals.get(tag))
                                        for tag, events in by_tag.items()))
        new_tags = [tag for tag in by_tag if tag not in totals]
        if self._search is not None and new_tags:  # before the counts: a retry after a crash lists them again
            await self._search.list_tags(new_tags)
        await self._store.save(states)
        touched = {state.tag: touched_members(state, by_tag[state.tag]) for state in states}
        found = await self._engagement.counts_of({m.post_id for ms in touched.values() for m in ms if m.present})
        engagement = {m.post_id: found.get(m.post_id, (0, 0)) for ms in touched.values() for m in ms if m.present}
        ranking = {tag: {m.post_id: popularity(*engagement[m.post_id], m.created_at, self._weights)
                         if m.present else None for m in members}
                   for tag, members in touched.items()}
        now_ms = int(time.time() * 1000)
        repair = await self._views.project({s.tag: s.post_count for s in states},
                                           {s.tag: dict(s.related) for s in states}, ranking, touched, now_ms)
        await self._settler.settle(engagement, {tag: {m.post_id: m.created_at for m in members if m.present}
                                                for tag, members in touched.items()})
        repair |= {tag for tag, members in touched.items() if any(not m.present for m in members)}
        if repair:
            await self._settler.replace(repair, now_ms)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))


def touched_members(state: TagState, events: list[dict[str, Any]]) -> list[Member]:
    """The batch's posts of this tag as they stand after it (absolute state, whatever the batch changed)."""
    found = {e["post_id"]: Member(e["post_id"], e["author_id"], int(e["post_created_at"]),
                                  counted(state, e["post_id"])) for e in events}
    return list(found.values())
