"""The extraction adapter: post-created → post-hashtag adds; post-deleted → retractions.

It remembers each tagged post's tags in Cassandra (``post_hashtags``) before emitting, so a later delete can
retract them. A delete that arrives before its create (two topics: Kafka orders neither against the other)
leaves a tombstone there, and the late create emits nothing.
Emitted events have deterministic ids and are acknowledged before the source offsets are committed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cassandra.cluster import Session

from photostream.domain.extraction import on_post_created, on_post_deleted
from producers.events import build
from producers.publisher import Publisher
from sinks.cassandra import execute, execute_grouped, ms_of
from streams.engine.records import Record, Reject


class HashtagExtractor:
    name: str = "hashtag-extractor"
    topics: tuple[str, ...] = ("post-created", "post-deleted")
    #: a pass-through adapter: short batches keep post→count latency low
    flush_interval_s: float = 0.2

    def __init__(self, session: Session, publisher: Publisher, publish_timeout_s: float = 10.0) -> None:
        self._session = session
        self._publisher = publisher
        self._publish_timeout_s = publish_timeout_s
        self._remember = session.prepare(
            "INSERT INTO post_hashtags (post_id, author_id, tags, created_at) VALUES (?, ?, ?, ?)")
        self._forget = session.prepare("UPDATE post_hashtags SET deleted = true WHERE post_id = ?")
        self._recall = session.prepare("SELECT post_id, author_id, tags, created_at, deleted FROM post_hashtags "
                                       "WHERE post_id IN ?")

    async def _recall_posts(self, post_ids: set[str]) -> dict[str, dict[str, Any]]:
        """What is remembered of these posts: tags, or ``deleted`` (a tombstone) — one IN query per chunk."""
        chunks = [sorted(post_ids)[i:i + 100] for i in range(0, len(post_ids), 100)]
        results = await asyncio.gather(*(execute(self._session, self._recall, (chunk,)) for chunk in chunks))
        return {row.post_id: {"post_id": row.post_id, "author_id": row.author_id, "tags": list(row.tags or []),
                              "created_at": ms_of(row.created_at) if row.created_at else 0,
                              "deleted": bool(row.deleted)}
                for result in results for row in result}

    async def process(self, batch: list[Record], reject: Reject) -> None:
        """Creates before deletes: across the two topics Kafka gives no order, so a delete may even arrive
        before its create — it then leaves a tombstone, and the late create is ignored."""
        creates = [r for r in batch if r.topic == "post-created"]
        deletes = [r for r in batch if r.topic == "post-deleted"]
        tagged = {r.value["post_id"]: on_post_created(r.value) for r in creates}
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
        await execute_grouped(self._session, writes)
        futures = []
        for source, fields in outgoing:
            try:
                futures.append(self._publisher.submit(build("post-hashtag", fields)))
            except ValueError as exc:  # a tag the schema/domain refuses: park the source record
                reject(source, exc)
        # One flush waits for every acknowledgement (cheaper than awaiting thousands of futures one by one);
        # a failed delivery raises here, so the batch is retried and its offsets are not committed.
        await asyncio.to_thread(self._publisher.flush)
        for future in futures:
            future.result(timeout=self._publish_timeout_s)
