"""The Redis list of notifications past its cap, on the real Redis: whole hours are trimmed, never a part of one."""

from __future__ import annotations

import dataclasses

from photostream.domain.notifications import notification_id
from photostream.settings import Settings
from producers.ids import new_id
from sinks import keys
from sinks.notification_lists import Copy, NotificationLists, bucket_floor, page_of_copy, trimmed
from sinks.notifications import StoredNotification
from sinks.redis_client import async_client

HOUR = 3_600_000
T0 = 1_800_000_000_000 - 1_800_000_000_000 % HOUR


#: a target id that sorts below every UUIDv7 (its group's id sorts below every other of its hour and kind)
LOWEST = "00000000-0000-7000-8000-000000000000"


def item(user: str, bucket: int, kind: str, at: int, target: str | None = None) -> StoredNotification:
    target = target or new_id()
    return StoredNotification(user, notification_id(bucket, kind, target), kind, target, (new_id(),), 1, at)


async def test_a_new_group_of_the_trimmed_hour_is_listed_and_counted(settings: Settings) -> None:
    """With a cap of 3 and four groups in one hour, the floor fell inside the hour: a later group whose id sorted
    below it (another kind, another target) was left to Cassandra, missing from the top of the list and from
    the unread count. Now the newest hour is never split, and older hours go whole."""
    redis = async_client(settings)
    lists = NotificationLists(redis, settings.app_id, cap=3)
    user = new_id()
    try:
        assert await lists.fill(user, "0", [], 0)  # a user found to have none: the list is known whole
        older = [item(user, T0 - HOUR, "like", T0 - HOUR + i) for i in range(2)]
        this_hour = [item(user, T0, kind, T0 + i) for i, kind in enumerate(("like", "follow", "comment", "like"))]
        await lists.project({user: [(n.id, n) for n in older]})
        await lists.project({user: [(n.id, n) for n in this_hour]})
        page = await lists.page(user, None, 10)
        # the older hour went whole (the cap asked for three of six); the newest stays whole, over the cap
        assert {n.id for n in page.items} == {n.id for n in this_hour}
        assert page.floor == bucket_floor(T0 - HOUR)
        # a new group of the same hour, whose id sorts below every other of the hour ("comment" < "follow" …)
        late = item(user, T0, "comment", T0 + 10, LOWEST)
        await lists.project({user: [(late.id, late)]})
        page = await lists.page(user, None, 10)
        assert page.items[0].id == late.id  # on top, by its time
        assert await lists.unread(user) == (len(this_hour) + 1, True, "3")  # (three projections so far)
        # the rebuild's derivation keeps exactly what the projection keeps
        durable = sorted([*older, *this_hour, late], key=lambda n: n.id, reverse=True)
        kept, floor = trimmed(durable, 3)
        assert {n.id for n in kept} == {n.id for n in page.items} and floor == page.floor
    finally:
        await lists.purge(user)
        await redis.aclose()


async def test_a_page_served_from_a_copy_is_the_page_redis_serves_once_it_holds_the_copy(settings: Settings) -> None:
    """A first read whose copy Redis refused (a projection landed meanwhile) served Cassandra's id order, and the
    next page read the cursor in Redis's ``updated_at`` order: the scroll skipped and repeated. The page served
    from the copy is, position for position, what Redis serves once it holds the copy."""
    redis = async_client(settings)
    lists = NotificationLists(redis, settings.app_id, cap=4)
    user = new_id()
    try:
        # two hours; in the newer one, id order is the reverse of update order, and two items share a time
        older = [item(user, T0 - HOUR, "like", T0 - HOUR + i) for i in range(3)]
        newer = sorted((item(user, T0, "like", 0) for _ in range(5)), key=lambda n: n.id)
        newer = [dataclasses.replace(n, updated_at=T0 + 100 - min(i, 3)) for i, n in enumerate(newer)]
        durable = sorted([*older, *newer], key=lambda n: n.id, reverse=True)
        kept, floor = trimmed(durable, lists.cap)
        copy = Copy(kept, T0 + 97, floor, stored=False)
        assert await lists.fill(user, "0", durable, T0 + 97)
        for limit in (1, 2, 3, 10):
            position, walked = None, []
            while True:
                served, expected = await lists.page(user, position, limit), page_of_copy(copy, position, limit)
                assert served == expected
                walked += [n.id for n in served.items]
                if len(served.items) < limit:
                    break
                position = (served.items[-1].id, served.items[-1].updated_at)
            assert walked == [n.id for n in sorted(kept, key=lambda n: (n.updated_at, n.id), reverse=True)]
        assert page_of_copy(copy, (older[0].id, older[0].updated_at), 10).items == []  # below the floor: Cassandra's
    finally:
        await lists.purge(user)
        await redis.aclose()


async def test_a_copy_that_changes_the_unread_count_pings_the_status(settings: Settings) -> None:
    """The copy of a lost list restores the count the status showed before the loss: the live badge must hear
    of it (it stayed at the remains' count until some later change)."""
    redis = async_client(settings)
    lists = NotificationLists(redis, settings.app_id, cap=10)
    user = new_id()
    listener = redis.pubsub()
    try:
        await listener.subscribe(keys.status_channel(settings.app_id, user))
        await listener.get_message(timeout=5)  # the subscription's confirmation
        three = [item(user, T0, "like", T0 + i) for i in range(3)]
        assert await lists.fill(user, "0", three[:1], 0)  # the remains of a loss: one item, then the copy
        ping = await listener.get_message(ignore_subscribe_messages=True, timeout=5)
        assert ping is not None and ping["data"] in (b"notifications", "notifications")
        assert await lists.fill(user, "0", sorted(three, key=lambda n: n.id, reverse=True), 0)
        ping = await listener.get_message(ignore_subscribe_messages=True, timeout=5)
        assert ping is not None and await lists.unread(user) == (3, True, "0")
        assert await lists.fill(user, "0", sorted(three, key=lambda n: n.id, reverse=True), 0)  # the same again
        assert await listener.get_message(ignore_subscribe_messages=True, timeout=0.5) is None
    finally:
        await listener.aclose()
        await lists.purge(user)
        await redis.aclose()


async def test_a_copy_read_before_the_accounts_deletion_is_refused(settings: Settings) -> None:
    """The purge deleted the list's version, so a copy read before it (version "0" both sides) put the deleted
    user's list back, marked whole."""
    redis = async_client(settings)
    lists = NotificationLists(redis, settings.app_id, cap=10)
    user = new_id()
    try:
        one = [item(user, T0, "like", T0)]
        version = (await lists.unread(user)).version  # the copy reads the version, then Cassandra…
        await lists.purge(user)  # …and the account is deleted meanwhile
        assert not await lists.fill(user, version, one, 0)
        assert await lists.unread(user) == (0, False, "1")
    finally:
        await lists.purge(user)
        await redis.aclose()
