"""Block and mute relations, and follows, read back through the real Cassandra by both read paths: IN queries
for a few others, the whole partition for many (a like storm asks about thousands of likers, a feed read about
every celebrity), and IN queries again when a partition is too large to read whole (a user muted by thousands)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from cassandra.cluster import Session

from photostream.domain.safety import Relation, SafetyChange
from photostream.settings import Settings
from producers.ids import new_id
from sinks import cassandra, safety
from sinks.cassandra import connect
from sinks.graph import FollowChange, GraphReader, GraphWriter
from sinks.safety import SafetyReader, SafetyWriter


@pytest.fixture(scope="module")
def session(settings: Settings) -> Iterator[Session]:
    cluster, session = connect(settings)
    yield session
    cluster.shutdown()


def toggles(session: Session, changes: list[SafetyChange]) -> None:
    asyncio.run(SafetyWriter(session).apply(changes))


def relations(session: Session, user: str, others: list[str]) -> dict[str, Relation]:
    return asyncio.run(SafetyReader(session).relations(user, others))


@pytest.mark.parametrize("asked", [3, safety._SCAN_ABOVE + 50])
def test_relations_are_the_same_whichever_way_they_are_read(session: Session, asked: int) -> None:
    user, blocked, muter, unblocked = new_id(), new_id(), new_id(), new_id()
    unrelated = [new_id() for _ in range(asked - 3)]
    toggles(session, [SafetyChange("block", user, blocked, True, 1_000),
                      SafetyChange("mute", muter, user, True, 1_000),
                      SafetyChange("block", user, unblocked, True, 1_000),
                      SafetyChange("block", user, unblocked, False, 2_000),
                      SafetyChange("block", user, new_id(), True, 1_000)])  # related, but not asked about
    found = relations(session, user, [blocked, muter, unblocked, *unrelated, user])
    assert found[blocked] == Relation(True, False, False, False)
    assert found[muter] == Relation(False, False, False, True)
    assert found[unblocked] == Relation(False, False, False, False)  # toggled off: a row, no flag
    assert set(found) == {blocked, muter, unblocked}


def test_a_partition_too_large_to_read_whole_is_asked_by_in_queries(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cassandra, "FEW_ROWS", 20)  # a partition of 30 rows stands in for one of thousands
    user = new_id()
    muters = [new_id() for _ in range(30)]
    toggles(session, [SafetyChange("mute", m, user, True, 1_000) for m in muters])
    asked = muters[:5] + [new_id() for _ in range(safety._SCAN_ABOVE)]
    found = relations(session, user, asked)
    assert set(found) == set(muters[:5]) and all(r.mutes_me for r in found.values())


def test_following_among_many_candidates_reads_the_follow_list_whole_or_by_in_queries(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feed read asks whether the reader follows each of many celebrities: same answer either way."""
    reader = new_id()
    followed = [new_id() for _ in range(30)]
    asyncio.run(GraphWriter(session).apply([FollowChange(reader, f, True, 1_000) for f in followed] +
                                           [FollowChange(reader, followed[0], False, 2_000)]))
    candidates = followed[:10] + [new_id() for _ in range(150)]
    graph = GraphReader(session)
    assert asyncio.run(graph.followed_among(reader, candidates)) == set(followed[1:10])  # read whole
    monkeypatch.setattr(cassandra, "FEW_ROWS", 20)  # 29 follows stand in for a list too long to read whole
    assert asyncio.run(graph.followed_among(reader, candidates)) == set(followed[1:10])  # by IN queries


@pytest.mark.parametrize("most", [cassandra.FEW_ROWS, 20])
def test_many_users_relations_read_together_equal_each_read_alone(session: Session, most: int) -> None:
    """The fan-out asks about every author of a batch at once; a crowded partition (30 rows above ``most``
    = 20) is asked on its own: same answers as one read per user."""
    quiet, crowded, loner = new_id(), new_id(), new_id()
    blocked, muted, muters = new_id(), new_id(), [new_id() for _ in range(30)]
    toggles(session, [SafetyChange("block", quiet, blocked, True, 1_000),
                      SafetyChange("mute", muted, quiet, True, 1_000),
                      *(SafetyChange("mute", m, crowded, True, 1_000) for m in muters)])
    asked = {quiet: {blocked, muted, new_id()}, crowded: {*muters[:3], new_id()}, loner: {new_id()}}
    together = asyncio.run(SafetyReader(session).relations_of_many(asked, most=most))
    assert together == {user: relations(session, user, list(others)) for user, others in asked.items()}
    assert together[quiet][blocked].i_block and together[quiet][muted].mutes_me
    assert set(together[crowded]) == set(muters[:3]) and together[loner] == {}


def test_the_followers_of_many_authors_are_read_together(session: Session) -> None:
    popular, quiet, nobody = new_id(), new_id(), new_id()
    fans = [new_id() for _ in range(40)]
    asyncio.run(GraphWriter(session).apply([FollowChange(f, popular, True, 1_000) for f in fans] +
                                           [FollowChange(fans[0], quiet, True, 1_000),
                                            FollowChange(fans[1], quiet, True, 1_000),
                                            FollowChange(fans[1], quiet, False, 2_000)]))
    found = asyncio.run(GraphReader(session).followers_of_many([popular, quiet, nobody], page_size=7))
    assert sorted(found[popular]) == sorted(fans)  # across pages of 7
    assert found[quiet] == [fans[0]] and found[nobody] == []
