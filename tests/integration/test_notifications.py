"""Notifications through the real stack: every kind, aggregation of 1,000 likes, self and blocked actors,
retraction, replay, mark-read and the status count, and the rebuild equal to live.

Each test publishes its own events and awaits exactly them (the processors' applied-offset marks reaching each
record's offset), never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from photostream.contracts.catalog import topic as catalog_topic
from photostream.domain.notifications import bucket_of
from photostream.rebuild_notifications import rebuild_notifications
from photostream.settings import Settings
from producers import events
from producers.ids import new_id, now_ms
from producers.partitioning import partition_of
from producers.publisher import Publisher, PublishResult
from sinks import keys, new_posts
from sinks.notifications import NotificationStore
from sinks.redis_client import sync_client
from tests.integration.conftest import BIN, Process, auth
from tests.integration.waiting import wait_for

#: who must have applied a record of each topic before the next step may rely on it
APPLIERS = {"post-created": ("notifications", "posts"), "post-deleted": ("notifications", "posts"),
            "block-changed": ("safety", "notifications"), "photo-tag-changed": ("notifications", "photo_tags"),
            "mute-changed": ("safety", "notifications"), "user-registered": ("profiles",),
            "follow-changed": ("notifications", "feeds"), "profile-updated": ("profiles", "notifications")}


class Log:
    """Publishes this test's events, stamped by the test's own clock, and awaits their applied marks.

    Notifications aggregate per time bucket of the events' ``occurred_at`` (an hour): a test whose events
    straddled the end of an hour on the wall clock saw its likes split into two items (it happened, in CI at
    02:00). So every event a test publishes is stamped 1 ms after the one before, from a start inside one
    bucket: now, or a minute before the bucket's end if that is sooner."""

    def __init__(self, publisher: Publisher, settings: Settings) -> None:
        self.publisher, self.settings = publisher, settings
        self.pending: list[PublishResult] = []
        bucket_ms, now = settings.notification_bucket_s * 1000, now_ms()
        self._clock = min(now, bucket_of(now, bucket_ms) + bucket_ms - 60_000)
        self._stamped: dict[str, events.Event] = {}
        #: post id → its author, for the likes this log sends (:meth:`like`)
        self._authors: dict[str, str] = {}

    def stamped(self, event: events.Event) -> events.Event:
        """``event`` with this test's next time; the same event (a re-send) keeps the time it first got."""
        found = self._stamped.get(event.event_id)
        if found is None:
            self._clock += 1
            found = self._stamped[event.event_id] = events.build(event.topic,
                                                                 {**event.value, "occurred_at": self._clock})
        return found

    def publish(self, event: events.Event) -> None:
        self.pending.append(self.publisher.publish(self.stamped(event)))

    def post(self, author: str, caption: str = "a photo", visibility: str = "public") -> str:
        event = self.stamped(events.post_created(author_id=author, caption=caption, image_ids=[new_id()],
                                                 visibility=visibility))  # type: ignore[arg-type]
        self.publish(event)
        self._authors[str(event.value["post_id"])] = author
        return str(event.value["post_id"])

    def like(self, user: str, post: str, on: bool = True) -> events.Event:
        """A like naming the post's author where this log published the post, as the API's do. Without it, a like
        applied before the posts view had the post (its post published just before, the two processors racing)
        notified nobody, and a badge read after both settled missed it (one CI run)."""
        event = self.stamped(events.like_changed(post_id=post, user_id=user, action="like" if on else "unlike",
                                                 post_author_id=self._authors.get(post)))
        self.publish(event)
        return event

    def tag(self, post: str, photo: str, tagger: str, tagged: str, action: str = "add",
            pending: bool = False) -> events.Event:
        """A people-tag change (an add at the photo's centre), published."""
        where = {"x": 0.5, "y": 0.5} if action == "add" else {}
        event = events.photo_tag_changed(post_id=post, image_id=photo, tagger_id=tagger, tagged_id=tagged,
                                         action=action, pending=pending, **where)  # type: ignore[arg-type]
        self.publish(event)
        return event

    def settle(self) -> None:
        redis = sync_client(self.settings)

        def behind() -> list[str]:
            return [f"{c}:{r.topic}/{r.partition}@{r.offset}" for r in self.pending
                    for c in APPLIERS.get(r.topic, ("notifications",))
                    if int(redis.hget(keys.applied_offsets(c, r.topic), str(r.partition)) or -1) < r.offset]

        wait_for(behind, lambda late: not late, 120, "the processors to apply this test's events")
        self.pending.clear()


@pytest.fixture()
def log(publisher: Publisher, settings: Settings, worker: Process) -> Log:
    return Log(publisher, settings)


def notifications(client: httpx.Client, settings: Settings, user: str, limit: int = 100) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = client.get("/notifications", headers=auth(settings, user),
                            params={"limit": limit} | ({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.text
        found += answer.json()["items"]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return found


def summary(items: list[dict[str, Any]]) -> list[tuple[str, str, str, list[str], int]]:
    return [(i["kind"], i["target"]["kind"], i["target"]["id"], [a["id"] for a in i["actors"]], i["actor_count"])
            for i in items]


def register(client: httpx.Client) -> tuple[str, str]:
    name = f"n{uuid.uuid4().hex[:12]}"
    answer = client.post("/auth/register", json={"username": name, "email": f"{name}@example.com",
                                                 "password": "a long enough passphrase"})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"]), name


def test_every_kind_notifies_its_recipient(client: httpx.Client, settings: Settings, log: Log) -> None:
    author, fan, requester = new_id(), new_id(), new_id()
    mentioned, name = register(client)
    post = log.post(author)
    log.settle()
    log.like(fan, post)
    log.publish(events.comment_added(post_id=post, user_id=fan, text=f"look @{name.upper()}"))
    log.publish(events.follow_changed(follower_id=fan, followee_id=author, action="follow"))
    log.publish(events.follow_requested(follower_id=requester, followee_id=author, action="request"))
    log.publish(events.follow_requested(follower_id=author, followee_id=requester, action="request"))
    log.publish(events.follow_requested(follower_id=author, followee_id=requester, action="approve"))  # answered
    image = new_id()
    log.tag(post, image, author, fan)
    log.publish(events.photo_tag_changed(post_id=post, image_id=image, tagger_id=author, tagged_id=requester,
                                         action="add", x=0.2, y=0.2, pending=True))
    captioned = log.post(author, caption=f"with @{name} today")
    log.settle()
    assert sorted(summary(notifications(client, settings, author))) == sorted([
        ("like", "post", post, [fan], 1), ("comment", "post", post, [fan], 1), ("follow", "user", author, [fan], 1),
        ("follow_request", "user", author, [requester], 1), ("follow_accepted", "user", requester, [requester], 1)])
    assert summary(notifications(client, settings, fan)) == [("tag", "post", post, [author], 1)]
    # the author's request to the requester was answered: it left the requester's list
    assert summary(notifications(client, settings, requester)) == [("tag_request", "post", post, [author], 1)]
    assert sorted(summary(notifications(client, settings, mentioned))) == sorted([
        ("comment_mention", "post", post, [fan], 1), ("mention", "post", captioned, [author], 1)])
    item = notifications(client, settings, mentioned)[0]
    assert item["read"] is False and item["id"] and isinstance(item["updated_at"], int)
    by_id = {a["id"]: a["username"] for i in notifications(client, settings, mentioned) for a in i["actors"]}
    assert set(by_id) == {fan, author}  # unknown profiles still have an id


def kinds_paged(client: httpx.Client, settings: Settings, user: str, limit: int,
                before: Callable[[], None] | None = None) -> list[str]:
    """The kinds of the user's whole list read ``limit`` at a time; ``before`` runs before the second page."""
    found: list[str] = []
    cursor = None
    while True:
        answer = client.get("/notifications", headers=auth(settings, user),
                            params={"limit": limit} | ({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.text
        found += [i["kind"] for i in answer.json()["items"]]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return found
        if before is not None:
            before()
            before = None


def test_the_list_is_newest_first_by_update_and_an_update_moves_an_item_up_without_repeating_it(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    """Within one bucket (an hour), the order is the members' time, not the groups' kinds: a follow, then a
    comment, then a like list as like, comment, follow; at every page size. A like joining the like group
    after the first page was read moves it up, and the pages after do not serve it again."""
    author, follower, commenter, liker, second = (new_id() for _ in range(5))
    post = log.post(author)
    log.settle()
    log.publish(events.follow_changed(follower_id=follower, followee_id=author, action="follow"))
    log.publish(events.comment_added(post_id=post, user_id=commenter, text="what light"))
    log.like(liker, post)
    log.settle()
    items = notifications(client, settings, author)
    assert [i["kind"] for i in items] == ["like", "comment", "follow"]
    assert [i["updated_at"] for i in items] == sorted((i["updated_at"] for i in items), reverse=True)
    for limit in (1, 2, 3):
        assert kinds_paged(client, settings, author, limit) == ["like", "comment", "follow"]

    def another_like() -> None:
        log.like(second, post)
        log.settle()

    assert kinds_paged(client, settings, author, 1, before=another_like) == ["like", "comment", "follow"]
    assert [i["kind"] for i in notifications(client, settings, author)] == ["like", "comment", "follow"]
    log.publish(events.follow_changed(follower_id=second, followee_id=author, action="follow"))
    log.settle()
    assert kinds_paged(client, settings, author, 1) == ["follow", "like", "comment"]
    bad = client.get("/notifications", headers=auth(settings, author), params={"cursor": "not~a~cursor"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"
    # a cursor is the caller's own: another user's is refused, as for every list (a plain position was taken from
    # anyone, and carried a post id of the user who was served it)
    mine = client.get("/notifications", headers=auth(settings, author), params={"limit": 1}).json()["next_cursor"]
    assert mine is not None and opaque(mine, author)
    theirs = client.get("/notifications", headers=auth(settings, second), params={"cursor": mine})
    assert theirs.status_code == 422 and theirs.json()["error"]["field"] == "cursor", theirs.text


def test_a_thousand_likes_on_one_post_are_one_item_with_the_exact_count_and_replay_changes_nothing(
    client: httpx.Client, settings: Settings, publisher: Publisher, log: Log
) -> None:
    author = new_id()
    post = log.post(author)
    log.settle()
    fans = [new_id() for _ in range(1000)]
    likes = [log.stamped(events.like_changed(post_id=post, user_id=fan, action="like")) for fan in fans]
    assert publisher.submit_many(likes).result(timeout=60) == 1000
    log.publish(likes[-1])  # a duplicate on the same partition, after all of them: its mark covers them all
    log.settle()
    first = notifications(client, settings, author)
    assert [(i["kind"], i["actor_count"], len(i["actors"])) for i in first] == [("like", 1000, 3)]
    latest = sorted(((e.value["occurred_at"], e.value["user_id"]) for e in likes), reverse=True)[:3]
    assert [a["id"] for a in first[0]["actors"]] == [user for _, user in latest]
    assert publisher.submit_many(likes).result(timeout=60) == 1000  # replay
    log.publish(likes[0])
    log.settle()
    assert notifications(client, settings, author) == first


def test_no_notification_for_ones_own_action_or_from_a_blocked_or_muted_user(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    author, blocked, blocker, muted, fan = (new_id() for _ in range(5))
    post = log.post(author)
    log.publish(events.block_changed(actor_id=author, target_id=blocked, action="on"))
    log.publish(events.block_changed(actor_id=blocker, target_id=author, action="on"))
    log.publish(events.mute_changed(actor_id=author, target_id=muted, action="on"))
    log.settle()
    for actor in (author, blocked, blocker, muted):
        log.like(actor, post)
        if actor != author:  # (a self-follow is refused by the SDK)
            log.publish(events.follow_changed(follower_id=actor, followee_id=author, action="follow"))
    log.like(fan, post)
    log.settle()
    assert summary(notifications(client, settings, author)) == [("like", "post", post, [fan], 1)]


def test_a_private_post_mention_does_not_notify_someone_who_may_not_see_it(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    author = new_id()
    mentioned, name = register(client)
    log.post(author, caption=f"only me @{name}", visibility="private")
    log.settle()
    assert notifications(client, settings, mentioned) == []


def test_an_unlike_or_unfollow_retracts_the_actor(client: httpx.Client, settings: Settings, log: Log) -> None:
    author, stays, leaves, quick = new_id(), new_id(), new_id(), new_id()
    post = log.post(author)
    log.settle()
    log.like(stays, post)
    log.like(leaves, post)
    log.publish(events.follow_changed(follower_id=leaves, followee_id=author, action="follow"))
    log.settle()
    assert sorted(summary(notifications(client, settings, author))) == sorted([
        ("like", "post", post, [leaves, stays], 2), ("follow", "user", author, [leaves], 1)])
    log.like(leaves, post, on=False)
    log.publish(events.follow_changed(follower_id=leaves, followee_id=author, action="unfollow"))
    log.like(quick, post)
    log.like(quick, post, on=False)  # a like then an unlike in one batch leaves nothing new
    log.settle()
    assert summary(notifications(client, settings, author)) == [("like", "post", post, [stays], 1)]


def status(client: httpx.Client, settings: Settings, user: str) -> int:
    answer = client.get(f"/users/{user}/status", headers=auth(settings, user))
    assert answer.status_code == 200, answer.text
    return int(answer.json()["unread_notifications"])


def test_mark_read_up_to_an_id_and_the_status_count(client: httpx.Client, settings: Settings, log: Log) -> None:
    author, a, b, c = (new_id() for _ in range(4))
    first, second = log.post(author), log.post(author)
    log.settle()
    log.like(a, first)
    log.like(b, second)
    log.settle()
    assert status(client, settings, author) == 2
    items = notifications(client, settings, author)
    newest = max(items, key=lambda i: i["updated_at"])
    marked = client.post("/notifications/mark-read", headers=auth(settings, author), json={"up_to": newest["id"]})
    assert marked.status_code == 200, marked.text
    assert marked.json()["unread_notifications"] == 0
    assert status(client, settings, author) == 0
    assert all(i["read"] for i in notifications(client, settings, author))
    log.like(c, first)  # joins a read notification: it is unread again
    log.settle()
    assert status(client, settings, author) == 1
    assert [i["read"] for i in notifications(client, settings, author) if i["target"]["id"] == first] == [False]
    other = client.post("/notifications/mark-read", headers=auth(settings, a), json={"up_to": newest["id"]})
    assert other.status_code == 404  # someone else's notification is not the caller's to mark
    bad = client.post("/notifications/mark-read", headers=auth(settings, author), json={"up_to": "nope"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "up_to"
    extra = client.post("/notifications/mark-read", headers=auth(settings, author),
                        json={"up_to": newest["id"], "everything": True})
    assert extra.status_code == 422  # an unknown field is refused, as in every body
    empty = client.get("/notifications", headers=auth(settings, author), params={"cursor": ""})
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "cursor"
    everything = client.post("/notifications/mark-read", headers=auth(settings, author))  # no body: all read
    assert everything.status_code == 200 and everything.json()["unread_notifications"] == 0, everything.text
    # an older id afterwards moves nothing back, and the answer is the mark that stands, not the one asked for
    oldest = min(items, key=lambda i: i["updated_at"])
    again = client.post("/notifications/mark-read", headers=auth(settings, author), json={"up_to": oldest["id"]})
    assert again.json()["read_at"] == everything.json()["read_at"] > oldest["updated_at"], again.text


def test_what_the_list_hides_is_marked_read_with_it_so_the_badge_can_clear(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    """Marking read up to the newest shown notification, or everything (no ``up_to``), clears the badge; one
    about a post since deleted is forgotten with the post, and a block takes the blocked person's out."""
    author, fan, other = new_id(), new_id(), new_id()
    kept, deleted = log.post(author), log.post(author)
    log.settle()
    log.like(fan, kept)
    log.like(other, deleted)
    log.settle()
    log.publish(events.post_deleted(post_id=deleted, author_id=author))
    log.settle()
    [shown] = notifications(client, settings, author)
    assert shown["target"]["id"] == kept and status(client, settings, author) == 1  # (the deleted post's: forgotten)
    marked = client.post("/notifications/mark-read", headers=auth(settings, author), json={"up_to": shown["id"]})
    assert marked.status_code == 200 and marked.json()["unread_notifications"] == 0, marked.text
    log.like(other, kept)  # the like group is updated: unread again, then both its actors are blocked
    log.settle()
    assert status(client, settings, author) == 1
    for actor in (fan, other):
        blocked = client.post(f"/users/{actor}/block", headers=auth(settings, author))
        assert blocked.status_code == 202, blocked.text
    # the block takes them out of the group, and so out of the badge, without a mark-read (it kept counting them)
    wait_for(lambda: status(client, settings, author), lambda n: n == 0, 60, "the blocks to leave the badge")
    assert notifications(client, settings, author) == []
    everything = client.post("/notifications/mark-read", headers=auth(settings, author), json={})
    assert everything.status_code == 200 and everything.json()["unread_notifications"] == 0, everything.text
    assert status(client, settings, author) == 0


def rebuild(test_env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "photostream"), "rebuild", "notifications", *flags], env=test_env, text=True,
                          capture_output=True, timeout=120, check=False)


def liked_three_times(client: httpx.Client, settings: Settings, log: Log) -> tuple[str, list[dict[str, Any]]]:
    """A new author with three posts, each liked once, and their list of the three notifications."""
    author = new_id()
    posts = [log.post(author) for _ in range(3)]
    log.settle()
    for post in posts:
        log.like(new_id(), post)
    log.settle()
    before = notifications(client, settings, author)
    assert len(before) == 3
    return author, before


def test_rebuild_equals_live_and_repairs_a_lost_list(
    client: httpx.Client, settings: Settings, log: Log, test_env: dict[str, str]
) -> None:
    author, before = liked_three_times(client, settings, log)
    checked = rebuild(test_env, "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lose_notifications(settings, author)
    damaged = rebuild(test_env, "--check")
    assert damaged.returncode == 1 and author in damaged.stdout
    repaired = rebuild(test_env)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert rebuild(test_env, "--check").returncode == 0
    assert notifications(client, settings, author) == before
    assert sync_client(settings).zcard(keys.notification_ids(author)) == 3


def test_a_repair_keeps_a_mark_read_that_lands_while_it_repairs(
    client: httpx.Client, settings: Settings, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rebuild's repair rewrote a list whole, read mark included, from what it had read: a mark-read that
    landed between its Cassandra read and its write was erased (the badge back at 3 after "mark all read")."""
    author, _ = liked_three_times(client, settings, log)
    lose_notifications(settings, author)
    read_at = NotificationStore.read_at

    async def a_mark_read_lands_meanwhile(store: NotificationStore, user: str) -> int:
        found = await read_at(store, user)
        if user == author:
            marked = client.post("/notifications/mark-read", headers=auth(settings, author), json={})
            assert marked.status_code == 200, marked.text
        return found

    monkeypatch.setattr(NotificationStore, "read_at", a_mark_read_lands_meanwhile)
    asyncio.run(rebuild_notifications(settings, repair=True))
    monkeypatch.undo()
    assert status(client, settings, author) == 0
    assert [i["read"] for i in notifications(client, settings, author)] == [True, True, True]


def lose_notifications(settings: Settings, user: str) -> None:
    """What a flushed or restarted Redis does to one user: every key of their list, the read mark with it."""
    sync_client(settings).delete(keys.notification_items(user), keys.notification_ids(user),
                                 keys.notification_updated(user), keys.notification_read(user),
                                 keys.notification_floor(user), keys.notification_whole(user),
                                 keys.notification_version(user))


def test_a_list_redis_lost_is_not_taken_for_whole_when_a_new_notification_comes(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    """After Redis lost a user's list, the next notification made a list of one: the older ones vanished from
    the list, and the read mark with them, until a rebuild."""
    author, before = liked_three_times(client, settings, log)
    marked = client.post("/notifications/mark-read", headers=auth(settings, author), json={})
    assert marked.status_code == 200 and marked.json()["unread_notifications"] == 0, marked.text
    lose_notifications(settings, author)
    late = log.post(author)
    log.settle()
    log.like(new_id(), late)
    log.settle()
    redis = sync_client(settings)
    assert redis.zcard(keys.notification_ids(author)) == 1 and not redis.exists(keys.notification_whole(author))
    after = notifications(client, settings, author)  # read from Cassandra, and copied to Redis on the way
    assert [i["id"] for i in after[1:]] == [i["id"] for i in before] and after[0]["target"]["id"] == late
    assert [i["read"] for i in after] == [False, True, True, True]  # the mark came back from Cassandra
    assert redis.exists(keys.notification_whole(author)) and redis.zcard(keys.notification_ids(author)) == 4
    assert notifications(client, settings, author) == after  # now Redis's
    assert status(client, settings, author) == 1  # the new like alone


def test_mark_read_after_redis_lost_the_list_marks_what_cassandra_holds(
    client: httpx.Client, settings: Settings, log: Log, test_env: dict[str, str]
) -> None:
    """After a loss, mark-read took the newest update of what Redis held: the remains (here an unlike's group,
    re-projected at its older time), so "everything" left the newer items unread. It reads the copy now."""
    author = new_id()
    posts = [log.post(author) for _ in range(3)]
    log.settle()
    for post in posts:  # three groups, each updated after the one before
        log.like(new_id(), post)
        log.settle()
    late_liker = new_id()
    log.like(late_liker, posts[0])
    log.settle()
    lose_notifications(settings, author)
    log.like(late_liker, posts[0], on=False)  # the first group comes back at its first like's time, alone
    log.settle()
    assert sync_client(settings).zcard(keys.notification_ids(author)) == 1
    marked = client.post("/notifications/mark-read", headers=auth(settings, author), json={})
    assert marked.status_code == 200 and marked.json()["unread_notifications"] == 0, marked.text
    assert [i["read"] for i in notifications(client, settings, author)] == [True, True, True]
    assert status(client, settings, author) == 0
    assert rebuild(test_env, "--check").returncode == 0


def test_a_user_with_none_is_remembered_and_their_first_notification_still_shows(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    author, fan = new_id(), new_id()
    redis = sync_client(settings)
    assert notifications(client, settings, author) == []
    # Cassandra answered "none" once; Redis now holds that (empty) list whole, so later reads need no Cassandra query
    assert redis.exists(keys.notification_whole(author)) and not redis.exists(keys.notification_ids(author))
    post = log.post(author)
    log.settle()
    log.like(fan, post)
    log.settle()
    # the list the processor wrote onto the known-empty one is whole
    assert summary(notifications(client, settings, author)) == [("like", "post", post, [fan], 1)]
    log.like(fan, post, on=False)
    log.settle()
    assert notifications(client, settings, author) == []


def test_a_large_group_keeps_its_exact_count_and_newest_actors_across_batches(
    client: httpx.Client, settings: Settings, publisher: Publisher, log: Log
) -> None:
    """Once a group is large the processor stops reading its slice whole (sinks.notifications): later batches
    of adds, a re-like, a duplicate, and then an unlike of a shown actor must still give the exact outcome."""
    author = new_id()
    post = log.post(author)
    log.settle()
    fans = [new_id() for _ in range(300)]
    assert publisher.submit_many([log.stamped(events.like_changed(post_id=post, user_id=f, action="like"))
                                  for f in fans]).result(timeout=60) == 300
    log.like(fans[-1], post)  # its applied mark covers the 300 (same partition, after them)
    log.settle()
    assert [i["actor_count"] for i in notifications(client, settings, author)] == [300]

    newcomers = [log.like(new_id(), post) for _ in range(20)]
    log.like(fans[0], post)  # an old fan likes again: a like standing already changes nothing
    log.publish(newcomers[0])  # a duplicate (re-sent: the same event)
    log.settle()
    [item] = notifications(client, settings, author)
    assert item["actor_count"] == 320
    newest = newcomers[-1]
    assert item["actors"][0]["id"] == newest.value["user_id"] and item["updated_at"] == newest.value["occurred_at"]

    log.like(newest.value["user_id"], post, on=False)  # a shown actor leaves: the group is read whole again
    log.settle()
    [item] = notifications(client, settings, author)
    assert item["actor_count"] == 319 and newest.value["user_id"] not in [a["id"] for a in item["actors"]]
    assert item["actors"][0]["id"] == newcomers[-2].value["user_id"]


def test_a_logged_out_token_reads_no_notifications(client: httpx.Client, settings: Settings) -> None:
    """The page checks its token's revocation inside its own Redis read (one round trip): still refused."""
    me = new_id()
    headers = auth(settings, me)
    assert client.get("/notifications", headers=headers).status_code == 200
    assert client.get("/notifications").status_code == 401
    assert client.post("/auth/logout", headers=headers).status_code == 204
    refused = client.get("/notifications", headers=headers)
    assert refused.status_code == 401 and "revoked" in refused.text, refused.text


def test_a_block_either_way_withdraws_the_pairs_follow_request_notification(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    """The block closes the requests (nobody can approve them any more), and now the notification goes too: it
    stayed (hidden while the block stood, back once it was lifted) for a request that no longer existed."""
    owner, blocked_by_owner, blocking_owner, still_asking = (new_id() for _ in range(4))
    for requester in (blocked_by_owner, blocking_owner, still_asking):
        log.publish(events.follow_requested(follower_id=requester, followee_id=owner, action="request"))
    log.settle()
    assert sorted(a for item in notifications(client, settings, owner) for a in summary([item])[0][3]) == sorted(
        [blocked_by_owner, blocking_owner, still_asking])
    log.publish(events.block_changed(actor_id=owner, target_id=blocked_by_owner, action="on"))
    log.publish(events.block_changed(actor_id=blocking_owner, target_id=owner, action="on"))
    log.settle()  # the safety processor published the closings before it marked the blocks applied
    # unblocked again: the block no longer hides them at read time, and an unblock reopens no request
    log.publish(events.block_changed(actor_id=owner, target_id=blocked_by_owner, action="off"))
    log.publish(events.block_changed(actor_id=blocking_owner, target_id=owner, action="off"))
    log.settle()
    wait_for(lambda: summary(notifications(client, settings, owner)),
             lambda found: found == [("follow_request", "user", owner, [still_asking], 1)], 60,
             "the blocked pairs' requests to leave the owner's notifications")


def test_a_block_takes_each_sides_likes_off_the_others_posts_and_out_of_their_notifications(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    """As a block removes a person's likes from your photos: the counts drop, and the "liked your photo" goes
    with them (it stayed, hidden while the block stood and back once it was lifted)."""
    owner, blocked, fan = new_id(), new_id(), new_id()
    owners_post, blocked_post = log.post(owner), log.post(blocked)
    log.settle()
    log.like(blocked, owners_post)
    log.like(fan, owners_post)
    log.like(owner, blocked_post)
    log.settle()

    def counts() -> tuple[int, ...]:
        return like_counts(client, owners_post, blocked_post)

    wait_for(counts, lambda found: found == (2, 1), 60, "the likes to count")
    log.publish(events.block_changed(actor_id=owner, target_id=blocked, action="on"))
    log.settle()
    wait_for(counts, lambda found: found == (1, 0), 60, "the block to take both sides' likes off")
    log.publish(events.block_changed(actor_id=owner, target_id=blocked, action="off"))
    log.settle()
    wait_for(lambda: summary(notifications(client, settings, owner)),
             lambda found: found == [("like", "post", owners_post, [fan], 1)], 60,
             "only the fan's like to be left in the owner's notifications")
    assert counts() == (1, 0)  # an unblock restores no like


def like_counts(client: httpx.Client, *posts: str) -> tuple[int, ...]:
    return tuple(int(client.get(f"/posts/{post}").json()["like_count"]) for post in posts)


def opaque(cursor: str, user: str) -> bool:
    """No id or position shows through the cursor."""
    return user not in cursor and "~" not in cursor


def unread_count(client: httpx.Client, settings: Settings, user: str) -> int:
    return sum(1 for item in notifications(client, settings, user) if not item["read"])


def test_an_old_unlike_delivered_again_with_a_repeated_like_leaves_a_read_notification_read(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """Batched with a repeat of the standing like, an unlike from before that like made the repeat a new like:
    the notification went unread again, at the repeat's time."""
    author, fan = new_id(), new_id()
    post = log.post(author)
    log.settle()
    unlike = log.like(fan, post, on=False)
    log.like(fan, post)
    repeat = log.like(fan, post)  # a double tap
    log.settle()
    assert client.post("/notifications/mark-read", headers=auth(settings, author)).status_code == 200
    assert unread_count(client, settings, author) == 0
    # both again, in one produce (so in one batch of the processor); then a like of another author's post on
    # the same partition, applied after them
    assert log.publisher.submit_many([unlike, repeat]).result(timeout=30) == 2
    partitions = catalog_topic("like-changed").partitions
    neighbour = next(p for p in (new_id() for _ in range(1000))
                     if partition_of(p.encode(), partitions) == partition_of(post.encode(), partitions))
    log.like(new_id(), neighbour)
    log.settle()
    assert [(i["read"], i["actor_count"]) for i in notifications(client, settings, author)] == [(True, 1)]


def test_a_like_or_follow_delivered_after_the_retraction_that_followed_it_does_not_notify(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """A like redriven from the DLQ (or re-sent by a producer) after the unlike that followed it, applied in an
    earlier batch, notified again: the unlike had found no row to delete, and a tombstone's time cannot be read
    back (migration 0028 keeps it)."""
    author, fan, other = new_id(), new_id(), new_id()
    post = log.post(author)
    log.settle()
    like = log.stamped(events.like_changed(post_id=post, user_id=fan, action="like"))  # made first, sent last
    follow = log.stamped(events.follow_changed(follower_id=fan, followee_id=author, action="follow"))
    log.like(fan, post, on=False)
    log.publish(events.follow_changed(follower_id=fan, followee_id=author, action="unfollow"))
    log.settle()
    log.publish(like)
    log.publish(follow)
    log.like(other, post)  # applied after the late like (the same partition): its notification shows it was
    log.settle()
    assert summary(notifications(client, settings, author)) == [("like", "post", post, [other], 1)]
    # the retraction's time is kept for a while, not for good (a deleted account's rows stayed in every partition)
    from sinks.cassandra import connect
    from sinks.notifications import RETRACTION_KEPT_S

    cluster, cassandra = connect(settings)
    try:
        kept = [row.ttl for row in cassandra.execute(
            "SELECT TTL(retracted_at) AS ttl FROM notification_latest WHERE recipient_id = %s AND kind = 'like' "
            "AND target_id = %s AND actor_id = %s", (author, post, fan))]
    finally:
        cluster.shutdown()
    assert len(kept) == 1 and 0 < kept[0] <= RETRACTION_KEPT_S, kept


def test_a_repeated_like_or_follow_changes_nothing_and_an_unlike_withdraws_it_whole(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """A double tap or a client's retry (nothing changed: already liked, already following) re-notified: back to
    unread, at the top; and with the repeat in a later hour, an unlike withdrew only the newer group."""
    author, fan = new_id(), new_id()
    post = log.post(author)
    log.settle()
    log.like(fan, post)
    log.publish(events.follow_changed(follower_id=fan, followee_id=author, action="follow"))
    log.settle()
    assert client.post("/notifications/mark-read", headers=auth(settings, author)).status_code == 200
    assert unread_count(client, settings, author) == 0
    later = now_ms() + 2 * settings.notification_bucket_s * 1000  # the repeats land in another hour's bucket
    log.publisher.publish(events.build("like-changed", {"post_id": post, "user_id": fan, "action": "like",
                                                        "occurred_at": later}))
    log.pending.append(log.publisher.publish(events.build(
        "follow-changed", {"follower_id": fan, "followee_id": author, "action": "follow", "occurred_at": later})))
    log.like(fan, post)  # (the same partition as the late like: applied after it)
    log.settle()
    assert unread_count(client, settings, author) == 0
    assert sorted(i["kind"] for i in notifications(client, settings, author)) == ["follow", "like"]
    log.publisher.publish(events.build("like-changed", {"post_id": post, "user_id": fan, "action": "unlike",
                                                        "occurred_at": later + 1}))
    log.like(new_id(), post)  # a sentinel on the same partition, applied after the unlike
    log.settle()
    assert [i["actors"][0]["id"] for i in notifications(client, settings, author) if i["kind"] == "like"] != [fan]
    assert fan not in {a["id"] for i in notifications(client, settings, author) if i["kind"] == "like"
                       for a in i["actors"]}


def test_an_approved_tag_answers_wants_to_tag_you_with_tagged_you(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    author, tagged = new_id(), new_id()
    post, image = log.post(author), new_id()
    log.tag(post, image, author, tagged, pending=True)
    log.settle()
    assert summary(notifications(client, settings, tagged)) == [("tag_request", "post", post, [author], 1)]
    (request,) = notifications(client, settings, tagged)
    read = client.post("/notifications/mark-read", headers=auth(settings, tagged), json={"up_to": request["id"]})
    assert read.status_code == 200, read.text
    log.tag(post, image, tagged, tagged, "approve")
    log.settle()
    assert summary(notifications(client, settings, tagged)) == [("tag", "post", post, [author], 1)]
    # the person's own approval raises no badge: "tagged you" is as of the request they had read
    (answered,) = notifications(client, settings, tagged)
    assert answered["read"] and answered["updated_at"] == request["updated_at"]
    assert status(client, settings, tagged) == 0


def test_a_mute_hides_what_the_muted_person_did_before_it_too(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    author, muted, other = new_id(), new_id(), new_id()
    post = log.post(author)
    log.settle()
    log.like(other, post)
    log.like(muted, post)
    log.publish(events.follow_changed(follower_id=muted, followee_id=author, action="follow"))
    log.settle()
    assert {a["id"] for i in notifications(client, settings, author) for a in i["actors"]} == {muted, other}
    log.publish(events.mute_changed(actor_id=author, target_id=muted, action="on"))
    log.settle()
    shown = notifications(client, settings, author)
    assert summary(shown) == [("like", "post", post, [other], 1)]


def test_muting_the_newest_actors_of_a_group_keeps_the_group_for_its_other_members(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """Only the newest few actors are named: muting them hid the whole "liked your photo", though someone
    else had liked it too (it stood, counted by nobody the list showed). A mute now takes the muted out of the
    group, so the one left is named and counted."""
    author, early = new_id(), new_id()
    muted = [new_id() for _ in range(settings.notification_actors_shown)]
    post = log.post(author)
    log.settle()
    log.like(early, post)
    log.settle()
    for person in muted:
        log.like(person, post)
    log.settle()
    for person in muted:
        log.publish(events.mute_changed(actor_id=author, target_id=person, action="on"))
    log.settle()
    assert summary(notifications(client, settings, author)) == [("like", "post", post, [early], 1)]


def test_a_mute_or_a_block_withdraws_a_member_the_group_does_not_name(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """A group names only its newest few actors: a block or a mute looked for the other person among those, so
    one who had acted earlier stayed counted ("and 3 others", one of them muted or blocked) for good."""
    author, muted, blocked = new_id(), new_id(), new_id()
    newer = [new_id() for _ in range(settings.notification_actors_shown)]
    post = log.post(author)
    log.settle()
    log.like(muted, post)
    log.like(blocked, post)
    log.settle()
    for person in newer:
        log.like(person, post)
    log.settle()
    [(_, _, _, named, count)] = summary(notifications(client, settings, author))
    assert count == len(newer) + 2 and muted not in named and blocked not in named
    log.publish(events.mute_changed(actor_id=author, target_id=muted, action="on"))
    log.publish(events.block_changed(actor_id=blocked, target_id=author, action="on"))
    log.settle()
    [(_, _, _, named, count)] = summary(notifications(client, settings, author))
    assert (sorted(named), count) == (sorted(newer), len(newer))


def test_a_deleted_comment_withdraws_its_commented_on_your_post(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    author, commenter, other = new_id(), new_id(), new_id()
    post = log.post(author)
    log.settle()
    doomed = log.stamped(events.comment_added(post_id=post, user_id=commenter, text="oops"))
    log.publish(doomed)
    log.publish(events.comment_added(post_id=post, user_id=other, text="nice"))
    log.settle()
    assert sorted(summary(notifications(client, settings, author))[0][3]) == sorted([commenter, other])
    log.publish(events.comment_deleted(post_id=post, comment_id=doomed.value["comment_id"], user_id=commenter,
                                       actor_id=commenter, commented_at=doomed.value["occurred_at"]))
    log.settle()
    assert summary(notifications(client, settings, author)) == [("comment", "post", post, [other], 1)]


def test_a_writer_stays_in_the_hours_comment_group_while_another_of_their_comments_stands(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """Membership was per writer: deleting one of two comments of the same hour withdrew "commented on your
    post" (and "mentioned you in a comment") while the other still stood. Now each comment counts on its own, and
    a deleted one delivered again brings nothing back."""
    author, commenter = new_id(), new_id()
    mentioned, name = register(client)
    post = log.post(author)
    log.settle()
    first, second = (log.stamped(events.comment_added(post_id=post, user_id=commenter, text=f"{word} @{name}"))
                     for word in ("one", "two"))
    log.publish(first)
    log.publish(second)
    log.settle()

    def delete(comment: events.Event) -> None:
        log.publish(events.comment_deleted(post_id=post, comment_id=comment.value["comment_id"], user_id=commenter,
                                           actor_id=author, commented_at=comment.value["occurred_at"]))
        log.settle()

    delete(first)
    assert summary(notifications(client, settings, author)) == [("comment", "post", post, [commenter], 1)]
    assert summary(notifications(client, settings, mentioned)) == [("comment_mention", "post", post, [commenter], 1)]
    log.publish(first)  # (a replay)
    log.settle()
    delete(second)
    assert summary(notifications(client, settings, author)) == []
    assert summary(notifications(client, settings, mentioned)) == []
    assert status(client, settings, author) == 0


def test_a_comment_member_stored_before_per_comment_membership_counts_until_a_deletion_of_that_hour(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """Rows written before migration 0033 recorded the writer, not a comment (``at``, no ``comments``): such a
    writer is still a member, and a deletion from that hour withdraws them, as it did when the row was written."""
    from sinks.cassandra import connect as cassandra_connect

    author, old_timer, newcomer = new_id(), new_id(), new_id()
    post = log.post(author)
    log.settle()
    fresh = log.stamped(events.comment_added(post_id=post, user_id=newcomer, text="hello"))
    at = int(fresh.value["occurred_at"]) - 1
    cluster, session = cassandra_connect(settings)
    try:
        session.execute("INSERT INTO notification_members (recipient_id, kind, target_id, bucket, actor_id, at) "
                        "VALUES (%s, 'comment', %s, %s, %s, %s) USING TIMESTAMP %s",
                        (author, post, bucket_of(at, settings.notification_bucket_s * 1000), old_timer, at, at * 1000))
    finally:
        cluster.shutdown()
    log.publish(fresh)
    log.settle()
    [(kind, _, _, actors, count)] = summary(notifications(client, settings, author))
    assert (kind, sorted(actors), count) == ("comment", sorted([old_timer, newcomer]), 2)
    log.publish(events.comment_deleted(post_id=post, comment_id=new_id(), user_id=old_timer, actor_id=old_timer,
                                       commented_at=at))
    log.settle()
    assert summary(notifications(client, settings, author)) == [("comment", "post", post, [newcomer], 1)]


def test_a_like_applied_before_the_posts_view_has_the_post_still_reaches_its_author(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """After a worker restart the posts view (its own projector) can be seconds behind the notifications
    processor: a like of a post it did not have yet was dropped for good ("unknown post"). The API names the
    post's author in the like (``post_author_id``), so the author is notified whatever the view has."""
    author, fan = new_id(), new_id()
    post = events.post_created(author_id=author, caption="just posted", image_ids=[new_id()])
    post_id = post.value["post_id"]
    log.publish(events.like_changed(post_id=post_id, user_id=fan, action="like", post_author_id=author))
    log.settle()  # applied while no view has the post
    log.publish(post)
    log.settle()
    assert summary(notifications(client, settings, author)) == [("like", "post", post_id, [fan], 1)]
    # a like naming the author of a post that was deleted notifies no one, as before
    log.publish(events.post_deleted(post_id=post_id, author_id=author))
    log.settle()
    other = new_id()
    log.publish(events.like_changed(post_id=post_id, user_id=other, action="like", post_author_id=author))
    log.settle()
    assert other not in {a["id"] for i in notifications(client, settings, author) for a in i["actors"]}


def test_a_deleted_posts_notifications_leave_every_list_and_badge(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """They stayed, hidden at read but counted by the badge (3 unread, nothing shown), which only a mark-read
    brought down: now a deletion forgets them for everyone who had one."""
    author, fan, tagged = new_id(), new_id(), new_id()
    mentioned, name = register(client)
    doomed, kept = log.post(author, caption=f"with @{name}"), log.post(author)
    log.settle()
    log.like(fan, doomed)
    log.like(fan, kept)
    log.publish(events.comment_added(post_id=doomed, user_id=fan, text=f"hi @{name}"))
    log.tag(doomed, new_id(), author, tagged)
    log.settle()
    assert (status(client, settings, author), status(client, settings, mentioned), status(client, settings, tagged)) \
        == (3, 2, 1)
    log.publish(events.post_deleted(post_id=doomed, author_id=author))
    log.settle()
    assert (status(client, settings, author), status(client, settings, mentioned), status(client, settings, tagged)) \
        == (1, 0, 0)
    assert summary(notifications(client, settings, author)) == [("like", "post", kept, [fan], 1)]
    assert notifications(client, settings, mentioned) == [] and notifications(client, settings, tagged) == []


def test_an_untag_from_one_photo_keeps_tagged_you_while_another_photo_still_tags_them(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    author, tagged = new_id(), new_id()
    post, first, second = log.post(author), new_id(), new_id()
    for photo in (first, second):
        log.tag(post, photo, author, tagged)
    log.settle()
    assert summary(notifications(client, settings, tagged)) == [("tag", "post", post, [author], 1)]
    log.tag(post, first, author, tagged, "remove")
    log.settle()
    assert summary(notifications(client, settings, tagged)) == [("tag", "post", post, [author], 1)]
    log.tag(post, second, tagged, tagged, "remove")  # their own removal of the last one
    log.settle()
    assert notifications(client, settings, tagged) == []


def test_untags_of_every_photo_sent_together_withdraw_tagged_you(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """Each removal saw the others' photos still tagged (the tags view had not applied them): all were taken
    for standing, and "tagged you" stayed for good."""
    author, tagged = new_id(), new_id()
    post, photos = log.post(author), [new_id() for _ in range(3)]
    for photo in photos:
        log.tag(post, photo, author, tagged)
    log.settle()
    assert summary(notifications(client, settings, tagged)) == [("tag", "post", post, [author], 1)]
    assert log.publisher.submit_many([log.stamped(events.photo_tag_changed(
        post_id=post, image_id=photo, tagger_id=tagged, tagged_id=tagged, action="remove"))
        for photo in photos]).result(timeout=30) == 3
    log.publish(events.photo_tag_changed(post_id=post, image_id=new_id(), tagger_id=author, tagged_id=new_id(),
                                         action="add", x=0.1, y=0.1))  # same partition: applied after them
    log.settle()
    assert notifications(client, settings, tagged) == []


def test_approving_one_photos_tag_keeps_wants_to_tag_you_for_the_photo_still_pending(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    author, tagged = new_id(), new_id()
    post, first, second = log.post(author), new_id(), new_id()
    for photo in (first, second):
        log.tag(post, photo, author, tagged, pending=True)
    log.settle()
    log.tag(post, first, tagged, tagged, "approve")
    log.settle()
    assert sorted(summary(notifications(client, settings, tagged))) == [
        ("tag", "post", post, [author], 1), ("tag_request", "post", post, [author], 1)]


def test_a_user_an_upstream_service_registered_can_be_mentioned_and_opened_by_name(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """Names were looked up only among those claimed through the API's registration: every user registered
    through the SDK (an upstream service's, the simulator's) was never notified of a mention, and
    ``GET /users/@name`` was a 404."""
    author, upstream = new_id(), new_id()
    name = f"up{uuid.uuid4().hex[:10]}"
    log.publish(events.user_registered(user_id=upstream, username=name, display_name="Upstream"))
    log.settle()
    post = log.post(author, caption=f"hello @{name}!")
    log.settle()
    assert summary(notifications(client, settings, upstream)) == [("mention", "post", post, [author], 1)]
    profile = client.get(f"/users/@{name.upper()}")
    assert profile.status_code == 200 and profile.json()["id"] == upstream, profile.text


def test_accepted_your_follow_request_goes_when_the_follow_ends(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """It stayed after an unfollow, a block, or the account's deletion (naming an account that was gone)."""
    owner, requester = new_id(), new_id()
    log.publish(events.follow_requested(follower_id=requester, followee_id=owner, action="request"))
    log.publish(events.follow_requested(follower_id=requester, followee_id=owner, action="approve"))
    log.publish(events.follow_changed(follower_id=requester, followee_id=owner, action="follow"))
    log.settle()
    assert summary(notifications(client, settings, requester)) == [("follow_accepted", "user", owner, [owner], 1)]
    log.publish(events.follow_changed(follower_id=requester, followee_id=owner, action="unfollow"))
    log.settle()
    assert notifications(client, settings, requester) == []


def test_a_follow_unfollow_follow_of_one_millisecond_is_still_withdrawn_by_a_later_unfollow(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """The three in one batch wrote the actor's latest row's delete and insert with one timestamp: the
    tombstone won, and a later unfollow found nothing to withdraw."""
    follower, followee = new_id(), new_id()
    at = now_ms()
    assert log.publisher.submit_many([events.build("follow-changed", {
        "follower_id": follower, "followee_id": followee, "action": action, "occurred_at": at})
        for action in ("follow", "unfollow", "follow")]).result(timeout=30) == 3
    log.pending.append(log.publisher.publish(events.build("follow-changed", {
        "follower_id": new_id(), "followee_id": followee, "action": "follow", "occurred_at": at + 1})))
    log.settle()
    assert follower in {a["id"] for i in notifications(client, settings, followee) for a in i["actors"]}
    log.pending.append(log.publisher.publish(events.build("follow-changed", {
        "follower_id": follower, "followee_id": followee, "action": "unfollow", "occurred_at": at + 2})))
    log.settle()
    assert follower not in {a["id"] for i in notifications(client, settings, followee) for a in i["actors"]}


def test_muting_someone_takes_them_out_of_your_notifications_and_your_badge(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """The list hid a muted person's notifications, and the badge kept counting them: a "2" over an empty
    list until a mark-read of everything. A group they share with others keeps the others."""
    (me, _), muted, other = register(client), new_id(), new_id()
    mine = log.post(me)
    log.like(muted, mine)
    log.like(other, mine)
    log.publish(events.follow_changed(follower_id=muted, followee_id=me, action="follow"))
    log.settle()
    assert status(client, settings, me) == 2
    log.publish(events.mute_changed(actor_id=me, target_id=muted, action="on"))
    log.settle()
    items = notifications(client, settings, me)
    assert [(i["kind"], [a["id"] for a in i["actors"]], i["actor_count"]) for i in items] == [("like", [other], 1)]
    assert status(client, settings, me) == 1


def test_a_repeated_like_repairs_a_group_whose_projection_was_lost(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """A worker stopped after a batch's membership write and before its Redis projection replays the batch, and
    its likes are repeats then: they were skipped whole, and the group lacked its newest liker for good."""
    (me, _), first, second = register(client), new_id(), new_id()
    mine = log.post(me)
    log.like(first, mine)
    log.settle()
    notifications(client, settings, me)  # the list is read once: Redis's to serve from now on
    redis = sync_client(settings)
    [group] = [g for g in redis.hkeys(keys.notification_items(me))]
    before = (redis.hget(keys.notification_items(me), group), redis.zscore(keys.notification_updated(me), group))
    liked = log.like(second, mine)
    log.settle()
    redis.hset(keys.notification_items(me), group, before[0])  # the projection of the second like, lost
    redis.zadd(keys.notification_updated(me), {group: before[1]})
    assert [i["actor_count"] for i in notifications(client, settings, me)] == [1]
    log.publish(liked)  # the batch replayed: the same event, a repeat now
    log.settle()
    [item] = notifications(client, settings, me)
    assert item["actor_count"] == 2 and item["actors"][0]["id"] == second, item


def test_a_block_with_a_post_s_author_takes_a_third_person_s_mention_there_out_of_your_badge(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """A comment mentioning you on the post of someone you then blocked (or who blocked you): the list hid it,
    the badge kept a "1" over an empty screen, and told a blocked user a notification was there."""
    for blocker_is_author in (True, False):
        author, commenter, (mentioned, name) = new_id(), new_id(), register(client)
        post = log.post(author)
        log.publish(events.comment_added(post_id=post, user_id=commenter, text=f"look @{name}"))
        log.settle()
        assert status(client, settings, mentioned) == 1
        actor, target = (author, mentioned) if blocker_is_author else (mentioned, author)
        log.publish(events.block_changed(actor_id=actor, target_id=target, action="on"))
        log.settle()
        assert notifications(client, settings, mentioned) == [] and status(client, settings, mentioned) == 0


def test_a_status_read_with_a_mute_s_token_counts_none_of_the_muted_person_s_notifications(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """The token waited for the safety processor alone, and the badge read with it still counted them."""
    (me, _), fan = register(client), new_id()
    log.publish(events.follow_changed(follower_id=fan, followee_id=me, action="follow"))
    log.settle()
    assert status(client, settings, me) == 1
    muted = client.post(f"/users/{fan}/mute", headers=auth(settings, me))
    assert muted.status_code == 202, muted.text
    read = client.get(f"/users/{me}/status", headers=auth(settings, me), params={"after": muted.json()["token"]})
    assert read.json()["unread_notifications"] == 0, read.text


def test_a_mention_from_someone_who_then_blocked_you_leaves_your_badge(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """The list hid it, the badge kept a "1" over an empty screen until a mark-read of everything."""
    author, (mentioned, name) = new_id(), register(client)
    log.post(author, caption=f"hi @{name}")
    log.settle()
    assert status(client, settings, mentioned) == 1
    log.publish(events.block_changed(actor_id=author, target_id=mentioned, action="on"))
    log.settle()
    assert notifications(client, settings, mentioned) == [] and status(client, settings, mentioned) == 0


def test_an_unfollow_takes_unread_mentions_on_posts_the_follower_may_no_longer_see_out_of_the_badge(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """The list hid them at read (a private account's post, a followers-only post), and the badge kept counting
    them: a "2" over one item. A public post's mention stays."""
    private_author, open_author = new_id(), new_id()
    fan, name = register(client)
    log.publish(events.profile_updated(user_id=private_author, username=f"p{uuid.uuid4().hex[:12]}",
                                       display_name="P", is_private=True, tags_followed_only=False,
                                       tags_manual_approval=False))
    for author in (private_author, open_author):
        log.publish(events.follow_changed(follower_id=fan, followee_id=author, action="follow"))
    log.settle()
    kept = log.post(open_author, caption=f"for everyone @{name}")
    log.post(private_author, caption=f"for my followers @{name}")
    log.post(open_author, caption=f"for my followers too @{name}", visibility="followers")
    log.settle()
    assert len(notifications(client, settings, fan)) == 3 and status(client, settings, fan) == 3
    for author in (private_author, open_author):
        log.publish(events.follow_changed(follower_id=fan, followee_id=author, action="unfollow"))
    log.settle()
    assert [(i["kind"], i["target"]["id"]) for i in notifications(client, settings, fan)] == [("mention", kept)]
    assert status(client, settings, fan) == 1


def test_an_account_made_private_takes_its_posts_notifications_out_of_strangers_badges(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """A stranger mentioned on its public posts may no longer see them: the list hid them, the badge counted
    them. A follower's stay, and so do the account's own (a like on its post)."""
    author, liker = new_id(), new_id()
    stranger, stranger_name = register(client)
    follower, follower_name = register(client)
    log.publish(events.follow_changed(follower_id=follower, followee_id=author, action="follow"))
    log.settle()
    post = log.post(author, caption=f"hello @{stranger_name} and @{follower_name}")
    log.like(liker, post)
    log.settle()
    assert [status(client, settings, u) for u in (stranger, follower, author)] == [1, 1, 2]  # (author: + a follow)
    log.publish(events.profile_updated(user_id=author, username=f"a{uuid.uuid4().hex[:12]}", display_name="A",
                                       is_private=True, tags_followed_only=False, tags_manual_approval=False))
    log.settle()
    assert notifications(client, settings, stranger) == [] and status(client, settings, stranger) == 0
    assert [(i["kind"], i["target"]["id"]) for i in notifications(client, settings, follower)] == [("mention", post)]
    assert status(client, settings, follower) == 1
    assert sorted(summary(notifications(client, settings, author))) == [
        ("follow", "user", author, [follower], 1), ("like", "post", post, [liker], 1)]


def test_blocks_read_together_end_only_what_lies_between_each_pair(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """The safety processor reads a batch's blocks together (each person's likes once): the owner's two blocks
    take the two blocked people's likes off the owner's post, and leave the like one of them gave the other."""
    owner, first, second, fan = new_id(), new_id(), new_id(), new_id()
    owners_post, firsts_post = log.post(owner), log.post(first)
    log.settle()
    for liker in (first, second, fan):
        log.like(liker, owners_post)
    log.like(second, firsts_post)
    log.settle()

    def counts() -> tuple[int, ...]:
        return like_counts(client, owners_post, firsts_post)

    wait_for(counts, lambda found: found == (3, 1), 60, "the likes to count")
    for blocked in (first, second):  # keyed by the owner: one partition, most likely one batch
        log.publish(events.block_changed(actor_id=owner, target_id=blocked, action="on"))
    log.settle()
    wait_for(counts, lambda found: found[0] == 1, 60, "the blocks to take both likes off")
    assert counts() == (1, 1)
    assert summary(notifications(client, settings, owner)) == [("like", "post", owners_post, [fan], 1)]


def made_private_while_profiles_lag(log: Log, settings: Settings, author: str) -> None:
    """``author`` made private and the switch applied by the processors, then the profiles view put back as its
    projector had left it before (public, nothing cached): what a lagging projector shows."""
    from sinks.cassandra import connect as cassandra_connect

    log.publish(events.profile_updated(user_id=author, username=f"a{uuid.uuid4().hex[:12]}", display_name="A",
                                       is_private=True, tags_followed_only=False, tags_manual_approval=False))
    log.settle()
    cluster, session = cassandra_connect(settings)
    try:
        session.execute("UPDATE users SET is_private = false WHERE user_id = %s", (author,))
    finally:
        cluster.shutdown()
    sync_client(settings).delete(keys.user_profile(author))


def test_a_mention_on_a_post_after_the_account_went_private_stays_out_of_a_strangers_badge_while_profiles_lag(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """The processor had seen the account made private, but the profiles view did not have it yet (its
    projector lags behind a backlog): the mention on the account's next post counted in a stranger's badge,
    under a list that hid it."""

    author = new_id()
    stranger, stranger_name = register(client)
    made_private_while_profiles_lag(log, settings, author)
    post = log.post(author, caption=f"hello @{stranger_name}")
    log.like(stranger, post)  # a later record of the same post, so the mention's batch is surely applied
    log.settle()
    assert status(client, settings, stranger) == 0 and notifications(client, settings, stranger) == []


@contextlib.asynccontextmanager
async def loops_of_our_own(settings: Settings, count: int = 1) -> AsyncIterator[list[Any]]:
    """``count`` notifications processors in the test process, as other worker processes run them: on the run's
    stores, each with applied marks of its own (the worker's stay as they are), removed at the end."""
    from streams.notifications import NotificationsProcessor
    from streams.resources import Resources

    resources = Resources.open(settings)
    loops = []
    try:
        for _ in range(count):
            loops.append(NotificationsProcessor.on(resources))
            loops[-1].name = f"test-loop-{new_id()}"
        yield loops
    finally:
        await resources.redis.delete(*(keys.applied_offsets(loop.name, topic) for loop in loops
                                       for topic in loop.topics))
        await resources.close()


def record_of(key: str, event: events.Event) -> Any:
    """``event`` as a loop receives it (partition and offset do not matter to the processor)."""
    from streams.engine.records import Record

    return Record(event.topic, 0, 0, key.encode(), event.value)


def refuse(record: object, error: Exception) -> None:
    pytest.fail(f"rejected: {error}")


def a_post_commented_mentioning(client: httpx.Client, log: Log,
                                words: str) -> tuple[str, str, str, str, events.Event]:
    """A post (applied) and, not yet published, a comment on it saying ``words`` and mentioning a registered
    user: (author, commenter, mentioned, post, comment)."""
    author, commenter = new_id(), new_id()
    mentioned, name = register(client)
    post = log.post(author)
    log.settle()
    comment = log.stamped(events.comment_added(post_id=post, user_id=commenter, text=f"{words} @{name}",
                                               post_author_id=author))
    return author, commenter, mentioned, post, comment


def test_a_comment_mention_on_a_newly_private_accounts_post_stays_out_when_another_loop_owns_the_comment(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """Comments are keyed by post, so the loop that applies one may not be the loop that saw the post's author
    made private (profile updates are keyed by account): while the profiles view lagged, that other loop let a
    stranger's comment mention through. The loop that sees the switch now shares it (``keys.made_private``);
    here a second processor, as another worker process runs it, applies the comment."""
    author, commenter = new_id(), new_id()
    stranger, stranger_name = register(client)
    post = log.post(author)
    made_private_while_profiles_lag(log, settings, author)
    comment = log.stamped(events.comment_added(post_id=post, user_id=commenter, text=f"look @{stranger_name}",
                                               post_author_id=author))

    async def applied_by_another_loop() -> None:
        async with loops_of_our_own(settings) as (other,):
            await other.process([record_of(post, comment)], refuse)

    asyncio.run(applied_by_another_loop())
    assert summary(notifications(client, settings, author)) == [("comment", "post", post, [commenter], 1)]
    assert status(client, settings, stranger) == 0 and notifications(client, settings, stranger) == []


def test_a_like_applied_after_the_mute_but_before_the_relation_is_written_notifies_no_one(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """The notifications processor asks the safety processor's relations whether an actor is muted, and reads the
    mute itself too: while the safety processor lagged, a like applied after the notifications processor had read
    the mute notified the muter, and stayed. Here the mute never reaches the safety processor at all (a loop of
    this process reads it); an unmute read the same way lets the next like through again."""
    author, muted = new_id(), new_id()
    post = log.post(author)
    log.settle()
    mute, unmute = (log.stamped(events.mute_changed(actor_id=author, target_id=muted, action=action))
                    for action in ("on", "off"))
    like, unlike, relike = (log.stamped(events.like_changed(post_id=post, user_id=muted, action=action,
                                                            post_author_id=author))
                            for action in ("like", "unlike", "like"))

    async def the_safety_processor_lagging() -> None:
        async with loops_of_our_own(settings) as (loop,):
            await loop.process([record_of(author, mute)], refuse)
            await loop.process([record_of(post, like)], refuse)
            assert summary(notifications(client, settings, author)) == []
            await loop.process([record_of(author, unmute), record_of(post, unlike)], refuse)
            await loop.process([record_of(post, relike)], refuse)

    asyncio.run(the_safety_processor_lagging())
    assert summary(notifications(client, settings, author)) == [("like", "post", post, [muted], 1)]


def test_a_comment_mention_applied_while_another_loop_makes_the_author_private_leaves_no_strangers_badge(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """The race the shared marker left: the loop applying a comment checked the author (public, nothing shared
    yet), then the loop that saw the switch to private shared it and cleared strangers' notifications, then the
    comment's mention was written, after the clear, and counted in the stranger's badge. Two processors in this
    process, as two worker processes run them, the switch applied between the first's check and its write."""
    author, commenter, stranger, post, comment = a_post_commented_mentioning(client, log, "look")
    switch = log.stamped(events.profile_updated(user_id=author, username=f"a{uuid.uuid4().hex[:12]}",
                                                display_name="A", is_private=True, tags_followed_only=False,
                                                tags_manual_approval=False))

    async def the_switch_lands_between_check_and_write() -> None:
        async with loops_of_our_own(settings, 2) as (comments, profiles):
            checked = comments._private_among

            async def checked_then_switched(accounts: set[str]) -> set[str]:
                found = await checked(accounts)
                await profiles.process([record_of(author, switch)], refuse)
                return found

            comments._private_among = checked_then_switched
            await comments.process([record_of(post, comment)], refuse)

    asyncio.run(the_switch_lands_between_check_and_write())
    assert summary(notifications(client, settings, author)) == [("comment", "post", post, [commenter], 1)]
    assert status(client, settings, stranger) == 0 and notifications(client, settings, stranger) == []


def test_a_like_naming_no_author_reaches_the_author_of_a_post_another_loop_saw_created(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """A like from an upstream service need not name the post's author (v1 likes have no ``post_author_id``).
    Likes are keyed by post and posts by author, so the loop applying the like is not the one that saw the post
    created, and while the posts view lagged the like notified nobody, for good. Two processors in this
    process, as two worker processes run them; the posts view gets the post only after both applied theirs.
    A like (or a people tag) applied before any loop saw its post created waits for it (and a like stays undone
    when its unlike is applied before the loop that saw the creation releases it); a post deleted before the
    view had it notifies no one (its badge stays at 0)."""
    author, fan, gone_author, early_author, undone_author = new_id(), new_id(), new_id(), new_id(), new_id()
    tagged = new_id()
    post = log.stamped(events.post_created(author_id=author, caption="just posted", image_ids=[new_id()]))
    gone = log.stamped(events.post_created(author_id=gone_author, caption="deleted at once", image_ids=[new_id()]))
    early = log.stamped(events.post_created(author_id=early_author, caption="liked at once", image_ids=[new_id()]))
    undone = log.stamped(events.post_created(author_id=undone_author, caption="unliked", image_ids=[new_id()]))
    post_id, gone_id, early_id = post.value["post_id"], gone.value["post_id"], early.value["post_id"]
    undone_id = undone.value["post_id"]

    async def on_two_loops(*steps: tuple[int, str, events.Event]) -> None:
        async with loops_of_our_own(settings, 2) as loops:
            for loop, key, event in steps:
                await loops[loop].process([record_of(key, event)], refuse)

    def like(post_id: str, action: str = "like") -> events.Event:  # (no post_author_id)
        return log.stamped(events.like_changed(post_id=post_id, user_id=fan, action=action))  # type: ignore[arg-type]

    async def unliked_before_the_release() -> None:
        """The like parked; the creation noted (its release held); the unlike applied; then the release."""
        async with loops_of_our_own(settings, 2) as (creations, likes):
            await likes.process([record_of(undone_id, like(undone_id))], refuse)
            take = new_posts.note
            held: list[Any] = []

            async def noted_then_held(redis: Any, posts: Any, gone: Any = ()) -> new_posts.Taken:
                taken = await take(redis, posts, gone)
                if undone_id in posts:  # (the creation's batch: the unlike's own batch notes nothing)
                    held.extend(taken.drafts)
                    await likes.process([record_of(undone_id, like(undone_id, "unlike"))], refuse)
                return taken

            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(new_posts, "note", noted_then_held)
                await creations.process([record_of(undone_author, undone)], refuse)
            assert held, "the parked like was not taken by the loop that saw the creation"

    asyncio.run(on_two_loops(
        (0, author, post), (1, post_id, like(post_id)),
        (0, gone_author, gone), (0, gone_author, log.stamped(events.post_deleted(post_id=gone_id,
                                                                                  author_id=gone_author))),
        (1, gone_id, like(gone_id)),
        (1, early_id, like(early_id)),
        (1, early_id, log.stamped(events.photo_tag_changed(post_id=early_id, image_id=early.value["image_ids"][0],
                                                           tagger_id=early_author, tagged_id=tagged, action="add",
                                                           pending=False, x=0.5, y=0.5))),
        (0, early_author, early)))
    asyncio.run(unliked_before_the_release())
    assert [status(client, settings, user) for user in (author, gone_author, early_author, undone_author, tagged)] \
        == [1, 0, 1, 0, 1]
    log.publish(post)  # (the posts view has it now: the page shows notifications about posts it can show)
    log.settle()
    assert summary(notifications(client, settings, author)) == [("like", "post", post_id, [fan], 1)]


def test_a_like_waiting_for_its_post_outlives_a_loop_killed_after_reading_it(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """The loop that sees a post created reads the likes parked for it and applies them with its batch. Killed in
    between (here: its batch fails after the read), it left them nowhere: they were removed as they were read,
    the like's own loop had committed them as parked, and the creation delivered again found nothing. Found by
    the SIGKILL test's notifications oracle. Now they are removed once applied, so the creation's next delivery
    (another loop: the partition's next owner) applies them."""
    author, fan = new_id(), new_id()
    post = log.stamped(events.post_created(author_id=author, caption="liked, then its loop died", image_ids=[new_id()]))
    post_id = post.value["post_id"]
    like = log.stamped(events.like_changed(post_id=post_id, user_id=fan, action="like"))  # (no post_author_id)

    class KilledError(Exception):
        pass

    async def killed_then_delivered_again() -> None:
        async with loops_of_our_own(settings, 3) as (likes, dying, next_owner):
            await likes.process([record_of(post_id, like)], refuse)  # parked: nobody has seen the post yet

            async def killed(*_: Any) -> None:
                raise KilledError

            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(dying, "_apply", killed)  # (after the parked like was read, before it is applied)
                with pytest.raises(KilledError):
                    await dying.process([record_of(author, post)], refuse)
            await next_owner.process([record_of(author, post)], refuse)

    asyncio.run(killed_then_delivered_again())
    assert status(client, settings, author) == 1
    log.publish(post)  # (the page lists notifications about posts the posts view has)
    log.settle()
    assert summary(notifications(client, settings, author)) == [("like", "post", post_id, [fan], 1)]


def test_a_comment_on_a_post_projected_between_the_processors_two_reads_notifies_its_author(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """A comment naming no author, on a post the posts view lacked when the processor read it: the processor
    then reads the posts' rows, to tell a deleted post (it has a row, and notifies nobody) from one not projected
    yet. A post projected in between has a row too, and was taken as deleted: its comment notified nobody, for
    good (found by the SIGKILL fault test's oracle, while a restarted projector caught up). Here the view's read
    is made to miss a post that is projected."""
    author, fan = new_id(), new_id()
    post = log.stamped(events.post_created(author_id=author, caption="projected just now", image_ids=[new_id()]))
    log.publish(post)
    log.settle()
    post_id = post.value["post_id"]
    comment = log.stamped(events.comment_added(post_id=post_id, user_id=fan, text="first!"))  # (no post_author_id)

    async def view_read_before_the_projector_wrote() -> None:
        import streams.notifications as processor

        async def lagging_view(session: Any, redis: Any, post_ids: list[str], reads: Any = None) -> list[Any]:
            return [None for _ in post_ids]

        async with loops_of_our_own(settings) as (loop,):
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(processor, "read_posts_cached", lagging_view)
                await loop.process([record_of(post_id, comment)], refuse)

    asyncio.run(view_read_before_the_projector_wrote())
    assert status(client, settings, author) == 1
    assert summary(notifications(client, settings, author)) == [("comment", "post", post_id, [fan], 1)]


def test_a_like_naming_no_author_published_before_its_post_notifies_the_author_through_the_worker(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """The same through Kafka and the running worker: the like (no ``post_author_id``) is applied while nothing
    knows the post, then the post is published; its author is notified once it is applied."""
    author, fan = new_id(), new_id()
    post = log.stamped(events.post_created(author_id=author, caption="liked before it was seen",
                                           image_ids=[new_id()]))
    post_id = post.value["post_id"]
    log.publish(events.like_changed(post_id=post_id, user_id=fan, action="like"))
    log.settle()
    assert status(client, settings, author) == 0
    log.publish(post)
    log.settle()
    assert summary(notifications(client, settings, author)) == [("like", "post", post_id, [fan], 1)]
    assert status(client, settings, author) == 1


def test_deleting_a_comment_withdraws_its_mentions(client: httpx.Client, settings: Settings, log: Log) -> None:
    """``comment-deleted`` carries no text, so only "commented on your post" was withdrawn: "mentioned you in a
    comment" stayed, and counted, for a comment nobody could read (a block's and an account purge's deletions
    too). Another comment's mention of the same person stays."""
    author, commenter, other = new_id(), new_id(), new_id()
    mentioned, name = register(client)
    post, kept_post = log.post(author), log.post(author)
    log.settle()
    deleted = log.stamped(events.comment_added(post_id=post, user_id=commenter, text=f"look @{name}"))
    kept = log.stamped(events.comment_added(post_id=kept_post, user_id=other, text=f"and @{name} here"))
    log.publish(deleted)
    log.publish(kept)
    log.settle()
    assert sorted(summary(notifications(client, settings, mentioned))) == sorted([
        ("comment_mention", "post", post, [commenter], 1), ("comment_mention", "post", kept_post, [other], 1)])
    log.publish(events.comment_deleted(post_id=post, comment_id=deleted.value["comment_id"], user_id=commenter,
                                       actor_id=commenter, commented_at=deleted.value["occurred_at"]))
    log.settle()
    assert summary(notifications(client, settings, mentioned)) == [
        ("comment_mention", "post", kept_post, [other], 1)]
    assert status(client, settings, mentioned) == 1
    assert summary(notifications(client, settings, author)) == [("comment", "post", kept_post, [other], 1)]
    # the deleted comment delivered again (a replay, a retrying producer): no mention, and no record of one left
    log.publish(deleted)
    log.settle()
    assert summary(notifications(client, settings, mentioned)) == [
        ("comment_mention", "post", kept_post, [other], 1)]
    assert mention_records(settings, deleted.value["comment_id"], kept.value["comment_id"]) == {
        kept.value["comment_id"]: {mentioned}}


def test_a_comment_from_before_mention_records_withdraws_its_mention_once_backfilled(
        client: httpx.Client, settings: Settings, log: Log, test_env: dict[str, str]) -> None:
    """Comments made before migration 0032 have no record of whom they mentioned, so their deletion left the
    mention. Here such a comment is made as then: applied by a processor that records nothing, and its row
    written as the comments projector writes it. `photostream backfill comment-mentions` records it (a dry run
    and a second run change nothing), and the deletion then withdraws the mention."""
    from sinks.cassandra import connect as cassandra_connect

    _, commenter, mentioned, post, comment = a_post_commented_mentioning(client, log, "old times")
    comment_id, made_at = comment.value["comment_id"], comment.value["occurred_at"]

    async def applied_as_before_the_records() -> None:
        async with loops_of_our_own(settings) as (before_0032,):
            async def recorded_nothing(*_: object) -> None:
                return None

            before_0032._comment_mentions.remember = recorded_nothing
            await before_0032.process([record_of(post, comment)], refuse)

    asyncio.run(applied_as_before_the_records())
    cluster, session = cassandra_connect(settings)
    try:
        session.execute("INSERT INTO comments_by_post (post_id, comment_id, user_id, text, created_at) "
                        "VALUES (%s, %s, %s, %s, %s) USING TIMESTAMP %s",
                        (post, comment_id, commenter, comment.value["text"], made_at, made_at * 1000))
    finally:
        cluster.shutdown()
    assert summary(notifications(client, settings, mentioned)) == [("comment_mention", "post", post, [commenter], 1)]
    assert mention_records(settings, comment_id) == {}

    def backfill(*flags: str) -> str:
        done = subprocess.run([str(BIN / "photostream"), "backfill", "comment-mentions", *flags], env=test_env,
                              text=True, capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "(dry run)" in backfill("--dry-run") and mention_records(settings, comment_id) == {}
    first = backfill()
    assert mention_records(settings, comment_id) == {comment_id: {mentioned}}, first
    backfill()  # again: what is recorded stays as it is
    assert mention_records(settings, comment_id) == {comment_id: {mentioned}}
    log.publish(events.comment_deleted(post_id=post, comment_id=comment_id, user_id=commenter, actor_id=commenter,
                                       commented_at=made_at))
    log.settle()
    assert notifications(client, settings, mentioned) == [] and status(client, settings, mentioned) == 0


def mention_records(settings: Settings, *comment_ids: str) -> dict[str, set[str]]:
    """The notifications processor's record of whom each comment mentioned (what a deletion withdraws)."""
    from sinks.cassandra import connect as cassandra_connect

    cluster, session = cassandra_connect(settings)
    try:
        return {row.comment_id: set(row.mentioned) for comment in comment_ids for row in session.execute(
            "SELECT comment_id, mentioned FROM notification_comment_mentions WHERE comment_id = %s", (comment,))}
    finally:
        cluster.shutdown()
