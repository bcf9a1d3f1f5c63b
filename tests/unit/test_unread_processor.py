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

    async def load_users(self, users: Any) -> dict[str, dict[str, PairMarks]]:
        self.loads += 1
        return {u: {s: m for (owner, s), m in self.stored.items() if owner == u} for u in users}

    async def write(self, changed: dict[Pair, PairMarks]) -> None:
        if self.fail:
            raise RuntimeError("Cassandra timed out")
        self.writes.append(changed)
        self.stored |= changed

    fail = False


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


async def test_a_loop_remembers_its_users_partitions_until_a_rebalance_and_never_a_failed_write() -> None:
    me, a, b = new_id(), new_id(), new_id()
    m1, m2, m3 = sorted(new_id() for _ in range(3))
    pairs, sets, redis = Pairs({}), Sets(), CountingRedis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]
    processor = UnreadProcessor(pairs, sets, redis)  # type: ignore[arg-type]
    await processor.process([unsent(1, a, me, m1)], lambda r, e: None)
    await processor.process([unsent(2, b, me, m2)], lambda r, e: None)
    assert pairs.loads == 1  # the second batch found the user's partition in memory
    assert [s for (_, s), m in sets.projected[-1].items() if m.unread] == [b]
    pairs.fail = True  # the write fails: memory must not run ahead of Cassandra
    try:
        await processor.process([read(3, me, a, m3)], lambda r, e: None)
    except RuntimeError:
        pass
    pairs.fail = False
    await processor.process([read(3, me, a, m3)], lambda r, e: None)  # the retry still writes the mark
    assert pairs.writes[-1] == {(me, a): PairMarks(m1, m3)} and pairs.loads == 1
    pairs.stored[(me, b)] = PairMarks(m2, m3)  # meanwhile another owner wrote a pair (a rebalance moved it)
    processor.partitions_moved()
    await processor.process([unsent(4, b, me, m2)], lambda r, e: None)
    assert pairs.loads == 2  # after the rebalance the partition is read again ...
    assert pairs.writes[-1] == {}  # ... so the duplicate changes nothing and the other owner's mark is seen
    assert sets.projected[-1] == {(me, b): PairMarks(m2, m3)}
