"""People tags through the real stack (API → Kafka → photo_tags processor → Cassandra → API): the tag limit, the
approval flow, self-removal, who may be tagged, "photos of you" paging and visibility, tags on post and feed
items, and idempotence under duplicates and replays.

Each test awaits exactly its own events: the applied-offset marks of their appliers (api.consistency.APPLIERS)
reaching each record's offset (tests/integration/test_safety.Log).
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from cassandra.cluster import Session

from api.consistency import ConsistencyToken
from photostream.domain.photo_tags import MAX_TAGS_PER_PHOTO
from photostream.rebuild import stores
from photostream.rebuild_photo_tags import rebuild_photo_tags as compare_photo_tags
from photostream.settings import Settings
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher
from sinks import built_sets, keys, tagged_posts
from sinks.redis_client import sync_client
from sinks.tagged_posts import BUILT, TaggedPosts
from tests.integration.conftest import BIN, Process, auth
from tests.integration.kafka_read import read_event
from tests.integration.photos import upload_photo
from tests.integration.test_feed import build_feed, feed_pages
from tests.integration.test_safety import Log
from tests.integration.waiting import wait_for

TAGS = "/posts/{post}/photos/{image}/tags"


class Photos:
    """Posts with photos, and the tag calls, for one test."""

    def __init__(self, client: httpx.Client, settings: Settings, log: Log) -> None:
        self.client, self.settings, self.log = client, settings, log

    def post(self, author: str, photos: int = 1, visibility: str = "public") -> tuple[str, list[str]]:
        images = [new_id() for _ in range(photos)]
        event = events.post_created(author_id=author, caption="people", image_ids=images,
                                    visibility=visibility)  # type: ignore[arg-type]
        self.log.publish(event)
        return str(event.value["post_id"]), images

    def tag(self, actor: str, post: str, image: str, tagged: str, x: float = 0.5, y: float = 0.5) -> httpx.Response:
        return self.client.post(TAGS.format(post=post, image=image), headers=auth(self.settings, actor),
                                json={"user_id": tagged, "x": x, "y": y})

    def untag(self, actor: str, post: str, image: str, tagged: str) -> httpx.Response:
        return self.client.delete(TAGS.format(post=post, image=image) + f"/{tagged}",
                                  headers=auth(self.settings, actor))

    def approve(self, actor: str, post: str, image: str, tagged: str) -> httpx.Response:
        return self.client.post(TAGS.format(post=post, image=image) + f"/{tagged}/approve",
                                headers=auth(self.settings, actor))

    def settings_of(self, user: str, **fields: Any) -> None:
        self.log.accepted(self.client.patch("/users/me", headers=auth(self.settings, user), json=fields))

    def item(self, viewer: str | None, post: str) -> dict[str, Any]:
        answer = self.client.get(f"/posts/{post}", headers=auth(self.settings, viewer) if viewer else {})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def tags_seen(self, viewer: str | None, post: str) -> list[list[tuple[str, bool]]]:
        """Per photo, the (tagged user, pending) pairs ``viewer`` sees on the post."""
        return [[(t["user_id"], t["pending"]) for t in photo] for photo in self.item(viewer, post)["photo_tags"]]

    def tagged(self, viewer: str | None, user: str, limit: int = 20, pending: bool = False) -> list[list[str]]:
        """Every page of ``user``'s photos of you (or the caller's pending tags), as post ids."""
        path = "/users/me/tagged/pending" if pending else f"/users/{user}/tagged"
        pages, cursor = [], None
        while True:
            answer = self.client.get(path, headers=auth(self.settings, viewer) if viewer else {},
                                     params={"limit": limit} | ({"cursor": cursor} if cursor else {}))
            assert answer.status_code == 200, answer.text
            pages.append([item["post_id"] for item in answer.json()["items"]])
            cursor = answer.json()["next_cursor"]
            if cursor is None:
                return pages


@pytest.fixture()
def log(publisher: Publisher, settings: Settings, worker: Process) -> Log:
    return Log(publisher, settings)


@pytest.fixture()
def photos(client: httpx.Client, settings: Settings, log: Log) -> Photos:
    return Photos(client, settings, log)


def notified_of(photos: Photos, user: str) -> list[str]:
    answer = photos.client.get("/notifications", headers=auth(photos.settings, user))
    assert answer.status_code == 200, answer.text
    return [item["kind"] for item in answer.json()["items"]]


def test_the_21st_tag_on_a_photo_is_refused_naming_the_field(photos: Photos, log: Log) -> None:
    author = log.user("crowd")
    people = [log.user(f"guest{i}") for i in range(MAX_TAGS_PER_PHOTO + 1)]
    post, (image,) = photos.post(author)
    log.settle()
    for i, person in enumerate(people[:MAX_TAGS_PER_PHOTO]):
        log.accepted(photos.tag(author, post, image, person, x=i / MAX_TAGS_PER_PHOTO, y=0.5))
    log.settle()
    refused = photos.tag(author, post, image, people[-1])
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "user_id"
    assert "20" in refused.json()["error"]["message"]
    assert sorted(u for u, _ in photos.tags_seen(None, post)[0]) == sorted(people[:MAX_TAGS_PER_PHOTO])
    # tagging the same person twice is a conflict, not a second tag
    assert photos.tag(author, post, image, people[0]).status_code == 409


def test_tags_sent_at_once_still_stop_at_twenty(photos: Photos, log: Log) -> None:
    """25 tags released together from as many threads: each read the same count before any was published, and
    all 30 of a black-box hunt's were accepted. One decision per photo at a time now."""
    author = log.user("rush")
    people = [log.user(f"rushed{i}") for i in range(MAX_TAGS_PER_PHOTO + 5)]
    post, (image,) = photos.post(author)
    log.settle()
    barrier = threading.Barrier(len(people))

    def tag(person: str) -> httpx.Response:
        barrier.wait(timeout=30)
        return photos.tag(author, post, image, person)

    with ThreadPoolExecutor(len(people)) as pool:
        answers = list(pool.map(tag, people))
    accepted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code != 202]
    assert len(accepted) == MAX_TAGS_PER_PHOTO, [a.text for a in refused]
    assert all(a.status_code == 422 and a.json()["error"]["field"] == "user_id" for a in refused)
    for answer in accepted:
        log.accepted(answer)
    log.settle()
    assert len(photos.tags_seen(None, post)[0]) == MAX_TAGS_PER_PHOTO


def test_a_tag_by_someone_not_followed_waits_for_approval_seen_only_by_the_tagged_and_the_author(
    photos: Photos, log: Log
) -> None:
    author, tagged, stranger = log.user("author"), log.user("careful"), log.user("stranger")
    post, (image, second) = photos.post(author, photos=2)
    log.settle()
    photos.settings_of(tagged, tags_manual_approval=True)
    log.settle()
    log.accepted(photos.tag(author, post, image, tagged, x=0.1, y=0.9))
    log.settle()

    assert photos.tags_seen(stranger, post) == [[], []]
    assert photos.tags_seen(None, post) == [[], []]
    assert photos.tags_seen(author, post) == [[(tagged, True)], []]
    assert photos.tags_seen(tagged, post) == [[(tagged, True)], []]
    assert photos.tagged(stranger, tagged) == [[]]  # approved tags only
    assert photos.tagged(tagged, tagged, pending=True) == [[post]]

    assert photos.approve(stranger, post, image, tagged).status_code == 403
    assert photos.approve(author, post, image, tagged).status_code == 403
    log.accepted(photos.approve(tagged, post, image, tagged))
    log.settle()
    assert photos.tags_seen(stranger, post) == [[(tagged, False)], []]
    tag = photos.item(stranger, post)["photo_tags"][0][0]
    assert (tag["x"], tag["y"], tag["username"].startswith("careful_")) == (0.1, 0.9, True)
    assert photos.tagged(stranger, tagged) == [[post]]
    assert photos.tagged(tagged, tagged, pending=True) == [[]]
    assert photos.approve(tagged, post, image, tagged).status_code == 409  # already approved

    # someone the tagged person follows is trusted at once
    log.follow(tagged, author)
    log.settle()
    log.accepted(photos.tag(author, post, second, tagged))
    log.settle()
    assert photos.tags_seen(stranger, post) == [[(tagged, False)], [(tagged, False)]]


def test_a_tagged_person_removes_themselves_silently_and_only_the_two_of_them_may(
    photos: Photos, log: Log, settings: Settings
) -> None:
    author, tagged, other = log.user("author"), log.user("shy"), log.user("other")
    post, (image,) = photos.post(author)
    log.settle()
    for person in (tagged, other):
        log.accepted(photos.tag(author, post, image, person))
    log.settle()
    wait_for(lambda: notified_of(photos, tagged), lambda kinds: kinds == ["tag"], 60, "the tag notification")
    assert photos.untag(other, post, image, tagged).status_code == 403  # not theirs to remove
    removal = photos.untag(tagged, post, image, tagged)
    log.accepted(removal)
    log.settle()
    # their "tagged you" goes with the tag (it stayed: the retraction named the remover, not who tagged)
    wait_for(lambda: notified_of(photos, tagged), lambda kinds: kinds == [], 60, "the tag notification to go")
    token = ConsistencyToken.decode(removal.json()["token"])
    event = read_event(settings, token.topic, token.partition, token.offset)
    # the author is not told: the event says the tagged person removed themselves
    assert (event["action"], event["tagger_id"], event["tagged_id"]) == ("remove", tagged, tagged)
    assert photos.tags_seen(None, post) == [[(other, False)]]
    assert photos.tagged(None, tagged) == [[]]
    assert photos.untag(tagged, post, image, tagged).status_code == 404  # nothing left to remove
    # the author removes anyone's tag
    log.accepted(photos.untag(author, post, image, other))
    log.settle()
    assert photos.tags_seen(None, post) == [[]]


def test_a_block_either_way_and_a_follow_only_setting_refuse_the_tag(
    photos: Photos, log: Log
) -> None:
    author, blocker, blocked, picky = log.user("author"), log.user("blocker"), log.user("blocked"), log.user("picky")
    post, (image,) = photos.post(author)
    log.publish(events.block_changed(actor_id=blocker, target_id=author, action="on"))
    log.publish(events.block_changed(actor_id=author, target_id=blocked, action="on"))
    log.settle()
    photos.settings_of(picky, tags_from="following")
    log.settle()
    for person in (blocker, blocked):  # as absent either way, as the profile is (a 403 told them of the block)
        answer = photos.tag(author, post, image, person)
        assert answer.status_code == 404 and answer.json()["error"]["field"] == "user_id", answer.text
    assert photos.tag(author, post, image, picky).status_code == 403
    assert photos.client.get("/users/me/tag-settings", headers=auth(photos.settings, picky)).json() == {
        "tags_from": "following", "tags_manual_approval": False}
    approving = photos.client.patch("/users/me", headers=auth(photos.settings, picky),
                                    json={"tags_manual_approval": True})
    seen = photos.client.get("/users/me/tag-settings", headers=auth(photos.settings, picky),
                             params={"after": approving.json()["token"]})  # read-your-writes, no settle
    assert seen.json() == {"tags_from": "following", "tags_manual_approval": True}
    assert "X-Photostream-Consistency" not in seen.headers
    photos.settings_of(picky, tags_manual_approval=False)
    log.settle()
    # an unrelated profile edit keeps the setting (the event is absolute: the API carries it over)
    photos.settings_of(picky, bio="still picky")
    log.settle()
    assert photos.tag(author, post, image, picky).status_code == 403
    log.follow(picky, author)
    log.settle()
    log.accepted(photos.tag(author, post, image, picky))
    log.settle()
    assert photos.tags_seen(None, post) == [[(picky, False)]]
    # only the author tags; a photo not in the post is no photo to tag
    assert photos.tag(picky, post, image, blocker).status_code == 403
    assert photos.tag(author, post, new_id(), picky).status_code == 404


def test_a_block_ends_each_sides_tags_on_the_others_photos(photos: Photos, log: Log, cql: Session) -> None:
    """A block left the people tags between the two: the blocked person's name on the blocker's photo, and the
    blocker's photo in the blocked person's "photos of you". Both ways, a bystander's tag untouched."""
    author, pal, bystander = log.user("author"), log.user("pal"), log.user("bystander")
    post, (image,) = photos.post(author)
    pals_post, (pals_image,) = photos.post(pal)
    log.settle()
    for actor, on_post, on_image, person in ((author, post, image, pal), (author, post, image, bystander),
                                            (pal, pals_post, pals_image, author)):
        log.accepted(photos.tag(actor, on_post, on_image, person))
    log.settle()
    assert sorted(photos.tags_seen(None, post)[0]) == sorted([(pal, False), (bystander, False)])
    assert photos.tagged(None, author) == [[pals_post]]

    log.publish(events.block_changed(actor_id=pal, target_id=author, action="on"))
    # (the pages hide a tag across a block at read time already: the stored rows are what must go)
    def stored() -> tuple[set[str], set[str]]:
        """As stored: who is tagged on the author's post (and pal, while pal's "photos of you" indexes still list
        a post), and who is tagged on pal's post together with the posts the author's indexes list."""
        return ({str(r[1]) for r in rows(cql, post, pal) if r[0] != "approved" and r[0] != "pending"}
                | {pal for r in rows(cql, post, pal) if r[0] in ("approved", "pending")},
                {str(r[1]) for r in rows(cql, pals_post, author)})

    wait_for(stored, lambda found: found == ({bystander}, set()), 60, "the tags between the two to be removed")
    assert photos.tags_seen(None, post) == [[(bystander, False)]] and photos.tags_seen(None, pals_post) == [[]]
    assert photos.tagged(None, pal) == [[]] and photos.tagged(None, author) == [[]]
    assert photos.tagged(None, bystander) == [[post]]


def test_photos_of_you_page_newest_first_and_hide_posts_the_viewer_may_not_see(
    photos: Photos, log: Log
) -> None:
    tagged, friend, fan, stranger = log.user("star"), log.user("friend"), log.user("fan"), log.user("stranger")
    log.follow(fan, friend)
    shown = [photos.post(friend) for _ in range(5)]
    hidden = photos.post(friend, visibility="followers")
    log.settle()
    for post, (image,) in [*shown, hidden]:
        log.accepted(photos.tag(friend, post, image, tagged))
    log.settle()
    public = [post for post, _ in shown]
    newest_first = sorted(public, reverse=True)
    pages = photos.tagged(stranger, tagged, limit=2)
    assert [p for page in pages for p in page] == newest_first  # the followers-only post is not the stranger's
    assert all(len(page) <= 2 for page in pages) and len(pages) >= 3
    assert [p for page in photos.tagged(fan, tagged, limit=2) for p in page] == sorted([*public, hidden[0]],
                                                                                        reverse=True)
    assert [p for page in photos.tagged(None, tagged, limit=4) for p in page] == newest_first
    # a block between the viewer and the tagged person: the list is absent
    log.publish(events.block_changed(actor_id=tagged, target_id=stranger, action="on"))
    log.settle()
    answer = photos.client.get(f"/users/{tagged}/tagged", headers=auth(photos.settings, stranger))
    assert answer.status_code == 404
    # a deleted post leaves everyone's list
    log.publish(events.post_deleted(post_id=newest_first[0], author_id=friend))
    log.settle()
    assert [p for page in photos.tagged(None, tagged) for p in page] == newest_first[1:]


def test_post_and_feed_items_carry_each_photos_approved_tags(
    photos: Photos, log: Log, client: httpx.Client, settings: Settings
) -> None:
    author, tagged, reader = log.user("author"), log.user("pal"), log.user("reader")
    log.follow(reader, author)
    log.settle()
    build_feed(client, settings, reader)
    images = [upload_photo(client, settings, author) for _ in range(2)]
    created = client.post("/posts", headers=auth(settings, author), json={"caption": "us", "image_ids": images})
    log.accepted(created)
    log.settle()
    post = created.json()["id"]
    log.accepted(photos.tag(author, post, images[1], tagged, x=0.3, y=0.7))
    log.settle()
    (item,) = [i for page in feed_pages(client, settings, reader) for i in page if i["post_id"] == post]
    assert len(item["photo_tags"]) == len(item["photos"]) == 2
    assert item["photo_tags"][0] == []
    (tag,) = item["photo_tags"][1]
    assert (tag["user_id"], tag["x"], tag["y"], tag["pending"]) == (tagged, 0.3, 0.7, False)
    assert tag["username"].startswith("pal_")
    assert photos.item(reader, post)["photo_tags"] == item["photo_tags"]


def rows(cql: Session, post: str, tagged: str) -> list[tuple[Any, ...]]:
    """The stored cells of a post's tags and of the tagged user's indexes, with their write times."""
    tags = cql.execute("SELECT image_id, tagged_id, tagger_id, x, y, pending, writetime(x), writetime(pending) "
                       "FROM photo_tags WHERE post_id = %s", (post,))
    approved = cql.execute("SELECT post_id, image_ids FROM tagged_posts WHERE tagged_id = %s", (tagged,))
    pending = cql.execute("SELECT post_id, image_ids FROM pending_tagged_posts WHERE tagged_id = %s", (tagged,))
    return [tuple(r) for r in tags] + [("approved", *r) for r in approved] + [("pending", *r) for r in pending]


def test_duplicated_and_replayed_tag_events_leave_the_tables_unchanged(
    photos: Photos, log: Log, cql: Session
) -> None:
    author, tagged = log.user("author"), log.user("twin")
    post, (image,) = photos.post(author)
    added = events.photo_tag_changed(post_id=post, image_id=image, tagger_id=author, tagged_id=tagged,
                                     action="add", x=0.2, y=0.4, pending=True)
    approved = events.photo_tag_changed(post_id=post, image_id=image, tagger_id=tagged, tagged_id=tagged,
                                        action="approve")
    log.publish(added)
    log.publish(approved)
    log.settle()
    after_approval = rows(cql, post, tagged)
    assert [r[0] for r in after_approval] == [image, "approved"]
    for event in (added, approved, added):  # duplicates, and the add replayed after its approval
        log.publish(event)
    log.settle()
    assert rows(cql, post, tagged) == after_approval

    removed = events.photo_tag_changed(post_id=post, image_id=image, tagger_id=author, tagged_id=tagged,
                                       action="remove")
    log.publish(removed)
    log.settle()
    assert rows(cql, post, tagged) == []
    for event in (added, approved, removed):  # a replay of the whole history ends where it ended
        log.publish(event)
    log.settle()
    assert rows(cql, post, tagged) == []
    assert photos.tags_seen(None, post) == [[]]


def deleted(log: Log, user: str) -> None:
    """Publish the account's deletion and await the photo_tags processor's applying it (no read waits on it)."""
    result = log.publisher.publish(events.account_deleted(user_id=user))
    redis = sync_client(log.settings)
    wait_for(lambda: int(redis.hget(keys.applied_offsets("photo_tags", result.topic), str(result.partition)) or -1),
             lambda applied: applied >= result.offset, 60, f"the deletion of {user} to be applied")


def test_a_deleted_account_takes_its_tags_and_the_tags_on_its_posts_with_it(
    photos: Photos, log: Log, cql: Session
) -> None:
    author, leaving, staying, other_author = (log.user("author"), log.user("leaving"), log.user("staying"),
                                              log.user("other"))
    post, (image,) = photos.post(author)
    other_post, (other_image,) = photos.post(other_author)
    log.settle()
    for actor, on_post, on_image, person in ((author, post, image, leaving), (author, post, image, staying),
                                            (other_author, other_post, other_image, leaving)):
        log.accepted(photos.tag(actor, on_post, on_image, person))
    log.settle()
    deleted(log, leaving)
    assert photos.tags_seen(None, post) == [[(staying, False)]]
    assert photos.tags_seen(None, other_post) == [[]]
    assert rows(cql, other_post, leaving) == []
    # the author's account goes: the tags on its posts leave the tagged people's lists. Two paths take them, and
    # either may be first: this processor's purge of the account (the posts the account wrote) and the
    # post-deleted the account purge publishes per post (once the posts view has unlisted a post, the first
    # path no longer finds it): so the test awaits the outcome, not one record
    deleted(log, author)
    wait_for(lambda: rows(cql, post, staying), lambda found: found == [], 60, "the tags on the author's post to go")
    assert photos.tagged(None, staying) == [[]]


def tagged_post(photos: Photos, log: Log) -> tuple[str, str, str]:
    """(author, pal, post): a new post of the author's with the pal tagged on its photo, applied."""
    author, pal = log.user("author"), log.user("pal")
    post, (image,) = photos.post(author)
    log.settle()
    log.accepted(photos.tag(author, post, image, pal))
    log.settle()
    return author, pal, post


def test_pages_read_tags_only_for_posts_in_the_tagged_set_which_rebuilds_itself(
    photos: Photos, log: Log, settings: Settings
) -> None:
    """sinks.tagged_posts: with the set gone (a new deployment, or Redis lost it) a page reads every post's tags
    and the API rebuilds the set from ``photo_tags``; once built, a newly tagged post must join it (the
    processor adds it), or its tags would never show."""
    store, key = sync_client(settings), keys.photo_tagged_posts()
    author, pal, before = tagged_post(photos, log)
    store.delete(key)
    assert photos.tags_seen(None, before) == [[(pal, False)]]  # read from Cassandra; the rebuild starts
    wait_for(lambda: store.sismember(key, BUILT), bool, 60, "the API to rebuild the tagged set")
    assert store.sismember(key, before)
    after, (second,) = photos.post(author)
    untagged, _ = photos.post(author)
    log.settle()
    log.accepted(photos.tag(author, after, second, pal))
    log.settle()
    assert store.sismember(key, after) and not store.sismember(key, untagged)
    assert photos.tags_seen(None, after) == [[(pal, False)]]
    assert photos.tags_seen(None, untagged) == [[]]


def test_a_rebuild_during_which_redis_lost_the_set_does_not_mark_it_built(
    photos: Photos, log: Log, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis lost the set (restarted, or the key deleted) while a rebuild scanned: the adds made before went with
    it, so a marker on what is left would hide those posts' tags for good."""
    store, key = sync_client(settings), keys.photo_tagged_posts()
    _, pal, post = tagged_post(photos, log)
    scan = tagged_posts.durable_pages

    async def lose_the_set_once_scanned(session: Any) -> Any:
        async for ids in scan(session):
            yield ids
        store.delete(key)  # every post the rebuild added, gone

    async def rebuild() -> int:
        async with stores(settings) as (session, redis):
            return await TaggedPosts(redis).rebuild(session)

    monkeypatch.setattr(tagged_posts, "durable_pages", lose_the_set_once_scanned)
    with pytest.raises(built_sets.SetLostError):
        asyncio.run(rebuild())
    assert not store.sismember(key, BUILT) and not store.sismember(key, post)
    monkeypatch.undo()
    assert asyncio.run(rebuild()) >= 1  # the next one, undisturbed, marks it
    assert store.sismember(key, BUILT) and store.sismember(key, post)
    assert [m for m in store.smembers(key) if m.startswith(built_sets.BUILDING)] == []
    assert photos.tags_seen(None, post) == [[(pal, False)]]


def test_rebuild_photo_tags_finds_a_lost_member_and_restores_it(
    photos: Photos, log: Log, settings: Settings, test_env: dict[str, str]
) -> None:
    store, key = sync_client(settings), keys.photo_tagged_posts()
    _, pal, post = tagged_post(photos, log)
    photos.tags_seen(None, post)  # the set is built by now, or being rebuilt by the API: make it so
    assert rebuild_photo_tags(test_env).returncode == 0
    assert rebuild_photo_tags(test_env, "--check").returncode == 0
    store.srem(key, post)  # damage: the post's tags would no longer show
    damaged = rebuild_photo_tags(test_env, "--check")
    assert damaged.returncode == 1 and "missing" in damaged.stdout, damaged.stdout + damaged.stderr
    assert rebuild_photo_tags(test_env).returncode == 0
    assert store.sismember(key, post) and store.sismember(key, BUILT)
    assert photos.tags_seen(None, post) == [[(pal, False)]]


def test_a_post_tagged_while_the_check_runs_is_not_reported_missing(
    photos: Photos, log: Log, settings: Settings, test_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check scans the tag rows, then reads the set: a post tagged in between (its row written, its set entry
    next) looked missing. Here the set's first read is made to miss the post, as it would in that race."""
    _, _, post = tagged_post(photos, log)
    assert rebuild_photo_tags(test_env).returncode == 0  # built, and holding every tagged post
    read, reads = TaggedPosts.live, []

    async def read_before_the_tag(tagged: TaggedPosts) -> tuple[set[str], bool]:
        members, built = await read(tagged)
        reads.append(post in members)
        return (members - {post} if len(reads) == 1 else members), built

    monkeypatch.setattr(TaggedPosts, "live", read_before_the_tag)
    report = asyncio.run(compare_photo_tags(settings, repair=False))
    assert report.differences == [] and reads[0] and len(reads) == 2


def rebuild_photo_tags(test_env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "photostream"), "rebuild", "photo-tags", *flags], env=test_env, text=True,
                          capture_output=True, timeout=120, check=False)


def test_tag_calls_on_a_post_the_caller_may_not_see_are_the_404_of_no_post(photos: Photos, log: Log) -> None:
    """Whatever the call and the photo named, a hidden post answers as an absent one: the answers told a hidden
    post's existence ("no such photo in this post") and, with a real image id, its photos ("not tagged")."""
    author, tagged, stranger = log.user("secretive"), log.user("pal"), log.user("nosy")
    hidden, (image,) = photos.post(author, visibility="followers")
    log.follow(tagged, author)
    log.settle()
    log.accepted(photos.tag(author, hidden, image, tagged))
    log.settle()
    absent = photos.untag(stranger, new_id(), new_id(), stranger)
    assert absent.status_code == 404 and absent.json()["error"]["field"] == "post_id"
    for photo in (image, new_id()):
        for answer in (photos.untag(stranger, hidden, photo, stranger), photos.untag(stranger, hidden, photo, tagged),
                       photos.approve(stranger, hidden, photo, stranger), photos.tag(stranger, hidden, photo, tagged)):
            assert (answer.status_code, answer.json()["error"]) == (404, absent.json()["error"]), answer.text
    assert photos.untag(tagged, hidden, image, tagged).status_code == 202  # who may see it still removes theirs
    # and so does a tagged person who may not see the post: their own tag is theirs to remove, at any time
    outsider = log.user("outsider")
    log.settle()  # (their profile: only a registered person is tagged)
    log.accepted(photos.tag(author, hidden, image, outsider))
    log.settle()
    assert photos.untag(outsider, hidden, image, outsider).status_code == 202


def test_an_export_holds_the_tags_on_posts_the_user_may_see_and_not_those_hidden_from_them(
    photos: Photos, log: Log
) -> None:
    author, tagged = log.user("poster"), log.user("friend")
    shown, (shown_image,) = photos.post(author)
    hidden, (hidden_image,) = photos.post(author, visibility="private")  # the author's eyes only
    log.settle()
    log.accepted(photos.tag(author, shown, shown_image, tagged))
    log.accepted(photos.tag(author, hidden, hidden_image, tagged))
    log.settle()
    export = photos.client.get("/users/me/export", headers=auth(photos.settings, tagged))
    assert export.status_code == 200, export.text
    assert [(t["post_id"], t["image_id"]) for t in export.json()["tagged_in"]] == [(shown, shown_image)]
