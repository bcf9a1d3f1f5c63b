"""The extraction adapter: post-created → post-hashtag adds; post-deleted → retractions.

It remembers each tagged post's tags in Cassandra (``post_hashtags``) before emitting, so a later delete can
retract them; creates and deletes of one author share a partition, so a delete is never seen before its create.
Emitted events have deterministic ids and are acknowledged before the source offsets are committed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cassandra.cluster import Session

from producers.events import build
from producers.publisher import Publisher
from sinks.cassandra import execute
from streams.engine.records import Record, Reject
from streams.hashtags.extraction import on_post_created, on_post_deleted


class HashtagExtractor:
    name: str = "hashtag-extractor"
    topics: tuple[str, ...] = ("post-created", "post-deleted")

    def __init__(self, session: Session, publisher: Publisher) -> None:
        self._session = session
        self._publisher = publisher
        self._remember = session.prepare(
            "INSERT INTO post_hashtags (post_id, author_id, tags, created_at) VALUES (?, ?, ?, ?)")
        self._forget = session.prepare("UPDATE post_hashtags SET deleted = true WHERE post_id = ?")
        self._recall = session.prepare("SELECT post_id, author_id, tags, created_at FROM post_hashtags "
                                       "WHERE post_id = ?")

    async def _recall_posts(self, post_ids: set[str]) -> dict[str, dict[str, Any]]:
        rows = await asyncio.gather(*(execute(self._session, self._recall, (p,)) for p in post_ids))
        posts = {}
        for result in rows:
            row = result.one()
            if row is not None:
                posts[row.post_id] = {"post_id": row.post_id, "author_id": row.author_id,
                                      "tags": list(row.tags or []),
                                      "created_at": int(row.created_at.timestamp() * 1000)}
        return posts

    async def process(self, batch: list[Record], reject: Reject) -> None:
        created: dict[str, dict[str, Any]] = {}
        outgoing: list[tuple[Record, dict[str, Any]]] = []
        writes: list[tuple[Any, tuple[Any, ...]]] = []
        deletes = [r for r in batch if r.topic == "post-deleted"]
        known = await self._recall_posts({r.value["post_id"] for r in deletes})
        for record in batch:
            if record.topic == "post-created":
                post, adds = on_post_created(record.value)
                if post["tags"]:
                    created[post["post_id"]] = post
                    writes.append((self._remember, (post["post_id"], post["author_id"], post["tags"],
                                                    post["created_at"])))
                outgoing += [(record, event) for event in adds]
            else:
                remembered = created.get(record.value["post_id"]) or known.get(record.value["post_id"])
                if remembered is None:
                    continue  # an untagged (or unknown) post: nothing to retract
                writes.append((self._forget, (remembered["post_id"],)))
                outgoing += [(record, event) for event in on_post_deleted(remembered, record.value)]
        await asyncio.gather(*(execute(self._session, stmt, params) for stmt, params in writes))
        futures = []
        for source, fields in outgoing:
            try:
                futures.append(self._publisher.submit(build("post-hashtag", fields)))
            except ValueError as exc:  # a tag the schema/domain refuses: park the source record
                reject(source, exc)
        for future in futures:
            await asyncio.wrap_future(future)
