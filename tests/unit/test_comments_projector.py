"""The comments projector writes what it is given, rejects what no client could send, then marks offsets."""

from __future__ import annotations

from typing import Any

from producers.ids import new_id
from sinks.comments import Comment
from streams.comments import CommentsProjector
from streams.engine.records import Record
from tests.unit.counting_fakes import CountingRedis


class Writer:
    def __init__(self) -> None:
        self.written: list[Comment] = []

    async def apply(self, comments: Any) -> None:
        self.written += list(comments)


def record(offset: int, **value: Any) -> Record:
    event = {"comment_id": new_id(), "post_id": new_id(), "user_id": new_id(), "text": "nice",
             "occurred_at": 1_700_000_000_000} | value
    return Record("comment-added", 0, offset, None, event)


async def test_good_comments_are_written_and_bad_ones_rejected_then_offsets_marked() -> None:
    writer, redis = Writer(), CountingRedis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]  # the offset mark script
    good, bad = record(1), record(2, post_id="nope")
    rejected: list[Record] = []
    await CommentsProjector(writer, redis).process([good, bad], lambda r, e: rejected.append(r))  # type: ignore[arg-type]
    assert [c.comment_id for c in writer.written] == [good.value["comment_id"]]
    assert writer.written[0].created_at == 1_700_000_000_000
    assert rejected == [bad]
    assert redis.round_trips == 1  # one pipelined mark after the writes
