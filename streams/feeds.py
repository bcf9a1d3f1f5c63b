"""The feeds processor: follow-changed, post-created, post-deleted → the follow graph and the home feeds.

One processor owns all three inputs because they are about one entity, the author/followee: the topics are
keyed by that id with equal partition counts and consumed with a co-partitioning assignor, so one worker
applies a given author's follows and posts, in one batch, in this order:

1. the graph (durable, exact follower counts), so fan-out reads the followers as of this batch;
2. the delivery record of each post (durable): push or pull, decided once per post from the author's
   follower count with hysteresis, so a replay re-delivers exactly as before and a tier switch loses or
   duplicates nothing;
3. the Redis effects: pushes into followers' feeds (pages of followers, one pipeline per page) or into the
   author's pull set, removals of deleted posts, and for every touched follow pair its absolute outcome
   (back-fill when following, removal when not), so a replay after a crash repairs what Redis missed.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from photostream.domain.feeds import Delivery, delivery_tier
from photostream.settings import Settings
from producers.publisher import Publisher
from sinks import offsets
from sinks.feeds import (
    DeliveredPost,
    FeedCache,
    FeedChanges,
    FeedPosts,
    expected_pull_set,
    pushed,
    pushed_live,
    rebuild_pull_sets,
)
from sinks.graph import FollowChange, GraphReader, GraphWriter, Pair
from sinks.partition_cache import FOLLOWING, PartitionCache
from sinks.revocations import closed_among
from sinks.safety import SafetyReader
from streams.closed_accounts_acts import retract_acts_of_closed_accounts, unfollow_of
from streams.engine.records import Record, Reject, accepted
from streams.graph import follow_change
from streams.metrics import FANOUT_FOLLOWERS


@dataclass(frozen=True)
class Audience:
    """Who the batch's posts by authors with few followers go to: their followers, and whom each skips."""

    followers: dict[str, list[str]]
    skipped: dict[str, set[str]]


@dataclass(frozen=True)
class PostEffect:
    post: DeliveredPost
    added: bool  # False: removed (deleted)


class FeedProcessor:
    name: str = "feeds"
    topics: tuple[str, ...] = ("follow-changed", "post-created", "post-deleted")
    #: the author sees their post in their feed right away, and visibility reads need the graph: no accumulation
    #: (a batch is what arrived while the last one was applied; README "Live processors do not accumulate")
    flush_interval_s: float = 0.0

    def __init__(self, settings: Settings, graph: GraphWriter, reader: GraphReader, posts: FeedPosts,
                 cache: FeedCache, redis: Any, safety: SafetyReader | None = None,
                 publisher: Publisher | None = None) -> None:
        self._settings = settings
        #: a follow by or of a deleted account is ended through it once written (:mod:`streams.closed_accounts_acts`)
        self._publisher = publisher
        #: blocks and mutes: followers who blocked, are blocked by or muted the author are skipped at fan-out
        self._safety = safety
        self._graph = graph
        self._reader = reader
        self._posts = posts
        self._cache = cache
        self._redis = redis
        self._following_copies = PartitionCache(redis, FOLLOWING)
        self._celebrities_known = False

    async def process(self, batch: list[Record], reject: Reject) -> None:
        if not self._celebrities_known:  # a new deployment, or Redis lost the set: readers need it complete
            if await self._cache.celebrities() is None:
                await rebuild_pull_sets(self._posts, self._cache, self._settings.feed_cap)
            self._celebrities_known = True
        received = accepted((r for r in batch if r.topic == "follow-changed"), lambda r: follow_change(r.value), reject)
        changes, closed = await self._without_closed_accounts_follows(received)
        changes = await self._without_follows_across_blocks(changes)
        pairs = await self._graph.apply(changes, closed)
        # a follow by or of a deleted account, refused above or written after the purge read the edges: ended
        await retract_acts_of_closed_accounts([c for c in received if c.follow], unfollow_of, self._redis,
                                              self._graph.session, self._publisher, self._settings.publish_timeout_s)
        await self._following_copies.invalidate(c.follower_id for c in changes)  # the API reads follows from them
        effects, follower_counts, writes = await self._decide_posts([r for r in batch if r.topic != "follow-changed"])
        pushed = self._pushed(effects, follower_counts)
        page = self._settings.fanout_page_size
        few = {a: found for a, found in pushed.items() if follower_counts[a] <= page}
        # the delivery record is durable before the fan-out reads who to skip: an unmute's back-fill (the safety
        # processor) writes the unmute before it reads the author's posts, so one of the two sees the other.
        # Read while the record was being written (a round trip sooner), a post made as its author was
        # unmuted could be in neither and miss the unmuter's feed for good.
        await self._posts.write(writes)
        audience = await self._audience_of_few(few)
        await self._fan_out(effects, pushed, few, audience)
        await self._settle_pairs(pairs)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))

    async def _without_closed_accounts_follows(
            self, changes: list[FollowChange]) -> tuple[list[FollowChange], frozenset[str]]:
        """Drop follows to or from an account whose deletion was accepted (one published as it was deleted, or a
        replay of an old one: the purge's retractions already ended its edges) and name the closed accounts
        among the batch's, whose unfollows then leave no pair state (:meth:`GraphWriter.apply`)."""
        if not changes:
            return changes, frozenset()
        closed = frozenset(await closed_among(self._redis, self._graph.session,
                                              {u for c in changes for u in (c.follower_id, c.followee_id)}))
        if not closed:
            return changes, closed
        return [c for c in changes if not (c.follow and {c.follower_id, c.followee_id} & closed)], closed

    async def _without_follows_across_blocks(self, changes: list[FollowChange]) -> list[FollowChange]:
        """A follow is not applied while a block stands between the two. An approval sent as the private owner
        blocked the requester was checked before the block existed, published after it, and outlived the
        block's unfollow (which carries the block's earlier time): a follower behind a block, who read the
        private posts after an unblock. (A follow applied just before the block's row was written is ended by
        the safety processor: :func:`photostream.domain.safety.unfollows_of_block`.)"""
        follows = [(c.followee_id, c.follower_id) for c in changes if c.follow]  # (asked of the followees: fewer)
        if self._safety is None or not follows:
            return changes
        blocked = await self._safety.blocked_pairs(follows)
        return [c for c in changes if not (c.follow and (c.followee_id, c.follower_id) in blocked)]

    # --- durable delivery record ------------------------------------------------------------------------------
    async def _decide_posts(self, records: list[Record]) -> tuple[list[PostEffect], dict[str, int],
                                                                 list[tuple[Any, Any]]]:
        """Decide creates before deletes (two topics are not ordered against each other: a delete seen first
        leaves a tombstone and the late create delivers nothing); the batch's lookups are one IN query each
        whatever the number of authors. Returns the effects, the authors' follower counts and the delivery
        record's writes (the caller makes them durable before any Redis effect)."""
        creates = [r.value for r in records if r.topic == "post-created"]
        deletes = [r.value for r in records if r.topic == "post-deleted"]
        if not creates and not deletes:
            return [], {}, []
        authors = {e["author_id"] for e in creates + deletes}
        known, tiers, counts = await asyncio.gather(
            self._posts.known(e["post_id"] for e in creates + deletes),
            self._posts.tiers(authors),
            self._reader.follower_counts(authors),
        )
        decided: dict[str, Delivery] = {}
        effects: list[PostEffect] = []
        writes: list[tuple[Any, Any]] = []
        for event in creates:
            recorded = known.get(event["post_id"])
            if recorded is not None and recorded.deleted:
                continue
            if recorded is None:
                author = event["author_id"]
                tier = self._tier(counts.get(author, 0), decided.get(author, tiers.get(author)))
                decided[author] = tier
                recorded = DeliveredPost(author, event["post_id"], event.get("visibility") or "public", tier, False)
                known[recorded.post_id] = recorded
                writes += self._posts.created(recorded, int(event["occurred_at"]))
            effects.append(PostEffect(recorded, added=True))
        for event in deletes:
            writes += self._posts.deleted(event["author_id"], event["post_id"], int(event["occurred_at"]))
            recorded = known.get(event["post_id"])
            if recorded is not None and not recorded.deleted:
                effects.append(PostEffect(recorded, added=False))
        writes += [self._posts.tier(a, t) for a, t in decided.items() if tiers.get(a) != t]
        return effects, counts, writes

    def _tier(self, follower_count: int, previous: Delivery | None) -> Delivery:
        return delivery_tier(follower_count, previous, self._settings.celebrity_threshold,
                             self._settings.celebrity_low_mark)

    # --- Redis effects ----------------------------------------------------------------------------------------
    def _pushed(self, effects: list[PostEffect], follower_counts: dict[str, int]) -> dict[str, list[PostEffect]]:
        """The effects pushed into followers' feeds, by author: public posts of push-tier authors who have
        followers (authors without any cost no follower read)."""
        by_author: dict[str, list[PostEffect]] = defaultdict(list)
        for effect in effects:
            post = effect.post
            if post.visibility != "private" and post.delivery != "pull" and follower_counts.get(post.author_id, 0):
                by_author[post.author_id].append(effect)
        return by_author

    async def _audience_of_few(self, pushed: dict[str, list[PostEffect]]) -> Audience:
        """The followers of every author with at most a page of followers (nearly all of them), and whom their
        posts skip, in one read each for the whole batch instead of one each per author."""
        if not pushed:
            return Audience({}, {})
        followers = await self._reader.followers_of_many(pushed)
        posting = {a: fs for a, fs in followers.items() if any(e.added for e in pushed[a])}
        skipped = await self._safety.skipped_followers_of_many(posting) if self._safety and posting else {}
        return Audience(followers, skipped)

    async def _fan_out(self, effects: list[PostEffect], pushed: dict[str, list[PostEffect]],
                       few: dict[str, list[PostEffect]], audience: Audience) -> None:
        """Own feed always; then followers' feeds (``pushed``: :meth:`_pushed`; ``few`` of them with
        ``audience`` already read) or the author's pull set (pull). Private posts reach only the author's own
        feed."""
        own_adds: dict[str, list[str]] = defaultdict(list)
        own_removes: dict[str, list[str]] = defaultdict(list)
        for effect in effects:
            post = effect.post
            (own_adds if effect.added else own_removes)[post.author_id].append(post.post_id)
            if post.visibility == "private":
                continue
            if post.delivery == "pull":
                if effect.added:
                    if not await self._cache.pull_add(post.author_id, [post.post_id]):
                        # not built (a first pull post, or Redis lost it): from the durable record, which holds
                        # this post already (step 2), so no older pull post goes missing from the set
                        derived = await expected_pull_set(self._posts, post.author_id, self._settings.feed_cap)
                        await self._cache.replace_pull(post.author_id, derived.post_ids, derived.cut,
                                                       only_if_missing=True)
                else:
                    await self._cache.pull_remove(post.author_id, [post.post_id])
        await self._cache.add(own_adds)
        await self._cache.remove(own_removes)
        await asyncio.gather(self._push_to_few(few, audience),
                             *(self._push(author, found) for author, found in pushed.items() if author not in few))

    async def _push_to_few(self, pushed: dict[str, list[PostEffect]], audience: Audience) -> None:
        """Authors with at most a page of followers, their audience read for the whole batch: one cache call
        for every feed touched."""
        if not pushed:
            return
        followers, skipped = audience.followers, audience.skipped
        adds: dict[str, list[str]] = defaultdict(list)
        removes: dict[str, list[str]] = defaultdict(list)
        for author, effects in pushed.items():
            added = [e.post.post_id for e in effects if e.added]
            removed = [e.post.post_id for e in effects if not e.added]
            hidden = skipped.get(author, set())
            reached = [f for f in followers[author] if f not in hidden] if added else []
            for follower in reached:
                adds[follower] += added
            for follower in followers[author] if removed else []:
                removes[follower] += removed
            for _ in added:  # the fan-out size of each pushed post, as _push observes it
                FANOUT_FOLLOWERS.observe(len(reached))
        await self._cache.add(adds)
        await self._cache.remove(removes)

    async def _push(self, author_id: str, effects: list[PostEffect]) -> None:
        adds = [e.post.post_id for e in effects if e.added]
        removes = [e.post.post_id for e in effects if not e.added]
        reached = 0
        async for followers in self._reader.follower_pages(author_id, self._settings.fanout_page_size):
            if adds:
                # one bulk read per page of followers: who blocked, is blocked by or muted the author
                skipped = await self._safety.skipped_followers(author_id, followers) if self._safety else set()
                pushed_to = dict.fromkeys((f for f in followers if f not in skipped), adds)
                reached += len(pushed_to)
                await self._cache.add(pushed_to)
            if removes:
                await self._cache.remove(dict.fromkeys(followers, removes))
        for _ in adds:  # the fan-out size of each pushed post (a replay observes it again)
            FANOUT_FOLLOWERS.observe(reached)

    async def _settle_pairs(self, pairs: dict[Pair, bool]) -> None:
        """Each touched pair's outcome: a follower's feed gains the followee's newest posts (back-fill, up
        to the cap) or loses them all (unfollow)."""
        hidden = await self._hidden_pairs([pair for pair, following in pairs.items() if following])
        kept = {pair for pair, following in pairs.items() if following and pair not in hidden}
        cap = self._settings.feed_cap
        # a back-fill takes the followee's newest live pushed posts (what a rebuild derives); a removal also
        # takes the deleted ones, since the feed may still hold a post deleted in this very batch (an account
        # deletion unfollows and deletes together, and the delete's fan-out no longer finds this follower)
        live_of = sorted({followee for _, followee in kept})
        all_of = sorted({followee for pair in pairs if pair not in kept for followee in pair[1:]})
        found = await asyncio.gather(*(self._posts.newest_matching(f, cap, pushed_live) for f in live_of),
                                     *(self._posts.newest_matching(f, cap, pushed) for f in all_of))
        live, everything = dict(zip(live_of, found[:len(live_of)], strict=True)), \
            dict(zip(all_of, found[len(live_of):], strict=True))
        changes = FeedChanges()
        for (follower, followee) in pairs:
            if (follower, followee) in kept:
                changes.add(follower, live[followee])
            else:
                changes.remove(follower, everything[followee])
        await changes.apply(self._cache)

    async def _hidden_pairs(self, pairs: list[Pair]) -> set[Pair]:
        """Follows whose back-fill is skipped, as the fan-out skips them: the follower muted the followee or
        they are in a block (the followers' relations read together)."""
        if self._safety is None or not pairs:
            return set()
        by_follower: dict[str, list[str]] = defaultdict(list)
        for follower, followee in pairs:
            by_follower[follower].append(followee)
        hidden = await self._safety.hidden_authors_of_many(by_follower)
        return {(f, h) for f, authors in hidden.items() for h in authors}
