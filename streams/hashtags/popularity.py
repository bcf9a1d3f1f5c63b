"""Popularity: like-changed / comment-added / comment-deleted → exact engagement counts → each tag's top-N posts.

Every touched post's absolute counts are written to Redis (not only the ones a batch changed), and its score
in each of its tags, so a batch retried after its Cassandra write succeeded repairs the views. The posts'
tags are read with one IN query per chunk, never one query per post. Its batches are short
(``engagement_flush_s``) and it moves applied-offset marks, so a like's ``?after=`` read shows the like
(count and "liked by me") instead of the state before it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from photostream.domain.scoring import popularity, score_weights
from photostream.settings import Settings
from producers.ids import is_recurring_id
from producers.publisher import Publisher
from sinks import offsets
from sinks.engagement import EngagementStore
from sinks.hashtags.settle import RankSettler
from sinks.hashtags.state import HashtagStateStore
from sinks.hashtags.views import HashtagViews
from sinks.partition_cache import PartitionCache
from sinks.safety import SafetyReader
from streams.engagement_blocks import (
    name_post_authors,
    retract_raced_engagement,
    retract_refused,
    without_engagement_across_blocks,
    without_engagement_of_closed_accounts,
)
from streams.engine.records import Record, Reject, accepted
from streams.posts_projected import PostsProjected

#: the fields of each input that name a post, a user or a comment
_ID_FIELDS = {"like-changed": ("post_id", "user_id"), "comment-added": ("post_id", "user_id", "comment_id"),
              "comment-deleted": ("post_id", "user_id", "comment_id", "actor_id")}


def with_ids(record: Record) -> Record:
    """The record, if every field naming something is an id; ``ValueError`` (→ DLQ) otherwise. The comments and
    notifications processors refuse such records, so counting them here made a post's count disagree with its
    list of comments (a raw record with ``user_id: "bob"`` was counted, and listed nowhere)."""
    for name in _ID_FIELDS[record.topic]:
        if not is_recurring_id(record.value[name]):
            raise ValueError(f"{name}: not an id: {str(record.value[name])[:60]!r}")
    return record


class PopularityUpdater:
    name: str = "popularity"
    topics: tuple[str, ...] = ("like-changed", "comment-added", "comment-deleted")

    def __init__(self, settings: Settings, store: EngagementStore, state: HashtagStateStore, views: HashtagViews,
                 settler: RankSettler, liked_copies: PartitionCache, redis: Any,
                 safety: SafetyReader | None = None, publisher: Publisher | None = None,
                 projected: PostsProjected | None = None) -> None:
        self._store = store
        #: likes and comments across a block are not counted (:mod:`streams.engagement_blocks`); a like a block
        #: raced is retracted through ``publisher`` once written; one not naming its post's author waits for the
        #: post's projection (``projected``) to be checked
        self._safety, self._publisher, self._projected = safety, publisher, projected
        self._publish_timeout_s = float(settings.publish_timeout_s)
        self._state = state
        self._redis = redis
        #: the API's Redis copies of who likes what ("liked by me" on every feed item), edited after each save
        self._liked_copies = liked_copies
        self.flush_interval_s = float(settings.engagement_flush_s)
        self._views = views
        self._settler = settler
        self._weights = score_weights(settings)

    async def process(self, batch: list[Record], reject: Reject) -> None:
        by_post: dict[str, list[Record]] = defaultdict(list)
        named = await name_post_authors(accepted(batch, with_ids, reject), self._safety, self._redis,
                                        self._projected)
        admitted = await without_engagement_across_blocks(named, self._safety)
        if self._safety is not None:  # (and not by a deleted account)
            admitted = await without_engagement_of_closed_accounts(admitted, self._redis, self._safety.session)
        # a refused like may have notified already (the notifications processor asked before the block or the
        # deletion stood, and the purge's reading of the likes index, which is this processor's, missed it):
        # retracted, as the comments processor retracts a refused comment
        await retract_refused(named, admitted, "like-changed", self._publisher, self._publish_timeout_s)
        for record in admitted:
            by_post[record.value["post_id"]].append(record)
        loaded = await self._store.load_many({
            post_id: ({r.value["user_id"] for r in records if r.topic == "like-changed"},
                      {r.value["comment_id"] for r in records if r.topic != "like-changed"})
            for post_id, records in by_post.items()})
        states = list(loaded.values())
        for state in states:
            for record in by_post[state.post_id]:
                state.apply(record.topic, record.value)
        await self._store.save(states)
        # the likes index is this processor's: a block's or a purge's reading that ran before this write is
        # answered here
        await retract_raced_engagement(admitted, "like-changed", self._safety, self._publisher,
                                       self._publish_timeout_s, self._redis)
        liked: dict[str, dict[str, str | None]] = defaultdict(dict)
        for state in states:
            for user, likes in state.likes.items():
                liked[user][state.post_id] = "1" if likes else None
        await self._liked_copies.apply(liked)
        counts = {s.post_id: (s.like_count, s.comment_count) for s in states}
        await self._views.write_engagement(counts)
        ranking: dict[str, dict[str, float | None]] = defaultdict(dict)
        tagged_posts = await self._store.tags_of(set(counts))
        posts_by_tag: dict[str, set[str]] = defaultdict(set)
        for post_id, tagged in tagged_posts.items():
            for tag in tagged.tags:
                posts_by_tag[tag].add(post_id)
        # only where the post counts: a like of a hidden post (its author turned private) ranked it back in,
        # taking a slot the page then left empty
        counted = await self._state.counted(posts_by_tag)
        for post_id, tagged in tagged_posts.items():
            score = None if tagged.deleted else popularity(*counts[post_id], tagged.created_at, self._weights)
            for tag in tagged.tags:
                ranking[tag][post_id] = score if (tag, post_id) in counted else None
        repair = await self._views.rank(ranking)
        if repair:
            await self._settler.replace_top(repair)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))
