"""The durable hashtag tallies: one Cassandra partition per tag in ``hashtag_state``.

The counter loads each touched tag's state (:meth:`HashtagStateStore.load`), applies a batch in memory with
:mod:`photostream.domain.tally`, then :meth:`HashtagStateStore.save` writes every change of a tag in one
batch, which Cassandra applies to the tag's partition atomically and in isolation. Every save writes the tag's
``post_count`` with its rows, so a tag without one has no rows at all: there is nothing to load for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from cassandra.cluster import Session

from photostream.domain.hashtag_views import Member
from photostream.domain.tally import TagState
from sinks.cassandra import Gated, execute_partitions, key_chunks, ms_of, pages

_IN_CHUNK = 500
_PAGE = 5000


def window_key(start_ms: int) -> str:
    """Window starts as zero-padded text so clustering order is time order."""
    return f"{start_ms:015d}"


class HashtagStateStore:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._run = Gated(session).run
        prepare = session.prepare
        self._q_totals = prepare("SELECT tag, post_count FROM hashtag_state WHERE tag IN ? PER PARTITION LIMIT 1")
        self._q_rows = prepare("SELECT kind, key, present, hidden, audience_as_of, count FROM hashtag_state "
                               "WHERE tag = ? AND kind IN ('p', 'w', 'r') AND key IN ?")
        self._w_total = prepare("UPDATE hashtag_state SET post_count = ? WHERE tag = ?")
        self._w_member = prepare(
            "INSERT INTO hashtag_state (tag, kind, key, author_id, post_created_at, present, hidden, audience_as_of) "
            "VALUES (?, 'p', ?, ?, ?, ?, ?, ?)")
        self._w_count = prepare("INSERT INTO hashtag_state (tag, kind, key, count) VALUES (?, ?, ?, ?)")
        self._q_scan = prepare("SELECT kind, key, author_id, post_created_at, present, hidden, count, post_count "
                               "FROM hashtag_state WHERE tag = ? AND kind IN ('p', 'r')")
        self._q_tags = prepare("SELECT DISTINCT tag FROM hashtag_state")
        self._q_members = prepare("SELECT key, present, hidden FROM hashtag_state WHERE tag = ? AND kind = 'p' "
                                  "AND key IN ?")

    async def counted(self, posts_by_tag: dict[str, set[str]]) -> set[tuple[str, str]]:
        """The (tag, post id) pairs among these where the post counts in the tag now: present, and not hidden
        (a followers-only post, an account turned private). One IN query per tag and 500 posts, concurrently."""
        queries = [(tag, chunk) for tag, posts in posts_by_tag.items() for chunk in key_chunks(posts, _IN_CHUNK)]
        results = await asyncio.gather(*(self._run(self._q_members, (tag, chunk)) for tag, chunk in queries))
        return {(tag, row.key) for (tag, _), rows in zip(queries, results, strict=True) for row in rows
                if row.present and not row.hidden}

    async def totals(self, tags: Iterable[str]) -> dict[str, int]:
        """Each tag's stored ``post_count`` (tags never counted are absent): one IN query per 100 tags, so a
        batch touching thousands of tags does not pay one request per tag for it."""
        results = await asyncio.gather(*(self._run(self._q_totals, (chunk,)) for chunk in key_chunks(tags)))
        return {row.tag: int(row.post_count or 0) for result in results for row in result}

    async def load(self, tag: str, post_ids: Iterable[str], windows: Iterable[int],
                   related: Iterable[str], total: int) -> TagState:
        """The membership of ``post_ids`` and the current counts this batch may touch; ``total``: the tag's
        ``post_count`` (:meth:`totals`)."""
        # Post ids (UUIDs), window keys (digits) and tags (never all digits, no '-') cannot collide, so one
        # IN over all three kinds fetches exactly the rows asked for.
        wanted = [*post_ids, *(window_key(w) for w in windows), *related]
        rows = await self._rows_of(tag, wanted)
        state = TagState(tag, post_count=total)
        for r in rows:
            if r.kind == "p":
                state.members[r.key] = bool(r.present)
                if r.audience_as_of:
                    state.audience[r.key] = (bool(r.hidden), int(r.audience_as_of))
            elif r.kind == "w":
                state.windows[int(r.key)] = int(r.count or 0)
            else:
                state.related[r.key] = int(r.count or 0)
        return state

    async def _rows_of(self, tag: str, keys_: list[str]) -> list[Any]:
        """Rows by key, in IN-lists of bounded size (reads need not be atomic)."""
        chunks = [keys_[i:i + _IN_CHUNK] for i in range(0, len(keys_), _IN_CHUNK)]
        results = await asyncio.gather(*(self._run(self._q_rows, (tag, chunk)) for chunk in chunks))
        return [row for result in results for row in result]

    async def save(self, states: Iterable[TagState]) -> None:
        """Write everything that changed, each tag's changes atomically (one partition: whole in one batch;
        small tags share a request, :func:`sinks.cassandra.execute_partitions`)."""
        await execute_partitions(self._run, [self._writes(state) for state in states if state.dirty])

    def _writes(self, state: TagState) -> list[tuple[Any, tuple[Any, ...]]]:
        writes: list[tuple[Any, tuple[Any, ...]]] = [(self._w_total, (state.post_count, state.tag))]
        for post_id, row in state.changed_members.items():
            writes.append((self._w_member, (state.tag, post_id, row["author_id"], row["post_created_at"],
                                            row["present"], row["hidden"], row["audience_as_of"])))
        for window in state.changed_windows:
            writes.append((self._w_count, (state.tag, "w", window_key(window), state.windows[window])))
        for other in state.changed_related:
            writes.append((self._w_count, (state.tag, "r", other, state.related[other])))
        return writes

    async def snapshot(self, tag: str) -> tuple[int, list[Member], dict[str, int]]:
        """The tag's whole absolute state: total, every membership row, related counts (paged reads).

        What a view is derived from when it is rebuilt, or repaired after a change a delta cannot express.
        """
        post_count, members, related = 0, [], {}
        async for rows in pages(self._session, self._q_scan, (tag,), _PAGE):
            for r in rows:
                post_count = int(r.post_count or 0)
                if r.kind == "p":
                    members.append(Member(r.key, r.author_id or "",  # a hidden post is no member anyone sees
                                          ms_of(r.post_created_at) if r.post_created_at else 0,
                                          bool(r.present) and not r.hidden))
                elif r.count:
                    related[r.key] = int(r.count)
        return post_count, members, related

    async def tags(self) -> list[str]:
        """Every tag ever used (a full scan: for rebuilds, not for the hot path)."""
        found: list[str] = []
        async for rows in pages(self._session, self._q_tags, (), _PAGE):
            found += [r.tag for r in rows]
        return found
