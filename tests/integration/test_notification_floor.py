"""The Redis list of notifications past its cap, on the real Redis: whole hours are trimmed, never a part of one."""

from __future__ import annotations

from photostream.domain.notifications import notification_id
from photostream.settings import Settings
from producers.ids import new_id
from sinks.notification_lists import NotificationLists, bucket_floor, trimmed
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
