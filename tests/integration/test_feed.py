"""The home feed through the real stack: hybrid fan-out, the celebrity threshold crossed both ways, removal,
the cap with scroll-back into Cassandra, expiry and rebuild, duplicates, and paging while posts arrive.

The suite's settings (tests/conftest.py) use a celebrity threshold of 3 (low mark 2) and a feed cap of 5.
"""

from __future__ import annotations

import asyncio
import subprocess

import httpx
import pytest
import redis

from photostream.settings import Settings
from producers import events
from producers.ids import new_id, now_ms
from producers.publisher import Publisher, PublishResult
from sinks import keys
from sinks.cassandra import connect as cassandra_connect
from sinks.feed_lists import pack_id, trim_at, unpack
from sinks.redis_client import sync_client
from tests.integration.conftest import Process, auth, photostream
from tests.integration.photos import upload_photo
from tests.integration.waiting import applied, wait_for

APPLIERS = {"follow-changed": ("feeds",), "post-created": ("feeds", "posts"), "post-deleted": ("feeds", "posts")}


class Events:
    """Publishes this test's events and awaits exactly them: the processors' applied-offset marks reaching
    each record's offset (other traffic on the shared topics does not matter)."""

    def __init__(self, publisher: Publisher, settings: Settings) -> None:
        self.publisher, self.settings = publisher, settings
        self.pending: list[PublishResult] = []

    def publish(self, event: events.Event) -> None:
        self.pending.append(self.publisher.publish(event))

    def follow(self, follower: str, followee: str, on: bool = True) -> None:
        self.publish(events.follow_changed(follower_id=follower, followee_id=followee,
                                           action="follow" if on else "unfollow"))

    def post(self, author: str, visibility: str = "public") -> str:
        event = events.post_created(author_id=author, caption="a photo", image_ids=[new_id()],
                                    visibility=visibility)  # type: ignore[arg-type]
        self.publish(event)
        return str(event.value["post_id"])

    def delete(self, author: str, post_id: str) -> None:
        self.publish(events.post_deleted(post_id=post_id, author_id=author))

    def settle(self) -> None:
        applied(sync_client(self.settings), ((r.topic, r.partition, r.offset) for r in self.pending),
                APPLIERS.__getitem__)
        self.pending.clear()


@pytest.fixture()
def log(publisher: Publisher, settings: Settings, worker: Process) -> Events:
    return Events(publisher, settings)


def feed_pages(client: httpx.Client, settings: Settings, user: str, limit: int = 20) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        answer = client.get("/feed", headers=auth(settings, user),
                            params={"limit": limit} | ({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.text
        pages.append(answer.json()["items"])
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return pages


def feed_ids(client: httpx.Client, settings: Settings, user: str, limit: int = 20) -> list[str]:
    return [item["post_id"] for page in feed_pages(client, settings, user, limit) for item in page]


def raw_redis(settings: Settings) -> redis.Redis:
    """A client that returns bytes: feeds are lists of binary ids."""
    return redis.Redis.from_url(settings.redis_url)


def redis_feed(settings: Settings, user: str) -> list[str] | None:
    store = raw_redis(settings)
    if not store.exists(keys.feed(user)):
        return None
    return unpack(store.lrange(keys.feed(user), 0, -1))


def build_feed(client: httpx.Client, settings: Settings, user: str) -> None:
    """A first read builds the user's Redis feed (in the background); await it."""
    feed_ids(client, settings, user)
    wait_for(lambda: redis_feed(settings, user), lambda f: f is not None, 20, f"the feed of {user} to be built")


def follow_and_build(client: httpx.Client, settings: Settings, log: Events, fan: str, *authors: str) -> None:
    """``fan`` follows ``authors`` (applied), then reads their feed once so it is built in Redis."""
    for author in authors:
        log.follow(fan, author)
    log.settle()
    build_feed(client, settings, fan)


def test_a_followers_feed_holds_each_post_once_newest_first(
    client: httpx.Client, settings: Settings, log: Events
) -> None:
    author, fan = new_id(), new_id()
    follow_and_build(client, settings, log, fan, author)
    posts = [log.post(author) for _ in range(3)]
    again = events.post_created(author_id=author, caption="dup", image_ids=[new_id()])
    log.publish(again)
    log.publish(again)  # a duplicate delivery
    log.settle()
    expected = sorted([*posts, again.value["post_id"]], reverse=True)
    assert redis_feed(settings, fan) == expected  # pushed on write
    assert feed_ids(client, settings, fan, limit=2) == expected
    assert feed_ids(client, settings, author)[:4] == expected  # the author's own feed
    item = feed_pages(client, settings, fan)[0][0]
    assert item["author"]["id"] == author and item["reason"] == "followed"


def test_crossing_the_celebrity_threshold_both_ways_loses_and_duplicates_nothing(
    client: httpx.Client, settings: Settings, log: Events
) -> None:
    author = new_id()
    f1, f2, f3, f4 = (new_id() for _ in range(4))
    for fan in (f1, f2):
        log.follow(fan, author)
    log.settle()
    for fan in (f1, f2):
        build_feed(client, settings, fan)
    p1 = log.post(author)  # 2 followers: push
    log.settle()
    log.follow(f3, author)
    log.follow(f4, author)
    log.settle()
    p2 = log.post(author)  # 4 followers > 3: pull
    log.settle()
    log.follow(f3, author, on=False)
    log.follow(f4, author, on=False)
    log.settle()
    p3 = log.post(author)  # 2 followers, between the marks: stays pull (hysteresis)
    log.settle()
    log.follow(f2, author, on=False)
    log.settle()
    p4 = log.post(author)  # 1 follower < 2: push again
    log.settle()

    assert redis_feed(settings, f1) == [p4, p1]  # pulled posts are never pushed
    pages = feed_pages(client, settings, f1, limit=2)
    shown = [item["post_id"] for page in pages for item in page]
    assert shown == [p4, p3, p2, p1]
    reasons = {item["post_id"]: item["reason"] for page in pages for item in page}
    assert reasons[p2] == reasons[p3] == "celebrity" and reasons[p1] == reasons[p4] == "followed"
    assert feed_ids(client, settings, f2) == []  # unfollowed: nothing of the author's remains
    # a cursor pages the feed it came from: another user's feed refuses it (it served a page of theirs)
    f1_cursor = client.get("/feed", headers=auth(settings, f1), params={"limit": 2}).json()["next_cursor"]
    foreign = client.get("/feed", headers=auth(settings, f2), params={"cursor": f1_cursor})
    assert foreign.status_code == 422 and foreign.json()["error"]["field"] == "cursor", foreign.text


def test_a_deleted_post_leaves_every_feed(
    client: httpx.Client, settings: Settings, log: Events
) -> None:
    author, fan = new_id(), new_id()
    follow_and_build(client, settings, log, fan, author)
    gone, kept = log.post(author), log.post(author)
    log.settle()
    log.delete(author, gone)
    log.settle()
    assert redis_feed(settings, fan) == [kept]
    assert feed_ids(client, settings, fan) == [kept]
    assert gone not in feed_ids(client, settings, author)


def test_the_cap_bounds_redis_and_older_pages_come_from_cassandra(
    client: httpx.Client, settings: Settings, log: Events
) -> None:
    author, fan = new_id(), new_id()
    follow_and_build(client, settings, log, fan, author)
    posts = sorted((log.post(author) for _ in range(settings.feed_cap + 3)), reverse=True)
    log.settle()
    held = redis_feed(settings, fan)
    assert held is not None and settings.feed_cap <= len(held) <= trim_at(settings.feed_cap)
    assert held == posts[:len(held)]  # the newest ids, cut below the cap's slack
    pages = feed_pages(client, settings, fan, limit=3)
    assert [item["post_id"] for page in pages for item in page] == posts  # no gap, no duplicate
    assert pages[-1][-1]["reason"] == "history"


def test_an_expired_feed_is_answered_from_cassandra_then_rebuilt(
    client: httpx.Client, settings: Settings, log: Events
) -> None:
    author, fan = new_id(), new_id()
    log.follow(fan, author)
    posts = sorted((log.post(author) for _ in range(2)), reverse=True)
    own = log.post(fan, visibility="private")
    log.settle()
    assert redis_feed(settings, fan) is None  # never read: nothing kept in Redis for it
    answer = client.get("/feed", headers=auth(settings, fan))
    assert answer.headers.get("X-Photostream-Feed-Source") == "cassandra"
    expected = sorted([*posts, own], reverse=True)
    assert [item["post_id"] for item in answer.json()["items"]] == expected
    wait_for(lambda: redis_feed(settings, fan), lambda f: f == expected, 20, "the feed to be rebuilt")
    sync_client(settings).delete(keys.feed(fan))  # as if it expired
    assert feed_ids(client, settings, fan) == expected


async def test_a_post_delivered_while_a_feed_is_rebuilt_is_not_written_over(
    settings: Settings, log: Events
) -> None:
    """The feeds processor edits only built feeds; a post it delivers between a rebuild's read and its write
    reaches durable state alone. The rebuild must not leave it out (here the delivery is made to happen then)."""
    from api.resources import ApiResources

    author, fan = new_id(), new_id()
    log.follow(fan, author)
    older = log.post(author)
    log.settle()
    resources = ApiResources.open(settings)
    reader = resources.feeds
    cache = reader._cache
    delivered: list[str] = []

    class DeliveryDuringTheBuild:
        def __getattr__(self, name: str) -> object:
            return getattr(cache, name)

        async def build(self, user_id: str, post_ids: list[str], cut: bool = False) -> None:
            if not delivered:
                delivered.append(log.post(author))
                await asyncio.to_thread(log.settle)  # applied: in Cassandra, and skipped for the unbuilt feed
            await cache.build(user_id, post_ids, cut)

    reader._cache = DeliveryDuringTheBuild()
    try:
        assert await cache.built_ids(fan) is None
        await reader.rebuild(fan)
        assert await cache.built_ids(fan) == [*delivered, older]
    finally:
        await resources.close()


def unfollow_one_of_two_after_a_feed_built_from_cassandra(
    client: httpx.Client, settings: Settings, log: Events, posts_each: int, first_limit: int,
    limits: tuple[int, ...],
) -> None:
    """A fan follows two authors who post ``posts_each`` each, alternately; the fan's first read builds the feed
    from durable state; after the fan unfollows one, every page size must still reach all of the other's posts."""
    a, b, fan = new_id(), new_id(), new_id()
    log.follow(fan, a)
    log.follow(fan, b)
    posts: dict[str, list[str]] = {a: [], b: []}
    for i in range(2 * posts_each):
        author = a if i % 2 == 0 else b
        posts[author].append(log.post(author))
    log.settle()
    assert feed_ids(client, settings, fan, limit=first_limit) == sorted(posts[a] + posts[b], reverse=True)
    wait_for(lambda: redis_feed(settings, fan), lambda f: f is not None, 20, "the feed to be built")
    log.follow(fan, b, on=False)
    log.settle()
    for limit in limits:
        assert feed_ids(client, settings, fan, limit) == sorted(posts[a], reverse=True), limit


def test_a_removal_from_a_feed_built_from_cassandra_keeps_the_other_followees_older_posts_reachable(
    client: httpx.Client, settings: Settings, log: Events
) -> None:
    """A feed built from durable state holds the newest ``cap`` posts; one followee's removal then shrinks it
    below the cap. It must still say it is cut, or readers take it for the whole history and the other
    followees' older posts (only in Cassandra) can no longer be reached."""
    unfollow_one_of_two_after_a_feed_built_from_cassandra(client, settings, log, 6, 4, (2, 4, 20))


def test_a_feed_built_at_exactly_its_cap_keeps_older_posts_reachable_after_a_removal(
    client: httpx.Client, settings: Settings, log: Events
) -> None:
    """Two followees with fewer posts each than the cap but more together: the derivation fills the list to
    the cap with no followee's read stopping short, and the list was marked whole. An unfollow then shortened
    it, and the other followee's oldest post (dropped by the merge) was gone from every page for good."""
    per_author = settings.feed_cap // 2 + 1  # each under the cap, together over it
    unfollow_one_of_two_after_a_feed_built_from_cassandra(client, settings, log, per_author, 3, (1, 3, 20))


def test_pages_neither_repeat_nor_skip_while_posts_arrive(
    client: httpx.Client, settings: Settings, log: Events
) -> None:
    author, fan = new_id(), new_id()
    follow_and_build(client, settings, log, fan, author)
    posts = sorted((log.post(author) for _ in range(4)), reverse=True)
    log.settle()
    first = client.get("/feed", headers=auth(settings, fan), params={"limit": 2}).json()
    assert [i["post_id"] for i in first["items"]] == posts[:2]
    newer = log.post(author)
    log.settle()
    second = client.get("/feed", headers=auth(settings, fan),
                        params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [i["post_id"] for i in second["items"]] == posts[2:]
    assert feed_ids(client, settings, fan)[0] == newer


def graph_of(settings: Settings, follower: str, followee: str) -> tuple[bool, int, bool]:
    """What Cassandra says of a pair: its state, the followee's follower count, and whether the edge exists."""
    cluster, session = cassandra_connect(settings)
    try:
        state = session.execute("SELECT following, follower_count FROM follow_state WHERE followee_id = %s "
                                "AND follower_id = %s", (followee, follower)).one()
        edge = session.execute("SELECT follower_id FROM followers WHERE followee_id = %s AND follower_id = %s",
                               (followee, follower)).one()
        return bool(state.following), int(state.follower_count or 0), edge is not None
    finally:
        cluster.shutdown()


def test_an_unfollow_then_a_follow_of_one_millisecond_leave_the_pair_following(
    client: httpx.Client, settings: Settings, log: Events
) -> None:
    """A tie of ``occurred_at`` resolves by event id, as for likes: what one producer sent last stands. The
    unfollow won (a CQL DELETE beats an INSERT of the same timestamp, and the pair's state agreed): the fan was
    out of the author's followers and count, and the author's posts out of their feed."""
    author, fan = new_id(), new_id()
    log.follow(fan, author)
    post = log.post(author)
    log.settle()
    at = now_ms()
    for action in ("unfollow", "follow"):  # one producer, one millisecond, in this order
        log.publish(events.build("follow-changed", {"follower_id": fan, "followee_id": author, "action": action,
                                                    "occurred_at": at}))
    log.settle()
    assert graph_of(settings, fan, author) == (True, 1, True)
    assert post in feed_ids(client, settings, fan)
    log.publish(events.build("follow-changed", {"follower_id": fan, "followee_id": author, "action": "unfollow",
                                                "occurred_at": at}))  # a later event of the same millisecond
    log.settle()
    assert graph_of(settings, fan, author) == (False, 0, False)
    assert post not in feed_ids(client, settings, fan)


def test_private_posts_stay_in_their_authors_feed(
    client: httpx.Client, settings: Settings, log: Events
) -> None:
    author, fan = new_id(), new_id()
    follow_and_build(client, settings, log, fan, author)
    secret, shared = log.post(author, "private"), log.post(author, "followers")
    log.settle()
    assert feed_ids(client, settings, fan) == [shared]
    assert set(feed_ids(client, settings, author)) >= {secret, shared}


def test_a_bad_cursor_is_422_naming_the_field(client: httpx.Client, settings: Settings) -> None:
    answer = client.get("/feed", headers=auth(settings, new_id()), params={"cursor": "nonsense"})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "cursor"
    assert client.get("/feed").status_code == 401


def test_a_post_shows_in_its_authors_feed_right_after_the_write(
    client: httpx.Client, settings: Settings, worker: Process
) -> None:
    author = new_id()
    build_feed(client, settings, author)
    photo = upload_photo(client, settings, author)
    answer = client.post("/posts", headers=auth(settings, author), json={"caption": "mine", "image_ids": [photo]})
    assert answer.status_code == 202, answer.text
    feed = client.get("/feed", headers=auth(settings, author), params={"after": answer.json()["token"]})
    assert [i["post_id"] for i in feed.json()["items"]] == [answer.json()["id"]]


def rebuild_feeds(test_env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return photostream(test_env, "rebuild", "feeds", *flags, timeout_s=120)


def test_rebuild_feeds_equals_live_and_repairs_a_damaged_feed(
    client: httpx.Client, settings: Settings, log: Events, test_env: dict[str, str]
) -> None:
    author, star, fan = new_id(), new_id(), new_id()
    log.follow(fan, author)
    for _ in range(settings.celebrity_threshold + 1):
        log.follow(new_id(), star)
    log.follow(fan, star)
    log.settle()
    build_feed(client, settings, fan)
    pushed = sorted((log.post(author) for _ in range(3)), reverse=True)
    pulled = log.post(star)
    log.settle()
    assert feed_ids(client, settings, fan) == sorted([*pushed, pulled], reverse=True)
    checked = rebuild_feeds(test_env, "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    store = raw_redis(settings)
    store.lrem(keys.feed(fan), 1, pack_id(pushed[1]))  # a lost write
    store.delete(keys.feed_pull(star))  # a lost pull set
    damaged = rebuild_feeds(test_env, "--check")
    assert damaged.returncode == 1 and damaged.stdout.count("differs:") == 2, damaged.stdout
    repaired = rebuild_feeds(test_env)
    assert repaired.returncode == 0 and "2 rewritten" in repaired.stdout, repaired.stdout
    assert rebuild_feeds(test_env, "--check").returncode == 0
    assert redis_feed(settings, fan) == pushed
    assert feed_ids(client, settings, fan) == sorted([*pushed, pulled], reverse=True)


def test_a_muted_celebrity_fills_no_page_of_the_feed(client: httpx.Client, settings: Settings, log: Events) -> None:
    """The pull pages still held a muted (pulled) celebrity's posts, dropped only at hydration: the first page was
    empty with a cursor (a client's "end of feed"), and Redis and Cassandra answered different pages."""
    star, friend, fan = new_id(), new_id(), new_id()
    for _ in range(settings.celebrity_threshold + 1):
        log.follow(new_id(), star)
    log.follow(fan, star)
    log.follow(fan, friend)
    log.settle()
    build_feed(client, settings, fan)
    friends = sorted((log.post(friend) for _ in range(3)), reverse=True)
    for _ in range(6):
        log.post(star)
    log.settle()
    muted = client.post(f"/users/{star}/mute", headers=auth(settings, fan))
    assert muted.status_code == 202, muted.text
    first = client.get("/feed", headers=auth(settings, fan), params={"limit": 3, "after": muted.json()["token"]})
    assert [i["post_id"] for i in first.json()["items"]] == friends, first.text
    assert first.headers.get("X-Photostream-Feed-Source") != "cassandra"


def test_a_muted_author_is_left_out_of_the_live_feed_and_of_its_rebuild_alike(
    client: httpx.Client, settings: Settings, log: Events, test_env: dict[str, str]
) -> None:
    kept_author, muted_author, fan = new_id(), new_id(), new_id()
    follow_and_build(client, settings, log, fan, kept_author, muted_author)
    older = log.post(muted_author)
    log.settle()
    muted = client.post(f"/users/{muted_author}/mute", headers=auth(settings, fan))
    assert muted.status_code == 202, muted.text
    shown = client.get("/feed", headers=auth(settings, fan), params={"after": muted.json()["token"]})
    assert older not in [i["post_id"] for i in shown.json()["items"]]  # retroactive, at read time
    kept, skipped = log.post(kept_author), log.post(muted_author)
    log.settle()
    assert redis_feed(settings, fan) == [kept]  # the older post removed by the mute, the newer one skipped
    assert feed_ids(client, settings, fan) == [kept]
    checked = rebuild_feeds(test_env, "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    unmuted = client.delete(f"/users/{muted_author}/mute", headers=auth(settings, fan))
    assert unmuted.status_code == 202, unmuted.text
    back = client.get("/feed", headers=auth(settings, fan), params={"after": unmuted.json()["token"]})
    assert [i["post_id"] for i in back.json()["items"]] == sorted([kept, older, skipped], reverse=True)
    assert redis_feed(settings, fan) == sorted([kept, older, skipped], reverse=True)  # back-filled
    assert rebuild_feeds(test_env, "--check").returncode == 0
