"""Account deletion and export through the real stack: DELETE /users/me re-authenticates, makes the account
unusable at once, and within a deadline nothing the account made is readable anywhere; a replay of the
deletion changes nothing; GET /users/me/export holds what the user made.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.consistency import ConsistencyToken
from api.images_links import ImageLinks
from photostream.settings import Settings
from producers import events
from producers.events import event_type
from producers.ids import new_id
from producers.publisher import Publisher
from sinks import keys, s3
from sinks.cassandra import connect as cassandra_connect
from sinks.redis_client import sync_client
from tests.integration.conftest import BIN, Process, auth
from tests.integration.kafka_read import read_event
from tests.integration.photos import upload_photo
from tests.integration.test_accounts import PASSWORD, bearer, login, register
from tests.integration.waiting import caught_up, wait_for

DEADLINE_S = 90


@dataclass
class Person:
    id: str
    username: str
    session: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.session)


def person(client: httpx.Client) -> Person:
    account = register(client)
    return Person(account["id"], account["username"], login(client, account["username"]))


def accepted(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def applied(settings: Settings, processor: str, token: str) -> None:
    """Await ``processor``'s applied-offset mark reaching the record a 202's token names."""
    record = ConsistencyToken.decode(token)
    redis = sync_client(settings)
    wait_for(lambda: int(redis.hget(keys.applied_offsets(processor, record.topic), str(record.partition)) or -1),
             lambda mark: mark >= record.offset, DEADLINE_S, f"{processor} to apply {record}")


@dataclass
class World:
    """A user with posts (a hashtag, a real photo with a rendered size), two followers whose feeds hold the
    post, a followed author whose post the user liked and commented on, and a DM badge."""

    leaver: Person
    fans: list[Person]
    author: Person
    post: str
    image: str
    tag: str
    others_post: str
    comment_text: str


def build_world(client: httpx.Client, settings: Settings, publisher: Publisher) -> World:
    leaver, author = person(client), person(client)
    fans = [person(client), person(client)]
    tag = f"farewell{uuid.uuid4().hex[:8]}"
    for fan in fans:
        applied(settings, "feeds", accepted(client.post(f"/users/{leaver.id}/follow", headers=fan.headers))["token"])
    applied(settings, "feeds", accepted(client.post(f"/users/{author.id}/follow", headers=leaver.headers))["token"])
    image = upload_photo(client, settings, leaver.id)
    post = accepted(client.post("/posts", headers=leaver.headers,
                                json={"caption": f"last one #{tag}", "image_ids": [image]}))
    others_image = upload_photo(client, settings, author.id)
    others_post = accepted(client.post("/posts", headers=author.headers,
                                       json={"caption": "theirs", "image_ids": [others_image]}))
    applied(settings, "feeds", post["token"])
    applied(settings, "feeds", others_post["token"])
    text = f"lovely {uuid.uuid4().hex[:6]}"
    accepted(client.post(f"/posts/{others_post['id']}/like", headers=leaver.headers))
    accepted(client.post(f"/posts/{others_post['id']}/comments", headers=leaver.headers, json={"text": text}))
    publisher.publish(events.message_unsent(src=author.id, dest=leaver.id, msg_id=new_id()))
    publisher.publish(events.message_unsent(src=leaver.id, dest=author.id, msg_id=new_id()))  # in their badge
    rendered = client.get(f"/images/{image}", params={"w": 320}, headers=leaver.headers, follow_redirects=True)
    assert rendered.status_code == 200, rendered.text
    world = World(leaver, fans, author, post["id"], image, tag, others_post["id"], text)
    wait_for(lambda: snapshot(client, settings, world), lambda s: s["visible"] == EVERYTHING_THERE, DEADLINE_S,
             "the world to be projected")
    return world


EVERYTHING_THERE = {"profile": 200, "post": 200, "in_fan_feeds": [True, True], "tag_count": 1, "likes": 1,
                    "comments": 1, "comment_texts": 1, "author_followers": 1, "fans_following": [1, 1],
                    "badge": 1, "in_authors_badge": True, "original": True, "renders": True}


def snapshot(client: httpx.Client, settings: Settings, world: World) -> dict[str, Any]:
    """Everything readable about the account, as the others (and the store) see it."""
    viewer = world.author.headers
    others_post = client.get(f"/posts/{world.others_post}", headers=viewer).json()
    thread = client.get(f"/posts/{world.others_post}/comments", headers=viewer).json()["items"]
    tag = client.get(f"/hashtags/{world.tag}")
    storage = s3.client(settings)
    visible = {
        "profile": client.get(f"/users/{world.leaver.id}", headers=viewer).status_code,
        "post": client.get(f"/posts/{world.post}", headers=world.fans[0].headers).status_code,
        "in_fan_feeds": [world.post in {i["post_id"] for i in client.get("/feed", headers=f.headers).json()["items"]}
                         for f in world.fans],
        "tag_count": tag.json()["post_count"] if tag.status_code == 200 else 0,
        "likes": others_post["like_count"],
        "comments": others_post["comment_count"],
        "comment_texts": sum(1 for c in thread if c["text"] == world.comment_text),
        "author_followers": client.get(f"/users/{world.author.id}", headers=viewer).json()["counts"]["followers"],
        "fans_following": [client.get(f"/users/{f.id}", headers=viewer).json()["counts"]["following"]
                           for f in world.fans],
        "badge": len(sync_client(settings).smembers(keys.unread_senders(world.leaver.id))),
        "in_authors_badge": sync_client(settings).sismember(keys.unread_senders(world.author.id), world.leaver.id),
        "original": s3.size_of(storage, settings, f"photos/{world.leaver.id}/{world.image}") is not None,
        "renders": any(page for page in s3.object_pages(storage, settings, f"renders/{world.image}/")),
    }
    return {"visible": visible}


NOTHING_LEFT = {"profile": 404, "post": 404, "in_fan_feeds": [False, False], "tag_count": 0, "likes": 0,
                "comments": 0, "comment_texts": 0, "author_followers": 0, "fans_following": [0, 0], "badge": 0,
                "in_authors_badge": False, "original": False, "renders": False}


@pytest.fixture()
def world(client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process) -> World:
    return build_world(client, settings, publisher)


def test_a_deleted_account_leaves_nothing_readable_and_a_replay_changes_nothing(
    client: httpx.Client, settings: Settings, publisher: Publisher, world: World
) -> None:
    leaver = world.leaver
    other_session = login(client, leaver.username)  # a second device: its tokens must die too

    refused = client.request("DELETE", "/users/me", headers=leaver.headers, json={"password": "not the password"})
    assert refused.status_code == 403, refused.text
    assert client.get(f"/users/{leaver.id}", headers=leaver.headers).status_code == 200  # nothing happened

    deletion = accepted(client.request("DELETE", "/users/me", headers=leaver.headers, json={"password": PASSWORD}))
    assert deletion["event_id"] and deletion["token"]

    # unusable at once, before any purge: no login, no token of any session, no refresh
    assert client.post("/auth/login", json={"login": leaver.username, "password": PASSWORD}).status_code == 401
    for session in (leaver.session, other_session):
        assert client.get("/feed", headers=bearer(session)).status_code == 401
        assert client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]}).status_code == 401

    # a read after the deletion (its token) waits for the purge: the profile is gone (it was served: the
    # topic had no applier, so the token counted as applied at once)
    gone = client.get(f"/users/{leaver.id}", headers=world.author.headers, params={"after": deletion["token"]})
    assert gone.status_code == 404 and "X-Photostream-Consistency" not in gone.headers, gone.text
    applied(settings, "account_purge", deletion["token"])
    applied(settings, "unread", deletion["token"])  # the account's own badge is the unread processor's to delete
    wait_for(lambda: snapshot(client, settings, world)["visible"], lambda v: v == NOTHING_LEFT, DEADLINE_S,
             "nothing of the account to remain readable")
    cluster, session = cassandra_connect(settings)
    try:
        assert list(session.execute("SELECT sender_id FROM unread_pairs WHERE user_id = %s", (leaver.id,))) == []
    finally:
        cluster.shutdown()
    assert client.get(f"/users/{leaver.id}/posts", headers=world.author.headers).status_code == 404  # as absent
    # the purge took the sessions' rows away: their refresh tokens stay dead (no row is not "not revoked")
    for session in (leaver.session, other_session):
        assert client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]}).status_code == 401
    # a signed link someone kept (its memory copy warm in the API) serves nothing of the account any more
    link = ImageLinks.of(settings).signed(world.image, 320)
    assert httpx.get(str(client.base_url.copy_with(path="")) + link).status_code == 404
    # and a client's conditional request is not told to keep its cached copy (a 304 with a fresh max-age)
    assert httpx.get(str(client.base_url.copy_with(path="")) + link, headers={"If-None-Match": "*"}).status_code == 404
    # the name and the address were released after the purge: a newcomer may take them
    again = client.post("/auth/register", json={"username": leaver.username, "password": PASSWORD,
                                                "email": f"{leaver.username}@example.com"})
    assert again.status_code == 201, again.text
    assert again.json()["id"] != leaver.id

    # the same deletion again (as a replay after a crash would deliver it): nothing changes
    record = ConsistencyToken.decode(deletion["token"])
    original = read_event(settings, record.topic, record.partition, record.offset)
    replayed = publisher.publish(event_type("account-deleted").emit(original))
    redis = sync_client(settings)
    wait_for(lambda: int(redis.hget(keys.applied_offsets("account_purge", replayed.topic),
                                    str(replayed.partition)) or -1),
             lambda mark: mark >= replayed.offset, DEADLINE_S, "the replayed deletion to be applied")
    assert snapshot(client, settings, world)["visible"] == NOTHING_LEFT
    # and the account's registration delivered again (a replay of the profiles' group, a retrying producer):
    # the purge's delete outranks it durably, and the hot copy must follow the durable row, not the event
    registered = publisher.publish(event_type("user-registered").build({
        "user_id": leaver.id, "username": leaver.username, "display_name": "back from the dead",
        "occurred_at": original["occurred_at"] - 1}))
    wait_for(lambda: int(redis.hget(keys.applied_offsets("profiles", registered.topic),
                                    str(registered.partition)) or -1),
             lambda mark: mark >= registered.offset, DEADLINE_S, "the registration to be applied again")
    assert client.get(f"/users/{leaver.id}", headers=world.author.headers).status_code == 404
    assert not redis.exists(keys.user_profile(leaver.id))


def test_the_export_holds_what_the_user_made(client: httpx.Client, settings: Settings, world: World) -> None:
    answer = client.get("/users/me/export", headers=world.leaver.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"].startswith("attachment;")
    archive = answer.json()
    assert archive["user_id"] == world.leaver.id
    assert archive["account"]["username"] == world.leaver.username
    assert archive["profile"]["username"] == world.leaver.username
    (post,) = archive["posts"]
    assert post["post_id"] == world.post and f"#{world.tag}" in post["caption"]
    (photo,) = post["photos"]
    assert photo["image_id"] == world.image and "sig=" in photo["url"]
    fetched = client.get(photo["url"].removeprefix("/api/v1"), follow_redirects=True)  # works without a token
    assert fetched.status_code == 200 and fetched.headers["content-type"].startswith("image/")
    assert [(c["post_id"], c["text"]) for c in archive["comments"]] == [(world.others_post, world.comment_text)]
    assert archive["likes"] == [{"post_id": world.others_post}]
    assert sorted(archive["followers"]) == sorted(f.id for f in world.fans)
    assert archive["following"] == [world.author.id]
    assert archive["blocked"] == [] and archive["muted"] == []
    # someone else's export does not hold it
    other = client.get("/users/me/export", headers=world.author.headers).json()
    assert other["posts"][0]["post_id"] != world.post and other["comments"] == []
    assert client.get("/users/me/export").status_code == 401


def test_the_export_holds_every_upload_posted_or_not_and_the_avatar(client: httpx.Client, settings: Settings,
                                                                     worker: Process) -> None:
    """Only posted photos were exported: an upload no post shows (the profile photos to choose from, a draft)
    and the avatar's link were missing."""
    user = person(client)
    posted, avatar, unposted = (upload_photo(client, settings, user.id) for _ in range(3))
    post = accepted(client.post("/posts", headers=user.headers, json={"caption": "one", "image_ids": [posted]}))
    applied(settings, "posts", post["token"])
    applied(settings, "profiles", accepted(client.patch("/users/me", headers=user.headers,
                                                        json={"avatar_image_id": avatar}))["token"])
    archive = client.get("/users/me/export", headers=user.headers).json()
    uploads = {u["image_id"]: (u["posted"], u["avatar"]) for u in archive["uploads"]}
    assert uploads == {posted: (True, False), avatar: (False, True), unposted: (False, False)}
    assert archive["avatar"]["image_id"] == avatar
    for link in [archive["avatar"]["url"]] + [u["url"] for u in archive["uploads"]]:
        fetched = client.get(link.removeprefix("/api/v1"), follow_redirects=True)  # works without a token
        assert fetched.status_code == 200 and fetched.headers["content-type"].startswith("image/"), link
    assert client.get("/users/me/export", headers=person(client).headers).json()["uploads"] == []


def test_an_unknown_user_token_cannot_delete_anything(client: httpx.Client, settings: Settings,
                                                      worker: Process) -> None:
    answer = client.request("DELETE", "/users/me", headers=auth(settings, new_id()), json={"password": PASSWORD})
    assert answer.status_code == 403, answer.text


def test_writes_to_an_account_the_moment_its_deletion_is_accepted_are_refused_and_its_request_can_be_denied(
        client: httpx.Client, settings: Settings, worker: Process) -> None:
    """A follow, a like, a comment and a people tag sent the moment the other account's deletion was accepted
    (202) found its profile and post still there and were applied after the purge: a follower of nobody, counted
    for good; an approval of the deleted requester's request made one too, and its denial was refused (it stayed
    listed). The denial now races the purge's withdrawal of the request; whichever comes first, it is gone."""
    leaver, fan, owner = person(client), person(client), person(client)
    image, fans_image = upload_photo(client, settings, leaver.id), upload_photo(client, settings, fan.id)
    post = accepted(client.post("/posts", headers=leaver.headers, json={"caption": "bye", "image_ids": [image]}))
    fans_post = accepted(client.post("/posts", headers=fan.headers, json={"caption": "us", "image_ids": [fans_image]}))
    applied(settings, "posts", post["token"])
    applied(settings, "posts", fans_post["token"])
    accepted(client.patch("/users/me", headers=owner.headers, json={"is_private": True}))
    requester, asker = person(client), person(client)
    for who in (requester, asker):
        asked = accepted(client.post(f"/users/{owner.id}/follow", headers=who.headers))
        applied(settings, "follow_requests", asked["token"])
    deletions = {gone.id: accepted(client.request("DELETE", "/users/me", headers=gone.headers,
                                                  json={"password": PASSWORD}))
                 for gone in (leaver, requester, asker)}
    at_once = [client.post(f"/users/{leaver.id}/follow", headers=fan.headers),
               client.post(f"/posts/{post['id']}/like", headers=fan.headers),
               client.post(f"/posts/{post['id']}/comments", headers=fan.headers, json={"text": "wait"}),
               client.post(f"/users/me/follow-requests/{requester.id}/approve", headers=owner.headers),
               client.post(f"/posts/{fans_post['id']}/photos/{fans_image}/tags", headers=fan.headers,
                           json={"user_id": leaver.id, "x": 0.5, "y": 0.5})]
    assert [a.status_code for a in at_once] == [404] * 5, [a.text for a in at_once]
    # the owner's denial races the purge, which withdraws the requests the account sent: either may come first
    denial = client.post(f"/users/me/follow-requests/{asker.id}/deny", headers=owner.headers)
    assert denial.status_code == 202 or (denial.status_code == 404 and denial.json()["error"]["field"] == "user_id"), \
        denial.text
    tokens = [deletions[asker.id]["token"]] + ([denial.json()["token"]] if denial.status_code == 202 else [])
    for token in tokens:
        listed = client.get("/users/me/follow-requests", headers=owner.headers, params={"after": token})
        assert listed.status_code == 200, listed.text
        assert asker.id not in [item["id"] for item in listed.json()["items"]], listed.text
    for viewer, user in ((fan, fan), (owner, owner)):
        counts = client.get(f"/users/{user.id}", headers=viewer.headers).json()["counts"]
        assert (counts["following"], counts["followers"]) == (0, 0), counts


def test_an_upstream_services_deletion_refuses_the_users_tokens(client: httpx.Client, settings: Settings,
                                                                 publisher: Publisher, worker: Process) -> None:
    """Only `DELETE /users/me` refused the tokens: after an `account-deleted` published through the SDK and
    purged, the user's access token still commented and liked (a comment by nobody, a like counted for good)."""
    gone, other = person(client), person(client)
    image = upload_photo(client, settings, other.id)
    post = accepted(client.post("/posts", headers=other.headers, json={"caption": "hi", "image_ids": [image]}))
    applied(settings, "posts", post["token"])
    deletion = publisher.publish(events.account_deleted(user_id=gone.id))
    wait_for(lambda: int(sync_client(settings).hget(keys.applied_offsets("account_purge", "account-deleted"),
                                                    str(deletion.partition)) or -1),
             lambda mark: mark >= deletion.offset, DEADLINE_S, "the purge")
    answers = [client.post(f"/posts/{post['id']}/like", headers=gone.headers),
               client.post(f"/posts/{post['id']}/comments", headers=gone.headers, json={"text": "still here"})]
    assert [a.status_code for a in answers] == [401, 401], [a.text for a in answers]


def test_the_hashtag_extractors_record_of_a_deleted_accounts_privacy_goes_too(
        client: httpx.Client, settings: Settings, worker: Process) -> None:
    """It stayed after the purge (a known gap): whether the account was private, and since when."""
    gone = person(client)
    accepted(client.patch("/users/me", headers=gone.headers, json={"is_private": True}))
    caught_up(settings, "hashtag-extractor", "profile-updated")

    def recorded() -> list[Any]:
        cluster, session = cassandra_connect(settings)
        try:
            return list(session.execute("SELECT is_private FROM hashtag_author_privacy WHERE author_id = %s",
                                        (gone.id,)))
        finally:
            cluster.shutdown()

    assert [row.is_private for row in recorded()] == [True]
    deletion = accepted(client.request("DELETE", "/users/me", headers=gone.headers, json={"password": PASSWORD}))
    applied(settings, "account_purge", deletion["token"])
    assert recorded() == []


def test_the_follow_history_tag_authorship_and_refresh_tokens_of_a_deleted_account_go_and_counts_stay_exact(
        client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process) -> None:
    """They stayed after the purge (known gaps): who followed the account and whom it followed, both ways, as
    pair state; its authorship of every tag it used; its refresh tokens, until their 30-day TTL. Deleting the
    pair state at the purge raced the retractions' unfollows, which then found no pair and left the other
    side's follower count one too high; and a follow of the account replayed after the purge came back."""
    gone, fan, former_fan, followed, once_followed = (person(client) for _ in range(5))
    tag = f"erased{uuid.uuid4().hex[:8]}"
    for follower, followee in ((fan, gone), (former_fan, gone), (gone, followed), (gone, once_followed)):
        accepted(client.post(f"/users/{followee.id}/follow", headers=follower.headers))
    for follower, followee in ((former_fan, gone), (gone, once_followed)):  # history: no longer following
        accepted(client.request("DELETE", f"/users/{followee.id}/follow", headers=follower.headers))
    image = upload_photo(client, settings, gone.id)
    post = accepted(client.post("/posts", headers=gone.headers, json={"caption": f"#{tag}", "image_ids": [image]}))
    applied(settings, "posts", post["token"])
    caught_up(settings, "feeds", "follow-changed")

    def followers_of(user: Person) -> int:
        return int(client.get(f"/users/{user.id}", headers=fan.headers).json()["counts"]["followers"])

    def stored() -> dict[str, Any]:
        cluster, session = cassandra_connect(settings)
        try:
            def rows(cql: str, *params: str) -> list[Any]:
                return list(session.execute(cql, params))
            return {
                "as_followee": sorted(r.follower_id for r in rows(
                    "SELECT follower_id FROM follow_state WHERE followee_id = %s", gone.id) if r.follower_id),
                "as_follower": sorted(r.followee_id for r in rows(
                    "SELECT followee_id FROM follow_state WHERE follower_id = %s", gone.id)),
                "refresh_tokens": len(rows("SELECT token_id FROM refresh_tokens WHERE user_id = %s", gone.id)),
                "tag_author": [r.author_id for r in rows(
                    "SELECT author_id FROM hashtag_state WHERE tag = %s AND kind = 'p' AND key = %s", tag,
                    post["id"])],
            }
        finally:
            cluster.shutdown()

    # (the tag's row comes from the extractor's derived event, which no token names)
    before = wait_for(stored, lambda found: found["tag_author"] == [gone.id], DEADLINE_S, "the tag to be counted")
    assert before["as_followee"] == sorted([fan.id, former_fan.id])
    assert before["as_follower"] == sorted([followed.id, once_followed.id])
    assert before["refresh_tokens"] >= 1  # (registration and login)
    assert followers_of(followed) == 1

    deletion = accepted(client.request("DELETE", "/users/me", headers=gone.headers, json={"password": PASSWORD}))
    applied(settings, "account_purge", deletion["token"])
    caught_up(settings, "feeds", "follow-changed")
    assert wait_for(stored, lambda found: found["tag_author"] != [gone.id], DEADLINE_S, "the tag's retraction") == {
        "as_followee": [], "as_follower": [], "refresh_tokens": 0, "tag_author": [None]}
    assert followers_of(followed) == 0  # the retraction's unfollow was counted
    assert client.get(f"/users/{fan.id}", headers=fan.headers).json()["counts"]["following"] == 0

    # the account's old follow delivered again (a replay, a retrying producer): it follows nobody
    replayed = publisher.publish(events.follow_changed(follower_id=gone.id, followee_id=followed.id,
                                                       action="follow"))
    redis = sync_client(settings)
    wait_for(lambda: int(redis.hget(keys.applied_offsets("feeds", replayed.topic), str(replayed.partition)) or -1),
             lambda mark: mark >= replayed.offset, DEADLINE_S, "the replayed follow to be applied")
    assert followers_of(followed) == 0
    assert stored()["as_follower"] == []


def test_the_follow_requests_a_deleted_account_sent_are_withdrawn_and_an_export_lists_requests(
        client: httpx.Client, settings: Settings, worker: Process) -> None:
    """Follow requests were not indexed by sender: the deleted account's stayed in their owners' lists (and
    their "wants to follow you") until denied; an export listed no request either way."""
    gone, owner = person(client), person(client)
    applied(settings, "profiles",
            accepted(client.patch("/users/me", headers=owner.headers, json={"is_private": True}))["token"])
    asked = accepted(client.post(f"/users/{owner.id}/follow", headers=gone.headers))
    applied(settings, "follow_requests", asked["token"])

    def requesters() -> list[str]:
        return [item["id"] for item in client.get("/users/me/follow-requests", headers=owner.headers).json()["items"]]

    def asking_notifications() -> list[Any]:
        items = client.get("/notifications", headers=owner.headers).json()["items"]
        return [i for i in items if i["kind"] == "follow_request"]

    assert requesters() == [gone.id]
    wait_for(asking_notifications, lambda found: len(found) == 1, DEADLINE_S, "the request's notification")
    assert client.get("/users/me/export", headers=gone.headers).json()["follow_requests"] == {
        "sent": [owner.id], "received": []}
    assert client.get("/users/me/export", headers=owner.headers).json()["follow_requests"] == {
        "sent": [], "received": [gone.id]}

    deletion = accepted(client.request("DELETE", "/users/me", headers=gone.headers, json={"password": PASSWORD}))
    read = client.get("/users/me/follow-requests", headers=owner.headers, params={"after": deletion["token"]})
    assert read.json()["items"] == [] and "X-Photostream-Consistency" not in read.headers  # (its withdrawal too)
    wait_for(asking_notifications, lambda found: found == [], DEADLINE_S, "the request's notification to go")


def test_a_purge_leaves_a_tombstone_on_each_compacted_topic_which_readers_skip_and_replays_count(
        client: httpx.Client, settings: Settings, worker: Process, tmp_path: Any) -> None:
    """The log kept what the account published on its compacted topics for good (its profile updates: bio and
    names; its presence), and `photostream replay` exported them. The purge now leaves a null record keyed by
    the account on each, so compaction drops them; every reader skips it (none parks it as poison), and a
    replay counts it as a deletion."""
    from confluent_kafka import Consumer, TopicPartition

    from photostream.contracts.catalog import topic as catalog_topic
    from photostream.kafka_config import client_config
    from photostream.replay import replay
    from photostream.replay_range import Point
    from producers.ids import now_ms
    from producers.partitioning import partition_of
    from tests.integration.kafka_read import dlq_records_for

    gone = person(client)
    accepted(client.patch("/users/me", headers=gone.headers, json={"bio": "what the log kept"}))
    since = now_ms()
    deletion = accepted(client.request("DELETE", "/users/me", headers=gone.headers, json={"password": PASSWORD}))
    applied(settings, "account_purge", deletion["token"])
    for topic, readers in (("profile-updated", ("notifications", "hashtag-extractor", "avatars")),
                           ("presence-changed", ("presence",))):
        partition = partition_of(gone.id.encode(), catalog_topic(topic).partitions)
        consumer = Consumer(client_config(settings, **{"group.id": "test-reader", "enable.auto.commit": False}))
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            consumer.assign([TopicPartition(topic, partition, max(low, high - 200))])
            mine = []
            while not mine or mine[-1].offset() < high - 1:
                message = consumer.poll(10)
                assert message is not None and not message.error()
                if message.key() == gone.id.encode():
                    mine.append(message)
                if message.offset() >= high - 1:
                    break
        finally:
            consumer.close()
        assert mine and mine[-1].value() is None, f"{topic}: no tombstone for the account"
        tombstone = mine[-1].offset()
        for reader in readers:
            caught_up(settings, reader, topic)  # committed past it, and a DLQ record would be acknowledged first
        assert dlq_records_for(settings, topic, partition, tombstone, lambda found: bool(found), timeout_s=5) == []
        report = replay(settings, topic, Point("time", since), Point("latest"), "jsonl", tmp_path / f"{topic}.jsonl")
        assert report.deleted.get(partition, 0) >= 1 and not report.undecodable.get(partition), report
    profile = client.get(f"/users/{gone.id}", headers=person(client).headers)
    assert profile.status_code == 404  # (the profiles projector skipped it too: nothing came back)


def test_likes_comments_and_follows_a_deleted_account_sent_after_its_purge_count_nowhere(
        client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process) -> None:
    """Published as its deletion was accepted, or by an upstream service after it, they were applied after the
    purge had read what to retract: a like and a comment by nobody, counted for good, and "liked your photo"
    from an account that no longer exists. Its unlikes and deletions still apply (the purge's are among them)."""
    gone, author = person(client), person(client)
    image = upload_photo(client, settings, author.id)
    post = accepted(client.post("/posts", headers=author.headers, json={"caption": "mine", "image_ids": [image]}))
    applied(settings, "posts", post["token"])
    deletion = accepted(client.request("DELETE", "/users/me", headers=gone.headers, json={"password": PASSWORD}))
    applied(settings, "account_purge", deletion["token"])
    late = [publisher.publish(events.like_changed(post_id=post["id"], user_id=gone.id, action="like",
                                                  post_author_id=author.id)),
            publisher.publish(events.comment_added(post_id=post["id"], user_id=gone.id, text="still here",
                                                   post_author_id=author.id)),
            publisher.publish(events.follow_changed(follower_id=gone.id, followee_id=author.id, action="follow"))]
    redis = sync_client(settings)

    def behind() -> list[str]:
        appliers = {"like-changed": ("popularity", "notifications"), "follow-changed": ("feeds", "notifications"),
                    "comment-added": ("comments", "popularity", "notifications")}
        return [f"{p}:{r.topic}" for r in late for p in appliers[r.topic]
                if int(redis.hget(keys.applied_offsets(p, r.topic), str(r.partition)) or -1) < r.offset]

    wait_for(behind, lambda late_ones: not late_ones, DEADLINE_S, "the late events to be applied")
    seen = client.get(f"/posts/{post['id']}", headers=author.headers).json()
    assert (seen["like_count"], seen["comment_count"]) == (0, 0)
    assert client.get(f"/posts/{post['id']}/comments", headers=author.headers).json()["items"] == []
    assert client.get("/notifications", headers=author.headers).json()["items"] == []
    assert client.get(f"/users/{author.id}", headers=author.headers).json()["counts"]["followers"] == 0


def test_a_like_from_before_its_index_reads_as_liked_and_goes_with_its_account_once_backfilled(
        client: httpx.Client, settings: Settings, worker: Process, test_env: dict[str, str]) -> None:
    """Likes given before migration 0014 have no ``likes_by_user`` row: their giver did not see them as liked,
    and the account's deletion (which finds its likes there) left them counted. Here such a like is made as
    then: applied, then its index row taken away (with the Redis copy made from it).
    `photostream backfill likes-by-user` indexes it (a dry run writes nothing; a second run changes nothing);
    it then reads as liked, and goes with its account."""
    liker, author = person(client), person(client)
    image = upload_photo(client, settings, author.id)
    post = accepted(client.post("/posts", headers=author.headers, json={"caption": "old", "image_ids": [image]}))
    applied(settings, "posts", post["token"])
    applied(settings, "popularity", accepted(client.post(f"/posts/{post['id']}/like", headers=liker.headers))["token"])
    redis = sync_client(settings)

    def index_rows() -> list[Any]:
        cluster, session = cassandra_connect(settings)
        try:
            return list(session.execute("SELECT post_id FROM likes_by_user WHERE user_id = %s", (liker.id,)))
        finally:
            cluster.shutdown()

    def as_the_liker_sees_it() -> tuple[int, bool]:
        seen = client.get(f"/posts/{post['id']}", headers=liker.headers).json()
        return seen["like_count"], seen["liked_by_me"]

    def backfill(*flags: str) -> str:
        done = subprocess.run([str(BIN / "photostream"), "backfill", "likes-by-user", *flags], env=test_env,
                              text=True, capture_output=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert [row.post_id for row in index_rows()] == [post["id"]] and as_the_liker_sees_it() == (1, True)
    cluster, session = cassandra_connect(settings)
    try:  # as before migration 0014: no row, and no tombstone newer than the like (the processor wrote the
        # index row before the like's membership row, the driver's timestamps strictly increasing)
        (liked_at,) = session.execute("SELECT WRITETIME(liked) FROM post_engagement WHERE post_id = %s "
                                      "AND kind = 'l' AND key = %s", (post["id"], liker.id)).one()
        session.execute("DELETE FROM likes_by_user USING TIMESTAMP %s WHERE user_id = %s AND post_id = %s",
                        (liked_at - 1, liker.id, post["id"]))
    finally:
        cluster.shutdown()
    redis.incr(keys.partition_version("likes", liker.id))  # (as every writer of the partition does)
    redis.delete(keys.partition_copy("likes", liker.id))
    assert as_the_liker_sees_it() == (1, False)
    assert "(dry run)" in backfill("--dry-run") and index_rows() == []
    first = backfill()
    assert [row.post_id for row in index_rows()] == [post["id"]], first
    assert as_the_liker_sees_it() == (1, True)
    backfill()  # again: what is indexed stays as it is
    assert [row.post_id for row in index_rows()] == [post["id"]]
    deletion = accepted(client.request("DELETE", "/users/me", headers=liker.headers, json={"password": PASSWORD}))
    applied(settings, "account_purge", deletion["token"])
    wait_for(lambda: client.get(f"/posts/{post['id']}", headers=author.headers).json()["like_count"],
             lambda count: count == 0, DEADLINE_S, "the deleted account's like to be retracted")


def test_replay_and_tail_show_a_deleted_accounts_posts_comments_and_names_without_their_words(
        client: httpx.Client, settings: Settings, worker: Process, tmp_path: Path) -> None:
    """The kept topics keep what the account published, and `photostream replay` exported its captions, comment
    texts and names after its deletion (the analysts' copy outlived the purge). The export and `tail` now blank
    those words for every record of an account whose deletion was accepted; everyone else's stay."""
    from photostream.cli_io import tail_topic
    from photostream.replay import replay
    from photostream.replay_range import Point
    from producers.ids import now_ms

    gone, stays = person(client), person(client)
    words = f"farewell {uuid.uuid4().hex[:8]}"
    since = now_ms()
    posts = {who.id: accepted(client.post("/posts", headers=who.headers, json={
        "caption": f"{words} #bye{uuid.uuid4().hex[:6]}", "image_ids": [upload_photo(client, settings, who.id)],
        "location": {"name": "our street", "lat": 48.85, "lon": 2.35}})) for who in (gone, stays)}
    applied(settings, "posts", posts[stays.id]["token"])
    comment = accepted(client.post(f"/posts/{posts[stays.id]['id']}/comments", headers=gone.headers,
                                   json={"text": words}))
    applied(settings, "comments", comment["token"])
    deletion = accepted(client.request("DELETE", "/users/me", headers=gone.headers, json={"password": PASSWORD}))
    applied(settings, "account_purge", deletion["token"])

    def exported(topic: str) -> tuple[list[dict[str, Any]], int]:
        out = tmp_path / f"{topic}.jsonl"
        report = replay(settings, topic, Point("time", since), Point("latest"), "jsonl", out)
        return [json.loads(line) for line in out.read_text().splitlines()], report.erased

    created, erased = exported("post-created")
    by_author = {row["author_id"]: row for row in created if row["post_id"] in {p["id"] for p in posts.values()}}
    assert (by_author[gone.id]["caption"], by_author[gone.id]["location"]) == ("", None) and erased >= 1
    assert by_author[stays.id]["caption"].startswith(words) and by_author[stays.id]["location"]["name"]
    comments, erased = exported("comment-added")
    assert [row["text"] for row in comments if row["comment_id"] == comment["id"]] == [""] and erased >= 1
    tagged, _ = exported("post-hashtag")
    assert {tuple(row["post_tags"]) for row in tagged if row["author_id"] == gone.id} == {()}
    assert any(row["post_tags"] for row in tagged if row["author_id"] == stays.id)
    registered = [row for row in tail_topic(settings, "user-registered", True, idle_timeout=2.0)
                  if row.get("user_id") in (gone.id, stays.id)]
    assert {row["user_id"]: row["username"] for row in registered} == {gone.id: "", stays.id: stays.username}
