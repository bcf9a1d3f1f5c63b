"""The safety processor: block-changed, mute-changed → blocks and mutes in Cassandra, and a block's unfollows.

1. every toggle is written as a timestamped upsert (sinks/safety.py): the newest toggle of a pair wins;
2. a block also ends what stands between the two users, both ways: it publishes two ``follow-changed``
   unfollows, two ``follow-requested`` denials, a ``like-changed`` unlike per like of one's posts by the other,
   a ``comment-deleted`` per comment on one's posts by the other, a ``photo-tag-changed`` removal per tag of one
   on the other's photos and a ``MESSAGES_READ`` per badge the other is in (:mod:`sinks.block_effects`), with
   ids derived from the block's event id and the block's time, so a replay re-emits duplicates of the same
   facts; the feeds processor then removes the posts from the feeds as
   for any unfollow, the notifications processor withdraws "wants to follow you" and "liked your photo" as for
   any denial or unlike, the like and comment counts drop, the comments leave their threads, and the blocked
   person leaves the unread badge. They are acknowledged before this batch's offsets are committed (a failed
   delivery fails the batch: it is retried);
3. a user mute's absolute outcome on the muter's Redis feed: while muted, the muted author's posts are out of
   it (the fan-out skips them from then on); once unmuted and still following, they are back-filled — so a live
   feed stays what `photostream rebuild feeds` derives;
4. a pair with a deleted account on either side is deleted once written (its purge may have read the account's
   pairs before this write: :meth:`SafetyProcessor._forget_pairs_of_closed_accounts`);
5. the applied-offset marks move, so a read with ``?after=`` sees the block or mute.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from photostream.domain.safety import (
    Kind,
    SafetyChange,
    comment_deletions_of_block,
    reads_of_block,
    request_closings_of_block,
    safety_change,
    unfollows_of_block,
    unlikes_of_block,
    untags_of_block,
)
from producers.events import build
from producers.ids import now_ms
from producers.publisher import Publisher
from sinks import offsets, recent_blocks
from sinks.block_effects import Across, BlockFootprint
from sinks.feeds import FeedCache, FeedChanges, FeedPosts, pushed, pushed_live
from sinks.graph import GraphReader
from sinks.partition_cache import RELATIONS, PartitionCache
from sinks.revocations import closed_among
from sinks.safety import SafetyReader, SafetyWriter
from streams.engine.records import Record, Reject, accepted

_KINDS: dict[str, Kind] = {"block-changed": "block", "mute-changed": "mute"}
#: what an unblock, a mute or an unmute ends: nothing
_NOTHING: Across = ([], [], [])


class SafetyProcessor:
    name: str = "safety"
    topics: tuple[str, ...] = ("block-changed", "mute-changed")
    #: a block must take effect at once (the blocker reloads the profile with ``?after=``): short batches
    flush_interval_s: float = 0.05

    def __init__(self, writer: SafetyWriter, publisher: Publisher, redis: Any, publish_timeout_s: float = 10.0,
                 feeds: MuteFeedEffects | None = None, footprint: BlockFootprint | None = None,
                 relations: SafetyReader | None = None) -> None:
        self._writer = writer
        #: the pairs' state after the batch's writes: which blocks still stand (see :meth:`_standing`)
        self._relations = relations
        self._feeds = feeds
        self._footprint = footprint
        self._publisher = publisher
        self._redis = redis
        self._relation_copies = PartitionCache(redis, RELATIONS)
        self._publish_timeout_s = publish_timeout_s

    async def process(self, batch: list[Record], reject: Reject) -> None:
        changes = accepted(batch, lambda r: (r, safety_change(_KINDS[r.topic], r.value)), reject)
        # before the rows: a like, comment or tag written after this block's reading is then re-checked by the
        # processor that wrote it (sinks.recent_blocks)
        await recent_blocks.note(self._redis, (user for _, c in changes if c.kind == "block" and c.on
                                               and c.target_kind == "user" for user in (c.actor_id, c.target_id)))
        await self._writer.apply(change for _, change in changes)
        await self._forget_pairs_of_closed_accounts([change for _, change in changes])
        # both sides' rows changed: their Redis copies go (the API reads blocks from them)
        await self._relation_copies.invalidate(
            user for _, c in changes if c.target_kind == "user" for user in (c.actor_id, c.target_id))
        derived = await self._end_follows(changes, reject)
        if self._feeds is not None:
            await self._feeds.settle([change for _, change in changes])
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch), derived)

    async def _forget_pairs_of_closed_accounts(self, changes: list[SafetyChange]) -> None:
        """Delete the rows of the batch's pairs with a deleted account on either side, once written. The purge
        (:mod:`streams.account_purge`) deletes the other side's row of each pair it reads in the account's
        partition; a block or mute made just before the deletion and written after that reading left the other
        person's row ("blocked by" someone who no longer exists) for good. The purge marks the account closed
        before it reads, and this asks after the write: one of the two finds each pair (as
        :mod:`streams.closed_accounts_acts` does for follows). One ``MGET`` of the marks per batch."""
        pairs = [(c.actor_id, c.target_id) for c in changes if c.target_kind == "user"]
        if not pairs:
            return
        closed = await closed_among(self._redis, self._writer.session, {user for pair in pairs for user in pair})
        if closed:
            await self._writer.forget_pairs(pair for pair in pairs if not closed.isdisjoint(pair))

    async def _end_follows(self, changes: list[tuple[Record, SafetyChange]],
                           reject: Reject) -> dict[tuple[str, int], int]:
        """Publish what the batch's blocks end (acknowledged); returns where those events landed."""
        implied = []
        # what each block ends, read for all of the batch's blocks at once (one after another, a batch of
        # blocks took a round trip of reads per block: 395 blocks/s; a block's own eight reads at once, 600/s)
        blocks = [(c.actor_id, c.target_id) for _, c in changes if c.kind == "block" and c.on]
        found, standing = await asyncio.gather(self._across(blocks), self._standing([c for _, c in changes]))
        now = now_ms()
        for record, change in changes:
            ended = change.kind == "block" and change.on
            likes, comments, tags = found.get((change.actor_id, change.target_id), _NOTHING) if ended else _NOTHING
            event_id = str(record.value["event_id"])
            standing_at = now if (change.actor_id, change.target_id) in standing else None
            try:
                implied += [
                    *(build("follow-changed", fields) for fields in unfollows_of_block(change, event_id, standing_at)),
                    *(build("follow-requested", fields) for fields in request_closings_of_block(change, event_id)),
                    *(build("like-changed", fields)
                      for fields in unlikes_of_block(change, event_id, likes, standing_at)),
                    *(build("comment-deleted", fields)
                      for fields in comment_deletions_of_block(change, event_id, comments, standing_at)),
                    *(build("photo-tag-changed", fields)
                      for fields in untags_of_block(change, event_id, tags, standing_at)),
                    *(build("MESSAGES_READ", fields) for fields in reads_of_block(change, event_id))]
            except ValueError as exc:  # cannot happen for a valid block; park the source rather than loop
                reject(record, exc)
        # a failed delivery raises here, so the batch is retried
        return await self._publisher.acknowledged(implied, self._publish_timeout_s)

    async def _standing(self, changes: list[SafetyChange]) -> set[tuple[str, str]]:
        """(actor, target) of the batch's blocks between two people a block still stands between after its
        writes (a block followed by its unblock in the same batch, or re-delivered after one, is not; either
        side's block counts: nothing stands across one)."""
        blocks = [(c.actor_id, c.target_id) for c in changes if c.kind == "block" and c.on]
        if self._relations is None or not blocks:
            return set()
        return await self._relations.blocked_pairs(blocks)

    async def _across(self, blocks: list[tuple[str, str]]) -> dict[tuple[str, str], Across]:
        """What each (blocker, blocked) block ends between the two: each side's likes of, comments on and tags in
        the other's posts (their unread messages need no reading: :func:`reads_of_block`)."""
        if self._footprint is None or not blocks:
            return {}
        return await self._footprint.between(blocks)


class MuteFeedEffects:
    """What a user mute means for the muter's Redis feed, from the pair's absolute state after the write (so a
    replay or reordered toggles end the same): muted (or blocked) → the author's posts out; neither, and still
    following → the author's newest posts back in (as a follow's back-fill)."""

    def __init__(self, safety: SafetyReader, graph: GraphReader, posts: FeedPosts, cache: FeedCache,
                 cap: int) -> None:
        self._safety, self._graph, self._posts, self._cache, self._cap = safety, graph, posts, cache, cap

    async def settle(self, changes: list[SafetyChange]) -> None:
        targets: dict[str, set[str]] = defaultdict(set)
        for change in changes:
            if change.kind == "mute" and change.target_kind == "user":
                targets[change.actor_id].add(change.target_id)
        if not targets:
            return
        muters = list(targets)
        hidden, followed = await asyncio.gather(
            asyncio.gather(*(self._safety.hidden_authors(m, targets[m]) for m in muters)),
            asyncio.gather(*(self._graph.followed_among(m, targets[m]) for m in muters)))
        out: list[tuple[str, str]] = []  # (muter, author): the author's posts leave the muter's feed
        back: list[tuple[str, str]] = []  # (muter, author): they come back (unmuted, still followed)
        for muter, hidden_here, followed_here in zip(muters, hidden, followed, strict=True):
            for author in targets[muter]:
                if author in hidden_here:
                    out.append((muter, author))
                elif author in followed_here:
                    back.append((muter, author))
        removing, adding = sorted({a for _, a in out}), sorted({a for _, a in back})
        # a removal also reaches deleted posts (the feed may hold one deleted in this very batch)
        reads = await asyncio.gather(*(self._posts.newest_matching(a, self._cap, pushed) for a in removing),
                                     *(self._posts.newest_matching(a, self._cap, pushed_live) for a in adding))
        everything = dict(zip(removing, reads[:len(removing)], strict=True))
        live = dict(zip(adding, reads[len(removing):], strict=True))
        edits = FeedChanges()
        for muter, author in out:
            edits.remove(muter, everything[author])
        for muter, author in back:
            edits.add(muter, live[author])
        await edits.apply(self._cache)
