"""The ``notifications`` processor: likes, comments (and their deletions), follows, follow requests, people tags
and @mentions → aggregated notifications (Cassandra, then the Redis lists); account deletions → purges; post
deletions → every notification about the post forgotten.

Partitioning: the inputs are keyed differently (likes, comments and tags by post; follows and requests by
followee; posts by author), so no consumer can own a recipient, and repartitioning every event by recipient
through an internal topic would add a produce, a second consume and a second commit per event to buy an
ordering this design does not need. Instead the sink is idempotent and commutative: membership rows
(recipient, kind, target, bucket, actor) are inserted or deleted with the event time as the cell timestamp, and
counts are derived from them (:mod:`sinks.notifications`), never incremented. What remains ordered is what must
be: each group is fed by exactly one topic partition (:mod:`photostream.domain.notifications`), so the one
read-before-write (where an unliking actor was last added) and each group's derive-and-rewrite see that
group's events in log order, owned by one loop (the engine's co-partitioning assignor; all inputs have equal
partition counts). The one exception is a post's deletion (keyed by author): it forgets every group
about the post, which other partitions feed; the post being gone, they are fed nothing after it.

Per batch, in this order (one round trip per step, whatever the batch size):

1. events → drafts (bad ids → DLQ); new posts noted for the other loops (:mod:`sinks.new_posts`);
   recipients resolved: a post's author (posts, Redis-cached; a post not projected yet: a loop's note of its
   creation), an ``@username``'s owner (the usernames table); unresolvable ones (an unknown post or name) are
   dropped;
2. the rules (:func:`photostream.domain.notifications.notifies`): blocks and mutes between each recipient
   and the batch's actors, the follow/privacy facts the visibility rule needs for posts the recipient did not
   write — all prefetched in bulk;
3. coalescing: per (series, actor) one change (a hot post's 1,000 likes are 1,000 rows in one partition);
4. membership written (one single-partition batch per series), groups derived from their slices, aggregate
   rows rewritten — durable before anything else;
5. Redis gets every touched group's absolute outcome (one script per recipient, pinging the status channel
   when the unread count moved); account deletions purge the user's notifications; post deletions forget
   every notification about the post (:meth:`sinks.notifications.NotificationStore.forget_target`); blocks
   and mutes take the other person out of each one's notifications; unfollows, and accounts made private,
   take those about posts the recipient may no longer see (so the badge counts what the list shows); the
   applied marks move.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from photostream.domain.notifications import (
    TAG_KINDS,
    Draft,
    Group,
    MemberChange,
    Recipient,
    Series,
    Signal,
    drafts_of,
    fold,
    mentioned_usernames,
    notifies,
    parse_notification_id,
    target_kind_of,
    without_retracted_add,
    without_superseded_retraction,
)
from photostream.domain.safety import Relation, SafetyChange, safety_change
from photostream.domain.visibility import may_see
from photostream.settings import Settings
from producers.ids import is_recurring_id
from sinks import keys, new_posts, offsets, parted_pairs
from sinks.comment_mentions import CommentMentions
from sinks.notification_lists import NotificationLists
from sinks.notifications import GroupChange, NotificationStore, StoredActors, stored_of
from sinks.photo_tags import PhotoTagReads
from sinks.post_lists import AuthorPosts
from sinks.posts import post_from_row, read_post_rows, read_posts_cached
from sinks.redis_bulk import exist_many
from sinks.revocations import closed_among
from sinks.safety import SafeAudience
from sinks.usernames import UsernameDirectory
from streams.engine.records import Record, Reject, accepted
from streams.resources import Resources

#: how many of a user's newest notifications a block looks through for the other person
PARTED_SCANNED = 1000
#: how many of a user's unread notifications an unfollow looks through for the unfollowed person's posts
UNFOLLOW_SCANNED = 200
#: followers whose unread notifications are read at the same time (an account's purge unfollows thousands)
UNFOLLOW_READS_AT_ONCE = 32
#: how many of a private account's newest posts a profile update looks through for strangers' notifications
PRIVATE_SCANNED_POSTS = 100
#: how long a switch to private is shared with every loop (:func:`keys.made_private`): far longer than the
#: profiles projector lags, and a switch back to public deletes it at once
MADE_PRIVATE_SHARED_S = 3600
#: how long a batch with tag removals waits for the photo_tags processor to have applied them
TAGS_CATCH_UP_S = 5.0
TOPICS = ("like-changed", "comment-added", "comment-deleted", "follow-changed", "follow-requested",
          "photo-tag-changed", "post-created", "post-deleted", "block-changed", "mute-changed", "account-deleted",
          "profile-updated")

Post = dict[str, Any]


class NotificationsProcessor:
    name: str = "notifications"
    topics: tuple[str, ...] = TOPICS
    #: people expect a like to show within a second or two; a longer window coalesces hot posts better
    flush_interval_s: float = 0.2

    def __init__(self, settings: Settings, store: NotificationStore, lists: NotificationLists,
                 audience: SafeAudience, usernames: UsernameDirectory, session: Any, redis: Any) -> None:
        self._bucket_ms = settings.notification_bucket_s * 1000
        self._shown = settings.notification_actors_shown
        self._store = store
        self._lists = lists
        self._audience = audience
        self._usernames = usernames
        self._session = session
        self._redis = redis
        self._tags = PhotoTagReads(session)
        self._author_posts = AuthorPosts(session)
        self._comment_mentions = CommentMentions(session)

    @classmethod
    def on(cls, resources: Resources, store: NotificationStore | None = None) -> NotificationsProcessor:
        """Built on a process's shared clients: the worker's, a benchmark's (``store`` counting its writes), or
        a test's second loop."""
        settings, session, redis = resources.settings, resources.session, resources.redis
        return cls(settings, store or NotificationStore(session),
                   NotificationLists(redis, settings.app_id, settings.notifications_cap),
                   SafeAudience(session, redis), UsernameDirectory(session), session, redis)

    async def _share_privacy(self, private: dict[str, bool]) -> None:
        """The batch's switches to private (and back), for every loop: the profiles projector may not have
        applied a switch when a mention on the account's post arrives, and a stranger's badge then counted a
        post the list hid. Comments are keyed by post, so the loop applying one may not be this one; written
        before the strangers' notifications are cleared, so a mention read after that finds it."""
        if not private:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for account, is_private in private.items():
                if is_private:
                    pipe.set(keys.made_private(account), 1, ex=MADE_PRIVATE_SHARED_S)
                else:
                    pipe.delete(keys.made_private(account))
            await pipe.execute()

    async def _private_among(self, accounts: set[str]) -> set[str]:
        """Which of ``accounts`` are private: the profiles view, or a switch a loop saw (:meth:`_share_privacy`)."""
        private = await self._audience.private_among(accounts)
        return private | await self._shared_private(accounts - private)

    async def _shared_private(self, accounts: set[str]) -> set[str]:
        """Which of ``accounts`` a loop saw made private (:meth:`_share_privacy`): one ``MGET``."""
        ordered = sorted(accounts)
        seen = await exist_many(self._redis, [keys.made_private(account) for account in ordered])
        return {account for account, found in zip(ordered, seen, strict=True) if found}

    async def _unless_made_private_meanwhile(self, taken_as_public: set[str]) -> None:
        """Authors this batch took as public (their posts' mentions and tags reached strangers) whose switch to
        private another loop shared since: that loop may have cleared strangers' notifications before this
        batch wrote its own, so they are cleared here too. Checked after the write, this closes the race: a
        share seen here is cleared here, and a share not seen yet comes before that loop's clear, which then
        finds this batch's notifications."""
        if taken_as_public and (made_private := await self._shared_private(taken_as_public)):
            await self._out_of_strangers_sight(sorted(made_private))

    async def process(self, batch: list[Record], reject: Reject) -> None:
        drafts: list[Draft] = []
        deleted: list[str] = []
        known_posts: dict[str, Post] = {}
        authors: dict[str, str] = {}
        gone_posts: list[str] = []
        fresh: list[str] = []  # the batch's posts created lately (not a replay's): noted for the other loops
        retagged: list[Record] = []  # the batch's tag removals and approvals
        blocks: list[SafetyChange] = []
        safety: list[SafetyChange] = []  # every block and mute toggle of the batch, in log order
        follows: dict[tuple[str, str], bool] = {}  # (follower, followee) → following after the batch
        private: dict[str, bool] = {}  # account → private after the batch
        mentioning: dict[str, list[str]] = {}  # comment id → the names it mentions
        commented_at: dict[str, int] = {}  # comment id → when it was made (epoch ms)
        uncommented: list[dict[str, Any]] = []  # the batch's comment deletions
        for record, found, purged in accepted(batch, _meaning, reject):
            drafts += found
            if purged is not None:
                deleted.append(purged)
            event = record.value
            if record.topic == "comment-added" and (names := mentioned_usernames(event["text"])):
                mentioning[event["comment_id"]] = names
                commented_at[event["comment_id"]] = int(event["occurred_at"])
            elif record.topic == "comment-deleted":
                uncommented.append(event)
            if record.topic == "post-created":  # mentions need the post before the posts view has it
                known_posts[event["post_id"]] = {"post_id": event["post_id"], "author_id": event["author_id"],
                                                 "visibility": event["visibility"]}
                if new_posts.recent(int(event["occurred_at"])):
                    fresh.append(event["post_id"])
            elif record.topic == "post-deleted":
                gone_posts.append(event["post_id"])
            elif record.topic in ("block-changed", "mute-changed"):
                change = safety_change("block" if record.topic == "block-changed" else "mute", event)
                safety.append(change)
                if change.on and change.target_kind == "user":
                    blocks.append(change)
            elif record.topic == "follow-changed":
                follows[event["follower_id"], event["followee_id"]] = event["action"] == "follow"
            elif record.topic == "profile-updated" and is_recurring_id(event["user_id"]):
                private[event["user_id"]] = bool(event.get("is_private"))
            elif record.topic == "photo-tag-changed" and event["action"] in ("remove", "approve"):
                retagged.append(record)
            elif event.get("post_author_id") and is_recurring_id(event["post_author_id"]):  # (likes, comments v2)
                authors[event["post_id"]] = event["post_author_id"]
        await self._share_privacy(private)  # (before the batch's mentions are checked: they may follow it)
        await parted_pairs.note(self._redis, safety)  # (likewise: the batch's acts may follow a block or a mute)
        gone = set(gone_posts)  # (new posts noted for the other loops, and what waited for them taken)
        taken = await new_posts.note(self._redis, {p: known_posts[p] for p in fresh if p not in gone}, gone)
        drafts += taken.drafts
        owners = None  # (read with the posts in _resolve, unless the comments' mentions need them first)
        if mentioning:  # (before the deletions: a comment may come and go in one batch)
            owners = await self._usernames.owners({d.recipient.value for d in drafts if d.recipient.by == "username"})
            await self._comment_mentions.remember(mentioning, owners, commented_at)
        withdrawn, mentioning_gone = await self._mentions_withdrawn(uncommented)
        drafts += withdrawn
        if retagged:
            drafts = await self._without_standing_tags(drafts, retagged)
        if drafts:
            signals, posts = await self._resolve(drafts, known_posts, authors, owners)
            allowed, taken_as_public = await self._allowed(signals, posts)
            await self._apply(allowed)
            await self._unless_made_private_meanwhile(taken_as_public)
        if mentioning_gone:  # (once the withdrawal is applied: a crash before it finds the record again)
            await self._comment_mentions.forget(mentioning_gone)
        await new_posts.release(self._redis, taken)  # (likewise: applied first)
        for user in dict.fromkeys(deleted):
            await self._store.purge(user)
            await self._lists.purge(user)
        await self._forget(dict.fromkeys(gone_posts))
        if blocks:
            await self._part(blocks)
        unfollows = [pair for pair, following in follows.items() if not following]
        if unfollows:
            await self._out_of_sight(unfollows)
        gone_private = [account for account, is_private in private.items() if is_private]
        if gone_private:
            await self._out_of_strangers_sight(gone_private)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))

    async def _mentions_withdrawn(self, deletions: list[dict[str, Any]]) -> tuple[list[Draft], dict[str, int]]:
        """The "mentioned you in a comment" each deleted comment made, withdrawn from the people the processor
        recorded it mentioned (:mod:`sinks.comment_mentions`), and the comments that had such a record, with
        when each was deleted."""
        if not deletions:
            return [], {}
        mentioned = await self._comment_mentions.of(e["comment_id"] for e in deletions)
        drafts = [Draft(Recipient("user", person), "comment_mention", e["post_id"], e["user_id"], False,
                        int(e["occurred_at"]), int(e["commented_at"]), e["comment_id"])
                  for e in deletions for person in sorted(mentioned.get(e["comment_id"], ()))]
        return drafts, {e["comment_id"]: int(e["occurred_at"]) for e in deletions if e["comment_id"] in mentioned}

    async def _without_standing_tags(self, drafts: list[Draft], retagged: list[Record]) -> list[Draft]:
        """The drafts but the withdrawals of a "tagged you" (or "wants to tag you") that still stands on another
        photo of the post: notifications are per post and tags per photo, so an untag (or an approval) of one
        photo withdrew it while another photo still tagged the person (or still waited for their approval).

        The tags are read once the photo_tags processor has applied these very records (bounded wait): read
        before, the removals sent together each saw the others' photos still tagged, and "tagged you" stayed
        for good. Past the bound, the batch's own changes are taken off what is read."""
        wanted: dict[int, int] = {}
        for record in retagged:
            wanted[record.partition] = max(wanted.get(record.partition, -1), record.offset)
        caught_up = await offsets.wait_applied(self._redis, "photo_tags", "photo-tag-changed", wanted,
                                               TAGS_CATCH_UP_S)
        changed = {(r.value["post_id"], r.value["image_id"], r.value["tagged_id"]) for r in retagged}
        tags = await self._tags.of_posts({r.value["post_id"] for r in retagged})
        standing = {(tag.post_id, tag.tagged_id, "tag_request" if tag.pending else "tag")
                    for found in tags.values() for tag in found
                    if caught_up or (tag.post_id, tag.image_id, tag.tagged_id) not in changed}
        added_at = {(tag.post_id, tag.image_id, tag.tagged_id): tag.tagged_at for found in tags.values()
                    for tag in found}
        approved = {(r.value["post_id"], r.value["tagged_id"]): added_at.get(
                        (r.value["post_id"], r.value["image_id"], r.value["tagged_id"]), 0)
                    for r in retagged if r.value["action"] == "approve"}
        return [_as_of_the_request(d, approved) for d in drafts
                if d.present or d.kind not in TAG_KINDS or (d.target_id, d.recipient.value, d.kind) not in standing]

    async def _part(self, blocks: list[SafetyChange]) -> None:
        """A block takes each of the two out of the other's notifications, from the block's time: the list hid
        them at read, but the badge kept counting them (a mention from someone who then blocked you: a "1" over
        an empty list), and a group's count kept the blocked member. What their unlikes, unfollows and comment
        deletions withdraw anyway is withdrawn here too, at once. A group that counts more actors than it names
        is asked by key whether the other is among the rest (groups are keyed by recipient and target, not by
        actor: a member not among the newest shown stayed counted, as "and 41 others"). A mute takes the
        muted person out of the muter's notifications the same way (one direction; an unmute brings back none of
        them, as an unblock does not: the badge had counted them under an empty list)."""
        changes: list[MemberChange] = []
        about_posts: list[tuple[str, str, Series]] = []  # (recipient, the other person, a post series)
        unnamed: dict[tuple[Group, str], int] = {}  # (a group naming fewer than it counts, the other) → when
        for block in blocks:
            pairs = ((block.actor_id, block.target_id), (block.target_id, block.actor_id))
            for recipient, other in pairs if block.kind == "block" else pairs[:1]:
                for item in await self._store.page(recipient, None, PARTED_SCANNED):
                    series = Series(recipient, item.kind, item.target_id)
                    group = Group(series, parse_notification_id(item.id)[0])
                    if other in item.actors:
                        changes.append(MemberChange(series, other, block.occurred_at, None, group.bucket))
                        continue
                    if item.actor_count > len(item.actors):
                        unnamed[(group, other)] = block.occurred_at
                    if block.kind == "block" and target_kind_of(item.kind) == "post":
                        about_posts.append((recipient, other, series))
        for group, other in await self._store.members_among(list(unnamed)):
            changes.append(MemberChange(group.series, other, unnamed[(group, other)], None, group.bucket))
        if changes:
            await self._write(changes, {})
        if about_posts:  # a third person's comment mentioning you on the other's post: hidden, and counted
            await self._forget_posts_of_the_other(about_posts)

    async def _forget_posts_of_the_other(self, about_posts: list[tuple[str, str, Series]]) -> None:
        """A block also takes each one's notifications about the other's posts, whoever acted (a comment
        mentioning you on a post of someone who then blocked you, or whom you blocked: the list hid it, the badge
        kept a "1" over an empty screen)."""
        found = await read_posts_cached(self._session, self._redis, sorted({s.target_id for _, _, s in about_posts}))
        author = {post["post_id"]: post["author_id"] for post in found if post is not None}
        await self._forget_series({s for _, other, s in about_posts if author.get(s.target_id) == other})

    async def _out_of_sight(self, unfollows: list[tuple[str, str]]) -> None:
        """An unfollow takes the follower's unread notifications about the unfollowed person's posts that the
        follower may no longer see: a followers-only post, or any post of a private account (a mention in its
        caption, a comment there mentioning them, a people tag). The list hid them at read, and the badge kept
        counting them: a "1" over an empty screen. As after a block, a new follow brings back none of them.

        Only unread ones, as Redis holds them above the read mark (:data:`UNFOLLOW_SCANNED` at most): the badge
        counts nothing else, and an unfollow (unlike a block) is common, so it costs Redis reads, not a page of
        Cassandra rows. A read one stays stored, hidden at read as before."""
        gate = asyncio.Semaphore(UNFOLLOW_READS_AT_ONCE)

        async def unread_about_posts(follower: str) -> list[Series]:
            async with gate:
                mark = await self._lists.read_mark(follower)
                unread = await self._lists.newer_than(follower, mark, UNFOLLOW_SCANNED)
            return [Series(follower, n.kind, n.target_id) for n in unread if target_kind_of(n.kind) == "post"]

        followers = sorted({follower for follower, _ in unfollows})
        unread = dict(zip(followers, await asyncio.gather(*(unread_about_posts(f) for f in followers)), strict=True))
        about_posts = [(follower, followee, s) for follower, followee in unfollows for s in unread[follower]]
        if not about_posts:
            return
        found = await read_posts_cached(self._session, self._redis, sorted({s.target_id for _, _, s in about_posts}))
        posts = {post["post_id"]: post for post in found if post is not None}
        private = await self._audience.private_among({followee for _, followee, _ in about_posts})
        await self._forget_series({
            s for follower, followee, s in about_posts
            if (post := posts.get(s.target_id)) is not None and post["author_id"] == followee
            and not may_see(follower, followee, str(post.get("visibility") or "public"), False, followee in private)})

    async def _out_of_strangers_sight(self, accounts: list[str]) -> None:
        """A private account's newest posts' notifications leave the lists and badges of everyone who does not
        follow it: they may no longer see those posts (a mention in a caption, a comment there mentioning them,
        a people tag), so the list hid them at read while the badge kept counting them. As after a block,
        switching back to public brings none back. Its newest :data:`PRIVATE_SCANNED_POSTS` posts only: those
        are what a badge counts, and a profile update of a private account (any edit, made private or not: the
        event says the state, not the change) must not read a whole grid's notifications."""
        posts = await asyncio.gather(*(self._author_posts.newest(a, PRIVATE_SCANNED_POSTS, None) for a in accounts))
        about = [(account, post_id) for account, ids in zip(accounts, posts, strict=True) for post_id in ids]
        found = await asyncio.gather(*(self._store.series_about(post_id) for _, post_id in about))
        strangers: dict[str, set[str]] = defaultdict(set)  # recipient → the private accounts they were told about
        series: list[tuple[str, Series]] = []
        for (account, _), about_post in zip(about, found, strict=True):
            for s in about_post:
                if s.recipient != account:
                    strangers[s.recipient].add(account)
                    series.append((account, s))
        if not series:
            return
        recipients = sorted(strangers)
        followed = dict(zip(recipients, await asyncio.gather(
            *(self._audience.followed_among(r, strangers[r]) for r in recipients)), strict=True))
        await self._forget_series({s for account, s in series if account not in followed[s.recipient]})

    async def _forget_series(self, series: set[Series]) -> None:
        """These series gone, durably and from the Redis lists (which ping the recipients' badges)."""
        if not series:
            return
        outcomes: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        for group in await self._store.forget_series(sorted(series, key=lambda s: (s.recipient, s.kind, s.target_id))):
            outcomes[group.series.recipient].append((group.id, None))
        await self._lists.project(outcomes)

    async def _forget(self, post_ids: Iterable[str]) -> None:
        """A deleted post's notifications go, for everyone who had one (they stayed, hidden at read but counted
        by the badge, which only a mark-read brought down): after this batch's own adds, so a like applied in
        the same batch goes with them."""
        outcomes: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        for post_id in post_ids:
            for group in await self._store.forget_target(post_id):
                outcomes[group.series.recipient].append((group.id, None))
        await self._lists.project(outcomes)

    async def _resolve(self, drafts: list[Draft], known: dict[str, Post], authors: dict[str, str],
                       owners: dict[str, str] | None = None) -> tuple[list[Signal], dict[str, Post]]:
        """Signals with their recipients, and the posts they are about (present ones only). ``owners``: the
        mentioned names' holders, if the batch read them already.

        A post the posts view does not have yet (its projector is seconds behind after a worker restart) is
        taken from a loop's note of its creation (:mod:`sinks.new_posts`), or else addressed by the author its
        likes and comments name (``post_author_id``, v2: the API's; known that way only to its author, as an
        author-only post), or else its notifications wait for it: dropping them lost "liked your photo" for
        good. A post with a row is what its row says: a deleted one notifies no one."""
        post_ids = sorted({d.target_id for d in drafts if d.recipient.by == "author_of" or d.kind in
                           ("tag", "tag_request", "comment_mention")} - known.keys())
        names = {d.recipient.value for d in drafts if d.recipient.by == "username"}
        found, owners = await asyncio.gather(read_posts_cached(self._session, self._redis, post_ids),
                                             self._usernames.owners(names) if owners is None else _given(owners))
        posts = known | {p["post_id"]: p for p in found if p is not None}
        missing = [post_id for post_id in post_ids if post_id not in posts]
        if missing:
            posts |= await self._not_projected_yet(drafts, missing, authors)
        signals: list[Signal] = []
        for draft in drafts:
            by, value = draft.recipient.by, draft.recipient.value
            if by == "user":
                recipient: str | None = value
            elif by == "author_of":
                recipient = posts[value]["author_id"] if value in posts else None
            else:
                recipient = owners.get(value)
            if recipient is not None:
                post = posts.get(draft.target_id)
                signals.append(draft.resolved(recipient, post["author_id"] if post is not None else None))
        return signals, posts

    async def _not_projected_yet(self, drafts: list[Draft], missing: list[str],
                                 authors: dict[str, str]) -> dict[str, Post]:
        """Posts the posts view does not have (deleted ones aside: they have a row): from a loop's note of their
        creation, else by the author their events name. The notifications about a post known neither way (to its
        author, or a tag or mention that needs it) are parked for the loop that sees it created
        (:mod:`sinks.new_posts`)."""
        noted, rows = await asyncio.gather(new_posts.noted(self._redis, missing),
                                           read_post_rows(self._session, missing))  # (rows: deleted ones too)
        posts: dict[str, Post] = {}
        for post_id in missing:
            if post_id in rows:  # deleted, or projected since the view was read: the row says which (taken as
                # deleted, a post projected in between notified nobody, for good: the SIGKILL fault test's
                # oracle found comments lost that way while a restarted projector caught up)
                if (post := post_from_row(rows[post_id])) is not None:
                    posts[post_id] = post
            elif post_id in noted:
                posts[post_id] = noted[post_id]
            elif post_id in authors:
                posts[post_id] = {"post_id": post_id, "author_id": authors[post_id], "visibility": "private"}
        unknown = set(missing) - posts.keys() - rows.keys()
        return posts | await new_posts.park(self._redis, [d for d in drafts if d.target_id in unknown])

    async def _allowed(self, signals: list[Signal], posts: dict[str, Post]) -> tuple[list[Signal], set[str]]:
        """The signals the rules let through (facts prefetched in bulk: one query set per recipient), and the
        authors of others' posts it took as public. None from an account whose deletion was accepted: its like,
        follow or mention published as it was deleted was applied after the purge, naming nobody for good."""
        closed = await closed_among(self._redis, self._session, {s.actor for s in signals if s.present})
        signals = [s for s in signals if not (s.present and s.actor in closed)]
        adds = [s for s in signals if s.present and s.actor != s.recipient]
        actors: dict[str, set[str]] = defaultdict(set)
        for s in adds:
            actors[s.recipient].add(s.actor)
        # whose posts a recipient needs a follow/privacy fact for: posts they did not write
        authors: dict[str, set[str]] = defaultdict(set)
        for s in adds:
            post = posts.get(s.target_id) if s.target_kind == "post" else None
            if post is not None and post["author_id"] != s.recipient:
                authors[s.recipient].add(post["author_id"])
        recipients = sorted(actors)
        parted, relations = await asyncio.gather(
            parted_pairs.parted_among(self._redis, actors),
            asyncio.gather(*(self._relations(r, actors[r] | authors[r]) for r in recipients)))
        followed = await asyncio.gather(*(self._audience.followed_among(r, authors[r]) if authors[r] else _none()
                                          for r in recipients))
        wanted = {a for r in recipients for a in authors[r]}
        private = await self._private_among(wanted)
        by_recipient = dict(zip(recipients, zip(relations, followed, strict=True), strict=True))
        allowed: list[Signal] = []
        for s in signals:
            if not s.present:
                allowed.append(s)
                continue
            rels, follows = by_recipient.get(s.recipient, ({}, set()))
            if s.actor in parted.get(s.recipient, ()):
                continue  # (a block or a mute read by this processor, not yet by the relations: see sinks.parted_pairs)
            if notifies(s, rels.get(s.actor), self._may_see(s, posts, rels, follows, private)):
                allowed.append(s)
        return allowed, wanted - private

    async def _relations(self, recipient: str, others: Iterable[str]) -> dict[str, Relation]:
        return await self._audience.safety.relations(recipient, others)

    @staticmethod
    def _may_see(s: Signal, posts: dict[str, Post], rels: dict[str, Relation], follows: set[str],
                 private: set[str]) -> bool:
        post = posts.get(s.target_id) if s.target_kind == "post" else None
        if post is None:
            return s.target_kind != "post"  # a post that is gone (or never was) notifies no one
        author = post["author_id"]
        relation = rels.get(author)
        blocked = relation is not None and (relation.i_block or relation.blocks_me)
        return may_see(s.recipient, author, str(post.get("visibility") or "public"), author in follows,
                       author in private, blocked)

    async def _apply(self, signals: list[Signal]) -> None:
        changes = fold(signals)
        # where each retracted actor was last added, and whether a standing one (a like, a follow) is a member
        # already: a repeated like or follow then changes nothing (it re-notified, and an unlike withdrew only
        # the newest of two groups); and, for every add, when it was last retracted: an approval's "accepted
        # your follow request" applied after the unfollow that withdrew it stood for good (only standing kinds
        # were asked, and it is not one; the fault tests found it)
        asked = [(c.series, c.actor) for c in changes
                 if (c.retract_at is not None and c.retract_from_at is None)
                 or (c.add_at is not None and c.comment_id is None)]
        stored = await self._store.stored_actors(asked) if asked else StoredActors({}, {})
        latest = stored.adds
        kept = (without_superseded_retraction(c, latest[(c.series, c.actor)].written
                                              if (c.series, c.actor) in latest else None) for c in changes)
        # (and without an add older than a retraction an earlier batch applied: a like redriven after its unlike)
        kept = (without_retracted_add(c, stored.retracted.get((c.series, c.actor))) if c is not None else None
                for c in kept)
        changes, repeated = [], set()
        for change in kept:
            if change is not None and change.repeats_standing and (change.series, change.actor) in latest:
                repeated.add(Group(change.series, latest[(change.series, change.actor)].bucket))
            elif change is not None:
                changes.append(change)
        await self._write(changes, {key: add.bucket for key, add in latest.items()}, repeated)

    async def _write(self, changes: list[MemberChange], stored: dict[tuple[Series, str], int],
                     repeated: set[Group] | frozenset[Group] = frozenset()) -> None:
        """Membership durable first, then each touched group derived, its row rewritten and its Redis copy.
        ``repeated``: the groups of adds that changed nothing (the actor is a member already), derived whole all
        the same: a batch stopped after its membership write and before its projection is replayed, and its adds
        are repeats then; skipped, they left the group's row and Redis copy without the newest actor for good."""
        touched = await self._store.apply_members(changes, stored, self._bucket_ms)
        for group in repeated - touched.keys():
            touched[group] = GroupChange(retracted=True)  # (read whole: the stored row may be the stale one)
        derived = await self._store.derive(touched, self._shown)
        await self._store.write_aggregates(derived)
        outcomes: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        for group, item in derived.items():
            recipient = group.series.recipient
            outcomes[recipient].append((group.id, stored_of(recipient, item) if item is not None else None))
        await self._lists.project(outcomes)
        await self._withdraw_parted_meanwhile(changes)

    async def _withdraw_parted_meanwhile(self, changes: list[MemberChange]) -> None:
        """The adds just written whose actor a block or a mute noted since the rules were asked (another loop
        read it: :mod:`sinks.parted_pairs`), withdrawn again. Asked once the groups' rows are written: a loop
        that notes a change after this question scans those rows after they name the actor, so one of the two
        loops finds it (before, an add written while the other loop scanned stayed). Each is deleted at its own
        add's time, which the deletion wins."""
        adds = [c for c in changes if c.add_at is not None]
        wanted: dict[str, set[str]] = defaultdict(set)
        for change in adds:
            wanted[change.series.recipient].add(change.actor)
        parted = await parted_pairs.parted_among(self._redis, wanted)
        late = [MemberChange(c.series, c.actor, c.add_at, None, c.add_at) for c in adds
                if c.actor in parted.get(c.series.recipient, ())]
        if late:
            await self._write(late, {})


def _meaning(record: Record) -> tuple[Record, list[Draft], str | None]:
    """The record, the drafts it makes and, for an account deletion, the user to purge; ``ValueError`` (→ DLQ)
    for a record no client could have sent."""
    if record.topic == "account-deleted":
        if not is_recurring_id(record.value["user_id"]):
            raise ValueError("user_id: not an id")
        return record, [], record.value["user_id"]
    if record.topic == "post-deleted" and not is_recurring_id(record.value["post_id"]):
        raise ValueError("post_id: not an id")
    if record.topic in ("block-changed", "mute-changed"):  # (their checks: ids, not oneself)
        safety_change("block" if record.topic == "block-changed" else "mute", record.value)
    return record, drafts_of(record.topic, record.value), None


async def _none() -> set[str]:
    return set()


async def _given(owners: dict[str, str]) -> dict[str, str]:
    return owners


def _as_of_the_request(draft: Draft, approved: dict[tuple[str, str], int]) -> Draft:
    """An approval's "tagged you" takes the time of the tag it answers (the request's), not the approval's: the
    person's own act made an unread notification, and the badge went up as they approved. Read if they had read
    the request, unread if not, as the request was."""
    if not (draft.present and draft.kind == "tag"):
        return draft
    requested_at = approved.get((draft.target_id, draft.recipient.value), 0)
    return dataclasses.replace(draft, at=requested_at) if 0 < requested_at < draft.at else draft
