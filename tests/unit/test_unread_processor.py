"""The unread processor: bad records rejected, only changed pairs written durably, every touched pair
projected absolutely, offsets marked last — with fakes for the stores."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from photostream.domain.unread import Pair, PairMarks
from producers.ids import last_id_at, new_id, now_ms
from sinks import keys
from sinks.unread import PING, applied_at
from streams.engine.records import Record
from streams.unread import UnreadProcessor
from tests.unit.counting_fakes import CountingRedis


class Pairs:
    def __init__(self, stored: dict[Pair, PairMarks]) -> None:
        self.stored, self.loads, self.writes = stored, 0, []  # type: list[dict[Pair, PairMarks]]
        self.failures = 0

    async def load_users(self, users: Any) -> dict[str, dict[str, PairMarks]]:
        self.loads += 1
        partitions: dict[str, dict[str, PairMarks]] = {user: {} for user in users}
        for (user, sender), marks in self.stored.items():
            if user in partitions:
                partitions[user][sender] = marks
        return partitions

    async def delete_users(self, users: Any) -> None:
        self.stored = {pair: marks for pair, marks in self.stored.items() if pair[0] not in set(users)}

    async def delete_pairs(self, pairs: Any) -> None:
        self.stored = {pair: marks for pair, marks in self.stored.items() if pair not in set(pairs)}

    async def write(self, changed: dict[Pair, PairMarks]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Cassandra unreachable")
        self.writes.append(changed)
        self.stored |= changed


class Sets:
    def __init__(self) -> None:
        self.projected: list[dict[Pair, PairMarks]] = []
        self.cleared: list[set[str]] = []

    async def clear(self, users: Any) -> None:
        self.cleared.append(set(users))

    async def project(self, pairs: dict[Pair, PairMarks]) -> int:
        return await self.write(self.projection(pairs))

    def projection(self, pairs: dict[Pair, PairMarks]) -> Any:
        return pairs

    async def write(self, projection: Any) -> int:
        self.projected.append(projection)
        return len(projection)


#: the processor asks Cassandra which accounts are closed only while Redis lacks the revocations (none here)
NO_SESSION: Any = None


def loaded_redis() -> CountingRedis:
    """A Redis holding every revocation (the reload's marker set), so none of these tests asks Cassandra."""
    redis = CountingRedis()
    redis.strings[keys.revocations_loaded()] = "1"
    return redis


def unsent(offset: int, src: str, dest: str, msg: str) -> Record:
    return Record("ON_MSG_UNSENT", 0, offset, dest.encode(), {"src": src, "dest": dest, "msg_id": msg,
                                                               "occurred_at": now_ms()})


def read(offset: int, user: str, sender: str, msg: str) -> Record:
    return Record("MESSAGES_READ", 0, offset, user.encode(), {"user_id": user, "sender_id": sender,
                                                              "read_up_to_msg_id": msg, "occurred_at": now_ms()})


async def test_a_replayed_batch_writes_nothing_durable_but_still_projects_every_pair() -> None:
    me, a, c = new_id(), new_id(), new_id()
    m1, m2, m3 = sorted(new_id() for _ in range(3))
    pairs, sets, redis = Pairs({}), Sets(), loaded_redis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]  # the offset mark script
    batch = [unsent(1, a, me, m1), unsent(2, c, me, m2), read(3, me, a, m3)]
    processor = UnreadProcessor(pairs, sets, redis, NO_SESSION)  # type: ignore[arg-type]
    rejected: list[Record] = []
    await processor.process(batch, lambda r, e: rejected.append(r))
    assert pairs.writes == [{(me, a): PairMarks(m1, m3), (me, c): PairMarks(m2, None)}]
    assert not rejected
    await processor.process(batch, lambda r, e: rejected.append(r))  # the same records again
    assert pairs.writes[1] == {}  # nothing changed durably ...
    assert len(sets.projected) == 4  # (each batch projects twice: while the write runs, and once it is durable)
    assert sets.projected[2] == sets.projected[0]  # ... but Redis is re-derived (it may have missed the write)
    assert [s for (_, s), m in sets.projected[2].items() if m.unread] == [c]


class RefusingPairs(Pairs):
    """Cassandra's driver refusing to bind a row (a record-shaped error: the loop isolates the culprit)."""

    async def write(self, changed: dict[Pair, PairMarks]) -> None:
        raise ValueError("a value the column's serialiser refuses")


async def test_a_write_refused_as_a_bad_record_puts_the_badge_back_before_the_batch_is_taken_apart() -> None:
    """The live projection ran before the write failed; the record the loop then dead-letters must not stay in
    Redis (nothing reached Cassandra: binding comes before any request)."""
    me, known, new = new_id(), new_id(), new_id()
    stored = {(me, known): PairMarks(new_id(), None)}
    pairs, sets, redis = RefusingPairs(dict(stored)), Sets(), loaded_redis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]
    with pytest.raises(ValueError):
        await UnreadProcessor(pairs, sets, redis, NO_SESSION).process(  # type: ignore[arg-type]
            [unsent(1, new, me, new_id()), unsent(2, known, me, new_id())], ignore)
    live, undone = sets.projected  # the live projection, then the undo; no projection "once durable"
    assert live[(me, new)].unread and live[(me, known)].unread
    assert undone == {(me, new): PairMarks(), (me, known): stored[(me, known)]}
    assert not undone[(me, new)].unread


class SlowPairs(Pairs):
    """Cassandra whose write of the batch waits until the test lets it through."""

    def __init__(self) -> None:
        super().__init__({})
        self.release = asyncio.Event()

    async def write(self, changed: dict[Pair, PairMarks]) -> None:
        await self.release.wait()
        await super().write(changed)


async def test_the_badge_is_projected_while_the_durable_write_runs_and_again_once_it_landed() -> None:
    """The badge's latency no longer includes Cassandra's write; the second projection puts back what a copy
    of the set read from Cassandra before the write landed may have taken away."""
    me, a = new_id(), new_id()
    pairs, sets, redis = SlowPairs(), Sets(), loaded_redis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]
    processor = UnreadProcessor(pairs, sets, redis, NO_SESSION)  # type: ignore[arg-type]
    batch = asyncio.ensure_future(processor.process([unsent(1, a, me, new_id())], ignore))
    while not sets.projected:
        await asyncio.sleep(0)  # (turns of the loop, not a wait for time)
    assert pairs.writes == [] and not batch.done()  # in Redis before Cassandra acknowledged
    assert redis.round_trips == 1  # (the closed-account check): the offsets have not moved either
    pairs.release.set()
    await batch
    assert len(pairs.writes) == 1 and len(sets.projected) == 2 and sets.projected[1] == sets.projected[0]


async def test_a_failed_durable_write_fails_the_batch_after_both_writes_finished() -> None:
    me, a = new_id(), new_id()
    pairs, sets, redis = Pairs({}), Sets(), loaded_redis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]
    pairs.failures = 1
    with pytest.raises(ConnectionError):
        await UnreadProcessor(pairs, sets, redis, NO_SESSION).process(  # type: ignore[arg-type]
            [unsent(1, a, me, new_id())], ignore)
    assert len(sets.projected) == 1  # the live projection ran, the one after the write did not ...
    assert redis.round_trips == 1  # ... and the offsets did not move: the batch is retried whole


async def test_bad_records_are_rejected_and_the_rest_applied() -> None:
    me, a = new_id(), new_id()
    pairs, sets, redis = Pairs({}), Sets(), loaded_redis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]
    bad = [unsent(1, me, me, new_id()), unsent(2, "x", me, new_id()), read(3, me, a, "not-a-uuid")]
    good = unsent(4, a, me, new_id())
    rejected: list[tuple[Record, str]] = []
    await UnreadProcessor(pairs, sets, redis, NO_SESSION).process([*bad, good],  # type: ignore[arg-type]
                                                      lambda r, e: rejected.append((r, str(e))))
    assert [r for r, _ in rejected] == bad
    assert list(pairs.stored) == [(me, a)]
    # the closed accounts among the badges' people, before and once written (the senders only); the offset
    # marks, after the data
    assert redis.round_trips == 3


async def test_nothing_counts_for_or_from_an_account_whose_deletion_was_accepted() -> None:
    """A message delivered after the purge made a deleted account's badge again, or put a deleted sender back
    into a badge for good (the purge had read the badges before it came)."""
    me, gone, friend = new_id(), new_id(), new_id()
    pairs, sets, redis = Pairs({(me, gone): PairMarks(new_id(), None)}), Sets(), loaded_redis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]
    redis.strings[keys.closed_account(gone)] = "1"
    await UnreadProcessor(pairs, sets, redis, NO_SESSION).process(  # type: ignore[arg-type]
        [unsent(1, gone, me, new_id()), unsent(2, me, gone, new_id()), unsent(3, friend, me, new_id()),
         read(4, me, gone, new_id())], lambda r, e: None)
    # the purge's read mark of a gone sender takes the pair away: whom they wrote and when was theirs
    assert list(pairs.stored) == [(me, friend)]
    assert any(projected.get((me, gone)) == PairMarks() for projected in sets.projected)


async def test_a_message_whose_sender_was_deleted_while_it_was_written_is_erased_once_written() -> None:
    """The sender's deletion accepted between the check and the write: the purge read the sender's pairs before
    this one was written, and the deleted sender stayed in the badge for good. Asked again once written."""
    me, leaving, friend = new_id(), new_id(), new_id()
    pairs, sets, redis = Pairs({}), Sets(), loaded_redis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]
    write = pairs.write

    async def deleted_meanwhile(changed: dict[Any, PairMarks]) -> None:
        redis.strings[keys.closed_account(leaving)] = "1"  # (the purge marks, then reads: nothing yet)
        await write(changed)

    pairs.write = deleted_meanwhile  # type: ignore[method-assign]
    await UnreadProcessor(pairs, sets, redis, NO_SESSION).process(  # type: ignore[arg-type]
        [unsent(1, leaving, me, new_id()), unsent(2, friend, me, new_id())], ignore)
    assert list(pairs.stored) == [(me, friend)]
    assert sets.projected[-1] == {(me, leaving): PairMarks()}


def ignore(record: Record, error: Exception) -> None:
    raise AssertionError(f"{record} rejected: {error}")


async def test_a_users_pairs_are_read_once_while_the_loop_owns_them_and_again_after_a_rebalance() -> None:
    me, a = new_id(), new_id()
    m1, m2, m3 = sorted(new_id() for _ in range(3))
    pairs, sets, redis = Pairs({}), Sets(), loaded_redis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]
    processor = UnreadProcessor(pairs, sets, redis, NO_SESSION)  # type: ignore[arg-type]
    await processor.process([unsent(1, a, me, m1)], ignore)
    await processor.process([unsent(2, a, me, m2)], ignore)
    assert pairs.loads == 1  # the second batch read nothing: the pair was remembered ...
    assert pairs.writes[-1] == {(me, a): PairMarks(m2, None)}  # ... and merged exactly
    pairs.stored[(me, a)] = PairMarks(m2, m3)  # the partition's next owner applied a read mark meanwhile
    processor.partitions_moved({("ON_MSG_UNSENT", 0)})  # and the partition came back
    await processor.process([unsent(3, a, me, m2)], ignore)  # a duplicate of the second message
    assert pairs.loads == 2
    assert sets.projected[-1] == {(me, a): PairMarks(m2, m3)}  # read: the durable state, not the remembered one


async def test_a_failed_write_is_not_remembered_and_its_retry_gives_the_same_pairs() -> None:
    me, a, c = new_id(), new_id(), new_id()
    m1, m2 = sorted(new_id() for _ in range(2))
    pairs, sets, redis = Pairs({}), Sets(), loaded_redis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]
    processor = UnreadProcessor(pairs, sets, redis, NO_SESSION, remembered_users=1)  # type: ignore[arg-type]
    await processor.process([unsent(1, a, me, m1)], ignore)
    pairs.failures = 1
    batch = [read(2, me, a, m1), unsent(3, c, me, m2)]
    try:
        await processor.process(batch, ignore)
    except ConnectionError:
        pass
    else:
        raise AssertionError("the write was meant to fail")
    await processor.process(batch, ignore)  # the loop's retry
    assert pairs.stored == {(me, a): PairMarks(m1, m1), (me, c): PairMarks(m2, None)}
    assert [s for (_, s), m in sets.projected[-1].items() if m.unread] == [c]


def account_deleted(offset: int, user: str) -> Record:
    return Record("account-deleted", 0, offset, None, {"user_id": user})


async def test_a_deleted_account_s_badge_is_deleted_by_its_owner_and_not_remembered() -> None:
    me, a, c = new_id(), new_id(), new_id()
    m1, m2, m3 = sorted(new_id() for _ in range(3))
    pairs, sets, redis = Pairs({}), Sets(), loaded_redis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]
    processor = UnreadProcessor(pairs, sets, redis, NO_SESSION)  # type: ignore[arg-type]
    await processor.process([unsent(1, a, me, m1), read(2, me, a, m2)], ignore)
    rejected: list[Record] = []
    bad = account_deleted(5, "not-an-id")
    await processor.process([unsent(3, c, me, m2), account_deleted(4, me), bad], lambda r, e: rejected.append(r))
    assert rejected == [bad]
    assert pairs.stored == {} and sets.cleared == [{me}]  # the message in the same batch died with the account
    await processor.process([unsent(6, a, me, m3)], ignore)  # a late message to the deleted account
    assert pairs.loads == 2  # read again, not remembered ...
    assert pairs.stored == {(me, a): PairMarks(m3, None)}  # ... so nothing of the old pair came back


async def test_a_record_not_keyed_by_its_badge_owner_is_rejected() -> None:
    """On another loop's partition, its pairs were written over by a loop that did not own them: a read mark
    keyed by the sender was lost from durable state, and a covered message counted again."""
    me, a = new_id(), new_id()
    m1, m2 = sorted(new_id() for _ in range(2))
    pairs, sets, redis = Pairs({}), Sets(), loaded_redis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]  # the offset mark script
    by_sender = read(2, me, a, m2)._replace(key=a.encode())
    keyless = unsent(3, a, me, m1)._replace(key=None)
    processor = UnreadProcessor(pairs, sets, redis, NO_SESSION)  # type: ignore[arg-type]
    rejected: list[tuple[Record, Exception]] = []
    await processor.process([unsent(1, a, me, m1), by_sender, keyless], lambda r, e: rejected.append((r, e)))
    assert [r for r, _ in rejected] == [by_sender, keyless]
    assert all("badge owner" in str(e) for _, e in rejected)


def block(offset: int, actor: str, target: str, on: bool, at: int) -> Record:
    return Record("block-changed", 0, offset, actor.encode(), {"actor_id": actor, "target_id": target,
                                                               "action": "on" if on else "off", "occurred_at": at})


async def test_a_block_marks_the_blocked_persons_messages_read_on_the_blockers_badge_up_to_its_time() -> None:
    """A status read with the block's token waits for this processor to apply the block: it showed the blocked
    sender while the safety processor's derived read mark was still on its way."""
    me, blocked, friend = new_id(), new_id(), new_id()
    before, at = new_id(), now_ms()
    pairs, sets, redis = Pairs({}), Sets(), loaded_redis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]
    rejected: list[Record] = []
    await UnreadProcessor(pairs, sets, redis, NO_SESSION).process(  # type: ignore[arg-type]
        [unsent(1, blocked, me, before), unsent(2, friend, me, new_id()), block(3, me, blocked, True, at + 1),
         block(4, me, friend, False, at + 1), block(5, me, me, True, at)], lambda r, e: rejected.append(r))
    assert [r.offset for r in rejected] == [5]  # a block of oneself: no client sends that
    assert not pairs.stored[(me, blocked)].unread and pairs.stored[(me, friend)].unread
    assert pairs.stored[(me, blocked)].read_up_to == last_id_at(at + 1)  # not further: later messages count


def test_a_status_ping_says_when_the_badge_was_written_or_nothing() -> None:
    """The projection's ping carries Redis's ``TIME`` as microseconds (``unread@…``); the copy's and the purge's
    plain ping carry none, and anything else a subscriber might read is no time either."""
    assert applied_at(b"unread@1796476439174123") == 1796476439.174123
    assert applied_at("unread@1796476439000000") == 1796476439.0
    for plain in (PING, b"unread", "unread@", "unread@12x4", "end", b""):
        assert applied_at(plain) is None
