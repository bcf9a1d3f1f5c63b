"""The unread processor: bad records rejected, only changed pairs written durably, every touched pair
projected absolutely, offsets marked last — with fakes for the stores."""

from __future__ import annotations

from typing import Any

from photostream.domain.unread import Pair, PairMarks
from producers.ids import new_id
from streams.engine.records import Record
from streams.unread import UnreadProcessor
from tests.unit.counting_fakes import CountingRedis


class Pairs:
    def __init__(self, stored: dict[Pair, PairMarks]) -> None:
        self.stored, self.loads, self.writes = stored, 0, []  # type: list[dict[Pair, PairMarks]]

    async def load(self, pairs: Any) -> dict[Pair, PairMarks]:
        self.loads += 1
        return {p: self.stored[p] for p in pairs if p in self.stored}

    async def write(self, changed: dict[Pair, PairMarks]) -> None:
        self.writes.append(changed)
        self.stored |= changed


class Sets:
    def __init__(self) -> None:
        self.projected: list[dict[Pair, PairMarks]] = []

    async def project(self, pairs: dict[Pair, PairMarks]) -> int:
        self.projected.append(pairs)
        return len(pairs)


def unsent(offset: int, src: str, dest: str, msg: str) -> Record:
    return Record("ON_MSG_UNSENT", 0, offset, None, {"src": src, "dest": dest, "msg_id": msg})


def read(offset: int, user: str, sender: str, msg: str) -> Record:
    return Record("MESSAGES_READ", 0, offset, None, {"user_id": user, "sender_id": sender, "read_up_to_msg_id": msg})


async def test_a_replayed_batch_writes_nothing_durable_but_still_projects_every_pair() -> None:
    me, a, c = new_id(), new_id(), new_id()
    m1, m2, m3 = sorted(new_id() for _ in range(3))
    pairs, sets, redis = Pairs({}), Sets(), CountingRedis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]  # the offset mark script
    batch = [unsent(1, a, me, m1), unsent(2, c, me, m2), read(3, me, a, m3)]
    processor = UnreadProcessor(pairs, sets, redis)  # type: ignore[arg-type]
    rejected: list[Record] = []
    await processor.process(batch, lambda r, e: rejected.append(r))
    assert pairs.writes == [{(me, a): PairMarks(m1, m3), (me, c): PairMarks(m2, None)}]
    assert not rejected
    await processor.process(batch, lambda r, e: rejected.append(r))  # the same records again
    assert pairs.writes[1] == {}  # nothing changed durably ...
    assert sets.projected[1] == sets.projected[0]  # ... but Redis is re-derived (it may have missed the write)
    assert [s for (_, s), m in sets.projected[1].items() if m.unread] == [c]


async def test_bad_records_are_rejected_and_the_rest_applied() -> None:
    me, a = new_id(), new_id()
    pairs, sets, redis = Pairs({}), Sets(), CountingRedis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]
    bad = [unsent(1, me, me, new_id()), unsent(2, "x", me, new_id()), read(3, me, a, "not-a-uuid")]
    good = unsent(4, a, me, new_id())
    rejected: list[tuple[Record, str]] = []
    await UnreadProcessor(pairs, sets, redis).process([*bad, good],  # type: ignore[arg-type]
                                                      lambda r, e: rejected.append((r, str(e))))
    assert [r for r, _ in rejected] == bad
    assert list(pairs.stored) == [(me, a)]
    assert redis.round_trips == 1  # the offset marks, after the data
