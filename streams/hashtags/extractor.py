"""The extraction adapter: post-created → post-hashtag adds; post-deleted → retractions; an author's account
turning private or public → their posts hidden from or shown again in every tag.

It remembers each tagged post's tags in Cassandra (``post_hashtags``, indexed by author: migration 0020) before
emitting, so a later delete can retract them and a privacy change can hide or show
them. A delete that arrives before its create (two topics: Kafka orders neither against the other) leaves a
tombstone there, and the late create emits nothing. The author's privacy is the adapter's own record
(``hashtag_author_privacy``, last change by ``occurred_at`` wins), so a post is announced iff its author is
public as far as this adapter has seen: a create seen before the privacy change that preceded it is announced
and then hidden by that change — every order ends in the same state. (All three topics are keyed by the
author, so one loop owns an author.)
Emitted events have deterministic ids and are acknowledged before the source offsets are committed; where they
landed is recorded with the applied-offset marks, so a tag page read with a post's ``?after=`` token waits for
the counter to apply them (:data:`api.consistency.TAG_PAGES`).

A deleted post's tags are erased from its row once its retractions are acknowledged (words of a caption its
author deleted, kept for good before); the tombstone keeps the post id, author and time, which fence a late
create. Erased before the acknowledgement, a batch retried after a crash there would find no tags to retract,
and the counts would keep the post for good; after it, a retry re-sends the same retractions (same ids).
"""

from __future__ import annotations

import asyncio
from typing import Any

from cassandra.cluster import Session

from photostream.domain.extraction import on_audience_changed, on_post_created, on_post_deleted
from producers.events import build
from producers.publisher import Publisher
from sinks import offsets
from sinks.cassandra import execute, execute_grouped, key_chunks, ms_of, pages
from streams.engine.records import Record, Reject


def _remembered(row: Any) -> dict[str, Any]:
    """A ``post_hashtags`` row as the domain rules take a post."""
    return {"post_id": row.post_id, "author_id": row.author_id, "tags": list(row.tags or []),
            "created_at": ms_of(row.created_at) if row.created_at else 0, "deleted": bool(row.deleted)}


class HashtagExtractor:
    name: str = "hashtag-extractor"
    topics: tuple[str, ...] = ("post-created", "post-deleted", "profile-updated")
    #: a pass-through adapter: short batches keep post→count latency low
    flush_interval_s: float = 0.2

    def __init__(self, session: Session, publisher: Publisher, redis: Any, publish_timeout_s: float = 10.0) -> None:
        self._session = session
        self._publisher = publisher
        self._redis = redis
        self._publish_timeout_s = publish_timeout_s
        self._remember = session.prepare(
            "INSERT INTO post_hashtags (post_id, author_id, tags, created_at) VALUES (?, ?, ?, ?)")
        self._forget = session.prepare("UPDATE post_hashtags SET deleted = true WHERE post_id = ?")
        self._erase_tags = session.prepare("UPDATE post_hashtags SET tags = null WHERE post_id = ?")
        columns = "post_id, author_id, tags, created_at, deleted"
        self._recall = session.prepare(f"SELECT {columns} FROM post_hashtags WHERE post_id IN ?")
        self._of_author = session.prepare(f"SELECT {columns} FROM post_hashtags WHERE author_id = ?")
        self._privacy = session.prepare("SELECT author_id, is_private, as_of FROM hashtag_author_privacy "
                                        "WHERE author_id IN ?")
        self._set_privacy = session.prepare("INSERT INTO hashtag_author_privacy (author_id, is_private, as_of) "
                                            "VALUES (?, ?, ?) USING TIMESTAMP ?")

    async def _privacy_of(self, authors: set[str]) -> dict[str, tuple[bool, int]]:
        """What this adapter last applied for each author: (is_private, as of)."""
        results = await asyncio.gather(*(execute(self._session, self._privacy, (chunk,))
                                         for chunk in key_chunks(authors)))
        return {row.author_id: (bool(row.is_private), int(row.as_of or 0)) for result in results for row in result}

    async def _authors_posts(self, author: str) -> list[dict[str, Any]]:
        """What is remembered of every tagged post of ``author`` (the table's index on author_id)."""
        return [_remembered(row) async for page in pages(self._session, self._of_author, (author,), 5000)
                for row in page]

    def _privacy_changes(self, records: list[Record], stored: dict[str, tuple[bool, int]]
                         ) -> dict[str, dict[str, Any]]:
        """Per author, the batch's newest profile change, if it is newer than what was applied. A change written
        before profiles had privacy (``is_private`` None: :attr:`TopicSpec.unchanged_unless_written`) says
        nothing of it."""
        newest: dict[str, dict[str, Any]] = {}
        for record in records:
            change = record.value
            if change.get("is_private") is None:
                continue
            author, at = change["user_id"], int(change["occurred_at"])
            if at > stored.get(author, (False, -1))[1] and at > int(newest.get(author, {}).get("occurred_at", -1)):
                newest[author] = change
        return newest

    async def _audience_events(self, changes: dict[str, dict[str, Any]], stored: dict[str, tuple[bool, int]],
                               skip: set[str]) -> list[dict[str, Any]]:
        """Hide or show every remembered post (but ``skip``) of each author whose privacy flipped."""
        flipped = {a: c for a, c in changes.items() if bool(c.get("is_private")) != stored.get(a, (False, 0))[0]}
        if not flipped:
            return []
        indexed = await asyncio.gather(*(self._authors_posts(a) for a in flipped))
        events: list[dict[str, Any]] = []
        for post in (post for posts in indexed for post in posts if post["post_id"] not in skip):
            change = flipped.get(post["author_id"])
            if change is not None and not post["deleted"] and post["tags"]:
                events += on_audience_changed(post, change)
        return events

    async def _recall_posts(self, post_ids: set[str]) -> dict[str, dict[str, Any]]:
        """What is remembered of these posts: tags, or ``deleted`` (a tombstone) — one IN query per chunk."""
        results = await asyncio.gather(*(execute(self._session, self._recall, (chunk,))
                                         for chunk in key_chunks(post_ids)))
        return {row.post_id: _remembered(row) for result in results for row in result}

    async def process(self, batch: list[Record], reject: Reject) -> None:
        """Creates before deletes: across the two topics Kafka gives no order, so a delete may even arrive
        before its create — it then leaves a tombstone, and the late create is ignored. Privacy first: the
        batch's creates are announced by their author's state after the batch."""
        creates = [r for r in batch if r.topic == "post-created"]
        deletes = [r for r in batch if r.topic == "post-deleted"]
        profiles = [r for r in batch if r.topic == "profile-updated"]
        stored = await self._privacy_of({r.value["author_id"] for r in creates} | {r.value["user_id"]
                                                                                  for r in profiles})
        changes = self._privacy_changes(profiles, stored)
        private = {a for a, (is_private, _) in stored.items() if is_private} - changes.keys()
        private |= {a for a, change in changes.items() if change.get("is_private")}
        # announced now only if the author is public after this batch (a flip below hides/shows the rest)
        tagged = {r.value["post_id"]: on_post_created(r.value, r.value["author_id"] in private) for r in creates}
        tagged = {post_id: pair for post_id, pair in tagged.items() if pair[0]["tags"]}
        remembered = await self._recall_posts(set(tagged) | {r.value["post_id"] for r in deletes})
        live: dict[str, dict[str, Any]] = {}
        outgoing: list[tuple[Record, dict[str, Any]]] = []
        writes: list[tuple[Any, tuple[Any, ...]]] = []
        for record in creates:
            post_id = record.value["post_id"]
            if post_id not in tagged or remembered.get(post_id, {}).get("deleted"):
                continue  # untagged, or deleted before we saw it
            post, adds = tagged[post_id]
            live[post_id] = post
            writes.append((self._remember, (post_id, post["author_id"], post["tags"], post["created_at"])))
            outgoing += [(record, event) for event in adds]
        for record in deletes:
            post_id = record.value["post_id"]
            known = live.get(post_id) or remembered.get(post_id)
            writes.append((self._forget, (post_id,)))
            if known and known["tags"]:
                outgoing += [(record, event) for event in on_post_deleted(known, record.value)]
        profile_records = {r.value["user_id"]: r for r in profiles}
        # the batch's own posts were announced (or not) by the author's final state already
        for event in await self._audience_events(changes, stored, set(live) | {r.value["post_id"] for r in deletes}):
            outgoing.append((profile_records[event["author_id"]], event))
        for author, change in changes.items():
            at = int(change["occurred_at"])
            writes.append((self._set_privacy, (author, bool(change.get("is_private")), at, at * 1000)))
        await execute_grouped(self._session, writes)
        emitted = []
        for source, fields in outgoing:
            try:
                emitted.append(build("post-hashtag", fields))
            except ValueError as exc:  # a tag the schema/domain refuses: park the source record
                reject(source, exc)
        # a failed delivery raises here, so the batch is retried and its offsets are not committed
        derived = await self._publisher.acknowledged(emitted, self._publish_timeout_s)
        if deletes:
            await execute_grouped(self._session, [(self._erase_tags, (r.value["post_id"],)) for r in deletes])
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch), derived)
